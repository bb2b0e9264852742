//! Where an admitted request goes, over wasi:http 0.2: the adapter's side of the flow's
//! `Upstream` seam.
//!
//! In 0.2 the component moves every byte itself, between wasi:io streams, and spin-executor
//! has no spawn: the client's body is pumped to the origin beside the wait for its answer,
//! and, should the origin answer before it has all of it, beside the relay.

use crate::poll::{self, ready};
use crate::replies::{self, fail, fields, internal};
use futures::future::{Either, select};
use http::HeaderMap;
use session_gateway_core::forwarding;
use session_gateway_core::hooks::HookHeaders;
use session_gateway_core::replies::Reply;
use session_gateway_flow::Forward;
use spin_sdk::http::{
    ErrorCode, Fields, IncomingRequest, IncomingResponse, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::{
    FutureIncomingResponse, FutureTrailers, IncomingBody, RequestOptions, Trailers,
};
use std::pin::{Pin, pin};
use std::time::Duration;
use wasi::clocks::monotonic_clock;
use wasi::io::streams::{InputStream, OutputStream, StreamError};

/// What the origin answered: the response (body unread) and a copy of its headers.
pub struct OriginResponse {
    /// Declared before `response`: dropped first, as the upload's streams go before it.
    upload: Option<Upload>,
    response: IncomingResponse,
    pub headers: HeaderMap,
    /// The request was a `HEAD`: the response has no body whatever its headers say.
    to_head: bool,
}

/// The rest of the client's body on its way to the origin.
type Upload = Pin<Box<dyn Future<Output = ()>>>;

/// The client's request head, as the flow reads it.
pub fn head(request: &IncomingRequest) -> Result<http::request::Parts, Reply> {
    let path = request.path_with_query().unwrap_or_else(|| "/".to_owned());
    let uri = match (request.scheme(), request.authority()) {
        (Some(scheme), Some(authority)) => {
            let scheme = match scheme {
                Scheme::Http => "http".to_owned(),
                Scheme::Https => "https".to_owned(),
                Scheme::Other(other) => other,
            };
            http::Uri::builder()
                .scheme(scheme.as_str())
                .authority(authority)
                .path_and_query(path.as_str())
                .build()
                .ok()
        }
        _ => None,
    };
    let uri = match uri {
        Some(uri) => uri,
        None => http::Uri::try_from(path.as_str()).map_err(|_| bad_request())?,
    };
    let method = http::Method::from_bytes(request.method().to_string().as_bytes()).map_err(|_| bad_request())?;
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (name, value) in request.headers().entries() {
        builder = builder.header(name, value);
    }
    let (head, ()) = builder.body(()).map_err(|_| bad_request())?.into_parts();
    Ok(head)
}

fn bad_request() -> Reply {
    Reply {
        status: http::StatusCode::BAD_REQUEST,
        headers: vec![("cache-control", "no-store".into())],
        body: Vec::new(),
    }
}

/// Whether the origin failed by timing out (504) rather than by being unreachable (502).
pub fn is_timeout(error: &ErrorCode) -> bool {
    matches!(
        error,
        ErrorCode::ConnectionTimeout | ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout
    )
}

/// Connect and first-byte timeouts, as `wasi:http` request options (Spin honours them).
fn options(timeout: Duration) -> Option<RequestOptions> {
    let options = RequestOptions::new();
    let nanos = Some(timeout.as_nanos().min(u64::MAX as u128) as u64);
    (options.set_connect_timeout(nanos).is_ok() && options.set_first_byte_timeout(nanos).is_ok()).then_some(options)
}

/// Whether the client's request has a body to forward. Attaching an outgoing body to a request
/// that has none would make the host send it chunked (an empty chunked `GET`, whose terminator
/// goes in a write of its own); without `Content-Length` nor `Transfer-Encoding` an HTTP/1.1
/// request has no body (RFC 9112 §6.3). Over HTTP/2 neither need be there, so only a `GET`
/// or `HEAD` is taken for bodiless then.
fn has_body(head: &http::request::Parts) -> bool {
    let headers = &head.headers;
    match headers.get(http::header::CONTENT_LENGTH) {
        Some(length) => length.as_bytes() != b"0",
        None => {
            headers.contains_key(http::header::TRANSFER_ENCODING)
                || (head.method != http::Method::GET && head.method != http::Method::HEAD)
        }
    }
}

pub async fn forward(request: Forward<'_, IncomingRequest>) -> Result<OriginResponse, ErrorCode> {
    let Forward {
        origin,
        timeout,
        head,
        body: client,
        owned,
        client: facts,
        access,
    } = request;
    let headers = forwarding::request_headers(&head.headers, owned.identity, owned.hooks, facts, access);
    let outgoing = OutgoingRequest::new(fields(&headers)?);
    outgoing
        .set_method(&method(&head.method))
        .map_err(|()| ErrorCode::HttpRequestMethodInvalid)?;
    let scheme = if origin.scheme == http::uri::Scheme::HTTPS {
        Scheme::Https
    } else {
        Scheme::Http
    };
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| ErrorCode::HttpProtocolError)?;
    outgoing
        .set_authority(Some(origin.authority.as_str()))
        .map_err(|()| ErrorCode::HttpRequestUriInvalid)?;
    let path = head.uri.path_and_query().map_or("/", |pq| pq.as_str());
    outgoing
        .set_path_with_query(Some(path))
        .map_err(|()| ErrorCode::HttpRequestUriInvalid)?;
    let upload = if has_body(&head) {
        let sink = outgoing.body().map_err(|()| internal("request body taken"))?;
        let source = client.consume().map_err(|()| internal("request body consumed"))?;
        let expected = head
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|length| length.to_str().ok()?.parse().ok());
        start_upload(client, source, sink, expected).await
    } else {
        None
    };
    let options = options(timeout);
    // The host applies each option (connect, first byte) up to `timeout`: the guard allows
    // both, and is the only bound left where the host refuses the options.
    let guard = if options.is_some() { timeout * 2 } else { timeout };
    let deadline = poll::after(guard.as_nanos().min(u64::MAX as u128) as u64);
    let future = outgoing_handler::handle(outgoing, options)?;
    let answer = async {
        match select(pin!(response(&future)), pin!(poll::sleep_until(deadline))).await {
            Either::Left((answer, _)) => answer,
            Either::Right(((), _)) => Err(ErrorCode::HttpResponseTimeout),
        }
    };
    let (response, upload) = match upload {
        None => (answer.await, None),
        Some(mut upload) => match select(pin!(answer), upload.as_mut()).await {
            Either::Left((answer, _)) => (answer, Some(upload)),
            Either::Right(((), answer)) => (answer.await, None),
        },
    };
    let response = response?;
    Ok(OriginResponse {
        headers: header_map(&response.headers()),
        response,
        upload,
        to_head: head.method == http::Method::HEAD,
    })
}

