//! Session records as stored in Redis, behind a decoder trait so that the records other
//! frameworks keep (connect-redis, phpredis, Flask-Session, Spring Session) can be read
//! by decoders of their own later.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

/// Records above this size are refused unread: a session is small, and the bytes go into a header.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;
/// A user id goes into a header as it is.
pub const MAX_USER_ID_BYTES: usize = 256;
/// The encoded data header stays below common proxy and server header limits (8 KiB).
pub const MAX_DATA_HEADER_BYTES: usize = 6 * 1024;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("record is larger than {MAX_RECORD_BYTES} bytes")]
    TooLarge,
    #[error("record is not valid JSON of the expected shape: {0}")]
    Malformed(String),
    #[error("record version {0} is not supported")]
    UnsupportedVersion(u32),
    #[error("user id is empty, too long or not header-safe")]
    BadUserId,
    #[error("data is too large to forward in a header")]
    DataTooLarge,
    #[error("record has expired")]
    Expired,
    /// A framework's session without a user at the configured pointer: not logged in.
    #[error("the session has no user")]
    Anonymous,
}

/// The gateway's record format, version 1 (JSON):
///
/// ```json
/// {"v":1,"user_id":"alice","data":{"role":"admin"},"created_at":1764374400,"expires_at":1764460800}
/// ```
///
/// Timestamps are Unix seconds. Unknown fields are ignored so later versions can add some.
/// `touched_at`, written by each idle refresh (absent: `created_at`), lets a reader that sees
/// the record without its TTL (key-value reads) tell when the idle timeout runs out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecordV1 {
    pub v: u32,
    pub user_id: String,
    #[serde(default)]
    pub data: Map<String, Value>,
    pub created_at: u64,
    pub expires_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub touched_at: Option<u64>,
    /// Fields this version does not know, kept so that rewriting a record (refresh, update)
    /// never drops what a newer gateway wrote.
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

impl SessionRecordV1 {
    pub const VERSION: u32 = 1;

    pub fn new(user_id: impl Into<String>, data: Map<String, Value>, now: u64, ttl_secs: u64) -> Self {
        Self {
            v: Self::VERSION,
            user_id: user_id.into(),
            data,
            created_at: now,
            expires_at: now + ttl_secs,
            touched_at: None,
            unknown: Map::new(),
        }
    }

    /// When the idle timeout was last pushed forward.
    pub fn last_touched(&self) -> u64 {
        self.touched_at.unwrap_or(self.created_at)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a record always serialises")
    }
}

/// A live session, ready to be forwarded: the data is already in its header encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: String,
    /// base64url (no padding) of the data object's JSON.
    pub data_header: String,
    pub created_at: u64,
    pub expires_at: u64,
}

/// Turns the bytes stored under a session key into a live [`Session`].
pub trait SessionDecoder {
    fn decode(&self, bytes: &[u8], now: u64) -> Result<Session, RecordError>;
}

/// Decoder for [`SessionRecordV1`].
#[derive(Debug, Clone, Copy, Default)]
pub struct GatewayRecordDecoder;

impl SessionDecoder for GatewayRecordDecoder {
    fn decode(&self, bytes: &[u8], now: u64) -> Result<Session, RecordError> {
        self.decode_record(bytes, now).map(|(session, _)| session)
    }
}

impl GatewayRecordDecoder {
    /// The live session and the record it came from (which lifecycle writes start from).
    pub fn decode_record(&self, bytes: &[u8], now: u64) -> Result<(Session, SessionRecordV1), RecordError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge);
        }
        // serde_json stops at 128 levels of nesting, so hostile records cannot exhaust the stack.
        let record: SessionRecordV1 =
            serde_json::from_slice(bytes).map_err(|e| RecordError::Malformed(e.to_string()))?;
        if record.v != SessionRecordV1::VERSION {
            return Err(RecordError::UnsupportedVersion(record.v));
        }
        if !is_header_safe_user_id(&record.user_id) {
            return Err(RecordError::BadUserId);
        }
        // The record's own expiry is checked too: Redis TTLs can be lost (a restore, a
        // PERSIST by hand) and clocks can disagree.
        if record.expires_at <= now {
            return Err(RecordError::Expired);
        }
        let data_json = serde_json::to_vec(&record.data).expect("a map always serialises");
        if base64::encoded_len(data_json.len(), false).is_none_or(|n| n > MAX_DATA_HEADER_BYTES) {
            return Err(RecordError::DataTooLarge);
        }
        let session = Session {
            user_id: record.user_id.clone(),
            data_header: URL_SAFE_NO_PAD.encode(data_json),
            created_at: record.created_at,
            expires_at: record.expires_at,
        };
        Ok((session, record))
    }
}

/// What every foreign session format shares once its record is parsed: where the user id
/// is, and which top-level keys of the session go into the data header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignRecord {
    /// A JSON pointer (RFC 6901) to the user id: `/passport/user`, `/user_id`, ...
    pub user_pointer: String,
    /// The top-level keys forwarded in the data header; `None`: all of them.
    pub data_keys: Option<Vec<String>>,
}

impl ForeignRecord {
    /// JSON of an object, within the record size bound (nesting is capped by the parser).
    pub fn parse_json(&self, bytes: &[u8]) -> Result<Value, RecordError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge);
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|e| RecordError::Malformed(e.to_string()))?;
        if !value.is_object() {
            return Err(RecordError::Malformed("not a JSON object".into()));
        }
        Ok(value)
    }

    /// The live session in `value`: its user id (a string or an integer at the pointer;
    /// none there means not logged in) and the allowed part of it as the data header.
    pub fn session(&self, value: &Value, created_at: u64, expires_at: u64) -> Result<Session, RecordError> {
        let user_id = match value.pointer(&self.user_pointer) {
            None | Some(Value::Null) => return Err(RecordError::Anonymous),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
            Some(_) => return Err(RecordError::BadUserId),
        };
        if !is_header_safe_user_id(&user_id) {
            return Err(RecordError::BadUserId);
        }
        let object = value
            .as_object()
            .ok_or_else(|| RecordError::Malformed("not a JSON object".into()))?;
        let data: Map<String, Value> = match &self.data_keys {
            None => object.clone(),
            Some(keys) => object
                .iter()
                .filter(|(k, _)| keys.iter().any(|allowed| allowed == *k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let data_json = serde_json::to_vec(&data).expect("a map always serialises");
        if base64::encoded_len(data_json.len(), false).is_none_or(|n| n > MAX_DATA_HEADER_BYTES) {
            return Err(RecordError::DataTooLarge);
        }
        Ok(Session {
            user_id,
            data_header: URL_SAFE_NO_PAD.encode(data_json),
            created_at,
            expires_at,
        })
    }
}

/// Visible ASCII only (no spaces, no controls): a user id must not be able to split or
/// fold a header, and must read the same to every origin framework.
fn is_header_safe_user_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_USER_ID_BYTES && id.bytes().all(|b| b.is_ascii_graphic())
}
