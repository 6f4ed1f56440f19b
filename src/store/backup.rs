//! Backups: a consistent snapshot of every tree in a file of our own format (independent of
//! sled's on-disk format, which may change between sled versions), and restore into an empty
//! data directory.
//!
//! Format (all integers big-endian):
//! ```text
//! "SHSYNCBK"  u16 format version (1)
//! repeated:   0x01  u8 tree-name length, tree name  u32 key length, key  u32 value length, value
//! end:        0x00  u64 record count  u64 FNV-1a-64 checksum of every byte before the checksum
//! ```
//! Values are copied as stored (codec version byte included). A missing end marker means the
//! file was truncated; a wrong count or checksum means it was damaged; bytes after the checksum
//! are refused too.
//!
//! Consistency: the backup holds the store's write lock while it reads the trees, so it sees the
//! state between two commits (commits wait meanwhile; reads do not).
//!
//! Safety of the file itself: the target may not be inside the data directory (symbolic links and
//! `..` resolved first), the snapshot is written to `NAME.partial` created afresh with mode 0600
//! (whatever the umask, and never reusing a partial file a crash left behind), fsynced, renamed
//! over `NAME`, and the directory is fsynced. Scheduled backups ([`Store::backup_into_dir`]) use
//! timestamped names, remove partial files of earlier crashed runs and keep the newest N.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::keys::TreeId;
use super::{Store, StoreError};

const MAGIC: &[u8; 8] = b"SHSYNCBK";
const FORMAT_VERSION: u16 = 1;
const TAG_RECORD: u8 = 0x01;
const TAG_END: u8 = 0x00;
/// No key or value in a valid backup comes near this; a larger length is damage.
const MAX_FIELD_LEN: u64 = 256 * 1024 * 1024;

/// What a backup wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupStats {
    /// Key/value records, all trees.
    pub records: u64,
    /// Size of the backup file.
    pub bytes: u64,
}

/// What a restore wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreStats {
    /// Key/value records, all trees.
    pub records: u64,
}

/// FNV-1a, 64 bits: detects damage, cheap, no dependency. Not a defence against tampering.
#[derive(Clone, Copy)]
pub(super) struct Fnv64(pub(super) u64);

