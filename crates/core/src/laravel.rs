//! Sessions as Laravel keeps them with its `redis` session driver: Laravel 8 to 13.
//!
//! - Cookie `laravel-session` (Laravel 13; `laravel_session` before, see
//!   [`COOKIE_NAME_LARAVEL_8_12`]): what `EncryptCookies` sets, percent-encoded by Symfony:
//!   base64 of the JSON `{"iv":..,"value":..,"mac":..,"tag":""}` that `Encrypter::encrypt`
//!   makes with `APP_KEY` (AES-256-CBC by default, AES-128-CBC for a 16-byte key), `mac` being
//!   the hex HMAC-SHA256 of the base64 `iv` and `value` under the same key. The plaintext is the
//!   cookie's `CookieValuePrefix` (hex HMAC-SHA1 of the cookie name + `v2`, then `|`), then the
//!   40-character session id (`Str::random(40)`; `Store::isValidId` wants 40 alphanumerics).
//! - Key: the Redis connection's `prefix` option, then the cache's `prefix`, then the id
//!   (`RedisStore`, through `CacheBasedSessionHandler`); Laravel 8 to 10 put a `:` after a
//!   non-empty cache prefix. See [`key_prefix`] and the `KEY_PREFIX_*` constants.
//! - Value: `serialize()` of the string the session handler writes (`RedisStore::serialize`),
//!   that string being `serialize($attributes)`, or their JSON with `session.serialization =
//!   json` (Laravel 9 and later). `SessionGuard` keeps the user's id under
//!   `login_web_` + sha1(`Illuminate\Auth\SessionGuard`). The key's TTL (`SESSION_LIFETIME`
//!   minutes, pushed forward by every request that saves the session) is the expiry.

