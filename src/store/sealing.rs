//! Secrets in the store: meta values named `sealed:…` hold a [`SealedSecret`] (the encoded
//! record, encrypted with the store's [`Sealer`], the record's tree, integration and name as
//! associated data). An integration's credentials are one of them ([`CREDENTIALS`]); the
//! integration record itself never holds a token.
//!
//! The key is installed once at start ([`Store::install_sealer`]), which refuses a key that
//! does not open what is stored (naming the key's source), and seals what an older release
//! stored in plaintext. [`Store::reseal`] re-seals everything under a new key (rotation).

use uuid::Uuid;

use super::keys::{self, TreeId};
use super::{Changeset, Store, StoreError, codec};
use crate::domain::{Credentials, Integration, IntegrationId};
use crate::secrets::{SealedSecret, Sealer};

/// Names of sealed meta values start with this.
pub const SEALED_PREFIX: &str = "sealed:";
/// The integration's API credentials (a sealed [`Credentials`]).
pub const CREDENTIALS: &str = "sealed:credentials";
/// A known value sealed under the nil id: proves at start that the key is the right one even
/// when no integration holds a secret yet.
const KEY_CHECK: &str = "sealed:key_check";
const KEY_CHECK_VALUE: &str = "shoptet-sync sealing key check";

/// What [`Store::install_sealer`] found and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SealingReport {
    /// Sealed values that opened with the key.
    pub verified: u64,
    /// Integrations whose plaintext credentials (from an older release) were sealed now.
    pub migrated: u64,
}

/// The associated data of a sealed meta value: the record's identity.
pub fn context(id: IntegrationId, name: &str) -> String {
    format!("{}/{id}/{name}", TreeId::Meta.name())
}