async fn response(future: &FutureIncomingResponse) -> Result<IncomingResponse, ErrorCode> {
    loop {
        match future.get() {
            Some(Ok(answer)) => return answer,
            Some(Err(())) => return Err(internal("response taken twice")),
            None => ready(|| future.subscribe()).await,
        }
    }
}

/// Starts the client's body on its way to the origin, before the request is handed to the
/// host: what has already come of it (a login form: all of it) is written into the outgoing
/// body first, so that the host's HTTP client finds the head and the body ready together and
/// sends them in one write; the head alone, then the body, and the body would wait for the
/// origin's delayed ACK (Nagle's algorithm, about 40 ms). The rest, if any, is returned, to
/// be pumped once the request is on its way.
///
/// A client that fails midway leaves the origin's body unfinished, which aborts it: the
/// origin never takes a cut body for whole.
async fn start_upload(
    client: IncomingRequest,
    source: IncomingBody,
    sink: OutgoingBody,
    expected: Option<usize>,
) -> Option<Upload> {
    let input = source.stream().ok()?;
    let output = sink.write().ok()?;
    let (mut ahead, how) = read_ahead(&input, expected).await;
    // Nobody reads the outgoing body yet: only what fits the host's buffer goes now.
    if output.check_write().is_ok_and(|n| n >= ahead.len() as u64) {
        output.write(&std::mem::take(&mut ahead)).ok()?;
    }
    match how {
        Ahead::Ended if ahead.is_empty() => {
            drop(input);
            let trailers = trailers(IncomingBody::finish(source)).await.ok()?;
            drop(output);
            let _ = OutgoingBody::finish(sink, trailers);
            None
        }
        Ahead::Failed => None,
        how => Some(Box::pin(upload(client, source, sink, input, output, ahead, how))),
    }
}

/// The rest of the client's body to the origin (`ahead` first), then its trailers.
/// (Parameters drop last first: each stream before its body.)
async fn upload(
    client: IncomingRequest,
    source: IncomingBody,
    sink: OutgoingBody,
    input: InputStream,
    output: OutputStream,
    ahead: Vec<u8>,
    how: Ahead,
) {
    if write_all(&output, &ahead).await.is_err() {
        return;
    }
    if !matches!(how, Ahead::Ended) && copy(&input, &output).await.is_err() {
        return;
    }
    drop(input);
    let Ok(trailers) = trailers(IncomingBody::finish(source)).await else {
        return;
    };
    drop(output);
    let _ = OutgoingBody::finish(sink, trailers);
    drop(client);
}

