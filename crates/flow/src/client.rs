//! What Spin tells the component about the client, from the headers it adds to each request.

use session_gateway_core::forwarding::ClientFacts;

/// `spin-client-addr` is `ip:port` (`[v6]:port` for IPv6); `spin-full-url` is the URL the
/// client asked for. Spin appends both after whatever the client sent under those names
/// (Spin's crates/trigger-http/src/wasi.rs, `prepare_request`), so only the last value is Spin's.
pub fn facts(head: &http::request::Parts) -> ClientFacts {
    let header = |name: &str| {
        head.headers
            .get_all(name)
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
    };
    let addr = header("spin-client-addr")
        .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
        .map(|a| a.ip().to_string());
    let full_url = header("spin-full-url").and_then(|u| u.parse::<http::Uri>().ok());
    let host = full_url
        .as_ref()
        .and_then(|u| u.authority().map(|a| a.as_str().to_owned()))
        .or_else(|| header("host").map(str::to_owned));
    let proto = full_url
        .as_ref()
        .and_then(|u| u.scheme_str().map(str::to_owned))
        .or(Some("http".into()));
    ClientFacts { addr, host, proto }
}