impl Store {
    /// The installed key, if any.
    pub fn sealer(&self) -> Option<Sealer> {
        self.inner
            .sealer
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_sealer(&self, sealer: Sealer) {
        *self
            .inner
            .sealer
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(sealer);
    }

    /// Installs the key secrets are sealed with. First checks that it opens every sealed value
    /// already stored (a wrong key is refused with an error naming where it came from, and
    /// nothing is written); then seals credentials an older release stored in plaintext, and
    /// records a key check if there is none. Call once at start, before the actors run.
    pub async fn install_sealer(&self, sealer: Sealer) -> Result<SealingReport, StoreError> {
        let mut report = SealingReport::default();
        let mut has_check = false;
        for entry in self.tree(TreeId::Meta).iter() {
            let (key, value) = entry?;
            let Some((id, name)) = sealed_name(&key) else {
                continue;
            };
            let sealed: SealedSecret = codec::decode(TreeId::Meta, &key, &value)?;
            sealer.open(&context(id, name), &sealed)?;
            has_check |= id.is_nil() && name == KEY_CHECK;
            report.verified += 1;
        }
        let mut changeset = Changeset::new();
        for entry in self.tree(TreeId::Integrations).iter() {
            let (key, value) = entry?;
            let integration: Integration = codec::decode(TreeId::Integrations, &key, &value)?;
            if integration.credentials.is_some() {
                changeset.put_integration(&integration);
                report.migrated += 1;
            }
        }
        if !has_check {
            changeset.put_sealed_meta(Uuid::nil(), KEY_CHECK, KEY_CHECK_VALUE);
        }
        self.set_sealer(sealer);
        self.commit(changeset).await?;
        Ok(report)
    }

    /// How many sealed values the store holds (whatever the key).
    pub fn sealed_values(&self) -> Result<u64, StoreError> {
        let mut count = 0;
        for key in self.tree(TreeId::Meta).iter().keys() {
            if sealed_name(&key?).is_some() {
                count += 1;
            }
        }
        Ok(count)
    }

    /// [`Store::install_sealer`] for threads that may block (tests, tools).
    pub fn install_sealer_blocking(&self, sealer: Sealer) -> Result<SealingReport, StoreError> {
        futures::executor::block_on(self.install_sealer(sealer))
    }

    /// Re-seals every sealed value under `new` (key rotation), in one commit, and installs
    /// `new`. The current key must be installed. Returns how many values were re-sealed.
    pub async fn reseal(&self, new: Sealer) -> Result<u64, StoreError> {
        let current = self.sealer().ok_or(StoreError::NoSealingKey)?;
        let mut changes = Vec::new();
        for entry in self.tree(TreeId::Meta).iter() {
            let (key, value) = entry?;
            let Some((id, name)) = sealed_name(&key) else {
                continue;
            };
            let sealed: SealedSecret = codec::decode(TreeId::Meta, &key, &value)?;
            let context = context(id, name);
            let plaintext = current.open(&context, &sealed)?;
            changes.push((key.to_vec(), new.seal(&context, &plaintext)?));
        }
        let mut changeset = Changeset::new();
        for (key, sealed) in &changes {
            changeset.put_raw_meta(key.clone(), sealed);
        }
        self.commit(changeset).await?;
        self.set_sealer(new);
        Ok(changes.len() as u64)
    }

    /// A sealed meta value, opened with the installed key. `None` when absent; an error when
    /// the store has no key or the key does not open it.
    pub fn sealed_meta<T: codec::Record>(
        &self,
        id: IntegrationId,
        name: &str,
    ) -> Result<Option<T>, StoreError> {
        let key = keys::meta_key(id, name);
        let Some(value) = self.tree(TreeId::Meta).get(&key)? else {
            return Ok(None);
        };
        let sealer = self.sealer().ok_or(StoreError::NoSealingKey)?;
        let sealed: SealedSecret = codec::decode(TreeId::Meta, &key, &value)?;
        let plaintext = sealer.open(&context(id, name), &sealed)?;
        codec::decode(TreeId::Meta, &key, &plaintext).map(Some)
    }

    /// Puts the sealed credentials back into an integration read from its record. Without an
    /// installed key (offline tools such as restore) the integration is left without them.
    pub(crate) fn attach_credentials(
        &self,
        integration: &mut Integration,
    ) -> Result<(), StoreError> {
        if integration.credentials.is_none() && self.sealer().is_some() {
            integration.credentials =
                self.sealed_meta::<Credentials>(integration.id, CREDENTIALS)?;
        }
        Ok(())
    }

    /// Seals one queued value for the transaction.
    pub(crate) fn seal_op(
        &self,
        sealer: Option<&Sealer>,
        id: IntegrationId,
        name: &str,
        plaintext: &[u8],
    ) -> Result<super::changeset::Write, StoreError> {
        let sealer = sealer.ok_or(StoreError::NoSealingKey)?;
        let key = keys::meta_key(id, name);
        let sealed = sealer.seal(&context(id, name), plaintext)?;
        let value = codec::encode(TreeId::Meta, &key, &sealed)?;
        Ok(super::changeset::Write::Put {
            tree: TreeId::Meta,
            key,
            value,
        })
    }
}

/// The integration id and name of a sealed meta key; `None` for other meta values.
fn sealed_name(key: &[u8]) -> Option<(IntegrationId, &str)> {
    let id = Uuid::from_slice(key.get(..keys::ID_LEN)?).ok()?;
    let name = std::str::from_utf8(key.get(keys::ID_LEN..)?).ok()?;
    name.starts_with(SEALED_PREFIX).then_some((id, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Secret;
    use crate::secrets::{KeySource, SecretsError};

    const TOKEN: &str = "sealing-test-token-5b2f9e0c";

    fn contains(haystack: &[u8], needle: &str) -> bool {
        haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    }

    /// Every byte under `dir`, file by file.
    fn files_holding(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                found.extend(files_holding(&path, needle));
            } else if contains(&std::fs::read(&path).unwrap(), needle) {
                found.push(path);
            }
        }
        found
    }

    fn integration_with_token() -> Integration {
        let mut integration =
            Integration::new("shop", "https://shop.example.cz", chrono::Utc::now()).unwrap();
        integration.credentials = Some(Credentials::PrivateToken(Secret::new(TOKEN)));
        integration
    }

    #[test]
    fn credentials_are_sealed_in_the_files_and_the_backup_and_read_back_with_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let integration = integration_with_token();
        {
            let store = Store::open(&data).unwrap();
            store.install_sealer_blocking(Sealer::ephemeral()).unwrap();
            let mut changeset = Changeset::new();
            changeset.put_integration(&integration);
            store.commit_blocking(changeset).unwrap();
            assert_eq!(
                store.integration(integration.id).unwrap().unwrap(),
                integration
            );
            store.backup_to(&dir.path().join("backup")).unwrap();
        }
        assert!(files_holding(&data, TOKEN).is_empty());
        assert!(!contains(
            &std::fs::read(dir.path().join("backup")).unwrap(),
            TOKEN
        ));
    }

