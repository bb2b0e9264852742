//! session-gateway's request flow, free of any Spin SDK: settings, session lookup, policy
//! decision, the forward with a due refresh or touch beside it, session hooks, relay.
//!
//! Each build of the gateway (one per wasi:http world and Spin SDK) is a thin adapter that
//! implements [`Platform`] (Redis, key-value, variables, clocks, randomness, logs) and
//! [`Upstream`] (the HTTP forward and the response, bodies included), then calls [`handle`].
//! The pure logic lives in `session-gateway-core`; this crate orders the I/O around it.
//!
//! Spin may run many requests, some at once, in one instance: only the configuration (see
//! `settings`) and the key-value handle (see `store`) are kept between them; everything else
//! is per request.

pub mod client;
pub mod lifecycle;
mod log;
pub mod lookup;
pub mod platform;
pub mod settings;
pub mod store;
pub mod upstream;

pub use platform::{Level, Platform, RedisError, RedisParameter, RedisResult};
pub use upstream::{Forward, Owned, Upstream};

use futures::future::join3;
use lifecycle::{Current, LifecycleError};
use lookup::{Loaded, Lookup, lookup_session};
use session_gateway_core::hooks;
use session_gateway_core::policy::{Access, RequestFacts, accepts_html, decide};
use session_gateway_core::redis_layout;
use session_gateway_core::replies::Reply;
use session_gateway_core::session::SessionRecordV1;
use session_gateway_core::{Config, Decision};
use store::{RedisStore, SessionStore};

/// The whole request: the adapter hands over the request's head and body, and returns what
/// this gives back.
pub async fn handle<P: Platform, U: Upstream>(
    platform: &P,
    upstream: &U,
    head: http::request::Parts,
    body: U::Body,
) -> U::Output {
    let config = match settings::load(platform).await {
        Ok(config) => config,
        Err(error) => {
            log::error(platform, format_args!("invalid configuration: {error}"));
            return upstream.reply(Reply::misconfigured());
        }
    };
    let now_ms = platform.now_ms();
    let now = now_ms / 1000;
    let store = RedisStore::new(platform, &config.redis, config.reads, config.redis_timeout);
    let Lookup {
        lookup,
        mut loaded,
        touch,
    } = lookup_session(platform, &config, &store, &head.headers, now_ms).await;
    let facts = RequestFacts {
        path: head.uri.path(),
        path_and_query: head.uri.path_and_query().map_or("/", |pq| pq.as_str()),
        is_navigation: is_navigation(&head),
    };
    let access = match decide(lookup, facts, &config.public_paths, config.login.as_ref()) {
        Decision::Forward(access) => access,
        Decision::Unauthorized => return upstream.reply(Reply::unauthorized()),
        Decision::RedirectToLogin(location) => return upstream.reply(Reply::login_redirect(location)),
        Decision::Unavailable => return upstream.reply(Reply::unavailable()),
    };
    let (forwarded, refreshed) = forward(
        platform,
        upstream,
        &config,
        &store,
        Request { head, body },
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
        Err(reply) => return upstream.reply(reply),
    };
    if let (Some(loaded), Some((record, bytes))) = (loaded.as_mut(), refreshed) {
        // A hook's compare-and-set must start from what Redis holds now.
        (loaded.current.record, loaded.current.bytes) = (record, bytes);
    }
    let current = loaded
        .map(|l| l.current)
        .filter(|_| matches!(access, Access::Authenticated(_)));
    let hooks = carry_out_hooks(
        platform,
        &config,
        &store,
        upstream.headers(&origin_response),
        current,
        now,
    )
    .await;
    match hooks {
        Ok(set_cookies) => upstream.relay(origin_response, &config.hook_headers, set_cookies).await,
        Err(reply) => upstream.reply(reply),
    }
}

/// The client's request, as the adapter handed it over.
struct Request<B> {
    head: http::request::Parts,
    body: B,
}

/// What may need refreshing beside the forward: a native session's record, or the key of a
/// framework's session to touch.
struct Refresh<'a> {
    native: Option<&'a Loaded>,
    touch: Option<String>,
}

/// Sends the request to the origin; a due idle refresh or touch runs beside it, never
/// before it. Also returns the record as the refresh rewrote it, if it did.
#[allow(clippy::too_many_arguments)] // each is one fact of the request; a struct would only rename them
async fn forward<P: Platform, U: Upstream>(
    platform: &P,
    upstream: &U,
    config: &Config,
    store: &impl SessionStore,
    request: Request<U::Body>,
    access: &Access,
    due: Refresh<'_>,
    now: u64,
) -> (Result<U::Response, Reply>, Option<(SessionRecordV1, Vec<u8>)>) {
    let touch = async {
        let (Some(key), Some(touch)) = (due.touch, config.touch) else {
            return;
        };
        let ttl = touch.lifetime_secs.to_string();
        let threshold = touch.threshold_ms(config.expiry.refresh_fraction).to_string();
        if let Err(error) = store
            .script(redis_layout::TOUCH, &[&key], &[ttl.as_bytes(), threshold.as_bytes()])
            .await
        {
            // As the framework's own touch: a missed one shortens nothing the app set.
            log::error(platform, format_args!("session not touched: {error}"));
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
                log::error(
                    platform,
                    format_args!("session #{} not refreshed: {error}", current.id.fingerprint()),
                );
                None
            }
        }
    };
    let Request { head, body } = request;
    let client = client::facts(&head);
    let owned = Owned {
        identity: &config.identity_headers,
        hooks: &config.hook_headers,
    };
    let sent = upstream.forward(Forward {
        origin: &config.origin,
        timeout: config.origin_timeout,
        head,
        body,
        owned,
        client: &client,
        access,
    });
    let (forwarded, refreshed, ()) = join3(sent, refresh, touch).await;
    let forwarded = match forwarded {
        Ok(response) => Ok(response),
        Err(error) if upstream.is_timeout(&error) => {
            log::error(platform, format_args!("origin timed out: {error}"));
            Err(Reply::gateway_timeout())
        }
        Err(error) => {
            log::error(platform, format_args!("origin unreachable: {error}"));
            Err(Reply::bad_gateway())
        }
    };
    (forwarded, refreshed)
}

/// Carries out the session hooks in the origin's response; returns the `Set-Cookie`s to add.
async fn carry_out_hooks(
    platform: &impl Platform,
    config: &Config,
    store: &impl SessionStore,
    origin_headers: &http::HeaderMap,
    current: Option<Current>,
    now: u64,
) -> Result<Vec<String>, Reply> {
    let hooks = hooks::parse(origin_headers, &config.hook_headers).map_err(|error| {
        log::error(platform, format_args!("origin sent an invalid session hook: {error}"));
        Reply::bad_gateway()
    })?;
    if hooks.is_empty() {
        return Ok(Vec::new());
    }
    if !config.format.is_native() {
        log::error(
            platform,
            format_args!(
                "the origin sent a session hook, but hooks need `session_format = native`: with `{}` the app owns its sessions",
                config.format.name()
            ),
        );
        return Err(Reply::bad_gateway());
    }
    lifecycle::apply(platform, config, store, hooks, current, now)
        .await
        .map_err(|error| match error {
            LifecycleError::Invalid(reason) => {
                log::error(platform, format_args!("origin sent an invalid session hook: {reason}"));
                Reply::bad_gateway()
            }
            // Never pretend a login or logout happened when it was not written.
            LifecycleError::Store(error) => {
                log::error(
                    platform,
                    format_args!("session hook not carried out, session store {error}"),
                );
                Reply::unavailable()
            }
        })
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