/// The origin's response for the client: its status, hop-by-hop and hook headers removed,
/// the gateway's `Set-Cookie`s added (and the response kept out of shared caches when there
/// are any), then the body.
///
/// In 0.2 the component writes the body itself once the head is in Spin's hands, so hyper
/// (without `TCP_NODELAY` under Spin) would write the head and the body in separate writes;
/// the second, small, waits for the client's delayed ACK (about 40 ms on a keep-alive
/// connection). And a chunked body's terminator would come in a write of its own, as under
/// 0.3. So, whatever the origin's framing, the body is first read ahead: if it has wholly
/// arrived, it goes out with `Content-Length` beside the head ([`replies::whole`]); else
/// the response streams on as the origin sends it (chunked unless the origin gave a length).
pub async fn relay(out: ResponseOutparam, origin: OriginResponse, hooks: &HookHeaders, set_cookies: Vec<String>) {
    let OriginResponse {
        upload,
        response,
        headers: origin_headers,
        to_head,
    } = origin;
    let status = response.status();
    let mut headers = forwarding::response_headers(&origin_headers, hooks);
    if !set_cookies.is_empty() {
        forwarding::keep_out_of_shared_caches(&mut headers);
    }
    for cookie in set_cookies {
        let Ok(value) = http::HeaderValue::from_str(&cookie) else {
            return fail(out, internal("invalid Set-Cookie"));
        };
        headers.append(http::header::SET_COOKIE, value);
    }
    let bodiless = to_head || status < 200 || status == 204 || status == 304;
    if bodiless {
        // No `body()` call: Spin sends the head alone, its `Content-Length` as the origin gave it.
        let relayed = match fields(&headers).map(OutgoingResponse::new) {
            Ok(relayed) => relayed,
            Err(error) => return fail(out, error),
        };
        if relayed.set_status_code(status).is_err() {
            return fail(out, internal("invalid status from origin"));
        }
        drop(upload);
        return out.set(relayed);
    }
    let Ok(source) = response.consume() else {
        return fail(out, internal("origin body consumed"));
    };
    let trailers_announced = origin_headers.contains_key(http::header::TRAILER);
    let relayed = relay_body(out, status, headers, source, trailers_announced);
    match upload {
        Some(upload) => poll::beside(relayed, upload).await,
        None => relayed.await,
    }
    drop(response);
}

/// How much of the origin's body is read ahead at most before the response starts.
const READ_AHEAD_BYTES: usize = 64 * 1024;
/// How long one read ahead waits for more: a body the origin has already sent arrives within
/// it, the host's HTTP client handing it over chunk by chunk. A streaming origin (server-sent
/// events, long polling) is not waited for beyond that.
const READ_AHEAD_WAIT_NS: u64 = 1_000_000;
/// The read-ahead as a whole ends by then, so an origin that trickles small chunks without
/// pause does not hold the response back until [`READ_AHEAD_BYTES`] have come.
const READ_AHEAD_TOTAL_NS: u64 = 5_000_000;
const READ_SIZE: u64 = 16 * 1024;

/// How the read-ahead ended.
enum Ahead {
    /// The origin's body ended.
    Ended,
    /// More may come: the response streams.
    More,
    /// The origin's body failed.
    Failed,
}

async fn relay_body(
    out: ResponseOutparam,
    status: u16,
    headers: HeaderMap,
    source: IncomingBody,
    trailers_announced: bool,
) {
    let Ok(input) = source.stream() else {
        return fail(out, internal("origin body not readable"));
    };
    // Not when the origin announces trailers (HTTP/2 may send them after such a body).
    let length = headers
        .get(http::header::CONTENT_LENGTH)
        .filter(|_| !trailers_announced)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let (ahead, how) = read_ahead(&input, length).await;
    match how {
        // All a `Content-Length` body has: out at once, without waiting for the host to
        // report the end.
        Ahead::More if length == Some(ahead.len()) => replies::whole(out, status, headers, &ahead),
        Ahead::Ended => {
            drop(input);
            match trailers(IncomingBody::finish(source)).await {
                Ok(None) => replies::whole(out, status, headers, &ahead),
                settled => stream(out, status, headers, ahead, None, Some(settled)).await,
            }
        }
        Ahead::Failed => stream(out, status, headers, ahead, None, Some(Err(()))).await,
        Ahead::More => stream(out, status, headers, ahead, Some((input, source)), None).await,
    }
}

