//! session-gateway as a Spin HTTP component: the thin adapter between Spin and the core.
//!
//! The handler reads as the request's story; each step is one call into a module named for
//! what it holds. Spin may run many requests, some at once, in one instance: only the
//! configuration is kept between them (see `settings`); everything else is per request.

mod client;
mod lifecycle;
mod log;
mod replies;
mod settings;
mod store;
mod upstream;

use futures::future::join3;
use lifecycle::{Current, LifecycleError};
use session_gateway_core::config::SessionFormat;
use session_gateway_core::cookie_codec::{find_first_session, find_session};
use session_gateway_core::django::DjangoRecordDecoder;
use session_gateway_core::express::ExpressRecordDecoder;
use session_gateway_core::flask::FlaskRecordDecoder;
use session_gateway_core::hooks;
use session_gateway_core::laravel::LaravelRecordDecoder;
use session_gateway_core::php::PhpRecordDecoder;
use session_gateway_core::policy::{Access, RequestFacts, SessionLookup, accepts_html, decide};
use session_gateway_core::redis_layout;
use session_gateway_core::replies::Reply;
use session_gateway_core::session::{GatewayRecordDecoder, RecordError, SessionDecoder, SessionRecordV1};
use session_gateway_core::spring::SpringRecordDecoder;
use session_gateway_core::{Config, Decision, VerifiedSessionId};
use spin_sdk::http::Request;
use spin_sdk::wasip3::http::types::{ErrorCode, Response};
use spin_sdk::wasip3::http_compat::IncomingRequestBody;
use store::{RedisStore, SessionStore, StoreError};
use upstream::{HttpOrigin, OriginResponse, Owned, Upstream};

#[spin_sdk::http_service]
async fn handle(request: Request) -> Result<Response, ErrorCode> {
    let config = match settings::load().await {
        Ok(config) => config,
        Err(error) => {
            log::error(format_args!("invalid configuration: {error}"));
            return replies::to_wasi(Reply::misconfigured());
        }
    };
    let now_ms = now_ms();
    let now = now_ms / 1000;
    let (head, body) = request.into_parts();
    let store = RedisStore::new(&config.redis, config.reads, config.redis_timeout);
    let Lookup {
        lookup,
        mut loaded,
        touch,
    } = lookup_session(&config, &store, &head.headers, now_ms).await;
    let facts = RequestFacts {
        path: head.uri.path(),
        path_and_query: head.uri.path_and_query().map_or("/", |pq| pq.as_str()),
        is_navigation: is_navigation(&head),
    };
    let access = match decide(lookup, facts, &config.public_paths, config.login.as_ref()) {
        Decision::Forward(access) => access,
        Decision::Unauthorized => return replies::to_wasi(Reply::unauthorized()),
        Decision::RedirectToLogin(location) => return replies::to_wasi(Reply::login_redirect(location)),
        Decision::Unavailable => return replies::to_wasi(Reply::unavailable()),
    };
    let (forwarded, refreshed) = forward(
        &config,
        &store,
        head,
        body,
        &access,
        Refresh {
            native: loaded.as_ref(),
            touch,
        },
        now,
    )
    .await;
    let origin_response = match forwarded {
        Ok(response) => response,
        Err(reply) => return replies::to_wasi(reply),
    };
    if let (Some(loaded), Some((record, bytes))) = (loaded.as_mut(), refreshed) {
        // A hook's compare-and-set must start from what Redis holds now.
        (loaded.current.record, loaded.current.bytes) = (record, bytes);
    }
    let current = loaded
        .map(|l| l.current)
        .filter(|_| matches!(access, Access::Authenticated(_)));
    match carry_out_hooks(&config, &store, &origin_response, current, now).await {
        Ok(set_cookies) => upstream::relay(origin_response, &config.hook_headers, set_cookies).await,
        Err(reply) => replies::to_wasi(reply),
    }
}

/// What may need refreshing beside the forward: a native session's record, or the key of a
/// framework's session to touch.
struct Refresh<'a> {
    native: Option<&'a Loaded>,
    touch: Option<String>,
}

