//! Turns the core's replies into WASI responses.

use session_gateway_core::replies::Reply;
use spin_sdk::http::{FullBody, IntoResponse};
use spin_sdk::wasip3::http::types::{ErrorCode, Response};

pub fn to_wasi(reply: Reply) -> Result<Response, ErrorCode> {
    let mut builder = http::Response::builder().status(reply.status);
    for (name, value) in reply.headers {
        builder = builder.header(name, value);
    }
    builder
        .body(FullBody::new(bytes::Bytes::from(reply.body)))
        .map_err(|e| ErrorCode::InternalError(Some(e.to_string())))?
        .into_response()
}
