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
use lifecycle::{Current, LifecycleError, Writes};
use lookup::{Loaded, Lookup, lookup_session};
use session_gateway_core::config::{ConfigError, FormatName, Forwarding, Lifetimes};
use session_gateway_core::hooks;
use session_gateway_core::policy::{Access, RequestFacts, accepts_html, decide};
use session_gateway_core::redis_layout;
use session_gateway_core::replies::Reply;
use session_gateway_core::session::SessionRecordV1;
use session_gateway_core::{Decision, SessionLookup, VerifiedSessionId};
use settings::Settings;
use std::rc::Rc;
use store::{RedisStore, SessionStore};

/// The whole request: the adapter hands over the request's head and body, and returns what
/// this gives back.
pub async fn handle<P: Platform, U: Upstream>(
    platform: &P,
    upstream: &U,
    head: http::request::Parts,
    body: U::Body,
) -> U::Output {
    let settings = Settings::new(platform);
    match serve(platform, upstream, &settings, head, body).await {
        Ok(output) => output,
        Err(error) => {
            log::error(platform, format_args!("invalid configuration: {error}"));
            upstream.reply(Reply::misconfigured())
        }
    }
}

/// The request, reading each section of the configuration when the path first needs it.
async fn serve<P: Platform, U: Upstream>(
    platform: &P,
    upstream: &U,
    settings: &Settings<'_, P>,
    head: http::request::Parts,
    body: U::Body,
) -> Result<U::Output, ConfigError> {
    let now_ms = platform.now_ms();
    let now = now_ms / 1000;
    let cookie = settings.session_cookie().await?;
    let pick = cookie.format.pick();
    // Without a cookie of the session's name, nothing that verifies one is read.
    let id = if pick.finds_a_value(&head.headers, &cookie.name) {
        pick.find(&head.headers, &cookie.name, settings.codec().await?.as_ref())
    } else {
        None
    };
    // A cookie that verifies: where its session lives and how long it lasts.
    let found = match id {
        Some(id) => Some(Found {
            id,
            store: RedisStore::new(platform, settings.sessions().await?),
            lifetimes: settings.lifetimes().await?,
        }),
        None => None,
    };
    let Lookup {
        lookup,
        mut loaded,
        touch,
    } = match &found {
        Some(f) => {
            lookup_session(
                platform,
                f.store.sessions(),
                &f.lifetimes,
                &f.store,
                f.id.clone(),
                now_ms,
            )
            .await
        }
        None => Lookup::only(SessionLookup::Missing),
    };
    let access = match lookup {
        // As `decide` has it, whatever the routing: so an authenticated request does not read it.
        SessionLookup::Found(session) => Access::Authenticated(session),
        lookup => {
            let routing = settings.routing().await?;
            let facts = RequestFacts {
                path: head.uri.path(),
                path_and_query: head.uri.path_and_query().map_or("/", |pq| pq.as_str()),
                is_navigation: is_navigation(&head),
            };
            match decide(lookup, facts, &routing.public_paths, routing.login.as_ref()) {
                Decision::Forward(access) => access,
                Decision::Unauthorized => return Ok(upstream.reply(Reply::unauthorized())),
                Decision::RedirectToLogin(location) => return Ok(upstream.reply(Reply::login_redirect(location))),
                Decision::Unavailable => return Ok(upstream.reply(Reply::unavailable())),
            }
        }
    };
    let forwarding = settings.forwarding().await?;
    let due = found.as_ref().map(|found| Refresh {
        found,
        native: loaded.as_ref(),
        touch,
    });
    let (forwarded, refreshed) = forward(
        platform,
        upstream,
        &forwarding,
        Request { head, body },
        &access,
        due,
        now,
    )
    .await;
    let origin_response = match forwarded {
        Ok(response) => response,
        Err(reply) => return Ok(upstream.reply(reply)),
    };
    let hooks = match parse_hooks(platform, cookie.format, upstream.headers(&origin_response), &forwarding) {
        Ok(hooks) if hooks.is_empty() => {
            return Ok(upstream
                .relay(origin_response, &forwarding.hook_headers, Vec::new())
                .await);
        }
        Ok(hooks) => hooks,
        Err(reply) => return Ok(upstream.reply(reply)),
    };
    if let (Some(loaded), Some((record, bytes))) = (loaded.as_mut(), refreshed) {
        // A hook's compare-and-set must start from what Redis holds now.
        (loaded.current.record, loaded.current.bytes) = (record, bytes);
    }
    let current = loaded
        .map(|l| l.current)
        .filter(|_| matches!(access, Access::Authenticated(_)));
    // A login on a public path has read no store yet.
    let late;
    let store = match &found {
        Some(found) => &found.store,
        None => {
            late = RedisStore::new(platform, settings.sessions().await?);
            &late
        }
    };
    let cookie = settings.cookie().await;
    let writes = Writes {
        sessions: store.sessions(),
        codec: &*settings.codec().await?,
        expiry: &settings.lifetimes().await?.expiry,
        cookie: cookie.as_deref(),
    };
    Ok(
        match carry_out_hooks(platform, &writes, store, hooks, current, now).await {
            Ok(set_cookies) => {
                upstream
                    .relay(origin_response, &forwarding.hook_headers, set_cookies)
                    .await
            }
            Err(reply) => upstream.reply(reply),
        },
    )
}

