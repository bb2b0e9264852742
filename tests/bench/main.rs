//! `cargo run --profile host -p session-gateway-tests --bin bench [-- --seconds N --connections N]`
//!
//! Drives HTTP load through the Spin-compatible host against a local origin and Redis, and
//! prints, side by side from one run: straight to the origin (the baseline), through the
//! gateway with a valid session, with an invalid cookie on a protected path, and on a public
//! path without a cookie; then the native cost of verifying one cookie and of parsing the
//! configuration (paid on every request, since Spin makes a fresh instance per request).
//!
//! Load generator, host, origin and Redis share this machine's cores: compare rows, not
//! absolute numbers.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use session_gateway_core::Config;
use session_gateway_core::cookie_codec::{CookieCodec, SignedCookieV1};
use session_gateway_core::keys::KeyRing;
use session_gateway_tests::sessions::{self, KEY_A};
use session_gateway_tests::{Gateway, Origin, RedisServer};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

struct Options {
    seconds: u64,
    connections: usize,
}

fn options() -> Options {
    let mut o = Options {
        seconds: 5,
        connections: 8,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse().ok());
        match (pair[0].as_str(), value) {
            ("--seconds", Some(v)) => o.seconds = v,
            ("--connections", Some(v)) => o.connections = v as usize,
            _ => {
                eprintln!("usage: bench [--seconds N] [--connections N]");
                std::process::exit(2);
            }
        }
    }
    o
}

struct Figures {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }
}

/// `connections` keep-alive connections, each sending `GET path` back to back for `seconds`.
async fn drive(addr: SocketAddr, path: &str, cookie: Option<&str>, expect: u16, o: &Options) -> Figures {
    let deadline = Instant::now() + Duration::from_secs(o.seconds);
    let start = Instant::now();
    let workers = (0..o.connections).map(|_| {
        let (path, cookie) = (path.to_owned(), cookie.map(str::to_owned));
        tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(conn);
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            while Instant::now() < deadline {
                let mut request = http::Request::get(path.as_str()).header("host", addr.to_string());
                if let Some(c) = &cookie {
                    request = request.header("cookie", format!("sgw_session={c}"));
                }
                let t = Instant::now();
                let response = sender
                    .send_request(request.body(Empty::<Bytes>::new()).expect("request"))
                    .await;
                match response {
                    Ok(r) if r.status().as_u16() == expect => {
                        let _ = r.into_body().collect().await;
                        latencies.push(t.elapsed());
                    }
                    Ok(r) => {
                        let _ = r.into_body().collect().await;
                        errors += 1;
                    }
                    Err(_) => {
                        errors += 1;
                        break;
                    }
                }
            }
            (latencies, errors)
        })
    });
    let mut figures = Figures {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for worker in futures::future::join_all(workers).await {
        let (latencies, errors) = worker.expect("worker");
        figures.requests += latencies.len();
        figures.errors += errors;
        figures.latencies.extend(latencies);
    }
    figures.elapsed = start.elapsed();
    figures.latencies.sort();
    figures
}

fn row(name: &str, f: &Figures) {
    println!(
        "{name:<44} {:>9.0} {:>9.3} {:>9.3} {:>8}",
        f.requests as f64 / f.elapsed.as_secs_f64(),
        f.percentile(0.50).as_secs_f64() * 1e3,
        f.percentile(0.99).as_secs_f64() * 1e3,
        f.errors
    );
}

fn per_call(iterations: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..iterations / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..iterations {
        f();
    }
    t.elapsed() / iterations
}

#[tokio::main]
async fn main() {
    let o = options();
    let redis = RedisServer::start();
    let origin = Origin::start_unrecorded().await;
    let (origin_url, redis_url) = (origin.url(), redis.url());
    let gateway = Gateway::start(&[
        ("origin_url", &origin_url),
        ("redis_address", &redis_url),
        ("session_keys", KEY_A),
        ("public_paths", "/pub"),
    ])
    .await;
    let cookie = sessions::create(
        &mut redis.connection().expect("redis"),
        "bench-user",
        serde_json::json!({"role": "user"}),
        KEY_A,
    );
    let invalid = format!("{}x", &cookie[..cookie.len() - 1]);

    let wasm = session_gateway_tests::workspace_root().join("target/wasm32-wasip2/release/session_gateway.wasm");
    let wasm_size = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
    println!(
        "session-gateway benchmark: {} s per row, {} keep-alive connections, {} cores",
        o.seconds,
        o.connections,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "component: {} ({} bytes, {:.1} KiB)\n",
        wasm.display(),
        wasm_size,
        wasm_size as f64 / 1024.0
    );
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>8}",
        "scenario", "req/s", "p50 ms", "p99 ms", "errors"
    );
    row(
        "origin direct (baseline)",
        &drive(origin.addr, "/app", None, 200, &o).await,
    );
    row(
        "gateway, valid session (1 Redis GET)",
        &drive(gateway.addr, "/app", Some(&cookie), 200, &o).await,
    );
    row(
        "gateway, invalid cookie, protected -> 401",
        &drive(gateway.addr, "/app", Some(&invalid), 401, &o).await,
    );
    row(
        "gateway, public path, no cookie",
        &drive(gateway.addr, "/pub/x", None, 200, &o).await,
    );
    row(
        "origin direct (baseline, again)",
        &drive(origin.addr, "/app", None, 200, &o).await,
    );

    let codec = SignedCookieV1::new(KeyRing::parse(KEY_A).expect("key"));
    let two_keys = SignedCookieV1::new(KeyRing::parse(&format!("{},{KEY_A}", sessions::KEY_B)).expect("keys"));
    println!();
    println!("native, per call:");
    println!(
        "  verify one cookie (1 key)          {:>8.2} µs",
        per_call(200_000, || assert!(codec.decode(&cookie).is_some())).as_secs_f64() * 1e6
    );
    println!(
        "  verify one cookie (2-key ring)     {:>8.2} µs",
        per_call(200_000, || assert!(two_keys.decode(&cookie).is_some())).as_secs_f64() * 1e6
    );
    println!(
        "  reject a tampered cookie           {:>8.2} µs",
        per_call(200_000, || assert!(codec.decode(&invalid).is_none())).as_secs_f64() * 1e6
    );
    let vars = [
        ("origin_url", origin_url.as_str()),
        ("redis_address", redis_url.as_str()),
        ("session_keys", KEY_A),
        ("public_paths", "/pub"),
    ];
    println!(
        "  parse the configuration            {:>8.2} µs",
        per_call(50_000, || {
            Config::parse(|n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())).expect("config");
        })
        .as_secs_f64()
            * 1e6
    );
}
