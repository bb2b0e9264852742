//! Sessions as Flask keeps them: Flask-Session 0.7 and 0.8 with its Redis backend.
//!
//! - Cookie `session` = the session id (`secrets.token_urlsafe(32)`), or, with
//!   `SESSION_USE_SIGNER`, id + `.` + itsdangerous's signature: base64url (no padding) of
//!   HMAC-SHA1 under a key derived from the app's `SECRET_KEY` as HMAC-SHA1(secret, salt
//!   `flask-session`).
//! - Key `session:` + id; the value is the session dict in MessagePack (the default) or JSON
//!   (`SESSION_SERIALIZATION_FORMAT = "json"`), as msgspec writes them. Anything else, the
//!   pickle of older versions included, is refused and never unpickled. Flask-Login keeps the
//!   user under `_user_id`. The key's TTL (`PERMANENT_SESSION_LIFETIME`) is the expiry.

use crate::cookie_codec::{CookieCodec, SessionId, VerifiedSessionId};
use crate::session::{ForeignRecord, MAX_RECORD_BYTES, RecordError, Session, SessionDecoder};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Map, Number, Value};
use sha1::Sha1;

pub const DEFAULT_COOKIE_NAME: &str = "session";
pub const DEFAULT_KEY_PREFIX: &str = "session:";
pub const DEFAULT_USER_POINTER: &str = "/_user_id";

const SALT: &[u8] = b"flask-session";
/// base64url of a 20-byte HMAC-SHA1 without padding.
const SIGNATURE_CHARS: usize = 27;
/// msgspec and Flask sessions nest shallowly; hostile input gets no deeper than this.
const MAX_DEPTH: usize = 64;

type HmacSha1 = Hmac<Sha1>;

/// Flask-Session's cookie: the bare id, or the id signed by itsdangerous.
#[derive(Clone)]
pub struct FlaskCookie {
    /// Keyed with each secret's derived key; `None`: unsigned cookies (Flask-Session's default).
    signers: Option<Vec<HmacSha1>>,
}

impl std::fmt::Debug for FlaskCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FlaskCookie(signed: {})", self.signers.is_some())
    }
}

impl FlaskCookie {
    pub fn unsigned() -> Self {
        Self { signers: None }
    }

    /// `secrets`: the app's `SECRET_KEY` first; others verify too.
    pub fn signed<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let signers = secrets
            .into_iter()
            .map(|secret| {
                let mut derive = HmacSha1::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
                derive.update(SALT);
                HmacSha1::new_from_slice(&derive.finalize().into_bytes()).expect("HMAC takes any key length")
            })
            .collect();
        Self { signers: Some(signers) }
    }
}

impl CookieCodec for FlaskCookie {
    fn decode(&self, value: &str) -> Option<VerifiedSessionId> {
        let Some(signers) = &self.signers else {
            // Unsigned, as Flask-Session sets it: the id's charset and length are all there
            // is to check; its 256 random bits are what protects it.
            return SessionId::parse(value).map(VerifiedSessionId::verified);
        };
        let (id, signature) = value.rsplit_once('.')?;
        let id = SessionId::parse(id)?;
        if signature.len() != SIGNATURE_CHARS {
            return None;
        }
        let tag = URL_SAFE_NO_PAD.decode(signature).ok()?;
        // Every key is tried, each comparison in constant time.
        let verified = signers.iter().fold(false, |found, signer| {
            let mut mac = signer.clone();
            mac.update(id.as_str().as_bytes());
            mac.verify_slice(&tag).is_ok() | found
        });
        verified.then(|| VerifiedSessionId::verified(id))
    }

    fn encode(&self, id: &SessionId) -> String {
        match self.signers.as_deref() {
            None | Some([]) => id.as_str().to_owned(),
            Some([first, ..]) => {
                let mut mac = first.clone();
                mac.update(id.as_str().as_bytes());
                format!(
                    "{}.{}",
                    id.as_str(),
                    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
                )
            }
        }
    }
}

/// The session dict Flask-Session stores, read as a [`ForeignRecord`].
#[derive(Clone, Copy, Debug)]
pub struct FlaskRecordDecoder<'a> {
    pub record: &'a ForeignRecord,
}

impl SessionDecoder for FlaskRecordDecoder<'_> {
    fn decode(&self, bytes: &[u8], _now: u64) -> Result<Session, RecordError> {
        let value = decode_value(bytes)?;
        self.record.session(&value, 0, u64::MAX)
    }
}

/// MessagePack first, then JSON, as msgspec's decoders are tried; a map either way.
pub fn decode_value(bytes: &[u8]) -> Result<Value, RecordError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(RecordError::TooLarge);
    }
    let value = match from_msgpack(bytes) {
        Some(value) => value,
        None => serde_json::from_slice::<Value>(bytes)
            .map_err(|_| RecordError::Malformed("neither MessagePack nor JSON (pickle is never read)".into()))?,
    };
    if !value.is_object() {
        return Err(RecordError::Malformed("the session is not a map".into()));
    }
    Ok(value)
}

