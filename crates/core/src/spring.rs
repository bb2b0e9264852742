//! Sessions as Spring keeps them: Spring Session Data Redis 3.0 to 4.1, with either of its
//! repositories (`RedisSessionRepository`, the default since 3.0, and
//! `RedisIndexedSessionRepository`), which write the same hash.
//!
//! - Cookie `SESSION` = base64 (standard alphabet, padded; a 36-byte id needs no padding) of
//!   the session id (`DefaultCookieSerializer`, `useBase64Encoding` on by default); a value
//!   that does not decode is skipped. Ids are `UUID.randomUUID().toString()`
//!   (`UuidSessionIdGenerator`): only such ids are taken. WebFlux (`CookieWebSessionIdResolver`)
//!   and `setUseBase64Encoding(false)` put the bare id in the cookie: [`SpringCookie::raw`].
//! - Key `spring:session:sessions:` + id (the namespace `spring:session` is configurable),
//!   holding a hash: `creationTime` and `lastAccessedTime` (epoch milliseconds, `Long`),
//!   `maxInactiveInterval` (seconds, `Integer`; negative: never expires) and one
//!   `sessionAttr:<name>` field per attribute (`RedisSessionMapper`). Each value is written by
//!   the session template's serializer: Java serialization by default
//!   (`JdkSerializationRedisSerializer`), or JSON (`GenericJackson2JsonRedisSerializer`).
//!   A removed attribute is an empty value (the serializers write `null` as no bytes).
//! - The session is alive while `now < lastAccessedTime + maxInactiveInterval`
//!   (`MapSession.isExpired`), which the gateway checks itself: the indexed repository keeps
//!   the key five minutes past that, so the key's existence is not enough.
//!
//! Java-serialized values are never deserialized: the exact bytes `ObjectOutputStream` writes
//! for a `Long`, an `Integer` and a `String` are recognised, and every other stream is kept
//! as an opaque marker ([`opaque_marker`]) that is not a user id.

use crate::cookie_codec::{CookieCodec, SessionId, VerifiedSessionId};
use crate::session::{ForeignRecord, MAX_RECORD_BYTES, RecordError, Session};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

pub const DEFAULT_COOKIE_NAME: &str = "SESSION";
pub const DEFAULT_KEY_PREFIX: &str = "spring:session:sessions:";
/// The attribute `FindByIndexNameSessionRepository.PRINCIPAL_NAME_INDEX_NAME`: Spring
/// Session's own place for the user name of a session (a `String`, readable with either
/// serializer). Spring Security does not set it (its user is inside `SPRING_SECURITY_CONTEXT`,
/// opaque with Java serialization); with JSON, point at the context instead (README).
pub const DEFAULT_USER_POINTER: &str =
    "/org.springframework.session.FindByIndexNameSessionRepository.PRINCIPAL_NAME_INDEX_NAME";

/// The key of the object that stands for a value the gateway does not interpret.
pub const OPAQUE_KEY: &str = "@opaque";

const CREATION_TIME: &[u8] = b"creationTime";
const LAST_ACCESSED_TIME: &[u8] = b"lastAccessedTime";
const MAX_INACTIVE_INTERVAL: &[u8] = b"maxInactiveInterval";
const ATTRIBUTE_PREFIX: &[u8] = b"sessionAttr:";

/// A UUID's 36 characters, base64 without padding (36 is a multiple of 3).
const UUID_BASE64_CHARS: usize = 48;
const UUID_CHARS: usize = 36;
/// Empty fields cost no bytes, so their number is bounded as well.
const MAX_FIELDS: usize = 1024;

/// What an attribute that the gateway does not read becomes in the session's JSON: an
/// object, so that a user pointer at it is refused as a bad user id, never taken as one.
pub fn opaque_marker() -> Value {
    let mut marker = Map::new();
    marker.insert(OPAQUE_KEY.to_owned(), Value::String("java-serialization".into()));
    Value::Object(marker)
}

/// Spring Session's cookie: base64 of the id (`DefaultCookieSerializer`), or the bare id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpringCookie {
    base64: bool,
}

impl Default for SpringCookie {
    fn default() -> Self {
        Self::base64()
    }
}

impl SpringCookie {
    /// `DefaultCookieSerializer` as it comes (servlet apps).
    pub fn base64() -> Self {
        Self { base64: true }
    }

    /// The bare id: WebFlux's `CookieWebSessionIdResolver`, or `setUseBase64Encoding(false)`.
    pub fn raw() -> Self {
        Self { base64: false }
    }
}

