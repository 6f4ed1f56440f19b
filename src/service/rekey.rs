//! `shoptet-syncd --rotate-key NEW_KEY_FILE`: the offline step of a key rotation. With the
//! daemon stopped, it opens the store with the current key (as configured), re-seals every
//! stored secret under the key in NEW_KEY_FILE (created, 0600, when absent) in one commit, and
//! says what to install. The old key stops working for this store once it has run.

use std::path::{Path, PathBuf};

use super::daemon::{self, DaemonError};
use crate::actors::error_chain;
use crate::config::DaemonConfig;

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationSummary {
    /// The new key file.
    pub new_key_file: PathBuf,
    /// Whether the new key file was created by this run.
    pub created: bool,
    /// Secrets re-sealed.
    pub resealed: u64,
    /// Where the daemon reads its key from (to replace with the new one).
    pub current_key: String,
}

impl std::fmt::Display for RotationSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "re-sealed {} secrets with the key in {}{}",
            self.resealed,
            self.new_key_file.display(),
            if self.created {
                " (new key created)"
            } else {
                ""
            }
        )?;
        writeln!(
            f,
            "now install it in place of the {} before starting the daemon; the old key no \
             longer opens this store",
            self.current_key
        )
    }
}

/// Re-seals every secret in `config`'s store under the key in `new_key_file`.
pub fn rotate_key(
    config: &DaemonConfig,
    new_key_file: &Path,
) -> Result<RotationSummary, DaemonError> {
    let new_key_file = daemon::absolute(new_key_file)?;
    if new_key_file.starts_with(daemon::absolute(&config.data_dir)?) {
        return Err(DaemonError::Usage(format!(
            "the new key file {} is inside the data directory; keep keys apart from the store",
            new_key_file.display()
        )));
    }
    let key_error = |e: crate::secrets::SecretsError| DaemonError::Key(error_chain(&e));
    let (new, created) = if new_key_file.exists() {
        (
            crate::secrets::key::read_key_file(&new_key_file).map_err(key_error)?,
            false,
        )
    } else {
        let key = crate::secrets::write_new_key_file(&new_key_file).map_err(key_error)?;
        (
            crate::secrets::Sealer::new(
                &key,
                crate::secrets::KeySource::File {
                    path: new_key_file.clone(),
                },
            ),
            true,
        )
    };
    let store = daemon::open_store(&config.data_dir, config.backup.dir.as_deref())?;
    futures::executor::block_on(async {
        daemon::unlock_store(&store, config).await?;
        let current_key = store
            .sealer()
            .map(|s| s.source().to_string())
            .unwrap_or_default();
        let resealed = store.reseal(new).await.map_err(|e| {
            DaemonError::Runtime(format!("cannot re-seal the secrets: {}", error_chain(&e)))
        })?;
        Ok(RotationSummary {
            new_key_file: new_key_file.clone(),
            created,
            resealed,
            current_key,
        })
    })
}