impl Fnv64 {
    pub(super) fn new() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
    pub(super) fn update(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

struct HashingWriter<W> {
    inner: W,
    hash: Fnv64,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct HashingReader<R> {
    inner: R,
    hash: Fnv64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Prefix and suffix of the files scheduled backups write (`shoptet-sync-<UTC time>.backup`).
const SCHEDULED_PREFIX: &str = "shoptet-sync-";
const SCHEDULED_SUFFIX: &str = ".backup";
const PARTIAL_SUFFIX: &str = ".partial";
/// The time in a scheduled backup's name: sorts like the time it names.
const SCHEDULED_TIME_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";

/// What a scheduled backup did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledBackup {
    /// The file written.
    pub path: PathBuf,
    /// What it holds.
    pub stats: BackupStats,
    /// Older backups removed by the rotation.
    pub removed: Vec<PathBuf>,
    /// Partial files of earlier interrupted backups removed.
    pub stale_partials: Vec<PathBuf>,
}

impl Store {
    /// Writes a consistent snapshot of the whole store to `file` (replaced atomically if it
    /// exists: the snapshot is written beside it and renamed when complete and synced). A target
    /// inside the data directory is refused ([`StoreError::BackupTarget`]).
    ///
    /// Blocks the calling thread and holds the write lock while reading (commits wait); from async
    /// code use [`Store::backup`].
    pub fn backup_to(&self, file: &Path) -> Result<BackupStats, StoreError> {
        let file = &check_backup_target(file, self.path())?;
        let partial = partial_path(file);
        let result = self.write_backup(&partial);
        let stats = match result {
            Ok(stats) => stats,
            Err(err) => {
                // Best effort: the partial file is useless, and the error says what went wrong.
                let _ = fs::remove_file(&partial);
                return Err(err);
            }
        };
        fs::rename(&partial, file).map_err(|source| StoreError::Io {
            path: file.to_path_buf(),
            source,
        })?;
        sync_parent_dir(file)?;
        Ok(stats)
    }

    /// [`Store::backup_to`] on a blocking thread, for async callers (the daemon).
    pub async fn backup(&self, file: impl Into<PathBuf>) -> Result<BackupStats, StoreError> {
        let store = self.clone();
        let file = file.into();
        tokio::task::spawn_blocking(move || store.backup_to(&file))
            .await
            .map_err(StoreError::Task)?
    }

    /// A scheduled backup: writes `dir/shoptet-sync-<now>.backup` (creating `dir` with mode 0700
    /// if needed), removes partial files that interrupted backups left in `dir`, then keeps only
    /// the newest `keep` scheduled backups there (other files are never touched).
    pub fn backup_into_dir(
        &self,
        dir: &Path,
        keep: usize,
        now: DateTime<Utc>,
    ) -> Result<ScheduledBackup, StoreError> {
        let io_err = |source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        };
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(io_err)?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err)?;
        }
        let mut stale_partials = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err)? {
            let path = entry.map_err(io_err)?.path();
            let is_stale = path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(|name| name.strip_suffix(PARTIAL_SUFFIX))
                .is_some_and(is_scheduled_name);
            if is_stale {
                fs::remove_file(&path).map_err(|source| StoreError::Io {
                    path: path.clone(),
                    source,
                })?;
                stale_partials.push(path);
            }
        }
        let name = format!(
            "{SCHEDULED_PREFIX}{}{SCHEDULED_SUFFIX}",
            now.format(SCHEDULED_TIME_FORMAT)
        );
        let path = dir.join(name);
        let stats = self.backup_to(&path)?;
        let mut removed = Vec::new();
        for old in scheduled_backups(dir)?.into_iter().skip(keep.max(1)) {
            fs::remove_file(&old).map_err(|source| StoreError::Io {
                path: old.clone(),
                source,
            })?;
            removed.push(old);
        }
        Ok(ScheduledBackup {
            path,
            stats,
            removed,
            stale_partials,
        })
    }

    fn write_backup(&self, partial: &Path) -> Result<BackupStats, StoreError> {
        let io_err = |source| StoreError::Io {
            path: partial.to_path_buf(),
            source,
        };
        // A partial file left by a crash may have any mode: never reuse it.
        match fs::remove_file(partial) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(io_err(err)),
            _ => {}
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(partial)
            .map_err(io_err)?;
        // The umask may have taken bits from 0600 at creation; the mode is exactly 0600.
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io_err)?;
        let mut out = HashingWriter {
            inner: BufWriter::new(file),
            hash: Fnv64::new(),
            written: 0,
        };
        out.write_all(MAGIC).map_err(io_err)?;
        out.write_all(&FORMAT_VERSION.to_be_bytes())
            .map_err(io_err)?;
        let mut records: u64 = 0;
        {
            let _guard = futures::executor::block_on(self.inner.write_lock.lock());
            for tree in TreeId::ALL {
                let name = tree.name().as_bytes();
                for entry in self.tree(tree).iter() {
                    let (key, value) = entry?;
                    write_record(&mut out, name, &key, &value).map_err(io_err)?;
                    records += 1;
                }
            }
        }
        out.write_all(&[TAG_END]).map_err(io_err)?;
        out.write_all(&records.to_be_bytes()).map_err(io_err)?;
        let checksum = out.hash.0;
        let bytes = out.written + 8;
        let mut file = out.inner;
        file.write_all(&checksum.to_be_bytes()).map_err(io_err)?;
        let file = file.into_inner().map_err(|err| io_err(err.into_error()))?;
        file.sync_all().map_err(io_err)?;
        Ok(BackupStats { records, bytes })
    }

    /// Restores `backup_file` into `data_dir`, which must be empty or absent. The whole file is
    /// verified (format, count, checksum) before anything is written, and the restored store is
    /// checked record by record; on any failure the directory is emptied again.
    ///
    /// Nothing is created or written until the whole file is known good: its format, count and
    /// checksum, and every record decoding as its tree's type under the key it belongs to.
    pub fn restore(backup_file: &Path, data_dir: &Path) -> Result<RestoreStats, StoreError> {
        check_empty_or_absent(data_dir)?;
        // First the envelope (a damaged file is named as such, not by the record it garbles),
        // then every record.
        read_backup(backup_file, |_, _, _| Ok(()))?;
        read_backup(backup_file, |tree, key, value| {
            super::verify_record(tree, key, value).map_err(|err| StoreError::InvalidBackup {
                path: backup_file.to_path_buf(),
                reason: message_chain(&err),
            })
        })?;
        ensure_empty_dir(data_dir)?;
        let result = restore_into(backup_file, data_dir);
        if result.is_err() {
            // Best effort: the directory was empty before, so everything in it is ours.
            empty_dir(data_dir);
        }
        result
    }
}

fn restore_into(backup_file: &Path, data_dir: &Path) -> Result<RestoreStats, StoreError> {
    let records = {
        let db = super::open_db(data_dir)?;
        let trees = TreeId::ALL
            .iter()
            .map(|tree| db.open_tree(tree.name()))
            .collect::<Result<Vec<_>, _>>()?;
        let records = read_backup(backup_file, |tree, key, value| {
            trees[tree.index()].insert(key, value)?;
            Ok(())
        })?;
        db.flush()?;
        records
    };
    let store = Store::open(data_dir)?;
    store.check_integrity()?;
    store.handles().db.flush()?;
    Ok(RestoreStats { records })
}