/// Sends the request to the origin; a due idle refresh or touch runs beside it, never
/// before it. Also returns the record as the refresh rewrote it, if it did.
async fn forward(
    config: &Config,
    store: &impl SessionStore,
    head: http::request::Parts,
    body: IncomingRequestBody,
    access: &Access,
    due: Refresh<'_>,
    now: u64,
) -> (Result<OriginResponse, Reply>, Option<(SessionRecordV1, Vec<u8>)>) {
    let touch = async {
        let (Some(key), Some(touch)) = (due.touch, config.touch) else {
            return;
        };
        let ttl = touch.lifetime_secs.to_string();
        if let Err(error) = store.script(redis_layout::TOUCH, &[&key], &[ttl.as_bytes()]).await {
            // As the framework's own touch: a missed one shortens nothing the app set.
            log::error(format_args!("session not touched: {error}"));
        }
    };
    let refresh = async {
        let Loaded { current, remaining_ms } = due.native?;
        let ttl = config.expiry.refresh(now, current.record.expires_at, *remaining_ms)?;
        let refreshed = SessionRecordV1 {
            touched_at: Some(now),
            ..current.record.clone()
        };
        let bytes = refreshed.to_json();
        let key = config.session_key(&current.id);
        let ttl_arg = ttl.to_string();
        match store
            .script(
                redis_layout::REFRESH,
                &[&key],
                &[&current.bytes, &bytes, ttl_arg.as_bytes()],
            )
            .await
        {
            Ok(1) => Some((refreshed, bytes)),
            Ok(_) => None,
            Err(error) => {
                // The session stays valid until its current TTL runs out: log, do not fail the request.
                log::error(format_args!(
                    "session #{} not refreshed: {error}",
                    current.id.fingerprint()
                ));
                None
            }
        }
    };
    let client = client::facts(&head);
    let owned = Owned {
        identity: &config.identity_headers,
        hooks: &config.hook_headers,
    };
    let origin = HttpOrigin::new(&config.origin, config.origin_timeout);
    let (forwarded, refreshed, ()) = join3(origin.forward(head, body, owned, &client, access), refresh, touch).await;
    let forwarded = match forwarded {
        Ok(response) => Ok(response),
        Err(error) if upstream::is_timeout(&error) => {
            log::error(format_args!("origin timed out: {error}"));
            Err(Reply::gateway_timeout())
        }
        Err(error) => {
            log::error(format_args!("origin unreachable: {error}"));
            Err(Reply::bad_gateway())
        }
    };
    (forwarded, refreshed)
}

/// Carries out the session hooks in the origin's response; returns the `Set-Cookie`s to add.
async fn carry_out_hooks(
    config: &Config,
    store: &impl SessionStore,
    origin: &OriginResponse,
    current: Option<Current>,
    now: u64,
) -> Result<Vec<String>, Reply> {
    let hooks = hooks::parse(&origin.headers, &config.hook_headers).map_err(|error| {
        log::error(format_args!("origin sent an invalid session hook: {error}"));
        Reply::bad_gateway()
    })?;
    if hooks.is_empty() {
        return Ok(Vec::new());
    }
    if !config.format.is_native() {
        log::error(format_args!(
            "the origin sent a session hook, but hooks need `session_format = native`: with `{}` the app owns its sessions",
            config.format.name()
        ));
        return Err(Reply::bad_gateway());
    }
    lifecycle::apply(config, store, hooks, current, now)
        .await
        .map_err(|error| match error {
            LifecycleError::Invalid(reason) => {
                log::error(format_args!("origin sent an invalid session hook: {reason}"));
                Reply::bad_gateway()
            }
            // Never pretend a login or logout happened when it was not written.
            LifecycleError::Store(error) => {
                log::error(format_args!("session hook not carried out, session store {error}"));
                Reply::unavailable()
            }
        })
}

/// What a session lookup found.
struct Lookup {
    lookup: SessionLookup,
    /// A native session's record, for refreshes and hooks.
    loaded: Option<Loaded>,
    /// The key of a framework's session whose touch is due.
    touch: Option<String>,
}

