//! Outbound HTTP as Spin gives it: only to `allowed_outbound_hosts` (otherwise the call fails
//! with `HttpRequestDenied`), and plain-HTTP connections pooled across requests as Spin pools
//! them. HTTPS goes through wasmtime's default client, one connection per request.

use crate::allowed_hosts::AllowedHosts;
use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::sync::{Arc, OnceLock};
use wasmtime_wasi::TrappableError;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p3::{RequestOptions, WasiHttpHooks, default_send_request};

pub struct OutboundHttp {
    pub allowed: Arc<AllowedHosts>,
}

type Body = UnsyncBoxBody<Bytes, ErrorCode>;
type IoFuture = Box<dyn Future<Output = Result<(), ErrorCode>> + Send>;
type SendResult = Result<(http::Response<Body>, IoFuture), TrappableError<ErrorCode>>;

/// One connection pool for the whole process, as Spin keeps one per application.
fn pooled_client() -> &'static Client<HttpConnector, Body> {
    static CLIENT: OnceLock<Client<HttpConnector, Body>> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Client::builder(TokioExecutor::new()).build(connector)
    })
}

fn error_code(error: hyper_util::client::legacy::Error) -> ErrorCode {
    if error.is_connect() {
        ErrorCode::ConnectionRefused
    } else {
        ErrorCode::InternalError(Some(error.to_string()))
    }
}

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<Body>,
        options: Option<RequestOptions>,
        fut: IoFuture,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let _ = fut;
        let uri = request.uri();
        let allowed = match (uri.scheme_str(), uri.host()) {
            (Some(scheme), Some(host)) => self.allowed.allows(scheme, host, uri.port_u16()),
            _ => false,
        };
        let plain_http = uri.scheme() == Some(&http::uri::Scheme::HTTP);
        Box::new(async move {
            if !allowed {
                return Err(ErrorCode::HttpRequestDenied.into());
            }
            if !plain_http {
                let (response, io) = default_send_request(request, options).await?;
                return Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as IoFuture));
            }
            // The pool's connections outlive one request, so the guest's connect and first-byte
            // timeouts bound the whole wait for the response head.
            let limit = options.and_then(|o| match (o.connect_timeout, o.first_byte_timeout) {
                (Some(c), Some(f)) => Some(c + f),
                (c, f) => c.or(f),
            });
            let pending = pooled_client().request(request);
            let response = match limit {
                Some(limit) => tokio::time::timeout(limit, pending)
                    .await
                    .map_err(|_| ErrorCode::HttpResponseTimeout)?,
                None => pending.await,
            }
            .map_err(error_code)?;
            let response = response.map(|body| {
                body.map_err(|e| ErrorCode::InternalError(Some(e.to_string())))
                    .boxed_unsync()
            });
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

/// The same rule for wasi:http 0.2 components: only `allowed_outbound_hosts`. Plain HTTP is
/// not pooled here (one connection per request, wasmtime's default client).
impl wasmtime_wasi_http::p2::WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::p2::body::HyperOutgoingBody>,
        config: wasmtime_wasi_http::p2::types::OutgoingRequestConfig,
    ) -> wasmtime_wasi_http::p2::HttpResult<wasmtime_wasi_http::p2::types::HostFutureIncomingResponse> {
        let uri = request.uri();
        let allowed = match (uri.scheme_str(), uri.host()) {
            (Some(scheme), Some(host)) => self.allowed.allows(scheme, host, uri.port_u16()),
            _ => false,
        };
        if !allowed {
            return Err(wasmtime_wasi_http::p2::bindings::http::types::ErrorCode::HttpRequestDenied.into());
        }
        Ok(wasmtime_wasi_http::p2::default_send_request(request, config))
    }
}