use crate::cookie_codec::{CookieCodec, SessionId, VerifiedSessionId};
use crate::php_serialize;
use crate::session::{ForeignRecord, MAX_RECORD_BYTES, RecordError, Session, SessionDecoder};
use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine;
use base64::alphabet::STANDARD;
use base64::engine::general_purpose::GeneralPurpose;
use base64::engine::{DecodePaddingMode, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha1::Sha1;
use sha2::Sha256;
use thiserror::Error;

/// The cookie name of a Laravel 13 app (and of one made from the 12.x skeleton since 12.3):
/// `Str::slug(APP_NAME).'-session'` with the skeleton's `APP_NAME=Laravel`.
pub const DEFAULT_COOKIE_NAME: &str = "laravel-session";
/// Laravel 8 to 12 (skeletons before 12.3): `Str::slug(APP_NAME, '_').'_session'`.
pub const COOKIE_NAME_LARAVEL_8_12: &str = "laravel_session";

/// Laravel 8: `laravel_database_` (Redis) + `laravel_cache` (cache) + `:` (RedisStore).
pub const KEY_PREFIX_LARAVEL_8: &str = "laravel_database_laravel_cache:";
/// Laravel 9 and 10: the skeleton's cache prefix gained a trailing `_`; RedisStore still adds `:`.
pub const KEY_PREFIX_LARAVEL_9_10: &str = "laravel_database_laravel_cache_:";
/// Laravel 11 and 12 (skeletons before 12.1): RedisStore no longer adds `:`.
pub const KEY_PREFIX_LARAVEL_11_12: &str = "laravel_database_laravel_cache_";
/// Laravel 13 (and 12 from the 12.1 skeleton): hyphenated prefixes.
pub const KEY_PREFIX_LARAVEL_13: &str = "laravel-database-laravel-cache-";
pub const DEFAULT_KEY_PREFIX: &str = KEY_PREFIX_LARAVEL_13;

/// Where `SessionGuard` (guard `web`) keeps the user's id: `login_web_` + sha1 of the guard's
/// class name, `Illuminate\Auth\SessionGuard`.
pub const DEFAULT_USER_POINTER: &str = "/login_web_59ba36addc2b2f9401580f014c7f58ea4e30989d";

/// A Laravel session cookie is 342 bytes whatever the key (330 from Laravel before 8.54,
/// whose payload has no `tag`): the gateway's 256-byte bound would skip it.
pub const MAX_COOKIE_VALUE_BYTES: usize = 512;

const KEY_BASE64_PREFIX: &str = "base64:";
const ID_CHARS: usize = 40;
/// 40 hex digits of HMAC-SHA1, then `|`.
const VALUE_PREFIX_CHARS: usize = 41;
const MAC_HEX_CHARS: usize = 64;
const IV_BYTES: usize = 16;
/// Keeps the IV derivation apart from the payload MAC under the same key: Laravel's MAC input
/// starts with base64 text, never with a NUL byte.
const IV_DERIVATION_LABEL: &[u8] = b"\0session-gateway laravel cookie iv\0";

type HmacSha256 = Hmac<Sha256>;
type HmacSha1 = Hmac<Sha1>;

/// What PHP's `base64_decode` reads from Laravel's output: the standard alphabet, padded or
/// not (strict mode refuses anything else; Laravel always pads).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The Redis key prefix of a Laravel app's sessions, as `RedisStore` of framework version
/// `major` joins the Redis connection's `prefix` option (`REDIS_PREFIX`) and the cache prefix
/// (`CACHE_PREFIX`, or `session.prefix` where Laravel 13.20 and later have it set).
///
/// Up to Laravel 10, `RedisStore::setPrefix` appends `:` to a prefix PHP does not call
/// `empty()` (so neither to `""` nor to `"0"`); from Laravel 11 the prefixes are joined as
/// they are ("Stop magic prefixing").
pub fn key_prefix(major: u32, redis_prefix: &str, cache_prefix: &str) -> String {
    let colon = major <= 10 && !matches!(cache_prefix, "" | "0");
    format!("{redis_prefix}{cache_prefix}{}", if colon { ":" } else { "" })
}

/// `CookieValuePrefix::create($cookieName, $key)`: the hex HMAC-SHA1 of the cookie's name
/// and `v2` under the app's key, then `|`, which `EncryptCookies` puts before every value it
/// encrypts and checks after decrypting.
pub fn cookie_value_prefix(cookie_name: &str, key: &[u8]) -> String {
    let mut mac = HmacSha1::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(cookie_name.as_bytes());
    mac.update(b"v2");
    format!("{}|", hex(&mac.finalize().into_bytes()))
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum LaravelKeyError {
    #[error("holds no key")]
    Empty,
    #[error("key #{position} starts with `base64:` but the rest is not base64")]
    NotBase64 { position: usize },
    #[error("key #{position} is {len} bytes long; AES-256-CBC takes 32 (AES-128-CBC 16)")]
    BadLength { position: usize, len: usize },
}

#[derive(Clone)]
enum CipherKey {
    Aes128([u8; 16]),
    Aes256([u8; 32]),
}

/// One of the app's keys, with what is derived from it once.
#[derive(Clone)]
struct AppKey {
    cipher: CipherKey,
    mac: HmacSha256,
    /// `CookieValuePrefix::create($cookieName, $key)`.
    value_prefix: [u8; VALUE_PREFIX_CHARS],
}

impl AppKey {
    fn new(raw: &[u8], cookie_name: &str, position: usize) -> Result<Self, LaravelKeyError> {
        let cipher = match raw.len() {
            16 => CipherKey::Aes128(raw.try_into().expect("16 bytes")),
            32 => CipherKey::Aes256(raw.try_into().expect("32 bytes")),
            len => return Err(LaravelKeyError::BadLength { position, len }),
        };
        let value_prefix = cookie_value_prefix(cookie_name, raw)
            .into_bytes()
            .try_into()
            .expect("40 hex digits and `|`");
        Ok(Self {
            cipher,
            mac: HmacSha256::new_from_slice(raw).expect("HMAC takes any key length"),
            value_prefix,
        })
    }

    /// `Encrypter::hash`: the MAC covers the base64 texts of the IV and the ciphertext.
    fn payload_mac(&self, iv: &str, value: &str) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(iv.as_bytes());
        mac.update(value.as_bytes());
        mac
    }

    fn decrypt(&self, iv: &[u8; IV_BYTES], ciphertext: &mut [u8]) -> Option<usize> {
        let plain = match &self.cipher {
            CipherKey::Aes128(key) => cbc::Decryptor::<aes::Aes128>::new(key.into(), iv.into())
                .decrypt_padded_mut::<Pkcs7>(ciphertext)
                .ok()?,
            CipherKey::Aes256(key) => cbc::Decryptor::<aes::Aes256>::new(key.into(), iv.into())
                .decrypt_padded_mut::<Pkcs7>(ciphertext)
                .ok()?,
        };
        Some(plain.len())
    }

    fn encrypt(&self, iv: &[u8; IV_BYTES], plaintext: &[u8]) -> Vec<u8> {
        // PKCS#7 always pads: one to sixteen bytes.
        let mut buffer = vec![0u8; (plaintext.len() / 16 + 1) * 16];
        buffer[..plaintext.len()].copy_from_slice(plaintext);
        let len = match &self.cipher {
            CipherKey::Aes128(key) => cbc::Encryptor::<aes::Aes128>::new(key.into(), iv.into())
                .encrypt_padded_mut::<Pkcs7>(&mut buffer, plaintext.len())
                .map(|c| c.len()),
            CipherKey::Aes256(key) => cbc::Encryptor::<aes::Aes256>::new(key.into(), iv.into())
                .encrypt_padded_mut::<Pkcs7>(&mut buffer, plaintext.len())
                .map(|c| c.len()),
        }
        .expect("the buffer has room for the padding");
        buffer.truncate(len);
        buffer
    }
}

/// Laravel's session cookie, decrypted and checked as `EncryptCookies` does.
#[derive(Clone)]
pub struct LaravelCookie {
    /// `APP_KEY` first, then `APP_PREVIOUS_KEYS`.
    keys: Vec<AppKey>,
}

impl std::fmt::Debug for LaravelCookie {
    // Never print keys, even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LaravelCookie({} keys)", self.keys.len())
    }
}