/// Reads what has already come of a body, up to [`READ_AHEAD_BYTES`] (or `expected` bytes,
/// all a `Content-Length` body has), waiting for each read no longer than
/// [`READ_AHEAD_WAIT_NS`], for all of them no longer than [`READ_AHEAD_TOTAL_NS`].
async fn read_ahead(input: &InputStream, expected: Option<usize>) -> (Vec<u8>, Ahead) {
    let mut ahead: Vec<u8> = Vec::new();
    let total = poll::after(READ_AHEAD_TOTAL_NS);
    let how = loop {
        if ahead.len() >= READ_AHEAD_BYTES || Some(ahead.len()) == expected || monotonic_clock::now() >= total {
            break Ahead::More;
        }
        match input.read(READ_SIZE) {
            Ok(chunk) if !chunk.is_empty() => ahead.extend_from_slice(&chunk),
            Ok(_) => {
                let until = poll::after(READ_AHEAD_WAIT_NS).min(total);
                let more = pin!(ready(|| input.subscribe()));
                let wait = pin!(poll::sleep_until(until));
                if let Either::Right(_) = select(more, wait).await {
                    break Ahead::More;
                }
            }
            Err(StreamError::Closed) => break Ahead::Ended,
            Err(StreamError::LastOperationFailed(_)) => break Ahead::Failed,
        }
    };
    (ahead, how)
}

/// The response streamed: the head to Spin, what was read ahead, then the rest of the origin's
/// body (`rest`, unless it has ended) as it comes, and its trailers (`settled` when already
/// known). A body that fails is left unfinished, which aborts the response.
async fn stream(
    out: ResponseOutparam,
    status: u16,
    headers: HeaderMap,
    ahead: Vec<u8>,
    // The stream first: a child, it must be dropped before its body.
    rest: Option<(InputStream, IncomingBody)>,
    settled: Option<Result<Option<Trailers>, ()>>,
) {
    let relayed = match fields(&headers).map(OutgoingResponse::new) {
        Ok(relayed) => relayed,
        Err(error) => return fail(out, error),
    };
    if relayed.set_status_code(status).is_err() {
        return fail(out, internal("invalid status from origin"));
    }
    let Ok(sink) = relayed.body() else {
        return fail(out, internal("response body taken"));
    };
    out.set(relayed);
    let Ok(output) = sink.write() else { return };
    if write_all(&output, &ahead).await.is_err() {
        return;
    }
    let settled = match (settled, rest) {
        (Some(settled), _) => settled,
        (None, Some((input, source))) => {
            let copied = copy(&input, &output).await;
            drop(input);
            if copied.is_err() {
                return;
            }
            trailers(IncomingBody::finish(source)).await
        }
        (None, None) => Ok(None),
    };
    drop(output);
    if let Ok(trailers) = settled {
        let _ = OutgoingBody::finish(sink, trailers);
    }
}

/// A copy that stopped early: the source failed, or the sink went away.
struct Broken;

/// Copies `input` into `output` until `input` ends.
async fn copy(input: &InputStream, output: &OutputStream) -> Result<(), Broken> {
    loop {
        match input.read(READ_SIZE) {
            Ok(chunk) if chunk.is_empty() => ready(|| input.subscribe()).await,
            Ok(chunk) => write_all(output, &chunk).await?,
            Err(StreamError::Closed) => return Ok(()),
            Err(StreamError::LastOperationFailed(_)) => return Err(Broken),
        }
    }
}

async fn write_all(output: &OutputStream, mut bytes: &[u8]) -> Result<(), Broken> {
    while !bytes.is_empty() {
        match output.check_write() {
            Ok(0) => ready(|| output.subscribe()).await,
            Ok(budget) => {
                let n = bytes.len().min(budget.try_into().unwrap_or(usize::MAX));
                output.write(&bytes[..n]).map_err(|_| Broken)?;
                bytes = &bytes[n..];
            }
            Err(_) => return Err(Broken),
        }
    }
    Ok(())
}

/// A body's trailers once it has ended: `Err` when the body failed.
async fn trailers(future: FutureTrailers) -> Result<Option<Trailers>, ()> {
    loop {
        match future.get() {
            Some(Ok(Ok(trailers))) => return Ok(trailers),
            Some(_) => return Err(()),
            None => ready(|| future.subscribe()).await,
        }
    }
}

fn header_map(fields: &Fields) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in fields.entries() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_bytes(&value),
        ) {
            map.append(name, value);
        }
    }
    map
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
