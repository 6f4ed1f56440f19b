//! Secrets at rest: API tokens (and any later secret, such as a webhook signing key) are stored
//! sealed with XChaCha20-Poly1305 under a key kept outside the data directory.
//!
//! - [`Sealer`] holds the key and where it came from ([`KeySource`]); [`Sealer::seal`] encrypts
//!   with a fresh random 192-bit nonce and binds the record's identity (the `context`, e.g.
//!   `integration/<id>/credentials/private_token`) as associated data, so a sealed value copied
//!   under another record does not open.
//! - [`SealedSecret`] is what is stored: nonce and ciphertext (with its tag), never the value.
//! - The key comes from a systemd credential (`$CREDENTIALS_DIRECTORY/<name>`, from
//!   `LoadCredential=`/`LoadCredentialEncrypted=`) or from a key file that must be 0600 and is
//!   created at first start when absent ([`load_key`]).

pub mod key;

use std::path::PathBuf;
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};

use crate::domain::Secret;

pub use key::{KeySettings, load_key, write_new_key_file};

/// Length of the sealing key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of a nonce in bytes (XChaCha20: 192 bits, safe to draw at random).
pub const NONCE_LEN: usize = 24;

/// Why a secret could not be sealed or opened, or the key not loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A sealed value did not open: the key is not the one it was sealed with (or the record
    /// was damaged or moved).
    #[error(
        "the stored secret {context} does not open with the key from {key_source}: that is not \
         the key it was sealed with (or the record is damaged); start with the right key, or \
         see \"Secrets at rest\" in operations.md"
    )]
    WrongKey {
        /// The record whose secret did not open.
        context: String,
        /// Where the key came from.
        key_source: String,
    },
    /// The key file or credential exists but does not hold a key.
    #[error("the key in {key_source} is not usable: {reason}")]
    BadKey {
        /// Where the key came from.
        key_source: String,
        /// What is wrong (never the key).
        reason: String,
    },
    /// The key file may be read by other users.
    #[error(
        "key file {} has mode {mode:04o}; it must be readable by its owner only (chmod 600)",
        path.display()
    )]
    LoosePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Reading or creating the key file failed.
    #[error("cannot {action} key file {}", path.display())]
    Io {
        /// What was attempted ("read", "create").
        action: &'static str,
        /// The key file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Encryption itself failed (not expected with a valid key).
    #[error("the secret {context} cannot be sealed")]
    Seal {
        /// The record being sealed.
        context: String,
    },
    /// A sealed value opened but is not text.
    #[error("the stored secret {context} is not text")]
    NotText {
        /// The record.
        context: String,
    },
}

/// Where the sealing key came from; named in every error about it (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A systemd credential (`LoadCredential=`/`LoadCredentialEncrypted=`).
    Credential {
        /// The credential's name.
        name: String,
        /// Its file under `$CREDENTIALS_DIRECTORY`.
        path: PathBuf,
    },
    /// A key file.
    File {
        /// The file.
        path: PathBuf,
    },
    /// A key held only in memory (tests, tools).
    Memory,
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Credential { name, path } => {
                write!(f, "systemd credential `{name}` ({})", path.display())
            }
            KeySource::File { path } => write!(f, "key file {}", path.display()),
            KeySource::Memory => f.write_str("an in-memory key"),
        }
    }
}

/// A secret as stored: a random nonce and the ciphertext with its authentication tag.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    /// [`NONCE_LEN`] random bytes, new for every seal.
    pub nonce: Vec<u8>,
    /// The encrypted value followed by the Poly1305 tag.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedSecret({} bytes)", self.ciphertext.len())
    }
}

crate::stored_record!(SealedSecret);

/// Seals and opens secrets with one key. Cheap to clone; its `Debug` never shows the key.
#[derive(Clone)]
pub struct Sealer {
    inner: Arc<SealerInner>,
}

struct SealerInner {
    cipher: XChaCha20Poly1305,
    source: KeySource,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer({})", self.inner.source)
    }
}

impl Sealer {
    /// A sealer for `key`, which came from `source`.
    pub fn new(key: &[u8; KEY_LEN], source: KeySource) -> Self {
        Self {
            inner: Arc::new(SealerInner {
                cipher: XChaCha20Poly1305::new(key.into()),
                source,
            }),
        }
    }

    /// A sealer with a fresh random key held only in memory (tests, tools).
    pub fn ephemeral() -> Self {
        Self::new(&generate_key(), KeySource::Memory)
    }

    /// Where the key came from.
    pub fn source(&self) -> &KeySource {
        &self.inner.source
    }

    /// Encrypts `plaintext` for the record named `context` (bound as associated data).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<SealedSecret, SecretsError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .inner
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretsError::Seal {
                context: context.to_owned(),
            })?;
        Ok(SealedSecret {
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Decrypts a value sealed for `context`; [`SecretsError::WrongKey`] (naming the key's
    /// source) when the key, the context or the bytes do not match.
    pub fn open(&self, context: &str, sealed: &SealedSecret) -> Result<Vec<u8>, SecretsError> {
        let wrong = || SecretsError::WrongKey {
            context: context.to_owned(),
            key_source: self.inner.source.to_string(),
        };
        if sealed.nonce.len() != NONCE_LEN {
            return Err(wrong());
        }
        self.inner
            .cipher
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| wrong())
    }

    /// Seals a [`Secret`].
    pub fn seal_secret(
        &self,
        context: &str,
        secret: &Secret,
    ) -> Result<SealedSecret, SecretsError> {
        self.seal(context, secret.expose().as_bytes())
    }

    /// Opens a value sealed with [`Sealer::seal_secret`].
    pub fn open_secret(
        &self,
        context: &str,
        sealed: &SealedSecret,
    ) -> Result<Secret, SecretsError> {
        let bytes = self.open(context, sealed)?;
        String::from_utf8(bytes)
            .map(Secret::new)
            .map_err(|_| SecretsError::NotText {
                context: context.to_owned(),
            })
    }
}

/// A fresh random key.
pub fn generate_key() -> [u8; KEY_LEN] {
    XChaCha20Poly1305::generate_key(&mut OsRng).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_context() {
        let sealer = Sealer::ephemeral();
        let sealed = sealer
            .seal_secret("integration/1/credentials", &Secret::new("tok-123"))
            .unwrap();
        assert!(
            !sealed
                .ciphertext
                .windows(7)
                .any(|w| w == b"tok-123".as_slice())
        );
        let opened = sealer
            .open_secret("integration/1/credentials", &sealed)
            .unwrap();
        assert_eq!(opened.expose(), "tok-123");
        // Another record's identity: refused.
        assert!(matches!(
            sealer.open("integration/2/credentials", &sealed),
            Err(SecretsError::WrongKey { .. })
        ));
        // Another key: refused, naming where the key came from.
        let other = Sealer::new(
            &generate_key(),
            KeySource::File {
                path: "/k/secrets.key".into(),
            },
        );
        let err = other
            .open("integration/1/credentials", &sealed)
            .unwrap_err();
        assert!(err.to_string().contains("key file /k/secrets.key"), "{err}");
        // Every seal draws a new nonce.
        let again = sealer
            .seal_secret("integration/1/credentials", &Secret::new("tok-123"))
            .unwrap();
        assert_ne!(again.nonce, sealed.nonce);
    }
}
