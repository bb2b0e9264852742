//! `demo-origin ADDR`: a tiny origin for trying the gateway. It answers every request with
//! JSON saying what reached it: method, path and the headers the gateway sets.

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let service = service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                let headers: serde_json::Map<String, serde_json::Value> = req
                    .headers()
                    .iter()
                    .filter(|(n, _)| n.as_str().starts_with("x-"))
                    .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                    .collect();
                let body = serde_json::json!({ "method": req.method().as_str(), "path": req.uri().to_string(), "headers": headers });
                let body = Bytes::from(serde_json::to_vec_pretty(&body).unwrap_or_default());
                let response = http::Response::builder()
                    .header("content-type", "application/json")
                    .header("content-length", body.len())
                    .body(Full::new(body))
                    .expect("response");
                Ok::<_, Infallible>(response)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