fn write_record(out: &mut impl Write, tree: &[u8], key: &[u8], value: &[u8]) -> io::Result<()> {
    out.write_all(&[TAG_RECORD])?;
    // Tree names are short constants.
    out.write_all(&[tree.len() as u8])?;
    out.write_all(tree)?;
    for field in [key, value] {
        let len = u32::try_from(field.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "record field over 4 GiB"))?;
        out.write_all(&len.to_be_bytes())?;
        out.write_all(field)?;
    }
    Ok(())
}

/// Reads and verifies a backup, handing every record to `on_record`. Returns the record count.
fn read_backup(
    path: &Path,
    mut on_record: impl FnMut(TreeId, &[u8], &[u8]) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let invalid = |reason: &str| StoreError::InvalidBackup {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    };
    let read_err = |source: io::Error| {
        if source.kind() == io::ErrorKind::UnexpectedEof {
            invalid("truncated (it ends in the middle of a record)")
        } else {
            StoreError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let file = File::open(path).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut input = HashingReader {
        inner: BufReader::new(file),
        hash: Fnv64::new(),
    };
    let mut magic = [0u8; 8];
    input.read_exact(&mut magic).map_err(|err| {
        if err.kind() == io::ErrorKind::UnexpectedEof {
            invalid("not a shoptet-sync backup (too short)")
        } else {
            read_err(err)
        }
    })?;
    if &magic != MAGIC {
        return Err(invalid("not a shoptet-sync backup (wrong magic bytes)"));
    }
    let version = u16::from_be_bytes(read_array(&mut input).map_err(read_err)?);
    if version != FORMAT_VERSION {
        return Err(invalid(&format!(
            "unsupported backup format version {version} (this build reads {FORMAT_VERSION})"
        )));
    }
    let mut records: u64 = 0;
    loop {
        let mut tag = [0u8; 1];
        if input.read(&mut tag).map_err(read_err)? == 0 {
            return Err(invalid("truncated (the end marker is missing)"));
        }
        match tag[0] {
            TAG_RECORD => {
                let [name_len] = read_array(&mut input).map_err(read_err)?;
                let name = read_field(&mut input, u64::from(name_len)).map_err(read_err)?;
                let tree = std::str::from_utf8(&name)
                    .ok()
                    .and_then(TreeId::from_name)
                    .ok_or_else(|| {
                        invalid(&format!(
                            "record {} names an unknown tree {:?}",
                            records + 1,
                            String::from_utf8_lossy(&name)
                        ))
                    })?;
                let mut fields = [Vec::new(), Vec::new()];
                for field in &mut fields {
                    let len = u64::from(u32::from_be_bytes(
                        read_array(&mut input).map_err(read_err)?,
                    ));
                    if len > MAX_FIELD_LEN {
                        return Err(invalid(&format!(
                            "record {} has an implausible length {len}",
                            records + 1
                        )));
                    }
                    *field = read_field(&mut input, len).map_err(read_err)?;
                }
                let [key, value] = fields;
                on_record(tree, &key, &value)?;
                records += 1;
            }
            TAG_END => {
                let count = u64::from_be_bytes(read_array(&mut input).map_err(read_err)?);
                let computed = input.hash.0;
                let stored = u64::from_be_bytes(read_array(&mut input.inner).map_err(read_err)?);
                if count != records {
                    return Err(invalid(&format!(
                        "it declares {count} records but holds {records}"
                    )));
                }
                if stored != computed {
                    return Err(invalid("the checksum does not match (the file is damaged)"));
                }
                let mut extra = [0u8; 1];
                if input.inner.read(&mut extra).map_err(read_err)? != 0 {
                    return Err(invalid("unexpected bytes after the end of the backup"));
                }
                return Ok(records);
            }
            other => {
                return Err(invalid(&format!(
                    "unexpected tag {other:#04x} after record {records} (the file is damaged)"
                )));
            }
        }
    }
}

fn read_array<const N: usize>(input: &mut impl Read) -> io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    input.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// Reads `len` bytes, allocating only what the file really holds.
fn read_field(input: &mut impl Read, len: u64) -> io::Result<Vec<u8>> {
    let mut field = Vec::new();
    input.take(len).read_to_end(&mut field)?;
    if field.len() as u64 != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(field)
}

/// The scheduled backups in `dir`, newest first (their names sort by time).
pub fn scheduled_backups(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let io_err = |source| StoreError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut backups = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err)? {
        let path = entry.map_err(io_err)?.path();
        if path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(is_scheduled_name)
            && path.is_file()
        {
            backups.push(path);
        }
    }
    backups.sort();
    backups.reverse();
    Ok(backups)
}

/// The most recently written `*.backup` file in `dir`, scheduled or manual (for messages; an
/// unreadable dir gives `None`).
pub fn newest_backup(dir: &Path) -> Option<PathBuf> {
    fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.ends_with(SCHEDULED_SUFFIX))
        })
        .filter_map(|entry| {
            let meta = entry.metadata().ok()?;
            meta.is_file()
                .then(|| (meta.modified().ok(), entry.file_name(), entry.path()))
        })
        .max()
        .map(|(_, _, path)| path)
}

