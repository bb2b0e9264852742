//! session-gateway as a Spin HTTP component: the thin adapter between Spin and the core.
//!
//! The handler reads as the request's story; each step is one call into a module named for
//! what it holds. Spin makes a fresh instance per request, so nothing here is cached.

mod client;
mod log;
mod replies;
mod settings;
mod store;
mod upstream;

use session_gateway_core::cookie_codec::find_session;
use session_gateway_core::policy::{RequestFacts, SessionLookup, accepts_html, decide};
use session_gateway_core::replies::Reply;
use session_gateway_core::session::{GatewayRecordDecoder, SessionDecoder};
use session_gateway_core::{Config, Decision};
use spin_sdk::http::Request;
use spin_sdk::wasip3::http::types::{ErrorCode, Response};
use store::{LoadError, RedisStore, SessionStore};
use upstream::{HttpOrigin, Upstream};

#[spin_sdk::http_service]
async fn handle(request: Request) -> Result<Response, ErrorCode> {
    let config = match settings::load().await {
        Ok(config) => config,
        Err(error) => {
            log::error(format_args!("invalid configuration: {error}"));
            return replies::to_wasi(Reply::misconfigured());
        }
    };
    let (head, body) = request.into_parts();
    let store = RedisStore::new(&config.redis_address);
    let lookup = lookup_session(&config, &store, &head.headers).await;
    let facts = RequestFacts {
        path: head.uri.path(),
        path_and_query: head.uri.path_and_query().map_or("/", |pq| pq.as_str()),
        is_navigation: is_navigation(&head),
    };
    match decide(lookup, facts, &config.public_paths, config.login.as_ref()) {
        Decision::Forward(access) => {
            let client = client::facts(&head);
            match HttpOrigin::new(&config.origin)
                .forward(head, body, &config.identity_headers, &client, &access)
                .await
            {
                Ok(response) => Ok(response),
                Err(error) => {
                    log::error(format_args!("origin unreachable: {error}"));
                    replies::to_wasi(Reply::bad_gateway())
                }
            }
        }
        Decision::Unauthorized => replies::to_wasi(Reply::unauthorized()),
        Decision::RedirectToLogin(location) => replies::to_wasi(Reply::login_redirect(location)),
        Decision::Unavailable => replies::to_wasi(Reply::unavailable()),
    }
}

/// One Redis round trip, and none at all without a cookie that verifies.
async fn lookup_session(config: &Config, store: &impl SessionStore, headers: &http::HeaderMap) -> SessionLookup {
    let Some(id) = find_session(headers, &config.cookie_name, &config.codec) else {
        return SessionLookup::Missing;
    };
    match store.load(&config.session_key(&id)).await {
        Ok(Some(bytes)) => match GatewayRecordDecoder.decode(&bytes, now()) {
            Ok(session) => SessionLookup::Found(session),
            Err(error) => {
                log::info(format_args!("session #{} refused: {error}", id.fingerprint()));
                SessionLookup::Missing
            }
        },
        Ok(None) => SessionLookup::Missing,
        Err(LoadError::Corrupt(reason)) => {
            log::info(format_args!("session #{} refused: {reason}", id.fingerprint()));
            SessionLookup::Missing
        }
        Err(LoadError::Unavailable(reason)) => {
            log::error(format_args!("session store unavailable: {reason}"));
            SessionLookup::StoreUnavailable
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

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
