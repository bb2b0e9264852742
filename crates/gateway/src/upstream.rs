//! Where an admitted request goes, over wasi:http 0.3: the adapter's side of the flow's
//! `Upstream` seam. An origin over HTTP today; the next handler of a Spin middleware chain
//! (`spin_sdk::http::next`) fits the same seam.
//!
//! The request's body stream is handed to the outgoing request as it is (a GET or HEAD
//! without `Content-Length` or `Transfer-Encoding` has none, and none is sent). The origin's
//! response goes back as the host's own, untouched, when nothing in it needs changing;
//! otherwise its headers are rebuilt and its body stream goes on as it is when the origin
//! framed it with `Content-Length`; a chunked (or close-delimited) body is copied by the
//! gateway, see [`copy_body`].

use futures::channel::oneshot;
use futures::future::{Either, select};
use http::HeaderMap;
use session_gateway_core::config::Origin;
use session_gateway_core::forwarding::{self, ClientFacts};
use session_gateway_core::hooks::HookHeaders;
use session_gateway_core::policy::Access;
use session_gateway_flow::Owned;
use spin_sdk::wasip3::clocks::monotonic_clock;
use spin_sdk::wasip3::http::types::{ErrorCode, Fields, Method, Request, RequestOptions, Response, Scheme, Trailers};
use spin_sdk::wasip3::http_compat::IncomingRequestBody;
use spin_sdk::wasip3::wit_bindgen::{self, FutureReader, FutureWriter, StreamReader, StreamResult, StreamWriter};
use spin_sdk::wasip3::{wit_future, wit_stream};
use std::pin::pin;
use std::time::Duration;

/// What the origin answered: the response (body unread) and a copy of its headers.
pub struct OriginResponse {
    pub response: Response,
    pub headers: HeaderMap,
    /// The request was a `HEAD`: the response has no body whatever its headers say.
    pub to_head: bool,
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

impl HttpOrigin<'_> {
    pub async fn forward(
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

        // Under Spin every body handed over costs the component a stream, a future and a
        // task that waits for the origin to have it: about 0.05 ms a request (see PERF_NOTES.md).
        let (outgoing, transmitted) = if has_no_body(&head) {
            drop(incoming);
            let (_, no_trailers) = wit_future::new(|| Ok(None));
            (Request::new(headers, None, no_trailers, self.options()).0, None)
        } else {
            let (incoming_done, incoming_done_rx) = wit_future::new(|| Ok(()));
            let (contents, trailers) = Request::consume_body(incoming, incoming_done_rx);
            let (outgoing, transmitted) = Request::new(headers, Some(contents), trailers, self.options());
            (outgoing, Some((incoming_done, transmitted)))
        };
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
        if let Some((incoming_done, transmitted)) = transmitted {
            wit_bindgen::spawn(async move {
                let _ = incoming_done.write(transmitted.await).await;
            });
        }

        let response = spin_sdk::wasip3::http::client::send(outgoing).await?;
        let headers = header_map(&response.get_headers());
        Ok(OriginResponse {
            response,
            headers,
            to_head: head.method == http::Method::HEAD,
        })
    }
}

/// The origin's response for the client: hop-by-hop and hook headers removed, the
/// gateway's `Set-Cookie`s added, and the body streamed on.
///
/// When there is nothing to remove or add and the body is framed by `Content-Length` (or
/// absent), the origin's response goes back as it is: Spin then relays the origin's body
/// itself, where a rebuilt response costs a new header list, a new response, and a task
/// that reports its delivery to the origin's body (about 0.07 ms a request at c=1).
///
/// A body the origin framed with `Content-Length` goes on as the host's own stream. A chunked
/// one does not: under Spin its end would reach hyper only after its last data (the host's
/// HTTP client decodes the closing `0\r\n\r\n` only once the previous chunk has been taken),
/// so Spin would write the terminator in a second small write, which Nagle's algorithm holds
/// until the client's delayed ACK (about 40 ms per response on a keep-alive connection).
/// [`copy_body`] reads such a body ahead instead: a body that has wholly arrived goes on with
/// `Content-Length` (one write), anything else is streamed as it comes.
pub async fn relay(
    origin: OriginResponse,
    hooks: &HookHeaders,
    set_cookies: Vec<String>,
) -> Result<Response, ErrorCode> {
    let OriginResponse {
        response,
        headers: origin_headers,
        to_head,
    } = origin;
    let status = response.get_status_code();
    let mut headers = forwarding::response_headers(&origin_headers, hooks);
    let bodiless = to_head || status < 200 || status == 204 || status == 304;
    let framed = bodiless || origin_headers.contains_key(http::header::CONTENT_LENGTH);
    // `response_headers` only removes: the same count means it removed nothing.
    if set_cookies.is_empty() && framed && headers.len() == origin_headers.len() {
        return Ok(response);
    }
    if !set_cookies.is_empty() {
        forwarding::keep_out_of_shared_caches(&mut headers);
    }
    for cookie in set_cookies {
        let value = http::HeaderValue::from_str(&cookie).map_err(|_| internal("invalid Set-Cookie"))?;
        headers.append(http::header::SET_COOKIE, value);
    }
    let (origin_done, origin_done_rx) = wit_future::new(|| Ok(()));
    let (contents, trailers) = Response::consume_body(response, origin_done_rx);
    let (contents, trailers) = if framed {
        (contents, trailers)
    } else {
        let (body, body_rx) = wit_stream::new::<u8>();
        let (body_trailers, body_trailers_rx) = wit_future::new(|| Ok(None));
        let (whole, whole_rx) = oneshot::channel();
        wit_bindgen::spawn(copy_body(contents, trailers, body, body_trailers, whole));
        if let Ok(Some(length)) = whole_rx.await {
            headers.remove(http::header::CONTENT_LENGTH);
            headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(length));
        }
        (body_rx, body_trailers_rx)
    };
    let headers = fields(&headers)?;
    let (relayed, delivered) = Response::new(headers, Some(contents), trailers);
    relayed
        .set_status_code(status)
        .map_err(|()| internal("invalid status from origin"))?;
    wit_bindgen::spawn(async move {
        let _ = origin_done.write(delivered.await).await;
    });
    Ok(relayed)
}