/// The whole input as one MessagePack value of JSON's kinds; `None` otherwise.
fn from_msgpack(bytes: &[u8]) -> Option<Value> {
    if !is_one_value(bytes) {
        return None;
    }
    let mut rest = bytes;
    let value = rmpv::decode::read_value_with_max_depth(&mut rest, MAX_DEPTH).ok()?;
    // Trailing bytes: not one MessagePack value (a pickle starts with 0x80, an empty map).
    if !rest.is_empty() {
        return None;
    }
    to_json(value)
}

/// Whether `bytes` is exactly one well-formed MessagePack value: rmpv reads the reserved
/// marker 0xc1 as nil, where msgspec (and so Flask-Session) refuses the record.
fn is_one_value(bytes: &[u8]) -> bool {
    use rmp::Marker;
    let (mut at, mut pending) = (0usize, 1u64);
    let length = |at: usize, width: usize| -> Option<u64> {
        let field = bytes.get(at..at.checked_add(width)?)?;
        Some(field.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)))
    };
    while pending > 0 {
        let Some(&byte) = bytes.get(at) else {
            return false;
        };
        at += 1;
        pending -= 1;
        // (bytes of payload after the marker, values that follow inside it)
        let (skip, inner) = match Marker::from_u8(byte) {
            Marker::Reserved => return false,
            Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null | Marker::True | Marker::False => (0, 0),
            Marker::U8 | Marker::I8 => (1, 0),
            Marker::U16 | Marker::I16 => (2, 0),
            Marker::U32 | Marker::I32 | Marker::F32 => (4, 0),
            Marker::U64 | Marker::I64 | Marker::F64 => (8, 0),
            Marker::FixStr(n) => (u64::from(n), 0),
            Marker::FixArray(n) => (0, u64::from(n)),
            Marker::FixMap(n) => (0, 2 * u64::from(n)),
            Marker::FixExt1 => (2, 0),
            Marker::FixExt2 => (3, 0),
            Marker::FixExt4 => (5, 0),
            Marker::FixExt8 => (9, 0),
            Marker::FixExt16 => (17, 0),
            marker => {
                let (width, kind) = match marker {
                    Marker::Str8 | Marker::Bin8 => (1, 0),
                    Marker::Str16 | Marker::Bin16 => (2, 0),
                    Marker::Str32 | Marker::Bin32 => (4, 0),
                    Marker::Ext8 => (1, 1),
                    Marker::Ext16 => (2, 1),
                    Marker::Ext32 => (4, 1),
                    Marker::Array16 => (2, 2),
                    Marker::Array32 => (4, 2),
                    Marker::Map16 => (2, 3),
                    _ => (4, 3), // Map32
                };
                let Some(n) = length(at, width) else {
                    return false;
                };
                at += width;
                match kind {
                    0 => (n, 0),
                    1 => (n + 1, 0), // the extension's type byte
                    2 => (0, n),
                    _ => (0, 2 * n),
                }
            }
        };
        let Some(next) = usize::try_from(skip).ok().and_then(|s| at.checked_add(s)) else {
            return false;
        };
        at = next;
        // Each value takes at least one byte: more pending than bytes left cannot be.
        pending = match pending.checked_add(inner) {
            Some(p) if p <= (bytes.len().saturating_sub(at)) as u64 => p,
            _ => return false,
        };
    }
    at == bytes.len()
}

fn to_json(value: rmpv::Value) -> Option<Value> {
    Some(match value {
        rmpv::Value::Nil => Value::Null,
        rmpv::Value::Boolean(b) => Value::Bool(b),
        rmpv::Value::Integer(i) => match (i.as_i64(), i.as_u64()) {
            (Some(n), _) => Value::from(n),
            (None, Some(n)) => Value::from(n),
            (None, None) => return None,
        },
        rmpv::Value::F32(f) => Value::Number(Number::from_f64(f64::from(f))?),
        rmpv::Value::F64(f) => Value::Number(Number::from_f64(f)?),
        rmpv::Value::String(s) => Value::String(s.into_str()?),
        rmpv::Value::Array(items) => Value::Array(items.into_iter().map(to_json).collect::<Option<_>>()?),
        rmpv::Value::Map(pairs) => {
            let mut map = Map::new();
            for (key, value) in pairs {
                map.insert(key.as_str()?.to_owned(), to_json(value)?);
            }
            Value::Object(map)
        }
        // Bytes and extension types (msgspec's datetimes) have no JSON form to forward.
        rmpv::Value::Binary(_) | rmpv::Value::Ext(..) => return None,
    })
}
