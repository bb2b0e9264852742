//! Whole responses into Spin's `ResponseOutparam`: the core's replies, and relayed bodies that
//! had wholly arrived.

use http::HeaderMap;
use session_gateway_core::replies::Reply;
use spin_sdk::http::{ErrorCode, Fields, OutgoingBody, OutgoingResponse, ResponseOutparam};

/// The headers wasmtime and Spin refuse in `Fields` (the whole response would fail). The
/// flow's header functions never let them through; this is the last line, should a future
/// origin or reply header slip past.
const FORBIDDEN: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
    "http2-settings",
];

pub fn fields(map: &HeaderMap) -> Result<Fields, ErrorCode> {
    let entries: Vec<(String, Vec<u8>)> = map
        .iter()
        .filter(|(name, _)| !FORBIDDEN.contains(&name.as_str()))
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect();
    Fields::from_list(&entries).map_err(|e| internal(&format!("header rejected: {e:?}")))
}

pub fn internal(message: &str) -> ErrorCode {
    ErrorCode::InternalError(Some(message.to_owned()))
}

/// Spin answers 500 for the component.
pub fn fail(out: ResponseOutparam, error: ErrorCode) {
    spin_sdk::wit::wasi::http0_2_0::types::ResponseOutparam::set(out.into_inner(), Err(error));
}

pub fn respond(out: ResponseOutparam, reply: Reply) {
    let mut headers = HeaderMap::new();
    for (name, value) in reply.headers {
        match (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            (Ok(name), Ok(value)) => {
                headers.append(name, value);
            }
            _ => return fail(out, internal("invalid reply header")),
        }
    }
    whole(out, reply.status.as_u16(), headers, &reply.body);
}

/// A response whose body is all here: sent with `Content-Length`, the body written and
/// finished before the response is handed to Spin, so that hyper finds head and body ready
/// together and writes them at once. Written after, the body would go in a second small write
/// that Nagle's algorithm holds until the client's delayed ACK (about 40 ms per response on a
/// keep-alive connection).
pub fn whole(out: ResponseOutparam, status: u16, mut headers: HeaderMap, body: &[u8]) {
    headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(body.len()));
    let response = match fields(&headers).map(OutgoingResponse::new) {
        Ok(response) => response,
        Err(error) => return fail(out, error),
    };
    if response.set_status_code(status).is_err() {
        return fail(out, internal("invalid status"));
    }
    let Ok(outgoing) = response.body() else {
        return fail(out, internal("response body taken"));
    };
    let Ok(stream) = outgoing.write() else {
        return fail(out, internal("response body not writable"));
    };
    // The host buffers one write of up to its chunk size (1 MiB by default) before anyone
    // reads: the body goes in that write. A larger one (never a reply, nor a read-ahead) is
    // written once Spin reads, which is after `set`.
    let fits = body.is_empty() || stream.check_write().is_ok_and(|n| n >= body.len() as u64);
    if fits {
        if !body.is_empty() && stream.write(body).is_err() {
            return fail(out, internal("response body not written"));
        }
        drop(stream);
        if OutgoingBody::finish(outgoing, None).is_err() {
            return fail(out, internal("response body not finished"));
        }
        out.set(response);
        return;
    }
    out.set(response);
    for chunk in body.chunks(4096) {
        // At most 4096 bytes a call; blocking is fine here, Spin is reading.
        if stream.blocking_write_and_flush(chunk).is_err() {
            return; // the client went away: the body is aborted when dropped
        }
    }
    drop(stream);
    let _ = OutgoingBody::finish(outgoing, None);
}
