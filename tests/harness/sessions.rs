//! Writing sessions the way the gateway expects them (the same core types the `sgw` CLI uses).

use session_gateway_core::cookie_codec::{CookieCodec, SessionId, SignedCookieV1};
use session_gateway_core::keys::KeyRing;
use session_gateway_core::redis_layout;
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

/// A new id tagged for `user`, as the gateway makes them.
pub fn new_id_for(user: &str) -> SessionId {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("CSPRNG");
    SessionId::for_user(bytes, user)
}

/// The signed cookie value for `id` under `keys` (comma-separated, first signs).
pub fn cookie_for(id: &SessionId, keys: &str) -> String {
    SignedCookieV1::new(KeyRing::parse(keys).expect("test keys are valid")).encode(id)
}

/// Stores `bytes` as the record of a new session and returns its cookie value.
pub fn store_raw(redis: &mut redis::Connection, bytes: &[u8], ttl: u64, keys: &str) -> String {
    let id = new_id();
    redis::cmd("SET")
        .arg(redis_layout::session_key(PREFIX, &id))
        .arg(bytes)
        .arg("EX")
        .arg(ttl)
        .query::<()>(redis)
        .expect("SET");
    cookie_for(&id, keys)
}

/// Creates a live, indexed session for `user` with `data` (one hour) and returns its cookie value.
pub fn create(redis: &mut redis::Connection, user: &str, data: serde_json::Value, keys: &str) -> String {
    let serde_json::Value::Object(data) = data else {
        panic!("data must be an object")
    };
    let now = now();
    let record = SessionRecordV1::new(user, data, now, 3600);
    let id = new_id_for(user);
    let created: i64 = redis::cmd("EVAL")
        .arg(redis_layout::LOGIN)
        .arg(2)
        .arg(redis_layout::session_key(PREFIX, &id))
        .arg(redis_layout::user_index_key(PREFIX, user))
        .arg(record.to_json())
        .arg(3600)
        .arg(id.as_str())
        .arg(record.expires_at)
        .arg(now)
        .query(redis)
        .expect("LOGIN script");
    assert_eq!(created, 1);
    cookie_for(&id, keys)
}

/// The session id inside a cookie value.
pub fn id_of(cookie: &str) -> SessionId {
    SessionId::parse(cookie.split('.').nth(1).expect("v1.<id>.<tag>")).expect("an id")
}

/// The remaining TTL of a session key in milliseconds (-2: gone).
pub fn pttl(redis: &mut redis::Connection, id: &SessionId) -> i64 {
    redis::cmd("PTTL")
        .arg(redis_layout::session_key(PREFIX, id))
        .query(redis)
        .expect("PTTL")
}

/// The ids in a user's index.
pub fn indexed(redis: &mut redis::Connection, user: &str) -> Vec<String> {
    redis::cmd("ZRANGE")
        .arg(redis_layout::user_index_key(PREFIX, user))
        .arg(0)
        .arg(-1)
        .query(redis)
        .expect("ZRANGE")
}
