//! Secrets at rest: AppSecrets and EncodingAESKeys are sealed with AES-256-GCM under a master key.
//!
//! A sealed value is `v1:` followed by the Base64 of a random 96-bit nonce and the ciphertext with its tag.
//! The associated data names the column and the row's AppID, so a sealed value copied into another row or
//! column does not open.

use std::fmt;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use rand::RngCore;

const SEALED_PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;

/// The 256-bit key that seals secrets at rest. Its `Debug` output never shows the key.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// Why a master key was refused.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// The text is not 32 bytes in Base64 or in hex.
    #[error("expected 32 random bytes as Base64 (44 characters, e.g. from `openssl rand -base64 32`) or as 64 hex characters")]
    Malformed,
    /// The key file could not be read or written.
    #[error("key file {path}: {source}")]
    File {
        /// The key file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl MasterKey {
    /// Parses a key written as Base64 (44 characters) or hex (64 characters).
    pub fn parse(text: &str) -> Result<Self, MasterKeyError> {
        let text = text.trim();
        let bytes = if text.len() == 64 {
            hex::decode(text).map_err(|_| MasterKeyError::Malformed)?
        } else {
            BASE64.decode(text).map_err(|_| MasterKeyError::Malformed)?
        };
        let key: [u8; 32] = bytes.try_into().map_err(|_| MasterKeyError::Malformed)?;
        Ok(Self(key))
    }

    /// A new random key.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self(key)
    }

    /// The key as Base64, the form written to key files and `.env`.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    /// Reads the key file at `path`, or creates it with a new key (mode 0600) when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, MasterKeyError> {
        let file_error = |source| MasterKeyError::File {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut file = options.open(path).map_err(file_error)?;
                writeln!(file, "{}", key.to_base64()).map_err(file_error)?;
                file.sync_all().map_err(file_error)?;
                Ok(key)
            }
            Err(err) => Err(file_error(err)),
        }
    }

    /// Seals `plaintext`; `context` (column and row) must be given again to open it.
    pub fn seal(&self, plaintext: &str, context: &str) -> String {
        let cipher = Aes256Gcm::new(&self.0.into());
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: context.as_bytes(),
        };
        // Encryption with a valid key and nonce length cannot fail; an empty output would never open.
        let ciphertext = cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        format!("{SEALED_PREFIX}{}", BASE64.encode(sealed))
    }

    /// Opens a value made by [`MasterKey::seal`] with the same `context`; `None` when the key or context
    /// is wrong or the value was tampered with.
    pub fn open(&self, sealed: &str, context: &str) -> Option<String> {
        let raw = BASE64.decode(sealed.strip_prefix(SEALED_PREFIX)?).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let cipher = Aes256Gcm::new(&self.0.into());
        let payload = Payload {
            msg: ciphertext,
            aad: context.as_bytes(),
        };
        let plaintext = cipher.decrypt(Nonce::from_slice(nonce), payload).ok()?;
        String::from_utf8(plaintext).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_the_same_key_and_context_only() {
        let key = MasterKey::generate();
        let sealed = key.seal("app-secret-value", "accounts.app_secret:wx1");
        assert!(!sealed.contains("app-secret-value"));
        assert_eq!(
            key.open(&sealed, "accounts.app_secret:wx1").as_deref(),
            Some("app-secret-value")
        );
        assert_eq!(key.open(&sealed, "accounts.app_secret:wx2"), None);
        assert_eq!(
            MasterKey::generate().open(&sealed, "accounts.app_secret:wx1"),
            None
        );
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let key = MasterKey::generate();
        assert_ne!(key.seal("same", "ctx"), key.seal("same", "ctx"));
    }

    #[test]
    fn tampered_or_truncated_values_do_not_open() {
        let key = MasterKey::generate();
        let sealed = key.seal("secret", "ctx");
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(key.open(&tampered, "ctx"), None);
        assert_eq!(key.open("v1:AAAA", "ctx"), None);
        assert_eq!(key.open("not sealed", "ctx"), None);
    }

    #[test]
    fn keys_parse_from_base64_and_hex_and_refuse_other_lengths() {
        let key = MasterKey::generate();
        let again = MasterKey::parse(&key.to_base64()).unwrap();
        assert_eq!(again.0, key.0);
        assert!(MasterKey::parse(&hex::encode([7u8; 32])).is_ok());
        assert!(matches!(
            MasterKey::parse("c2hvcnQ="),
            Err(MasterKeyError::Malformed)
        ));
        assert!(matches!(
            MasterKey::parse(""),
            Err(MasterKeyError::Malformed)
        ));
        assert_eq!(format!("{key:?}"), "MasterKey(<redacted>)");
    }

    #[test]
    fn the_key_file_is_created_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("kaika-key-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("master.key");
        let first = MasterKey::load_or_create(&path).unwrap();
        let second = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(first.0, second.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
