//! A real HTTP origin that records every request that reaches it.
//!
//! Paths: `/echo...` answers with the request body; `/status/<code>` answers with that
//! status; `/stream/<bytes>` streams that many bytes (chunked); `.../drip` streams a chunk,
//! pauses, then sends the rest; `/hop` answers with
//! hop-by-hop headers; `/hang` never answers; `/reflect...` sets response headers the request asks for (see
//! `answer`); anything else answers `200 ok`. A request header `x-origin-delay-ms: N`
//! delays any answer by N ms. Every answer carries `x-origin: 1`
//! and two `x-multi` values.

use bytes::Bytes;
use futures::StreamExt;
use http::HeaderMap;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Per value of the `x-soak` request header: (requests, requests that carried `x-session-user`).
pub type Tally = Arc<Mutex<std::collections::BTreeMap<String, (u64, u64)>>>;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: http::Method,
    pub uri: http::Uri,
    pub headers: http::HeaderMap,
    pub body_len: usize,
    pub body_sha256: String,
}

pub struct Origin {
    pub addr: SocketAddr,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    record: bool,
    tally: Tally,
    task: JoinHandle<()>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The deterministic byte pattern `/stream/<n>` sends.
/// How long `/drip` pauses between its two chunks.
pub const DRIP_PAUSE_MS: u64 = 500;

pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

impl Origin {
    pub async fn start() -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").await.expect("bind origin"), true).await
    }

    /// An origin that keeps no record (for load: memory stays flat).
    pub async fn start_unrecorded() -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").await.expect("bind origin"), false).await
    }

    async fn start_on(listener: TcpListener, record: bool) -> Self {
        let addr = listener.local_addr().expect("origin addr");
        let recorded: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let tally: Tally = Arc::default();
        let rec = recorded.clone();
        let counts = tally.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (rec, counts) = (rec.clone(), counts.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: http::Request<Incoming>| {
                        let rec = rec.clone();
                        if let Some(tag) = req.headers().get("x-soak").and_then(|v| v.to_str().ok()) {
                            let mut counts = counts.lock().expect("lock");
                            let entry = counts.entry(tag.to_owned()).or_default();
                            entry.0 += 1;
                            entry.1 += u64::from(req.headers().contains_key("x-session-user"));
                        }
                        async move { Ok::<_, Infallible>(answer(req, record.then_some(rec)).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            recorded,
            record,
            tally,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        assert!(self.record, "this origin keeps no record");
        self.recorded.lock().expect("lock").clone()
    }

    /// Requests by their `x-soak` tag: (count, count with an identity header).
    pub fn tally(&self) -> std::collections::BTreeMap<String, (u64, u64)> {
        self.tally.lock().expect("lock").clone()
    }

    /// Requests whose path is `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.uri.path() == path).collect()
    }

    /// Stops accepting connections (the port then refuses them).
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    req: http::Request<Incoming>,
    rec: Option<Arc<Mutex<Vec<Recorded>>>>,
) -> http::Response<BoxBody<Bytes, Infallible>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    if let Some(rec) = rec {
        rec.lock().expect("lock").push(Recorded {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
            body_len: body.len(),
            body_sha256: sha256_hex(&body),
        });
    }
    let path = parts.uri.path().to_owned();
    if path == "/hang" {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
    if let Some(ms) = parts
        .headers
        .get("x-origin-delay-ms")
        .and_then(|v| v.to_str().ok()?.parse().ok())
    {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let mut builder = http::Response::builder()
        .header("x-origin", "1")
        .header("x-multi", "a")
        .header("x-multi", "b");
    let full = |b: Bytes| Full::new(b).boxed();
    if path.starts_with("/echo") {
        builder = builder.header("content-length", body.len());
        return builder.body(full(body)).expect("response");
    }
    if let Some(code) = path.strip_prefix("/status/") {
        let status = code
            .parse::<u16>()
            .ok()
            .and_then(|c| http::StatusCode::from_u16(c).ok())
            .unwrap_or(http::StatusCode::BAD_REQUEST);
        return builder
            .status(status)
            .body(full(Bytes::from(format!("status {code}"))))
            .expect("response");
    }
    if let Some(n) = path.strip_prefix("/stream/") {
        let n: usize = n.parse().unwrap_or(0);
        let data = pattern(n);
        let chunks: Vec<Result<Frame<Bytes>, Infallible>> = data
            .chunks(64 * 1024)
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        return builder
            .body(BodyExt::boxed(StreamBody::new(futures::stream::iter(chunks))))
            .expect("response");
    }
    if path.ends_with("/drip") {
        // A streaming origin: a first chunk, a pause, the rest (then a trailer, which hyper
        // sends only to a client that asked with `TE: trailers`).
        let frames = futures::stream::iter([0u64, 1, 2]).then(|i| async move {
            match i {
                0 => Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"first,"))),
                1 => {
                    tokio::time::sleep(std::time::Duration::from_millis(DRIP_PAUSE_MS)).await;
                    Ok(Frame::data(Bytes::from_static(b"second")))
                }
                _ => {
                    let mut trailers = HeaderMap::new();
                    trailers.insert("x-checksum", http::HeaderValue::from_static("abc"));
                    Ok(Frame::trailers(trailers))
                }
            }
        });
        return builder.body(BodyExt::boxed(StreamBody::new(frames))).expect("response");
    }
    if path.starts_with("/reflect") {
        // `x-reflect-<name>: v` asks for a response header `<name>: v` (how tests make the origin
        // set session hooks). A naive app also reflects any `x-sgw-*` request header it gets.
        for (name, value) in &parts.headers {
            if let Some(target) = name.as_str().strip_prefix("x-reflect-") {
                builder = builder.header(target, value);
            } else if name.as_str().starts_with("x-sgw-") {
                builder = builder.header(name, value);
            }
        }
        return builder
            .header("content-length", "2")
            .body(full(Bytes::from_static(b"ok")))
            .expect("response");
    }
    if path == "/hop" {
        builder = builder
            .header("connection", "x-conn-listed")
            .header("x-conn-listed", "secret")
            .header("keep-alive", "timeout=5")
            .header("proxy-authenticate", "Basic")
            .header("x-kept", "yes")
            .header("content-length", "3");
        return builder.body(full(Bytes::from_static(b"hop"))).expect("response");
    }
    builder
        .header("content-length", "2")
        .body(full(Bytes::from_static(b"ok")))
        .expect("response")
}