impl LaravelCookie {
    /// `keys`: `APP_KEY`, then `APP_PREVIOUS_KEYS`, comma-separated, each as Laravel's
    /// `EncryptionServiceProvider::parseKey` takes it: `base64:` + base64 of the key, or the
    /// key's raw bytes; 32 bytes (AES-256-CBC) or 16 (AES-128-CBC). `cookie_name` is the one
    /// the app sets (`session.cookie`): the cookie value's prefix is bound to it.
    pub fn new(cookie_name: &str, keys: &str) -> Result<Self, LaravelKeyError> {
        let keys = keys
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .enumerate()
            .map(|(i, key)| {
                let position = i + 1;
                let raw = match key.strip_prefix(KEY_BASE64_PREFIX) {
                    Some(encoded) => BASE64
                        .decode(encoded)
                        .map_err(|_| LaravelKeyError::NotBase64 { position })?,
                    None => key.as_bytes().to_vec(),
                };
                AppKey::new(&raw, cookie_name, position)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(LaravelKeyError::Empty);
        }
        Ok(Self { keys })
    }

    /// `Encrypter::encryptString($plaintext)` under `APP_KEY` with the given IV, as the cookie
    /// value Symfony sets (`rawurlencode`). Laravel takes a random IV for each cookie: callers
    /// with randomness pass one.
    pub fn encrypt(&self, plaintext: &[u8], iv: [u8; IV_BYTES]) -> String {
        let key = &self.keys[0];
        let iv_text = BASE64.encode(iv);
        let value = BASE64.encode(key.encrypt(&iv, plaintext));
        let mac = hex(&key.payload_mac(&iv_text, &value).finalize().into_bytes());
        // The key order and the empty `tag` of `compact('iv', 'value', 'mac', 'tag')`; base64
        // and hex need no JSON escaping.
        let json = format!(r#"{{"iv":"{iv_text}","value":"{value}","mac":"{mac}","tag":""}}"#);
        BASE64
            .encode(json)
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D")
    }

    /// What `EncryptCookies` sets for the session `id`, with the given IV.
    pub fn encode_with_iv(&self, id: &SessionId, iv: [u8; IV_BYTES]) -> String {
        let mut plaintext = self.keys[0].value_prefix.to_vec();
        plaintext.extend_from_slice(id.as_str().as_bytes());
        self.encrypt(&plaintext, iv)
    }

    /// The plaintext of a cookie value and the key that made it: the payload checked as
    /// `Encrypter::decrypt` does (a string `iv` of 16 bytes, string `value` and `mac`, no `tag`
    /// for CBC), the MAC checked in constant time under every key, and the ciphertext decrypted
    /// with the first key whose MAC matches (Laravel 11's `previousKeys` order).
    fn decrypt(&self, value: &str) -> Option<(Vec<u8>, &AppKey)> {
        // PHP reads cookie values with `rawurldecode` ('+' stays '+').
        let decoded: Vec<u8> = percent_encoding::percent_decode_str(value).collect();
        let json = BASE64.decode(decoded).ok()?;
        let payload: Value = serde_json::from_slice(&json).ok()?;
        let field = |name: &str| payload.get(name).and_then(Value::as_str);
        let (iv_text, value_text, mac_text) = (field("iv")?, field("value")?, field("mac")?);
        // A tag belongs to GCM; Laravel writes `""` for CBC and refuses a non-empty one.
        if !matches!(payload.get("tag"), None | Some(Value::Null)) && field("tag") != Some("") {
            return None;
        }
        let iv: [u8; IV_BYTES] = BASE64.decode(iv_text).ok()?.try_into().ok()?;
        // `hash_equals` compares Laravel's lowercase hex with the payload's text.
        let mac = unhex_lower(mac_text)?;
        let valid = self.keys.iter().fold(None, |found, key| {
            let matches = key.payload_mac(iv_text, value_text).verify_slice(&mac).is_ok();
            found.or(matches.then_some(key))
        })?;
        let mut ciphertext = BASE64.decode(value_text).ok()?;
        let len = valid.decrypt(&iv, &mut ciphertext)?;
        ciphertext.truncate(len);
        Some((ciphertext, valid))
    }
}

impl CookieCodec for LaravelCookie {
    fn decode(&self, value: &str) -> Option<VerifiedSessionId> {
        if value.len() > MAX_COOKIE_VALUE_BYTES {
            return None;
        }
        let (plaintext, key) = self.decrypt(value)?;
        // The prefix binds the value to this cookie's name: a value Laravel encrypted for
        // another cookie (a remember-me or an app cookie) is not a session id.
        let id = plaintext.strip_prefix(key.value_prefix.as_slice())?;
        if id.len() != ID_CHARS || !id.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        SessionId::parse(std::str::from_utf8(id).ok()?).map(VerifiedSessionId::verified)
    }

    /// A value Laravel decrypts, under `APP_KEY`. The core has no randomness, so the IV is
    /// derived from the key and the plaintext (HMAC-SHA256, as in SIV): the same id always
    /// gives the same cookie, which tells nothing the cookie itself does not, and different
    /// ids get unrelated IVs. A caller with randomness can use [`Self::encode_with_iv`].
    fn encode(&self, id: &SessionId) -> String {
        let key = &self.keys[0];
        let mut derive = key.mac.clone();
        derive.update(IV_DERIVATION_LABEL);
        derive.update(&key.value_prefix);
        derive.update(id.as_str().as_bytes());
        let digest = derive.finalize().into_bytes();
        let iv: [u8; IV_BYTES] = digest[..IV_BYTES].try_into().expect("16 of 32 bytes");
        self.encode_with_iv(id, iv)
    }

    fn max_value_bytes(&self) -> usize {
        MAX_COOKIE_VALUE_BYTES
    }
}

/// The session Laravel's Redis driver stores, read as a [`ForeignRecord`].
#[derive(Clone, Copy, Debug)]
pub struct LaravelRecordDecoder<'a> {
    pub record: &'a ForeignRecord,
}

impl SessionDecoder for LaravelRecordDecoder<'_> {
    fn decode(&self, bytes: &[u8], _now: u64) -> Result<Session, RecordError> {
        let value = decode_value(bytes)?;
        self.record.session(&value, 0, u64::MAX)
    }
}

