//! Store integrity at open: the store keeps its own evidence of what must be there, because
//! sled 0.34 does not always notice damaged files (flipped bytes can open "fine" with records
//! missing).
//!
//! - The **manifest** (in sled's default tree, written inside every commit's transaction) holds a
//!   commit sequence and the record count of every tree. At open the counts are compared with
//!   the trees: a difference means records were lost (or appeared) outside a commit.
//! - The **checkpoint** (`integrity.checkpoint` in the data directory, written atomically after
//!   each successful open and at each clean stop) holds the manifest as it was then. A store whose
//!   manifest is older than the checkpoint lost its newest commits (sled truncated its log at a
//!   damaged spot and recovered an older, self-consistent state).
//! - A store without a manifest (written by the previous release, or restored from a backup) is
//!   decoded record by record once, and gets a manifest. A store whose manifest is missing or
//!   damaged although the checkpoint shows it had one, is refused.
//!
//! Every refusal is [`StoreError::Damaged`] with a sentence naming the problem; sled errors and
//! panics met while opening or counting a damaged database are turned into one too (a lock held
//! by another process is not damage and stays [`StoreError::Sled`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use super::backup::Fnv64;
use super::keys::TreeId;
use super::{Handles, IntegrityReport, MANIFEST_TREE, Store, StoreError};

/// The manifest's key in sled's default tree (which holds nothing else).
pub(crate) const MANIFEST_KEY: &[u8] = b"shoptet-sync/manifest";
/// The checkpoint file in the data directory.
pub const CHECKPOINT_FILE: &str = "integrity.checkpoint";
/// First bytes of an encoded manifest.
const MAGIC: &[u8; 4] = b"SSMF";
/// Manifest encoding version.
const FORMAT: u8 = 1;

/// The evidence of what the store holds: a commit sequence and the record count per tree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    /// Commits applied since the manifest was created.
    pub seq: u64,
    /// Records per tree, by tree name (every tree of [`TreeId::ALL`]).
    pub counts: Vec<(String, u64)>,
}

impl Manifest {
    /// A manifest with `seq` and the given counts (in [`TreeId::ALL`] order).
    fn with_counts(seq: u64, counts: &[u64]) -> Manifest {
        Manifest {
            seq,
            counts: TreeId::ALL
                .iter()
                .zip(counts)
                .map(|(tree, n)| (tree.name().to_owned(), *n))
                .collect(),
        }
    }

    /// The recorded count of `tree`, if the manifest knows the tree.
    pub fn count(&self, tree: TreeId) -> Option<u64> {
        self.counts
            .iter()
            .find(|(name, _)| name == tree.name())
            .map(|(_, n)| *n)
    }

    /// The manifest after one more commit that changed the counts by `deltas` (per tree, in
    /// [`TreeId::ALL`] order).
    pub(crate) fn next(&self, deltas: &[i64]) -> Manifest {
        let counts: Vec<u64> = TreeId::ALL
            .iter()
            .zip(deltas)
            .map(|(tree, delta)| self.count(*tree).unwrap_or(0).saturating_add_signed(*delta))
            .collect();
        Manifest::with_counts(self.seq.wrapping_add(1), &counts)
    }

    /// `MAGIC, format, seq, n, n × (name length, name, count)`, then an FNV-1a-64 checksum of
    /// everything before it; integers big-endian.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.push(FORMAT);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.push(u8::try_from(self.counts.len()).unwrap_or(u8::MAX));
        for (name, count) in self.counts.iter().take(usize::from(u8::MAX)) {
            let name = name.as_bytes();
            let len = name.len().min(usize::from(u8::MAX));
            out.push(len as u8);
            out.extend_from_slice(&name[..len]);
            out.extend_from_slice(&count.to_be_bytes());
        }
        let mut hash = Fnv64::new();
        hash.update(&out);
        out.extend_from_slice(&hash.0.to_be_bytes());
        out
    }

    /// The manifest in `bytes`, or `None` if they are not an intact manifest.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Manifest> {
        let (body, checksum) = bytes.split_at_checked(bytes.len().checked_sub(8)?)?;
        let mut hash = Fnv64::new();
        hash.update(body);
        if hash.0.to_be_bytes() != checksum {
            return None;
        }
        let mut rest = body.strip_prefix(MAGIC.as_slice())?;
        let mut take = |n: usize| -> Option<&[u8]> {
            let (head, tail) = rest.split_at_checked(n)?;
            rest = tail;
            Some(head)
        };
        if take(1)? != [FORMAT] {
            return None;
        }
        let seq = u64::from_be_bytes(take(8)?.try_into().ok()?);
        let n = take(1)?[0];
        let mut counts = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            let len = take(1)?[0];
            let name = std::str::from_utf8(take(usize::from(len))?)
                .ok()?
                .to_owned();
            let count = u64::from_be_bytes(take(8)?.try_into().ok()?);
            counts.push((name, count));
        }
        if !rest.is_empty() {
            return None;
        }
        Some(Manifest { seq, counts })
    }
}