    #[test]
    fn without_a_key_credentials_cannot_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut changeset = Changeset::new();
        changeset.put_integration(&integration_with_token());
        let err = store.commit_blocking(changeset).unwrap_err();
        assert!(matches!(err, StoreError::NoSealingKey), "{err}");
        assert!(store.integrations().unwrap().is_empty());
    }

    #[test]
    fn a_wrong_key_is_refused_naming_its_source_and_nothing_changes() {
        let dir = tempfile::tempdir().unwrap();
        let integration = integration_with_token();
        {
            let store = Store::open(dir.path()).unwrap();
            store.install_sealer_blocking(Sealer::ephemeral()).unwrap();
            let mut changeset = Changeset::new();
            changeset.put_integration(&integration);
            store.commit_blocking(changeset).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let wrong = Sealer::new(
            &crate::secrets::generate_key(),
            KeySource::File {
                path: "/etc/x/wrong.key".into(),
            },
        );
        let err = store.install_sealer_blocking(wrong).unwrap_err();
        assert!(
            matches!(err, StoreError::Secrets(SecretsError::WrongKey { .. })),
            "{err}"
        );
        assert!(
            err.to_string().contains("key file /etc/x/wrong.key"),
            "{err}"
        );
        // Not installed: the credentials are neither readable nor replaced.
        assert!(store.sealer().is_none());
        let mut changeset = Changeset::new();
        changeset.put_integration(&integration);
        assert!(store.commit_blocking(changeset).is_err());
    }

    #[test]
    fn plaintext_credentials_of_an_older_release_are_sealed_at_first_start() {
        let dir = tempfile::tempdir().unwrap();
        let integration = integration_with_token();
        let store = Store::open(dir.path().join("data")).unwrap();
        // As the previous release wrote it: the token inside the integration record.
        let key = keys::integration_key(integration.id);
        let old = codec::encode(TreeId::Integrations, &key, &integration).unwrap();
        store
            .tree(TreeId::Integrations)
            .insert(key.as_slice(), old)
            .unwrap();
        let report = store.install_sealer_blocking(Sealer::ephemeral()).unwrap();
        assert_eq!(report.migrated, 1);
        let raw = store.tree(TreeId::Integrations).get(&key).unwrap().unwrap();
        assert!(!contains(&raw, TOKEN));
        assert_eq!(
            store.integration(integration.id).unwrap().unwrap(),
            integration
        );
        let backup = dir.path().join("backup");
        store.backup_to(&backup).unwrap();
        assert!(!contains(&std::fs::read(&backup).unwrap(), TOKEN));
    }

    #[test]
    fn rotation_reseals_every_secret_under_the_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let integration = integration_with_token();
        let old_key = crate::secrets::generate_key();
        let new_key = crate::secrets::generate_key();
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .install_sealer_blocking(Sealer::new(&old_key, KeySource::Memory))
                .unwrap();
            let mut changeset = Changeset::new();
            changeset.put_integration(&integration);
            store.commit_blocking(changeset).unwrap();
            let resealed =
                futures::executor::block_on(store.reseal(Sealer::new(&new_key, KeySource::Memory)))
                    .unwrap();
            assert_eq!(resealed, 2, "the credentials and the key check");
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(
            store
                .install_sealer_blocking(Sealer::new(&old_key, KeySource::Memory))
                .is_err()
        );
        store
            .install_sealer_blocking(Sealer::new(&new_key, KeySource::Memory))
            .unwrap();
        assert_eq!(
            store.integration(integration.id).unwrap().unwrap(),
            integration
        );
    }
}
