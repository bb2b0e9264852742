//! How sessions sit in Redis, shared by the gateway and the `sgw` CLI: key names and the Lua
//! scripts that make each lifecycle step one round trip.
//!
//! - `<prefix>{<tag>}<id>`: the session record (JSON), with a TTL (see `expiry`).
//! - `<prefix>{<tag>}user:<user id>`: the user's index, a sorted set of session ids scored by
//!   their absolute end, so revoking a user costs O(that user's sessions), never a keyspace
//!   scan. Entries past their absolute end are pruned at each login; the index expires with
//!   the user's last session.
//!
//! `<tag>` is the user's hash tag (`cookie_codec::user_tag`), which every session id made
//! for that user ends with: in Redis Cluster a user's sessions and index share one slot, so
//! each lifecycle script stays on one node. Ids without a tag (made elsewhere) are stored
//! at `<prefix><id>`.

use crate::cookie_codec::{SessionId, user_tag};

pub fn session_key(prefix: &str, id: &SessionId) -> String {
    match id.tag() {
        Some(tag) => format!("{prefix}{{{tag}}}{}", id.as_str()),
        None => format!("{prefix}{}", id.as_str()),
    }
}

/// The prefix of every session key of `user_id` (what REVOKE_USER puts before each id).
pub fn user_sessions_prefix(prefix: &str, user_id: &str) -> String {
    format!("{prefix}{{{}}}", user_tag(user_id))
}

pub fn user_index_key(prefix: &str, user_id: &str) -> String {
    format!("{}user:{user_id}", user_sessions_prefix(prefix, user_id))
}

/// Reads a record and its remaining TTL in one round trip.
/// KEYS: session. Returns `[record, pttl_ms]`, or `[nil, -2]` when there is none.
pub const LOOKUP: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then return {false, -2} end
return {v, redis.call('PTTL', KEYS[1])}
";

/// A framework's touch: the TTL back to the app's lifetime, only while the key has a TTL
/// below the threshold (checked here, since key-value reads do not know the TTL): a key the
/// app stored without one keeps none, and a TTL is only ever lengthened.
/// KEYS: session. ARGV: ttl_secs, threshold_ms. Returns 1 when touched, else 0.
pub const TOUCH: &str = r"
local left = redis.call('PTTL', KEYS[1])
if left < 0 or left >= tonumber(ARGV[2]) then return 0 end
return redis.call('EXPIRE', KEYS[1], ARGV[1])
";

/// Writes a new session and indexes it; with a previous session (fixation), deletes it.
/// KEYS: new session, user index [, old session, old user index].
/// ARGV: record, ttl_secs, new id, absolute end, now [, old id]. Returns 1, or 0 if the id exists.
pub const LOGIN: &str = r"
if not redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX') then return 0 end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
local want = tonumber(ARGV[4]) - tonumber(ARGV[5])
if redis.call('TTL', KEYS[2]) < want then redis.call('EXPIRE', KEYS[2], want) end
if #KEYS >= 4 then
  redis.call('DEL', KEYS[3])
  redis.call('ZREM', KEYS[4], ARGV[6])
end
return 1
";

/// Replaces a record only if it is still the one the request loaded (compare and set), so a
/// slow request cannot undo a newer change; the caller merges again into what it gets back.
/// The merge itself stays in Rust: Lua's cjson would rewrite what it does not touch (empty
/// arrays become objects, large numbers lose digits).
/// KEYS: session. ARGV: record as loaded, new record.
/// Returns 1 when written (TTL kept), 0 when the session is gone, or the current record.
pub const UPDATE: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if v ~= ARGV[1] then return v end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
";

/// Pushes a session's idle timeout forward: a new TTL, and the record rewritten with the
/// time of this refresh (`touched_at`) so that readers without the TTL can see it. When the
/// record changed since the request loaded it, only the TTL is set: the next request that
/// loads the new record rewrites it.
/// KEYS: session. ARGV: record as loaded, refreshed record, ttl_secs.
/// Returns 1 when the record was rewritten, 2 when only its TTL was set, 0 when it is gone.
pub const REFRESH: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 2
";

/// Ends one session. KEYS: session, user index. ARGV: id. Returns the number of records deleted.
pub const LOGOUT: &str = r"
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return n
";

/// Moves a session to a new id, keeping its TTL; the old id stops working at once.
/// KEYS: old session, new session, user index. ARGV: old id, new id, absolute end.
/// Returns 1, or 0 when the old session is gone.
pub const ROTATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('RENAMENX', KEYS[1], KEYS[2]) == 0 then return 0 end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
return 1
";

/// Ends every session of a user. KEYS: user index. ARGV: `user_sessions_prefix`.
/// Returns the number of sessions it named.
pub const REVOKE_USER: &str = r"
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, id in ipairs(ids) do redis.call('DEL', ARGV[1] .. id) end
redis.call('DEL', KEYS[1])
return #ids
";
