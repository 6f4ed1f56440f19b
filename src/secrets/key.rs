//! Finding the sealing key: a systemd credential if the service has one, else a 0600 key file
//! (created with a fresh key at first start when absent). The file holds the key as 64
//! hexadecimal digits on one line.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{KEY_LEN, KeySource, Sealer, SecretsError, generate_key};

/// The key file used when the configuration names none.
pub const DEFAULT_KEY_FILE: &str = "/etc/shoptet-sync/secrets.key";
/// The systemd credential looked for first (`LoadCredential=shoptet-sync-key:…`).
pub const DEFAULT_KEY_CREDENTIAL: &str = "shoptet-sync-key";

/// `[secrets]`: where the sealing key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySettings {
    /// Key file used when no credential is present; created (0600) when absent.
    pub key_file: PathBuf,
    /// Name of the systemd credential preferred over the file.
    pub key_credential: String,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            key_file: PathBuf::from(DEFAULT_KEY_FILE),
            key_credential: DEFAULT_KEY_CREDENTIAL.to_owned(),
        }
    }
}

/// Loads the key: `$CREDENTIALS_DIRECTORY/<key_credential>` when it exists, else the key file,
/// which is created with a new key when absent. Returns the sealer and whether a file was
/// created. A key file readable by group or others is refused.
pub fn load_key(
    settings: &KeySettings,
    credentials_directory: Option<&Path>,
) -> Result<(Sealer, bool), SecretsError> {
    if let Some(dir) = credentials_directory {
        let path = dir.join(&settings.key_credential);
        if path.exists() {
            let source = KeySource::Credential {
                name: settings.key_credential.clone(),
                path: path.clone(),
            };
            let text = std::fs::read(&path).map_err(|source| SecretsError::Io {
                action: "read",
                path: path.clone(),
                source,
            })?;
            let key = parse_key(&text, &source)?;
            return Ok((Sealer::new(&key, source), false));
        }
    }
    let path = &settings.key_file;
    match std::fs::metadata(path) {
        Ok(_) => Ok((read_key_file(path)?, false)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let key = write_new_key_file(path)?;
            Ok((
                Sealer::new(&key, KeySource::File { path: path.clone() }),
                true,
            ))
        }
        Err(source) => Err(SecretsError::Io {
            action: "read",
            path: path.clone(),
            source,
        }),
    }
}

/// Reads an existing key file, refusing one that group or others may read.
pub fn read_key_file(path: &Path) -> Result<Sealer, SecretsError> {
    let io = |action, source| SecretsError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let mode = std::fs::metadata(path)
        .map_err(|e| io("read", e))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SecretsError::LoosePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let text = std::fs::read(path).map_err(|e| io("read", e))?;
    let source = KeySource::File {
        path: path.to_path_buf(),
    };
    let key = parse_key(&text, &source)?;
    Ok(Sealer::new(&key, source))
}

/// Creates `path` (mode 0600, never replacing an existing file) holding a new key, flushed to
/// disk; its directory is created (0700) when missing. Returns the key.
pub fn write_new_key_file(path: &Path) -> Result<[u8; KEY_LEN], SecretsError> {
    let io = |source| SecretsError::Io {
        action: "create",
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
    }
    let key = generate_key();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    let text: String = key.iter().map(|b| format!("{b:02x}")).collect();
    file.write_all(format!("{text}\n").as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(key)
}

fn parse_key(bytes: &[u8], source: &KeySource) -> Result<[u8; KEY_LEN], SecretsError> {
    let bad = |reason: &str| SecretsError::BadKey {
        key_source: source.to_string(),
        reason: reason.to_owned(),
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|_| bad("expected 64 hexadecimal digits"))?
        .trim();
    if text.len() != KEY_LEN * 2 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("expected 64 hexadecimal digits"));
    }
    let mut key = [0u8; KEY_LEN];
    for (i, slot) in key.iter_mut().enumerate() {
        *slot = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16)
            .map_err(|_| bad("expected 64 hexadecimal digits"))?;
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Secret;

    #[test]
    fn a_key_file_is_created_0600_then_reused_and_a_loose_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let settings = KeySettings {
            key_file: dir.path().join("etc/secrets.key"),
            key_credential: DEFAULT_KEY_CREDENTIAL.to_owned(),
        };
        let (first, created) = load_key(&settings, None).unwrap();
        assert!(created);
        let mode = std::fs::metadata(&settings.key_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let sealed = first.seal_secret("ctx", &Secret::new("t")).unwrap();
        let (second, created) = load_key(&settings, None).unwrap();
        assert!(!created);
        assert_eq!(second.open_secret("ctx", &sealed).unwrap().expose(), "t");

        std::fs::set_permissions(&settings.key_file, std::fs::Permissions::from_mode(0o640))
            .unwrap();
        let err = load_key(&settings, None).unwrap_err();
        assert!(
            matches!(err, SecretsError::LoosePermissions { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn a_credential_wins_over_the_file_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("creds");
        std::fs::create_dir(&creds).unwrap();
        let settings = KeySettings {
            key_file: dir.path().join("secrets.key"),
            key_credential: "k".to_owned(),
        };
        std::fs::write(creds.join("k"), format!("{}\n", "ab".repeat(32))).unwrap();
        let (sealer, created) = load_key(&settings, Some(&creds)).unwrap();
        assert!(!created && !settings.key_file.exists());
        assert!(
            sealer
                .source()
                .to_string()
                .contains("systemd credential `k`")
        );
        std::fs::write(creds.join("k"), "not a key").unwrap();
        let err = load_key(&settings, Some(&creds)).unwrap_err();
        assert!(matches!(err, SecretsError::BadKey { .. }), "{err}");
        assert!(!err.to_string().contains("not a key"), "{err}");
    }
}
