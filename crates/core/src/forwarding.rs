//! Request and response header rewriting between the client and the origin.

use crate::hooks::HookHeaders;
use crate::policy::Access;
use http::header::{CONNECTION, HOST};
use http::{HeaderMap, HeaderName, HeaderValue};

/// Hop-by-hop headers (RFC 9110 §7.6.1) plus the ones proxies and HTTP/2 treat the same way.
/// Spin refuses responses that carry them, so they never cross the gateway either way.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
];

pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str()) || name.as_str().starts_with("proxy-")
}

/// Headers that say where a request came from. Only the gateway sets them: a client's
/// copies would let it pose as another address to the origin.
fn is_forwarding_info(name: &HeaderName) -> bool {
    let n = name.as_str();
    n.starts_with("x-forwarded-") || n == "forwarded" || n == "x-real-ip"
}

/// Spin's own request headers (`spin-full-url`, `spin-client-addr`, ...): internal to the
/// component, never the origin's business.
fn is_spin_internal(name: &HeaderName) -> bool {
    name.as_str().starts_with("spin-")
}

/// Header names listed in `Connection` are hop-by-hop for this connection only.
fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect()
}

/// The headers the gateway sets to say who the user is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeaders {
    pub user: HeaderName,
    pub data: HeaderName,
}

/// Where the client's request came from, as the gateway saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientFacts {
    /// The client's IP address.
    pub addr: Option<String>,
    /// The host the client asked for.
    pub host: Option<String>,
    /// `http` or `https`.
    pub proto: Option<String>,
}

/// The headers to send to the origin: the client's, less hop-by-hop, forwarding, Spin
/// identity and hook headers (whatever the client sent under those names), plus fresh
/// `X-Forwarded-*` and, for an authenticated request, the identity.
pub fn request_headers(
    incoming: &HeaderMap,
    identity: &IdentityHeaders,
    hooks: &HookHeaders,
    client: &ClientFacts,
    access: &Access,
) -> HeaderMap {
    let listed = connection_listed(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len() + 5);
    for (name, value) in incoming {
        let drop = is_hop_by_hop(name)
            || listed.contains(name)
            || is_forwarding_info(name)
            || is_spin_internal(name)
            || *name == HOST
            || *name == identity.user
            || *name == identity.data
            || hooks.owns(name);
        if !drop {
            out.append(name.clone(), value.clone());
        }
    }
    let mut set = |name: &'static str, value: &Option<String>| {
        if let Some(v) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            out.insert(HeaderName::from_static(name), v);
        }
    };
    set("x-forwarded-for", &client.addr);
    set("x-forwarded-host", &client.host);
    set("x-forwarded-proto", &client.proto);
    if let Access::Authenticated(session) = access {
        // Both values were checked header-safe when the record was decoded.
        if let (Ok(user), Ok(data)) = (
            HeaderValue::from_str(&session.user_id),
            HeaderValue::from_str(&session.data_header),
        ) {
            out.insert(identity.user.clone(), user);
            out.insert(identity.data.clone(), data);
        }
    }
    out
}

/// The origin's response headers less hop-by-hop ones and the session hooks.
pub fn response_headers(incoming: &HeaderMap, hooks: &HookHeaders) -> HeaderMap {
    let listed = connection_listed(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len());
    for (name, value) in incoming {
        if !is_hop_by_hop(name) && !listed.contains(name) && !hooks.owns(name) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}
