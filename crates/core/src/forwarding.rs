//! Request and response header rewriting between the client and the origin.

use crate::hooks::HookHeaders;
use crate::policy::Access;
use http::header::{CACHE_CONTROL, CONNECTION, HOST};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::borrow::Cow;

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
    is_hop_by_hop_folded(&folded(name.as_str()))
}

fn is_hop_by_hop_folded(name: &str) -> bool {
    HOP_BY_HOP.contains(&name) || name.starts_with("proxy-")
}

/// A header name as an origin may read it: lowercase, with every character other than a
/// letter or digit taken for `-`.
///
/// CGI and WSGI servers (PHP, gunicorn before 22, most Python servers), Puma before 6.4.3 and
/// nginx with `underscores_in_headers on` read `x_session_user` as `x-session-user`; PHP
/// also turns `.` into `_` in `$_SERVER` (so `x.session.user` too, behind Caddy or
/// FrankenPHP). Every header the gateway owns is compared in this form.
pub fn folded(name: &str) -> Cow<'_, str> {
    if name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(
            name.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() {
                        char::from(b.to_ascii_lowercase())
                    } else {
                        '-'
                    }
                })
                .collect(),
        )
    }
}

/// Headers that say where a request came from, or which URL it is for, that origins and
/// their frameworks trust. Only the gateway sets the `X-Forwarded-*` ones: a client's copies
/// would let it pose as another address to the origin. The others (CDN client-address
/// headers, IIS's URL overrides, which route past the public-path policy, and `Proxy`,
/// which CGI exposes as `HTTP_PROXY`: httpoxy) never pass.
fn is_forwarding_info(folded: &str) -> bool {
    const TRUSTED_BY_ORIGINS: &[&str] = &[
        "forwarded",
        "x-real-ip",
        "client-ip",
        "x-client-ip",
        "true-client-ip",
        "cf-connecting-ip",
        "fastly-client-ip",
        "x-cluster-client-ip",
        "x-original-url",
        "x-rewrite-url",
        "proxy",
    ];
    folded.starts_with("x-forwarded-") || TRUSTED_BY_ORIGINS.contains(&folded)
}

/// Spin's own request headers (`spin-full-url`, `spin-client-addr`, ...): internal to the
/// component, never the origin's business.
fn is_spin_internal(folded: &str) -> bool {
    folded.starts_with("spin-")
}

/// Header names listed in `Connection` are hop-by-hop for this connection only (folded).
fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|token| folded(token.trim()).into_owned())
        .filter(|token| !token.is_empty())
        .collect()
}

/// Whether a client-sent request header must not reach the origin, under any spelling.
fn client_must_not_send(name: &HeaderName, listed: &[String], identity: &IdentityHeaders, hooks: &HookHeaders) -> bool {
    let name = folded(name.as_str());
    let name = name.as_ref();
    is_hop_by_hop_folded(name)
        || listed.iter().any(|l| l == name)
        || is_forwarding_info(name)
        || is_spin_internal(name)
        || name == HOST.as_str()
        || name == folded(identity.user.as_str())
        || name == folded(identity.data.as_str())
        || hooks.owns_folded(name)
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
        if !client_must_not_send(name, &listed, identity, hooks) {
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
///
/// `Host` goes too: PHP's built-in server (`php -S`) puts one in its responses, and Spin
/// refuses a response that carries it (a forbidden header), which would turn every answer of
/// such an origin into a 500.
pub fn response_headers(incoming: &HeaderMap, hooks: &HookHeaders) -> HeaderMap {
    let listed = connection_listed(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len());
    for (name, value) in incoming {
        let folded_name = folded(name.as_str());
        let dropped = is_hop_by_hop_folded(&folded_name)
            || name == HOST
            || listed.iter().any(|l| *l == folded_name)
            || hooks.owns_folded(&folded_name);
        if !dropped {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Makes a response that carries a session `Set-Cookie` unstorable by shared caches: a CDN
/// or proxy that kept it would hand one user's session to the next. The origin's own bare
/// `private` or `no-store` is kept as it is; otherwise `public` and `s-maxage` are dropped
/// and `private` added (the browser may still cache by the origin's `max-age`). A qualified
/// `private="field"` does not count: it makes only that field private (RFC 9111 §5.2.2.7).
/// The CDN-only overrides (`CDN-Cache-Control`, `Surrogate-Control`, ...) are removed.
pub fn keep_out_of_shared_caches(headers: &mut HeaderMap) {
    for cdn_only in ["cdn-cache-control", "surrogate-control", "cloudflare-cdn-cache-control"] {
        headers.remove(cdn_only);
    }
    let directives: Vec<String> = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty())
        .collect();
    if directives
        .iter()
        .any(|d| d.eq_ignore_ascii_case("private") || d.eq_ignore_ascii_case("no-store"))
    {
        return;
    }
    let name = |d: &str| d.split('=').next().unwrap_or_default().trim().to_ascii_lowercase();
    let mut kept: Vec<String> = directives
        .into_iter()
        .filter(|d| !matches!(name(d).as_str(), "public" | "s-maxage"))
        .collect();
    kept.push("private".into());
    let value = HeaderValue::from_str(&kept.join(", ")).unwrap_or(HeaderValue::from_static("private"));
    headers.insert(CACHE_CONTROL, value);
}