/// When the newest scheduled backup in `dir` was taken (from its name).
pub fn newest_backup_time(dir: &Path) -> Option<DateTime<Utc>> {
    let newest = scheduled_backups(dir).ok()?.into_iter().next()?;
    let name = newest.file_name()?.to_str()?;
    let time = name
        .strip_prefix(SCHEDULED_PREFIX)?
        .strip_suffix(SCHEDULED_SUFFIX)?;
    chrono::NaiveDateTime::parse_from_str(time, SCHEDULED_TIME_FORMAT)
        .ok()
        .map(|naive| naive.and_utc())
}

fn is_scheduled_name(name: &str) -> bool {
    name.strip_prefix(SCHEDULED_PREFIX)
        .and_then(|rest| rest.strip_suffix(SCHEDULED_SUFFIX))
        .is_some_and(|time| {
            chrono::NaiveDateTime::parse_from_str(time, SCHEDULED_TIME_FORMAT).is_ok()
        })
}

/// The backup target with symbolic links and `..` resolved; refused if it is inside the data
/// directory (a backup there could replace a live database file), is a directory, or names no
/// file.
fn check_backup_target(file: &Path, data_dir: &Path) -> Result<PathBuf, StoreError> {
    let refuse = |reason: String| StoreError::BackupTarget {
        path: file.to_path_buf(),
        reason,
    };
    let io_err = |path: &Path, source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let absolute = std::path::absolute(file).map_err(|source| io_err(file, source))?;
    let (Some(parent), Some(name)) = (absolute.parent(), absolute.file_name()) else {
        return Err(refuse("it names no file".to_owned()));
    };
    if name == ".." {
        return Err(refuse("it names no file".to_owned()));
    }
    let parent = fs::canonicalize(parent).map_err(|source| io_err(parent, source))?;
    let mut target = parent.join(name);
    match fs::symlink_metadata(&target) {
        Ok(meta) if meta.file_type().is_symlink() => {
            target = fs::canonicalize(&target)
                .map_err(|_| refuse("it is a symbolic link that points nowhere".to_owned()))?;
            if target.is_dir() {
                return Err(refuse("it is a directory".to_owned()));
            }
        }
        Ok(meta) if meta.is_dir() => return Err(refuse("it is a directory".to_owned())),
        _ => {}
    }
    let data_dir = fs::canonicalize(data_dir).map_err(|source| io_err(data_dir, source))?;
    if target.starts_with(&data_dir) {
        return Err(refuse(format!(
            "it is inside the data directory {}; write backups elsewhere",
            data_dir.display()
        )));
    }
    Ok(target)
}

fn partial_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    file.with_file_name(name)
}

fn sync_parent_dir(file: &Path) -> Result<(), StoreError> {
    let parent = match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| StoreError::Io {
            path: parent.to_path_buf(),
            source,
        })
}

/// An error and its causes, joined by `: `.
pub(super) fn message_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn check_empty_or_absent(dir: &Path) -> Result<(), StoreError> {
    match fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            Some(_) => Err(StoreError::NotEmpty {
                path: dir.to_path_buf(),
            }),
            None => Ok(()),
        },
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Io {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

fn ensure_empty_dir(dir: &Path) -> Result<(), StoreError> {
    let io_err = |source| StoreError::Io {
        path: dir.to_path_buf(),
        source,
    };
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(StoreError::NotEmpty {
                    path: dir.to_path_buf(),
                });
            }
            Ok(())
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(io_err)
        }
        Err(err) => Err(io_err(err)),
    }
}

fn empty_dir(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let _ = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_reference_values() {
        let mut hash = Fnv64::new();
        assert_eq!(hash.0, 0xcbf2_9ce4_8422_2325);
        hash.update(b"a");
        assert_eq!(hash.0, 0xaf63_dc4c_8601_ec8c);
        let mut hash = Fnv64::new();
        hash.update(b"foobar");
        assert_eq!(hash.0, 0x8594_4171_f739_67e8);
    }

    #[test]
    fn partial_path_is_a_sibling() {
        assert_eq!(
            partial_path(Path::new("dir/store.bak")),
            PathBuf::from("dir/store.bak.partial")
        );
    }
}