/// The session's attributes from the bytes under its key: the PHP string `RedisStore` wrapped
/// them in, then inside it PHP's `serialize()` of the attributes, or their JSON (Laravel's
/// `session.serialization = json`). PHP objects are never instantiated.
pub fn decode_value(bytes: &[u8]) -> Result<Value, RecordError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(RecordError::TooLarge);
    }
    let inner = php_string(bytes)
        .ok_or_else(|| RecordError::Malformed("not a PHP-serialized string (RedisStore's wrapping)".into()))?;
    // PHP's serialize() starts with a type letter, JSON here with `{` (or `[]`, no attributes).
    let value = if matches!(inner.first(), Some(b'{' | b'[')) {
        serde_json::from_slice(inner).map_err(|e| RecordError::Malformed(format!("JSON session: {e}")))?
    } else {
        php_serialize::unserialize(inner)?
    };
    match value {
        Value::Object(_) => Ok(value),
        // An empty PHP array (a session with no attributes) reads as a list.
        Value::Array(items) if items.is_empty() => Ok(Value::Object(Default::default())),
        _ => Err(RecordError::Malformed("the session is not an array".into())),
    }
}

/// The bytes of `s:<length>:"<bytes>";` when that is the whole input.
fn php_string(bytes: &[u8]) -> Option<&[u8]> {
    let rest = bytes.strip_prefix(b"s:")?;
    let colon = rest.iter().position(|&b| b == b':')?;
    let digits = &rest[..colon];
    // Decimal digits only, as PHP's unserializer reads a string's length (no sign).
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let len: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let body = rest[colon + 1..].strip_prefix(b"\"")?;
    let (string, tail) = (body.get(..len)?, body.get(len..)?);
    (tail == b"\";").then_some(string)
}

/// Lowercase, as PHP's `hash_hmac` writes it.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0xf)]])
        .map(char::from)
        .collect()
}

/// 64 lowercase hex digits as 32 bytes; `None` for anything else.
fn unhex_lower(text: &str) -> Option<[u8; 32]> {
    if text.len() != MAC_HEX_CHARS {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}
