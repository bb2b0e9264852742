//! The key ring behind cookie signatures: the first key signs, every key verifies, so a
//! new key can be put first and the old one removed later without logging anyone out.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

/// HMAC-SHA256 wants at least as many key bytes as it outputs to reach its full strength.
pub const MIN_SECRET_BYTES: usize = 32;

/// Secrets are separated by commas (whitespace around each is ignored).
pub const SECRET_SEPARATOR: char = ',';

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("holds no secret")]
    Empty,
    #[error("secret #{position} is {len} bytes long; each secret needs at least {MIN_SECRET_BYTES}")]
    TooShort { position: usize, len: usize },
}

/// A non-empty list of signing secrets, each at least [`MIN_SECRET_BYTES`] long.
///
/// The keyed HMAC states are built once here, so verifying a cookie costs no key setup.
#[derive(Clone)]
pub struct KeyRing {
    macs: Vec<HmacSha256>,
}

impl std::fmt::Debug for KeyRing {
    // Never print secrets, even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyRing({} keys)", self.macs.len())
    }
}

impl KeyRing {
    /// Parses a comma-separated list of secrets, the signing key first.
    pub fn parse(secrets: &str) -> Result<Self, KeyError> {
        Self::parse_with_minimum(secrets, MIN_SECRET_BYTES)
    }

    /// Like [`KeyRing::parse`], for secrets another framework chose (Express takes any).
    pub fn parse_with_minimum(secrets: &str, minimum: usize) -> Result<Self, KeyError> {
        let macs = secrets
            .split(SECRET_SEPARATOR)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
            .map(|(i, secret)| {
                if secret.len() < minimum {
                    return Err(KeyError::TooShort {
                        position: i + 1,
                        len: secret.len(),
                    });
                }
                Ok(HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if macs.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self { macs })
    }

    pub fn len(&self) -> usize {
        self.macs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.macs.is_empty()
    }

    /// The MAC of `message` under the signing (first) key.
    pub fn sign(&self, message: &[u8]) -> [u8; 32] {
        let mut mac = self.macs[0].clone();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Whether `tag` is the MAC of `message` under any key of the ring.
    ///
    /// Each comparison is constant-time (`verify_slice`); every key is tried even after a
    /// match, so the time taken does not tell which key signed.
    pub fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        self.macs.iter().fold(false, |found, mac| {
            let mut mac = mac.clone();
            mac.update(message);
            mac.verify_slice(tag).is_ok() | found
        })
    }
}