impl CookieCodec for SpringCookie {
    fn decode(&self, value: &str) -> Option<VerifiedSessionId> {
        let id = if self.base64 {
            // Java's basic decoder: standard alphabet, padding optional but exact. A UUID is
            // 48 characters with no padding and no spare bits, so its encoding is unique.
            if value.len() != UUID_BASE64_CHARS {
                return None;
            }
            String::from_utf8(STANDARD.decode(value).ok()?).ok()?
        } else {
            value.to_owned()
        };
        // Unsigned, as Spring sets it: the UUID's form is all there is to check; its 122
        // random bits are what protects it.
        if !is_random_uuid(&id) {
            return None;
        }
        SessionId::parse(&id).map(VerifiedSessionId::verified)
    }

    fn encode(&self, id: &SessionId) -> String {
        if self.base64 {
            STANDARD.encode(id.as_str())
        } else {
            id.as_str().to_owned()
        }
    }
}

/// `UUID.randomUUID().toString()`: lowercase hex in 8-4-4-4-12 groups, version 4, variant 10.
fn is_random_uuid(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == UUID_CHARS
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        })
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

/// How the app's session template writes hash values (`springSessionDefaultRedisSerializer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpringSerializer {
    /// `JdkSerializationRedisSerializer`, the default: Java serialization.
    Jdk,
    /// `GenericJackson2JsonRedisSerializer` (or Jackson 3's `GenericJacksonJsonRedisSerializer`).
    Json,
}

/// A session hash, read.
#[derive(Clone, Debug, PartialEq)]
pub struct SpringHash {
    pub creation_time_ms: u64,
    pub last_accessed_time_ms: u64,
    /// Seconds; negative: the session never expires.
    pub max_inactive_secs: i32,
    /// Attribute name (without `sessionAttr:`) to value; removed attributes are left out.
    pub attributes: Map<String, Value>,
}

impl SpringHash {
    /// The hash as `HGETALL` returns it, field and value pairs, within [`MAX_RECORD_BYTES`].
    /// The three timing fields are required, of the types Spring casts them to; other fields
    /// are ignored, as `RedisSessionMapper` ignores them.
    pub fn parse(fields: &[(Vec<u8>, Vec<u8>)], serializer: SpringSerializer) -> Result<Self, RecordError> {
        let size = fields.iter().fold(0usize, |n, (field, value)| {
            n.saturating_add(field.len()).saturating_add(value.len())
        });
        if size > MAX_RECORD_BYTES || fields.len() > MAX_FIELDS {
            return Err(RecordError::TooLarge);
        }
        let (mut creation, mut last_accessed, mut max_inactive) = (None, None, None);
        let mut attributes = Map::new();
        for (field, value) in fields {
            let slot = match field.as_slice() {
                CREATION_TIME => &mut creation,
                LAST_ACCESSED_TIME => &mut last_accessed,
                MAX_INACTIVE_INTERVAL => &mut max_inactive,
                other => {
                    let Some(name) = other.strip_prefix(ATTRIBUTE_PREFIX) else {
                        continue;
                    };
                    let name = std::str::from_utf8(name)
                        .map_err(|_| RecordError::Malformed("an attribute name that is not UTF-8".into()))?;
                    if attributes.contains_key(name) {
                        return Err(RecordError::Malformed("an attribute given twice".into()));
                    }
                    if let Some(value) = attribute(value, serializer)? {
                        attributes.insert(name.to_owned(), value);
                    }
                    continue;
                }
            };
            if slot.replace(value.as_slice()).is_some() {
                return Err(RecordError::Malformed("a timing field given twice".into()));
            }
        }
        let missing = |name: &str| RecordError::Malformed(format!("{name} is missing"));
        let creation_time_ms = time_ms(creation.ok_or_else(|| missing("creationTime"))?, serializer)
            .ok_or_else(|| RecordError::Malformed("creationTime is not a Long of epoch milliseconds".into()))?;
        let last_accessed_time_ms = time_ms(last_accessed.ok_or_else(|| missing("lastAccessedTime"))?, serializer)
            .ok_or_else(|| RecordError::Malformed("lastAccessedTime is not a Long of epoch milliseconds".into()))?;
        let max_inactive_secs = seconds(max_inactive.ok_or_else(|| missing("maxInactiveInterval"))?, serializer)
            .ok_or_else(|| RecordError::Malformed("maxInactiveInterval is not an Integer".into()))?;
        Ok(Self {
            creation_time_ms,
            last_accessed_time_ms,
            max_inactive_secs,
            attributes,
        })
    }

