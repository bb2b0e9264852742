//! A plain HTTP/1.1 client over TCP (hyper), one connection per request, so every test
//! talks to the gateway the way a browser or curl would.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use tokio::net::TcpStream;

#[derive(Debug)]
pub struct Reply {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `request` (a path-only URI is fine) to `addr` and reads the whole reply.
pub async fn send<B>(addr: SocketAddr, request: http::Request<B>) -> anyhow::Result<Reply>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut request = request;
    if !request.headers().contains_key(http::header::HOST) {
        request
            .headers_mut()
            .insert(http::header::HOST, addr.to_string().parse()?);
    }
    let response = sender.send_request(request).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// A GET of `path` with extra `headers`.
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut builder = http::Request::get(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    send(addr, builder.body(Full::new(Bytes::new())).expect("request"))
        .await
        .expect("the gateway answers")
}

/// Sends `count` GETs of `path` one after the other on one keep-alive connection, as a
/// browser does; returns each one's status and time to the end of its body.
pub async fn sequential(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    count: usize,
) -> anyhow::Result<Vec<(http::StatusCode, std::time::Duration)>> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let mut builder = http::Request::get(path).header(http::header::HOST, addr.to_string());
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let started = std::time::Instant::now();
        sender.ready().await?;
        let response = sender.send_request(builder.body(Full::new(Bytes::new()))?).await?;
        let status = response.status();
        response.into_body().collect().await?;
        out.push((status, started.elapsed()));
    }
    Ok(out)
}