/// What the check at open found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// The manifest in force after the check.
    pub manifest: Manifest,
    /// The store had no manifest (previous release, restored backup, new store): every record
    /// was decoded and a manifest was written.
    pub manifest_built: bool,
    /// What the full record-by-record check examined, when one ran.
    pub full_check: Option<IntegrityReport>,
    /// Problems that did not stop the open (a damaged checkpoint file, a checkpoint that could not
    /// be written), for the log.
    pub warnings: Vec<String>,
}

impl std::fmt::Display for OpenReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let records: u64 = TreeId::ALL
            .iter()
            .filter(|tree| !matches!(tree, TreeId::OrdersByStatus | TreeId::OrdersByImport))
            .filter_map(|tree| self.manifest.count(*tree))
            .sum();
        write!(
            f,
            "store intact: {records} records, commit {}",
            self.manifest.seq
        )?;
        if self.manifest_built {
            write!(f, "; integrity manifest created (every record was decoded)")?;
        }
        Ok(())
    }
}

fn damaged(path: &Path, problem: impl Into<String>) -> StoreError {
    StoreError::Damaged {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// Whether a sled error at open means "another process holds it" (not damage).
fn is_lock_error(err: &sled::Error) -> bool {
    matches!(err, sled::Error::Io(io) if io.to_string().contains("could not acquire lock")
        || io.kind() == io::ErrorKind::WouldBlock)
}

/// Opens sled's files; a database sled cannot read (or panics on) is reported as damaged.
pub(super) fn open_handles(path: &Path) -> Result<Handles, StoreError> {
    match catch_unwind(|| Handles::open(path)) {
        Ok(Ok(handles)) => Ok(handles),
        Ok(Err(err)) if is_lock_error(&err) => Err(StoreError::Sled(err)),
        Ok(Err(sled::Error::Io(err)))
            if !matches!(
                err.kind(),
                io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
            ) =>
        {
            // Permissions, a full disk: not damage, and the message says what it is.
            Err(StoreError::Sled(sled::Error::Io(err)))
        }
        Ok(Err(err)) => Err(damaged(path, format!("sled cannot open it: {err}"))),
        Err(panic) => Err(damaged(
            path,
            format!("sled failed while reading it: {}", panic_text(&*panic)),
        )),
    }
}

/// The checkpoint file as found.
enum Checkpoint {
    Absent,
    Intact(Manifest),
    Damaged,
}

fn read_checkpoint(dir: &Path) -> Result<Checkpoint, StoreError> {
    let path = dir.join(CHECKPOINT_FILE);
    let mut bytes = Vec::new();
    match File::open(&path) {
        Ok(file) => file
            .take(64 * 1024)
            .read_to_end(&mut bytes)
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Checkpoint::Absent),
        Err(source) => return Err(StoreError::Io { path, source }),
    };
    Ok(match Manifest::decode(&bytes) {
        Some(manifest) => Checkpoint::Intact(manifest),
        None => Checkpoint::Damaged,
    })
}

/// Writes the checkpoint atomically: a fresh 0600 temporary file, fsync, rename, directory fsync.
pub(crate) fn write_checkpoint(dir: &Path, manifest: &Manifest) -> Result<(), StoreError> {
    let path = dir.join(CHECKPOINT_FILE);
    let temporary = dir.join(format!("{CHECKPOINT_FILE}.tmp"));
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    match fs::remove_file(&temporary) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => {
            return Err(io_err(&temporary)(err));
        }
        _ => {}
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(io_err(&temporary))?;
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .and_then(|()| file.write_all(&manifest.encode()))
        .and_then(|()| file.sync_all())
        .map_err(io_err(&temporary))?;
    drop(file);
    fs::rename(&temporary, &path).map_err(io_err(&path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// The record count of every tree, in [`TreeId::ALL`] order.
fn tree_counts(store: &Store) -> Result<Vec<u64>, StoreError> {
    let handles = store.handles();
    TreeId::ALL
        .iter()
        .map(|tree| {
            let mut n = 0u64;
            for key in handles.trees[tree.index()].iter().keys() {
                key?;
                n += 1;
            }
            Ok(n)
        })
        .collect()
}

/// Names each tree whose count differs from the manifest's.
fn count_differences(manifest: &Manifest, counts: &[u64]) -> Vec<String> {
    TreeId::ALL
        .iter()
        .zip(counts)
        .filter_map(|(tree, actual)| {
            // A tree the manifest does not know was added by a newer build: nothing to compare.
            let expected = manifest.count(*tree)?;
            (expected != *actual).then(|| {
                format!(
                    "tree {} holds {actual} records but {expected} were committed",
                    tree.name()
                )
            })
        })
        .collect()
}

/// The check run by [`Store::open_checked`]; see the module docs. Panics inside sled while
/// reading a damaged database are refusals too.
pub(super) fn verify_at_open(store: &Store) -> Result<OpenReport, StoreError> {
    let path = store.path().to_path_buf();
    match catch_unwind(AssertUnwindSafe(|| verify(store))) {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(err @ StoreError::Damaged { .. })) => Err(err),
        Ok(Err(err @ (StoreError::Io { .. } | StoreError::Task(_)))) => Err(err),
        Ok(Err(StoreError::Sled(err))) if !is_data_error(&err) => Err(StoreError::Sled(err)),
        Ok(Err(other)) => Err(damaged(&path, super::backup::message_chain(&other))),
        Err(panic) => Err(damaged(
            &path,
            format!("sled failed while reading it: {}", panic_text(&*panic)),
        )),
    }
}

/// Whether a sled error while reading means the data is bad (rather than e.g. a full disk).
fn is_data_error(err: &sled::Error) -> bool {
    match err {
        sled::Error::Io(io) => matches!(
            io.kind(),
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
        ),
        _ => true,
    }
}

fn verify(store: &Store) -> Result<OpenReport, StoreError> {
    let path = store.path();
    let counts = tree_counts(store)?;
    let stored = store.handles().trees[MANIFEST_TREE].get(MANIFEST_KEY)?;
    let checkpoint = read_checkpoint(path)?;
    let mut warnings = Vec::new();
    let mut full_check = None;
    let mut manifest_built = false;
    let manifest = match stored.as_deref().map(Manifest::decode) {
        Some(Some(manifest)) => {
            let differences = count_differences(&manifest, &counts);
            if !differences.is_empty() {
                let mut problem = format!(
                    "{} (records were lost or changed outside a commit)",
                    differences.join("; ")
                );
                if let Err(err) = store.check_integrity() {
                    problem.push_str(&format!("; also: {}", super::backup::message_chain(&err)));
                }
                return Err(damaged(path, problem));
            }
            match &checkpoint {
                Checkpoint::Intact(last) if last.seq > manifest.seq => {
                    return Err(damaged(
                        path,
                        format!(
                            "it ends at commit {} but commit {} was already on disk at its last \
                             clean start or stop: the newest changes are lost",
                            manifest.seq, last.seq
                        ),
                    ));
                }
                Checkpoint::Damaged => {
                    full_check = Some(
                        store
                            .check_integrity()
                            .map_err(|err| damaged(path, super::backup::message_chain(&err)))?,
                    );
                    warnings.push(format!(
                        "the integrity checkpoint {} was damaged; every record was checked and it \
                         was written again",
                        path.join(CHECKPOINT_FILE).display()
                    ));
                }
                _ => {}
            }
            manifest
        }
        Some(None) => {
            return Err(damaged(path, "its integrity manifest is damaged"));
        }
        None => {
            if let Checkpoint::Intact(last) = &checkpoint {
                return Err(damaged(
                    path,
                    format!(
                        "its integrity manifest is missing, but it had one (commit {} at its last \
                         clean start or stop)",
                        last.seq
                    ),
                ));
            }
            // Written by the previous release, restored from a backup, or new: decode everything
            // once, then keep count from here on.
            full_check = Some(
                store
                    .check_integrity()
                    .map_err(|err| damaged(path, super::backup::message_chain(&err)))?,
            );
            let manifest = Manifest::with_counts(0, &counts);
            let handles = store.handles();
            handles.trees[MANIFEST_TREE].insert(MANIFEST_KEY, manifest.encode())?;
            handles.db.flush()?;
            manifest_built = true;
            manifest
        }
    };
    *store.manifest_lock() = manifest.clone();
    if let Err(err) = write_checkpoint(path, &manifest) {
        warnings.push(format!(
            "cannot write the integrity checkpoint: {}",
            super::backup::message_chain(&err)
        ));
    }
    Ok(OpenReport {
        manifest,
        manifest_built,
        full_check,
        warnings,
    })
}

impl Store {
    /// Flushes and records the manifest in the checkpoint file (at a clean stop): a later open
    /// that finds an older store refuses it.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        let _guard = self.inner.write_lock.lock().await;
        self.flush().await?;
        // A small file written once per stop: not worth a blocking thread.
        write_checkpoint(self.path(), &self.manifest())
    }

    /// [`Store::checkpoint`] for threads that may block.
    pub fn checkpoint_blocking(&self) -> Result<(), StoreError> {
        futures::executor::block_on(self.checkpoint())
    }
}

/// The checkpoint file's path in `data_dir` (for tools and tests).
pub fn checkpoint_path(data_dir: &Path) -> PathBuf {
    data_dir.join(CHECKPOINT_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_round_trip_and_damage_is_seen() {
        let manifest = Manifest::with_counts(42, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        let bytes = manifest.encode();
        assert_eq!(Manifest::decode(&bytes), Some(manifest.clone()));
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x04;
            assert_eq!(Manifest::decode(&bad), None, "flip at {i}");
        }
        assert_eq!(Manifest::decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(Manifest::decode(&[]), None);
        let next = manifest.next(&[1, -1, 0, 0, 0, 0, 0, 0, 0, 0, -20]);
        assert_eq!(next.seq, 43);
        assert_eq!(next.count(TreeId::Integrations), Some(2));
        assert_eq!(next.count(TreeId::Orders), Some(1));
        assert_eq!(next.count(TreeId::Meta), Some(0));
    }
}
