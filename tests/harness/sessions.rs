//! Writing sessions the way the gateway expects them (the same core types the `sgw` CLI uses).

use session_gateway_core::cookie_codec::{CookieCodec, SessionId, SignedCookieV1};
use session_gateway_core::keys::KeyRing;
use session_gateway_core::session::SessionRecordV1;

pub const KEY_A: &str = "test-key-a-0123456789abcdef0123456789";
pub const KEY_B: &str = "test-key-b-0123456789abcdef0123456789";
pub const PREFIX: &str = "sgw:session:";

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

pub fn new_id() -> SessionId {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("CSPRNG");
    SessionId::from_random(bytes)
}

/// The signed cookie value for `id` under `keys` (comma-separated, first signs).
pub fn cookie_for(id: &SessionId, keys: &str) -> String {
    SignedCookieV1::new(KeyRing::parse(keys).expect("test keys are valid")).encode(id)
}

/// Stores `bytes` as the record of a new session and returns its cookie value.
pub fn store_raw(redis: &mut redis::Connection, bytes: &[u8], ttl: u64, keys: &str) -> String {
    let id = new_id();
    redis::cmd("SET")
        .arg(format!("{PREFIX}{}", id.as_str()))
        .arg(bytes)
        .arg("EX")
        .arg(ttl)
        .query::<()>(redis)
        .expect("SET");
    cookie_for(&id, keys)
}

/// Creates a live session for `user` with `data` and returns its cookie value.
pub fn create(redis: &mut redis::Connection, user: &str, data: serde_json::Value, keys: &str) -> String {
    let serde_json::Value::Object(data) = data else {
        panic!("data must be an object")
    };
    let record = SessionRecordV1::new(user, data, now(), 3600);
    store_raw(redis, &record.to_json(), 3600, keys)
}