    /// The first instant (epoch milliseconds) at which the session is expired; `None`: never.
    pub fn end_ms(&self) -> Option<u64> {
        let interval_ms = u64::try_from(self.max_inactive_secs).ok()? * 1000;
        Some(self.last_accessed_time_ms.saturating_add(interval_ms))
    }

    /// `MapSession.isExpired`: `now - maxInactiveInterval >= lastAccessedTime`, unless the
    /// interval is negative.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.end_ms().is_some_and(|end| now_ms >= end)
    }
}

/// Reads a Spring Session hash (both repositories) into a live [`Session`].
#[derive(Clone, Copy, Debug)]
pub struct SpringRecordDecoder<'a> {
    pub record: &'a ForeignRecord,
    pub serializer: SpringSerializer,
}

impl SpringRecordDecoder<'_> {
    /// `fields`: the `HGETALL` answer as pairs. An empty answer is a missing key, which the
    /// caller treats as no session before decoding (here it is malformed: no timing fields).
    /// The session's timestamps are whole seconds, rounded down.
    pub fn decode_fields(&self, fields: &[(Vec<u8>, Vec<u8>)], now_ms: u64) -> Result<Session, RecordError> {
        let hash = SpringHash::parse(fields, self.serializer)?;
        // The indexed repository keeps the key 5 minutes past the end, and a restored key
        // may have lost its TTL: the hash's own times decide.
        if hash.is_expired(now_ms) {
            return Err(RecordError::Expired);
        }
        let expires_at = hash.end_ms().map_or(u64::MAX, |end| end / 1000);
        let created_at = hash.creation_time_ms / 1000;
        self.record
            .session(&Value::Object(hash.attributes), created_at, expires_at)
    }
}

/// An attribute's value as JSON; `None` for a removed attribute (no bytes).
fn attribute(bytes: &[u8], serializer: SpringSerializer) -> Result<Option<Value>, RecordError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    Ok(Some(match serializer {
        SpringSerializer::Json => json(bytes)?,
        SpringSerializer::Jdk => match read_jdk(bytes)? {
            JdkValue::Long(n) => Value::from(n),
            JdkValue::Integer(n) => Value::from(n),
            JdkValue::String(s) => Value::String(s),
            JdkValue::Opaque => opaque_marker(),
        },
    }))
}

fn json(bytes: &[u8]) -> Result<Value, RecordError> {
    // serde_json stops at 128 levels of nesting, so hostile values cannot exhaust the stack.
    serde_json::from_slice(bytes).map_err(|_| RecordError::Malformed("an attribute that is not JSON".into()))
}

/// `creationTime` or `lastAccessedTime`: a `Long` of epoch milliseconds, from 1970 on.
fn time_ms(bytes: &[u8], serializer: SpringSerializer) -> Option<u64> {
    let millis = match serializer {
        SpringSerializer::Jdk => match read_jdk(bytes).ok()? {
            JdkValue::Long(n) => n,
            _ => return None,
        },
        SpringSerializer::Json => match serde_json::from_slice::<Value>(bytes).ok()? {
            // Jackson reads a bare number that fits an int back as an Integer, which
            // Spring's cast to Long refuses; Spring's own typing never wraps a Long, plain
            // Jackson's EVERYTHING typing does.
            Value::Number(n) => n.as_i64().filter(|n| i32::try_from(*n).is_err())?,
            Value::Array(pair) => match pair.as_slice() {
                [Value::String(class), Value::Number(n)] if class == "java.lang.Long" => n.as_i64()?,
                _ => return None,
            },
            _ => return None,
        },
    };
    u64::try_from(millis).ok()
}

/// `maxInactiveInterval`: an `Integer` of seconds (Jackson never types an Integer).
fn seconds(bytes: &[u8], serializer: SpringSerializer) -> Option<i32> {
    match serializer {
        SpringSerializer::Jdk => match read_jdk(bytes).ok()? {
            JdkValue::Integer(n) => Some(n),
            _ => None,
        },
        SpringSerializer::Json => match serde_json::from_slice::<Value>(bytes).ok()? {
            Value::Number(n) => i32::try_from(n.as_i64()?).ok(),
            _ => None,
        },
    }
}

/// What the gateway makes of one value written by `ObjectOutputStream`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JdkValue {
    Long(i64),
    Integer(i32),
    String(String),
    /// Any other stream, or one of these written otherwise than `ObjectOutputStream` does:
    /// never interpreted.
    Opaque,
}