/// How much of a chunked origin body is read ahead at most before the response starts.
const READ_AHEAD_BYTES: usize = 64 * 1024;
/// How long a read ahead waits: a few turns of the host's scheduler (a body the origin has
/// already sent arrives within them, the host's HTTP client handing it over chunk by chunk),
/// then, should the host be busy, one short timer. A streaming origin (server-sent events,
/// long polling) is not waited for beyond that: its response starts at most about 1 ms later.
const READ_AHEAD_TURNS: usize = 16;
const READ_AHEAD_WAIT_NS: u64 = 1_000_000;
/// The read-ahead as a whole ends by then, so an origin that trickles small chunks without
/// pause does not hold the response back until [`READ_AHEAD_BYTES`] have come.
const READ_AHEAD_TOTAL_NS: u64 = 5_000_000;
const READ_SIZE: usize = 16 * 1024;

/// Copies a chunked origin body into `body`, with its trailers into `trailers`. It first
/// reads what the origin has already sent (up to [`READ_AHEAD_BYTES`], waiting for each read
/// no longer than [`READ_AHEAD_TURNS`] scheduler turns and [`READ_AHEAD_WAIT_NS`], for all of
/// them no longer than [`READ_AHEAD_TOTAL_NS`]), then says
/// on `whole` whether that was the whole body (its length) or not (`None`: the response
/// streams on, chunked, as the origin sends it).
async fn copy_body(
    mut contents: StreamReader<u8>,
    origin_trailers: FutureReader<Result<Option<Trailers>, ErrorCode>>,
    mut body: StreamWriter<u8>,
    trailers: FutureWriter<Result<Option<Trailers>, ErrorCode>>,
    whole: oneshot::Sender<Option<u64>>,
) {
    let mut whole = Some(whole);
    let mut ahead: Vec<u8> = Vec::new();
    let mut ended = false;
    let deadline = monotonic_clock::now().saturating_add(READ_AHEAD_TOTAL_NS);
    while !ended && whole.is_some() && ahead.len() < READ_AHEAD_BYTES && monotonic_clock::now() < deadline {
        let mut read = pin!(contents.read(Vec::with_capacity(READ_SIZE)));
        let turns = pin!(async {
            for _ in 0..READ_AHEAD_TURNS {
                wit_bindgen::yield_async().await;
            }
            monotonic_clock::wait_for(READ_AHEAD_WAIT_NS).await;
        });
        let (result, chunk) = match select(read.as_mut(), turns).await {
            Either::Left((read, _)) => read,
            Either::Right(((), _)) => {
                // The origin is streaming: the response starts with what has come so far.
                if let Some(whole) = whole.take() {
                    let _ = whole.send(None);
                }
                if !body.write_all(std::mem::take(&mut ahead)).await.is_empty() {
                    return; // the client went away
                }
                read.await
            }
        };
        match result {
            StreamResult::Complete(_) => ahead.extend_from_slice(&chunk),
            _ => ended = true,
        }
    }
    let mut origin_trailers = Some(origin_trailers);
    let mut settled = None;
    if let Some(whole) = whole.take() {
        let mut length = None;
        if let Some(future) = origin_trailers.take_if(|_| ended) {
            // Once the origin's body has ended, its trailers (or error) are settled too.
            let result = future.await;
            length = matches!(result, Ok(None)).then_some(ahead.len() as u64);
            settled = Some(result);
        }
        let _ = whole.send(length);
    }
    if !ahead.is_empty() && !body.write_all(ahead).await.is_empty() {
        return;
    }
    while !ended {
        let (result, chunk) = contents.read(Vec::with_capacity(READ_SIZE)).await;
        match result {
            StreamResult::Complete(_) => {
                if !body.write_all(chunk).await.is_empty() {
                    return;
                }
            }
            _ => ended = true,
        }
    }
    drop(body);
    let settled = match (settled, origin_trailers) {
        (Some(result), _) => result,
        (None, Some(future)) => future.await,
        (None, None) => Ok(None),
    };
    let _ = trailers.write(settled).await;
}

/// A GET or HEAD that says it has no body: neither `Content-Length` nor `Transfer-Encoding`
/// (RFC 9112 §6.3). Spin does not tell the component which HTTP version the client spoke,
/// and an HTTP/2 body needs neither header, so other methods always stream theirs; a GET's
/// or HEAD's body has no meaning (RFC 9110 §9.3.1), and one that an HTTP/2 client sends
/// without `Content-Length` is not forwarded.
fn has_no_body(head: &http::request::Parts) -> bool {
    (head.method == http::Method::GET || head.method == http::Method::HEAD)
        && !head.headers.contains_key(http::header::CONTENT_LENGTH)
        && !head.headers.contains_key(http::header::TRANSFER_ENCODING)
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
