//! Serving the component over HTTP/1.1 the way `spin up` does: through wasmtime's
//! `ProxyHandler`, which reuses instances as Spin's does, with Spin's request headers added
//! and the response body streamed back while the instance keeps running.

use crate::App;
use crate::outbound_http::OutboundHttp;
use crate::state::InstanceState;
use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use wasmtime::component::{GuestTaskId, ResourceTable};
use wasmtime::{Store, StoreContextMut};
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::handler::{
    self, HandlerState, Instance, Proxy, ProxyHandler, ProxyPre, ShouldAccept, ViewFn, WorkerExpiration, WorkerState,
    WorkerStatus,
};
use wasmtime_wasi_http::p3::WasiHttpView;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;

type BoxBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// Accepts connections on `listener` until the task is dropped.
pub async fn serve(app: Arc<App>, listener: TcpListener) -> Result<()> {
    let handler = ProxyHandler::new(Instances { app: app.clone() });
    loop {
        // No TCP_NODELAY: Spin's listener leaves Nagle's algorithm on
        // (crates/trigger-http/src/server.rs), so a response written in small pieces can wait
        // for the client's delayed ACK there; here too, so that the tests see it.
        let (stream, peer) = listener.accept().await?;
        let (app, handler) = (app.clone(), handler.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let (app, handler) = (app.clone(), handler.clone());
                async move { Ok::<_, Infallible>(respond(&app, &handler, request, peer).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn respond(
    app: &Arc<App>,
    handler: &ProxyHandler<Instances>,
    request: http::Request<Incoming>,
    peer: SocketAddr,
) -> http::Response<BoxBody> {
    let Some(request) = prepare(app, request, peer) else {
        return plain(http::StatusCode::NOT_FOUND, "Not Found");
    };
    let executed = if app.is_wasi_http_0_2() {
        execute_p2(app, request).await
    } else {
        execute(handler, request).await
    };
    match executed {
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

/// Instance reuse as Spin (main) configures it for wasi:http 0.3 components
/// (crates/trigger-http/src/lib.rs): up to 128 requests per instance, 16 at a time, and an
/// idle instance kept for a second.
const MAX_INSTANCE_REUSE: usize = 128;
const MAX_INSTANCE_CONCURRENT_REUSE: usize = 16;
const IDLE_INSTANCE_TIMEOUT: Duration = Duration::from_secs(1);

/// Makes instances for wasmtime's `ProxyHandler`, as Spin's `HttpHandlerState` does
/// (crates/trigger-http/src/server.rs).
pub struct Instances {
    pub app: Arc<App>,
}

impl HandlerState for Instances {
    type StoreData = InstanceState;
    type WorkerExpiration = IdleExpiration;
    type WorkerState = Reuse;

    async fn instantiate(&self) -> wasmtime::Result<Instance<InstanceState, IdleExpiration, Reuse>> {
        let app = self.app.clone();
        let mut store = Store::new(&app.engine, instance_state(&app));
        let service = match &app.pre {
            ProxyPre::P3(pre) => pre.instantiate_async(&mut store).await?,
            ProxyPre::P2(_) => wasmtime::bail!("wasi:http 0.2 components are served by `execute_p2`"),
        };
        app.instances.fetch_add(1, Ordering::Relaxed);
        Ok(Instance {
            store,
            proxy: Proxy::P3(service),
            view: ViewFn::P3(|state: &mut InstanceState| state.http()),
            expiration: IdleExpiration {
                sleep: Box::pin(tokio::time::sleep(Duration::MAX)),
            },
            state: Reuse,
        })
    }
}

fn instance_state(app: &Arc<App>) -> InstanceState {
    InstanceState {
        table: ResourceTable::new(),
        wasi: app.wasi_ctx(),
        http: WasiHttpCtx::new(),
        outbound_http: OutboundHttp {
            allowed: Arc::new(app.allowed_hosts.clone()),
        },
        app: app.clone(),
    }
}

/// A wasi:http 0.2 component as Spin runs one (its `WasiHttpExecutor`): a fresh instance for
/// each request, called on a task of its own that outlives the response head while the
/// guest writes the body.
async fn execute_p2(app: &Arc<App>, request: http::Request<Incoming>) -> Result<http::Response<BoxBody>> {
    let ProxyPre::P2(pre) = &app.pre else {
        anyhow::bail!("not a wasi:http 0.2 component");
    };
    let mut store = Store::new(&app.engine, instance_state(app));
    let proxy = pre.instantiate_async(&mut store).await?;
    app.instances.fetch_add(1, Ordering::Relaxed);
    let request = request.map(|body| {
        body.map_err(|e| wasmtime_wasi_http::p2::bindings::http::types::ErrorCode::InternalError(Some(e.to_string())))
    });
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let (incoming, outparam) = {
        let mut http = wasmtime_wasi_http::p2::WasiHttpView::http(store.data_mut());
        let incoming =
            http.new_incoming_request(wasmtime_wasi_http::p2::bindings::http::types::Scheme::Http, request)?;
        (incoming, http.new_response_outparam(sender)?)
    };
    let task = tokio::spawn(async move {
        let called = proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, incoming, outparam)
            .await;
        if let Err(error) = &called {
            eprintln!("spin-host: component instance failed: {error:?}");
        }
        called
    });
    match receiver.await {
        Ok(Ok(response)) => {
            Ok(response.map(|body| body.map_err(|e| std::io::Error::other(format!("{e:?}"))).boxed_unsync()))
        }
        Ok(Err(code)) => Err(anyhow::anyhow!("the component answered with an error: {code:?}")),
        Err(_) => match task.await {
            Ok(Err(error)) => Err(error.into()),
            _ => Err(anyhow::anyhow!("the component returned without a response")),
        },
    }
}

/// An idle instance is dropped after [`IDLE_INSTANCE_TIMEOUT`]; requests have no deadline
/// (Spin's default `request_timeout` is none).
pub struct IdleExpiration {
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl WorkerExpiration for IdleExpiration {
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>, status: WorkerStatus, start: Instant) -> Poll<()> {
        if status != WorkerStatus::Idle {
            return Poll::Pending;
        }
        let deadline = tokio::time::Instant::from_std(start + IDLE_INSTANCE_TIMEOUT);
        if self.sleep.deadline() != deadline {
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

pub struct Reuse;

impl WorkerState for Reuse {
    type StoreData = InstanceState;
    type RequestId = ();

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if total >= MAX_INSTANCE_REUSE {
            ShouldAccept::Never
        } else if concurrent >= MAX_INSTANCE_CONCURRENT_REUSE {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        _: StoreContextMut<'_, InstanceState>,
        _: (),
        _: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync + 'static>> {
        Box::pin(std::future::pending())
    }

    fn drop(&self, store: Store<InstanceState>, result: wasmtime::Result<()>) {
        if let Err(error) = result {
            eprintln!("spin-host: component instance failed: {error:?}");
        }
        drop(store);
    }
}

async fn execute(
    handler: &ProxyHandler<Instances>,
    request: http::Request<Incoming>,
) -> Result<http::Response<BoxBody>> {
    let request = request.map(|body| {
        body.map_err(|e| handler::ErrorCode::from(ErrorCode::InternalError(Some(e.to_string()))))
            .boxed_unsync()
    });
    let response = handler.handle((), request).await?;
    Ok(response.map(|body| body.map_err(|e| std::io::Error::other(format!("{e:?}"))).boxed_unsync()))
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
