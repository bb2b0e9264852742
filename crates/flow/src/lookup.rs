//! Finding the request's session: its cookie, then its record, decoded by the configured format.

use crate::lifecycle::Current;
use crate::log;
use crate::platform::Platform;
use crate::store::{self, SessionStore, StoreError};
use session_gateway_core::VerifiedSessionId;
use session_gateway_core::config::{Lifetimes, SessionFormat, Sessions};
use session_gateway_core::django::DjangoRecordDecoder;
use session_gateway_core::express::ExpressRecordDecoder;
use session_gateway_core::flask::FlaskRecordDecoder;
use session_gateway_core::laravel::LaravelRecordDecoder;
use session_gateway_core::php::PhpRecordDecoder;
use session_gateway_core::policy::SessionLookup;
use session_gateway_core::session::{GatewayRecordDecoder, RecordError, SessionDecoder, SessionRecordV1};
use session_gateway_core::spring::SpringRecordDecoder;

/// What a session lookup found.
pub struct Lookup {
    pub lookup: SessionLookup,
    /// A native session's record, for refreshes and hooks.
    pub loaded: Option<Loaded>,
    /// The key of a framework's session whose touch is due.
    pub touch: Option<String>,
}

impl Lookup {
    pub fn only(lookup: SessionLookup) -> Self {
        Self {
            lookup,
            loaded: None,
            touch: None,
        }
    }
}

/// A live session as loaded from the store.
pub struct Loaded {
    pub current: Current,
    pub remaining_ms: i64,
}

/// The session of a cookie that verified: one Redis round trip (record and TTL together).
pub async fn lookup_session(
    platform: &impl Platform,
    sessions: &Sessions,
    lifetimes: &Lifetimes,
    store: &impl SessionStore,
    id: VerifiedSessionId,
    now_ms: u64,
) -> Lookup {
    let now = now_ms / 1000;
    let key = sessions.session_key(&id);
    if let SessionFormat::Spring(record, serializer) = &sessions.format {
        let decoder = SpringRecordDecoder {
            record,
            serializer: *serializer,
        };
        return match store.load_hash(&key).await {
            Ok(Some(fields)) => Lookup::only(foreign(platform, &id, decoder.decode_fields(&fields, now_ms))),
            Ok(None) => Lookup::only(SessionLookup::Missing),
            Err(error) => store_failure(platform, &id, error),
        };
    }
    let mut loaded = store.load(&key).await;
    let mut asked_redis = false;
    loop {
        let stored = match loaded {
            Ok(Some(stored)) => stored,
            Ok(None) => return Lookup::only(SessionLookup::Missing),
            Err(error) => return store_failure(platform, &id, error),
        };
        let decoded = match &sessions.format {
            SessionFormat::Native => None,
            SessionFormat::Express(record) => Some(ExpressRecordDecoder { record }.decode(&stored.bytes, now)),
            SessionFormat::Flask(record) => Some(FlaskRecordDecoder { record }.decode(&stored.bytes, now)),
            SessionFormat::Django(record) => Some(DjangoRecordDecoder { record }.decode(&stored.bytes, now)),
            SessionFormat::Php(record, handler) => Some(
                PhpRecordDecoder {
                    record,
                    handler: *handler,
                }
                .decode(&stored.bytes, now),
            ),
            SessionFormat::Laravel(record) => Some(LaravelRecordDecoder { record }.decode(&stored.bytes, now)),
            SessionFormat::Spring(..) => unreachable!("Spring sessions are hashes, read above"),
        };
        if let Some(decoded) = decoded {
            let lookup = foreign(platform, &id, decoded);
            let touch = lifetimes
                .touch
                .filter(|touch| {
                    matches!(lookup, SessionLookup::Found(_))
                        && touch.due(stored.remaining_ms, lifetimes.expiry.refresh_fraction)
                })
                .map(|_| key);
            return Lookup {
                lookup,
                loaded: None,
                touch,
            };
        }
        let Some((session, record)) = decode(platform, &id, &stored.bytes, now) else {
            return Lookup::only(SessionLookup::Missing);
        };
        // Key-value reads come without a TTL: the record says when it was last touched.
        let remaining_ms = match stored.remaining_ms {
            store::TTL_UNKNOWN => {
                lifetimes
                    .expiry
                    .remaining_ms_by_record(now_ms, record.last_touched(), record.expires_at)
            }
            known => known,
        };
        // A key-value read whose record says its idle time is up, while the key still
        // exists: the record's `touched_at` lags its TTL (a refresh that found it changed
        // set only the TTL), or the copy is stale. Redis decides.
        if stored.remaining_ms == store::TTL_UNKNOWN && remaining_ms == 0 && !asked_redis {
            asked_redis = true;
            loaded = store.reload(&key).await;
            continue;
        }
        let loaded = Loaded {
            current: Current {
                id,
                record,
                bytes: stored.bytes,
            },
            remaining_ms,
        };
        return Lookup {
            lookup: SessionLookup::Found(session),
            loaded: Some(loaded),
            touch: None,
        };
    }
}

/// A key holding something else than a session is no session; a store that cannot answer fails closed.
fn store_failure(platform: &impl Platform, id: &VerifiedSessionId, error: StoreError) -> Lookup {
    match error {
        StoreError::Corrupt(reason) => {
            log::info(
                platform,
                format_args!("session #{} refused: {reason}", id.fingerprint()),
            );
            Lookup::only(SessionLookup::Missing)
        }
        StoreError::Unavailable(reason) => {
            log::error(platform, format_args!("session store unavailable: {reason}"));
            Lookup::only(SessionLookup::StoreUnavailable)
        }
    }
}

fn decode(
    platform: &impl Platform,
    id: &VerifiedSessionId,
    bytes: &[u8],
    now: u64,
) -> Option<(session_gateway_core::Session, SessionRecordV1)> {
    match GatewayRecordDecoder.decode_record(bytes, now) {
        Ok(pair) => Some(pair),
        Err(error) => {
            log::info(platform, format_args!("session #{} refused: {error}", id.fingerprint()));
            None
        }
    }
}

/// A framework's session: read only, so nothing is kept for refreshes or hooks.
fn foreign(
    platform: &impl Platform,
    id: &VerifiedSessionId,
    decoded: Result<session_gateway_core::Session, RecordError>,
) -> SessionLookup {
    match decoded {
        Ok(session) => SessionLookup::Found(session),
        // A framework keeps sessions for visitors who have not logged in.
        Err(RecordError::Anonymous) => SessionLookup::Missing,
        Err(error) => {
            log::info(platform, format_args!("session #{} refused: {error}", id.fingerprint()));
            SessionLookup::Missing
        }
    }
}
