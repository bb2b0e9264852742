//! Serving the component over HTTP/1.1 the way `spin up` does: a fresh instance per
//! request, Spin's request headers added, and the response body streamed back while the
//! instance keeps running.

use crate::App;
use crate::outbound_http::OutboundHttp;
use crate::state::InstanceState;
use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;

type BoxBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// Accepts connections on `listener` until the task is dropped.
pub async fn serve(app: Arc<App>, listener: TcpListener) -> Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(respond(app, request, peer).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn respond(app: Arc<App>, request: http::Request<Incoming>, peer: SocketAddr) -> http::Response<BoxBody> {
    let Some(request) = prepare(&app, request, peer) else {
        return plain(http::StatusCode::NOT_FOUND, "Not Found");
    };
    match execute(app, request).await {
        Ok(response) => response,
        Err(error) => {
            // As in Spin: the component's error is logged and the client gets a bare 500.
            eprintln!("spin-host: component error handling request: {error:#}");
            plain(http::StatusCode::INTERNAL_SERVER_ERROR, "")
        }
    }
}

/// Routes the request and adds the headers Spin gives a component. `None`: no route matches.
fn prepare(app: &App, request: http::Request<Incoming>, peer: SocketAddr) -> Option<http::Request<Incoming>> {
    let route = app.manifest.route.as_str();
    let path = request.uri().path().to_owned();
    let (matched, path_info) = match route.strip_suffix("/...") {
        Some(prefix) if path == prefix || path.starts_with(&format!("{prefix}/")) => {
            (route, path[prefix.len()..].to_owned())
        }
        None if path == route => (route, String::new()),
        _ => return None,
    };
    let (mut parts, body) = request.into_parts();
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/".to_owned(), |pq| pq.as_str().to_owned());
    let full_url = format!("http://{host}{path_and_query}");
    if let Ok(uri) = full_url.parse() {
        parts.uri = uri;
    }
    let base = matched.strip_suffix("/...").unwrap_or(matched);
    let headers = [
        ("spin-full-url", full_url.clone()),
        ("spin-path-info", path_info),
        ("spin-matched-route", matched.to_owned()),
        ("spin-base-path", "/".to_owned()),
        ("spin-raw-component-route", matched.to_owned()),
        ("spin-component-route", base.to_owned()),
        ("spin-client-addr", peer.to_string()),
    ];
    // As Spin does (crates/trigger-http/src/headers.rs, `strip_forbidden_headers` and
    // `prepare_request_headers`; wasi.rs, `prepare_request`): `Connection` is removed, and
    // Spin's headers are appended after the client's, so a client's copies come first.
    parts.headers.remove(http::header::CONNECTION);
    for (name, value) in headers {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            parts.headers.append(name, value);
        }
    }
    Some(http::Request::from_parts(parts, body))
}

async fn execute(app: Arc<App>, request: http::Request<Incoming>) -> Result<http::Response<BoxBody>> {
    let state = InstanceState {
        table: ResourceTable::new(),
        wasi: app.wasi_ctx(),
        http: WasiHttpCtx::new(),
        outbound_http: OutboundHttp {
            allowed: Arc::new(app.allowed_hosts.clone()),
        },
        app: app.clone(),
    };
    let mut store = Store::new(&app.engine, state);
    let service = app.pre.instantiate_async(&mut store).await?;

    let request = request.map(|body| {
        body.map_err(|e| ErrorCode::InternalError(Some(e.to_string())))
            .boxed_unsync()
    });
    let (request, request_io) = wasmtime_wasi_http::p3::Request::from_http(request);

    let (response_tx, response_rx) = oneshot::channel();
    tokio::spawn(async move {
        let result = store
            .run_concurrent(async move |accessor| -> Result<()> {
                let response = service
                    .handle(accessor, request)
                    .await?
                    .map_err(|code| anyhow::anyhow!("{code:?}"))?;
                let response = accessor.with(|mut access| response.into_http(&mut access, request_io))?;
                // The instance must keep running until the client has the whole body.
                let (done_tx, done_rx) = oneshot::channel::<()>();
                let _ = response_tx.send(response.map(|body| BodyWithAttachment {
                    body,
                    _attachment: done_tx,
                }));
                let _ = done_rx.await;
                Ok(())
            })
            .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("spin-host: component error handling request: {error:#}"),
            Err(error) => eprintln!("spin-host: component error handling request: {error:#}"),
        }
    });
    let response = response_rx.await.context("the component returned no response")?;
    Ok(response.map(|body| {
        body.map_err(|code| std::io::Error::other(format!("{code:?}")))
            .boxed_unsync()
    }))
}

fn plain(status: http::StatusCode, text: &'static str) -> http::Response<BoxBody> {
    let mut response = http::Response::new(
        Full::new(Bytes::from_static(text.as_bytes()))
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
}

/// A body that holds `_attachment` until hyper is done with it (read to the end or dropped).
struct BodyWithAttachment<B, A> {
    body: B,
    _attachment: A,
}

impl<B: http_body::Body + Unpin, A: Unpin> http_body::Body for BodyWithAttachment<B, A> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