/// The stream header: magic `0xaced`, version 5.
const STREAM_HEADER: &[u8] = b"\xac\xed\x00\x05";
/// `writeObject(Long)` up to the value: TC_OBJECT, TC_CLASSDESC `java.lang.Long`
/// (serialVersionUID 4290774380558885855, SC_SERIALIZABLE, one field `J value`),
/// TC_ENDBLOCKDATA, then the superclass TC_CLASSDESC `java.lang.Number`
/// (serialVersionUID -8742448824652078965, no fields), TC_ENDBLOCKDATA, TC_NULL.
const LONG_PREFIX: &[u8] = b"\xac\xed\x00\x05\x73\x72\x00\x0ejava.lang.Long\x3b\x8b\xe4\x90\xcc\x8f\x23\xdf\x02\x00\x01\x4a\x00\x05value\x78\x72\x00\x10java.lang.Number\x86\xac\x95\x1d\x0b\x94\xe0\x8b\x02\x00\x00\x78\x70";
/// `writeObject(Integer)` up to the value, as for `Long` with `java.lang.Integer`
/// (serialVersionUID 1360826667806852920, one field `I value`).
const INTEGER_PREFIX: &[u8] = b"\xac\xed\x00\x05\x73\x72\x00\x11java.lang.Integer\x12\xe2\xa0\xa4\xf7\x81\x87\x38\x02\x00\x01\x49\x00\x05value\x78\x72\x00\x10java.lang.Number\x86\xac\x95\x1d\x0b\x94\xe0\x8b\x02\x00\x00\x78\x70";
const TC_STRING: u8 = 0x74;

/// One value as `JdkSerializationRedisSerializer` writes it (a fresh `ObjectOutputStream`
/// per value). Bytes without the stream header are no Java serialization at all, which the
/// app itself cannot read either: malformed.
pub fn read_jdk(bytes: &[u8]) -> Result<JdkValue, RecordError> {
    if !bytes.starts_with(STREAM_HEADER) {
        return Err(RecordError::Malformed("a value that is not Java serialization".into()));
    }
    if let Some(value) = exact_suffix::<8>(bytes, LONG_PREFIX) {
        return Ok(JdkValue::Long(i64::from_be_bytes(value)));
    }
    if let Some(value) = exact_suffix::<4>(bytes, INTEGER_PREFIX) {
        return Ok(JdkValue::Integer(i32::from_be_bytes(value)));
    }
    // TC_STRING, a u16 length, modified UTF-8. TC_LONGSTRING (over 65535 bytes) cannot fit
    // in a record and stays opaque.
    if let [_, _, _, _, TC_STRING, hi, lo, text @ ..] = bytes
        && text.len() == usize::from(u16::from_be_bytes([*hi, *lo]))
        && let Some(text) = modified_utf8(text)
    {
        return Ok(JdkValue::String(text));
    }
    Ok(JdkValue::Opaque)
}

/// The `N` bytes after `prefix` when `bytes` is exactly `prefix` and `N` more.
fn exact_suffix<const N: usize>(bytes: &[u8], prefix: &[u8]) -> Option<[u8; N]> {
    bytes.strip_prefix(prefix)?.try_into().ok()
}

/// Java's modified UTF-8 as `writeUTF` writes it, and only so: NUL as `c0 80`, every other
/// character in its shortest form, characters outside the BMP as two three-byte surrogates,
/// which must pair up (a Rust string cannot hold a lone one).
fn modified_utf8(bytes: &[u8]) -> Option<String> {
    let mut units = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let [lead, tail @ ..] = rest {
        let continuation = |b: u8| (b & 0xc0 == 0x80).then_some(u16::from(b & 0x3f));
        let (unit, tail) = match (*lead, tail) {
            (0x01..=0x7f, _) => (u16::from(*lead), tail),
            (0xc0..=0xdf, [b1, tail @ ..]) => {
                let unit = (u16::from(lead & 0x1f) << 6) | continuation(*b1)?;
                if unit != 0 && unit < 0x80 {
                    return None;
                }
                (unit, tail)
            }
            (0xe0..=0xef, [b1, b2, tail @ ..]) => {
                let unit = (u16::from(lead & 0x0f) << 12) | (continuation(*b1)? << 6) | continuation(*b2)?;
                if unit < 0x800 {
                    return None;
                }
                (unit, tail)
            }
            _ => return None,
        };
        units.push(unit);
        rest = tail;
    }
    String::from_utf16(&units).ok()
}
