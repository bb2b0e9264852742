//! Outbound HTTP as Spin gives it: only to `allowed_outbound_hosts`, otherwise the call
//! fails with `HttpRequestDenied`.

use crate::allowed_hosts::AllowedHosts;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use std::sync::Arc;
use wasmtime_wasi::TrappableError;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p3::{RequestOptions, WasiHttpHooks, default_send_request};

pub struct OutboundHttp {
    pub allowed: Arc<AllowedHosts>,
}

type Body = UnsyncBoxBody<Bytes, ErrorCode>;
type IoFuture = Box<dyn Future<Output = Result<(), ErrorCode>> + Send>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<Body>,
        options: Option<RequestOptions>,
        fut: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<Body>, IoFuture), TrappableError<ErrorCode>>> + Send> {
        let _ = fut;
        let uri = request.uri();
        let allowed = match (uri.scheme_str(), uri.host()) {
            (Some(scheme), Some(host)) => self.allowed.allows(scheme, host, uri.port_u16()),
            _ => false,
        };
        Box::new(async move {
            use http_body_util::BodyExt;
            if !allowed {
                return Err(ErrorCode::HttpRequestDenied.into());
            }
            let (response, io) = default_send_request(request, options).await?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as IoFuture))
        })
    }
}