impl Lookup {
    fn only(lookup: SessionLookup) -> Self {
        Self {
            lookup,
            loaded: None,
            touch: None,
        }
    }
}

/// A live session as loaded from the store.
struct Loaded {
    current: Current,
    remaining_ms: i64,
}

/// One Redis round trip (record and TTL together), and none at all without a cookie that verifies.
async fn lookup_session(config: &Config, store: &impl SessionStore, headers: &http::HeaderMap, now_ms: u64) -> Lookup {
    let now = now_ms / 1000;
    // Express, Flask, Django and PHP read only the first cookie of the name, as their parsers
    // keep the first of duplicates; Spring tries each in turn, as the gateway's own do.
    let find = if matches!(config.format, SessionFormat::Native | SessionFormat::Spring(..)) {
        find_session
    } else {
        find_first_session
    };
    let Some(id) = find(headers, &config.cookie.name, &config.codec) else {
        return Lookup::only(SessionLookup::Missing);
    };
    let key = config.session_key(&id);
    if let SessionFormat::Spring(record, serializer) = &config.format {
        let decoder = SpringRecordDecoder {
            record,
            serializer: *serializer,
        };
        return match store.load_hash(&key).await {
            Ok(Some(fields)) => Lookup::only(foreign(&id, decoder.decode_fields(&fields, now_ms))),
            Ok(None) => Lookup::only(SessionLookup::Missing),
            Err(error) => store_failure(&id, error),
        };
    }
    let mut loaded = store.load(&key).await;
    let mut asked_redis = false;
    loop {
        let stored = match loaded {
            Ok(Some(stored)) => stored,
            Ok(None) => return Lookup::only(SessionLookup::Missing),
            Err(error) => return store_failure(&id, error),
        };
        let decoded = match &config.format {
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
            let lookup = foreign(&id, decoded);
            let touch = config
                .touch
                .filter(|touch| {
                    matches!(lookup, SessionLookup::Found(_))
                        && touch.due(stored.remaining_ms, config.expiry.refresh_fraction)
                })
                .map(|_| key);
            return Lookup {
                lookup,
                loaded: None,
                touch,
            };
        }
        let Some((session, record)) = decode(&id, &stored.bytes, now) else {
            return Lookup::only(SessionLookup::Missing);
        };
        // Key-value reads come without a TTL: the record says when it was last touched.
        let remaining_ms = match stored.remaining_ms {
            store::TTL_UNKNOWN => {
                config
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
fn store_failure(id: &VerifiedSessionId, error: StoreError) -> Lookup {
    match error {
        StoreError::Corrupt(reason) => {
            log::info(format_args!("session #{} refused: {reason}", id.fingerprint()));
            Lookup::only(SessionLookup::Missing)
        }
        StoreError::Unavailable(reason) => {
            log::error(format_args!("session store unavailable: {reason}"));
            Lookup::only(SessionLookup::StoreUnavailable)
        }
    }
}

fn decode(id: &VerifiedSessionId, bytes: &[u8], now: u64) -> Option<(session_gateway_core::Session, SessionRecordV1)> {
    match GatewayRecordDecoder.decode_record(bytes, now) {
        Ok(pair) => Some(pair),
        Err(error) => {
            log::info(format_args!("session #{} refused: {error}", id.fingerprint()));
            None
        }
    }
}

/// A framework's session: read only, so nothing is kept for refreshes or hooks.
fn foreign(id: &VerifiedSessionId, decoded: Result<session_gateway_core::Session, RecordError>) -> SessionLookup {
    match decoded {
        Ok(session) => SessionLookup::Found(session),
        // A framework keeps sessions for visitors who have not logged in.
        Err(RecordError::Anonymous) => SessionLookup::Missing,
        Err(error) => {
            log::info(format_args!("session #{} refused: {error}", id.fingerprint()));
            SessionLookup::Missing
        }
    }
}

fn is_navigation(head: &http::request::Parts) -> bool {
    (head.method == http::Method::GET || head.method == http::Method::HEAD)
        && head
            .headers
            .get_all(http::header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(accepts_html)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
