//! The forwarding seam: where an admitted request goes. An origin over HTTP today; the next
//! handler of a Spin middleware chain (`spin_sdk::http::next`) fits the same trait.
//!
//! Bodies are never read here: the request's body stream is handed to the outgoing request
//! and the origin's body stream to our response, so the host splices them through.

use http::HeaderMap;
use session_gateway_core::config::Origin;
use session_gateway_core::forwarding::{self, ClientFacts, IdentityHeaders};
use session_gateway_core::hooks::HookHeaders;
use session_gateway_core::policy::Access;
use spin_sdk::wasip3::http::types::{ErrorCode, Fields, Method, Request, RequestOptions, Response, Scheme};
use spin_sdk::wasip3::http_compat::IncomingRequestBody;
use spin_sdk::wasip3::{wit_bindgen, wit_future};
use std::time::Duration;

/// What the origin answered: the response (body unread) and a copy of its headers.
pub struct OriginResponse {
    pub response: Response,
    pub headers: HeaderMap,
}

pub trait Upstream {
    async fn forward(
        &self,
        head: http::request::Parts,
        body: IncomingRequestBody,
        owned: Owned<'_>,
        client: &ClientFacts,
        access: &Access,
    ) -> Result<OriginResponse, ErrorCode>;
}

/// The headers the gateway owns: identity and hooks.
#[derive(Clone, Copy)]
pub struct Owned<'a> {
    pub identity: &'a IdentityHeaders,
    pub hooks: &'a HookHeaders,
}

pub struct HttpOrigin<'a> {
    origin: &'a Origin,
    timeout: Duration,
}

impl<'a> HttpOrigin<'a> {
    pub fn new(origin: &'a Origin, timeout: Duration) -> Self {
        Self { origin, timeout }
    }

    /// Connect and first-byte timeouts, as `wasi:http` request options (Spin honours them).
    fn options(&self) -> Option<RequestOptions> {
        let options = RequestOptions::new();
        let nanos = Some(self.timeout.as_nanos().min(u64::MAX as u128) as u64);
        (options.set_connect_timeout(nanos).is_ok() && options.set_first_byte_timeout(nanos).is_ok()).then_some(options)
    }
}

/// Whether the origin failed by timing out (504) rather than by being unreachable (502).
pub fn is_timeout(error: &ErrorCode) -> bool {
    matches!(
        error,
        ErrorCode::ConnectionTimeout | ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout
    )
}

impl Upstream for HttpOrigin<'_> {
    async fn forward(
        &self,
        head: http::request::Parts,
        mut body: IncomingRequestBody,
        owned: Owned<'_>,
        client: &ClientFacts,
        access: &Access,
    ) -> Result<OriginResponse, ErrorCode> {
        let incoming = body
            .take_unstarted()
            .ok_or_else(|| internal("request body already consumed"))?;
        let headers = forwarding::request_headers(&head.headers, owned.identity, owned.hooks, client, access);
        let headers = fields(&headers)?;

        let (incoming_done, incoming_done_rx) = wit_future::new(|| Ok(()));
        let (contents, trailers) = Request::consume_body(incoming, incoming_done_rx);
        let (outgoing, transmitted) = Request::new(headers, Some(contents), trailers, self.options());
        outgoing
            .set_method(&method(&head.method))
            .map_err(|()| ErrorCode::HttpRequestMethodInvalid)?;
        let scheme = if self.origin.scheme == http::uri::Scheme::HTTPS {
            Scheme::Https
        } else {
            Scheme::Http
        };
        outgoing
            .set_scheme(Some(&scheme))
            .map_err(|()| ErrorCode::HttpProtocolError)?;
        outgoing
            .set_authority(Some(self.origin.authority.as_str()))
            .map_err(|()| ErrorCode::HttpRequestUriInvalid)?;
        let path = head.uri.path_and_query().map_or("/", |pq| pq.as_str());
        outgoing
            .set_path_with_query(Some(path))
            .map_err(|()| ErrorCode::HttpRequestUriInvalid)?;
        // The client's body is done when the origin has received all of it.
        wit_bindgen::spawn(async move {
            let _ = incoming_done.write(transmitted.await).await;
        });

        let response = spin_sdk::wasip3::http::client::send(outgoing).await?;
        let headers = header_map(&response.get_headers());
        Ok(OriginResponse { response, headers })
    }
}

/// The origin's response for the client: hop-by-hop and hook headers removed, the
/// gateway's `Set-Cookie`s added, and the body stream passed on.
pub fn relay(origin: OriginResponse, hooks: &HookHeaders, set_cookies: Vec<String>) -> Result<Response, ErrorCode> {
    let OriginResponse { response, headers } = origin;
    let status = response.get_status_code();
    let mut headers = forwarding::response_headers(&headers, hooks);
    if !set_cookies.is_empty() {
        forwarding::keep_out_of_shared_caches(&mut headers);
    }
    for cookie in set_cookies {
        let value = http::HeaderValue::from_str(&cookie).map_err(|_| internal("invalid Set-Cookie"))?;
        headers.append(http::header::SET_COOKIE, value);
    }
    let headers = fields(&headers)?;
    let (origin_done, origin_done_rx) = wit_future::new(|| Ok(()));
    let (contents, trailers) = Response::consume_body(response, origin_done_rx);
    let (relayed, delivered) = Response::new(headers, Some(contents), trailers);
    relayed
        .set_status_code(status)
        .map_err(|()| internal("invalid status from origin"))?;
    wit_bindgen::spawn(async move {
        let _ = origin_done.write(delivered.await).await;
    });
    Ok(relayed)
}

fn header_map(fields: &Fields) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in fields.copy_all() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_bytes(&value),
        ) {
            map.append(name, value);
        }
    }
    map
}

fn fields(map: &HeaderMap) -> Result<Fields, ErrorCode> {
    let entries: Vec<(String, Vec<u8>)> = map
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect();
    Fields::from_list(&entries).map_err(|e| internal(&format!("header rejected: {e:?}")))
}

fn method(method: &http::Method) -> Method {
    match *method {
        http::Method::GET => Method::Get,
        http::Method::POST => Method::Post,
        http::Method::PUT => Method::Put,
        http::Method::DELETE => Method::Delete,
        http::Method::PATCH => Method::Patch,
        http::Method::HEAD => Method::Head,
        http::Method::OPTIONS => Method::Options,
        http::Method::CONNECT => Method::Connect,
        http::Method::TRACE => Method::Trace,
        ref other => Method::Other(other.as_str().to_owned()),
    }
}

fn internal(message: &str) -> ErrorCode {
    ErrorCode::InternalError(Some(message.to_owned()))
}