/// A cookie that verified: its session's store and lifetimes.
struct Found<'p, P: Platform> {
    id: VerifiedSessionId,
    store: RedisStore<'p, P>,
    lifetimes: Rc<Lifetimes>,
}

/// The client's request, as the adapter handed it over.
struct Request<B> {
    head: http::request::Parts,
    body: B,
}

/// What may need refreshing beside the forward: a native session's record, or the key of a
/// framework's session to touch.
struct Refresh<'a, 'p, P: Platform> {
    found: &'a Found<'p, P>,
    native: Option<&'a Loaded>,
    touch: Option<String>,
}

/// Sends the request to the origin; a due idle refresh or touch runs beside it, never
/// before it. Also returns the record as the refresh rewrote it, if it did.
async fn forward<P: Platform, U: Upstream>(
    platform: &P,
    upstream: &U,
    forwarding: &Forwarding,
    request: Request<U::Body>,
    access: &Access,
    due: Option<Refresh<'_, '_, P>>,
    now: u64,
) -> (Result<U::Response, Reply>, Option<(SessionRecordV1, Vec<u8>)>) {
    let touch = async {
        let Some(Refresh {
            found: Found { store, lifetimes, .. },
            touch: Some(key),
            ..
        }) = due.as_ref()
        else {
            return;
        };
        let Some(touch) = lifetimes.touch else {
            return;
        };
        let ttl = touch.lifetime_secs.to_string();
        let threshold = touch.threshold_ms(lifetimes.expiry.refresh_fraction).to_string();
        if let Err(error) = store
            .script(redis_layout::TOUCH, &[key], &[ttl.as_bytes(), threshold.as_bytes()])
            .await
        {
            // As the framework's own touch: a missed one shortens nothing the app set.
            log::error(platform, format_args!("session not touched: {error}"));
        }
    };
    let refresh = async {
        let Refresh {
            found: Found { store, lifetimes, .. },
            native: Some(Loaded { current, remaining_ms }),
            ..
        } = due.as_ref()?
        else {
            return None;
        };
        let ttl = lifetimes
            .expiry
            .refresh(now, current.record.expires_at, *remaining_ms)?;
        let refreshed = SessionRecordV1 {
            touched_at: Some(now),
            ..current.record.clone()
        };
        let bytes = refreshed.to_json();
        let key = store.sessions().session_key(&current.id);
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
        identity: &forwarding.identity_headers,
        hooks: &forwarding.hook_headers,
    };
    let sent = upstream.forward(Forward {
        origin: &forwarding.origin,
        timeout: forwarding.origin_timeout,
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

/// The session hooks in the origin's response; an answer for the client when they cannot be
/// carried out.
fn parse_hooks(
    platform: &impl Platform,
    format: FormatName,
    origin_headers: &http::HeaderMap,
    forwarding: &Forwarding,
) -> Result<hooks::Hooks, Reply> {
    let hooks = hooks::parse(origin_headers, &forwarding.hook_headers).map_err(|error| {
        log::error(platform, format_args!("origin sent an invalid session hook: {error}"));
        Reply::bad_gateway()
    })?;
    if !hooks.is_empty() && format != FormatName::Native {
        log::error(
            platform,
            format_args!(
                "the origin sent a session hook, but hooks need `session_format = native`: with `{}` the app owns its sessions",
                format.name()
            ),
        );
        return Err(Reply::bad_gateway());
    }
    Ok(hooks)
}

/// Carries out the session hooks; returns the `Set-Cookie`s to add.
async fn carry_out_hooks(
    platform: &impl Platform,
    writes: &Writes<'_>,
    store: &impl SessionStore,
    hooks: hooks::Hooks,
    current: Option<Current>,
    now: u64,
) -> Result<Vec<String>, Reply> {
    lifecycle::apply(platform, writes, store, hooks, current, now)
        .await
        .map_err(|error| match error {
            LifecycleError::Invalid(reason) => {
                log::error(platform, format_args!("origin sent an invalid session hook: {reason}"));
                Reply::bad_gateway()
            }
            LifecycleError::Misconfigured(error) => {
                log::error(platform, format_args!("invalid configuration: {error}"));
                Reply::misconfigured()
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
