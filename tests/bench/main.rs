//! `cargo run --profile host -p session-gateway-tests --bin bench [-- --seconds N --connections N]`
//!
//! Drives HTTP load through the Spin-compatible host against a local origin and Redis, and
//! prints, side by side from one run: straight to the origin (the baseline), and through the
//! gateway with a valid session (with and without a sliding refresh due), with an invalid
//! cookie on a protected path, on a public path without a cookie, for a login and for a
//! logout; for each gateway row, the Redis connections and round trips per request as the
//! host counted them. Then the native cost of verifying one cookie and of parsing the
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
use session_gateway_core::redis_layout;
use session_gateway_core::session::SessionRecordV1;
use session_gateway_tests::sessions::{self, KEY_A};
use session_gateway_tests::{Gateway, Origin, RedisServer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
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
        self.latencies[((self.latencies.len() as f64 - 1.0) * p).round() as usize]
    }
}

/// A scenario's request number `i`: path and extra headers; `None` once it has run out.
type Next = Box<dyn Fn(usize) -> Option<(String, Vec<(String, String)>)> + Sync>;

/// `connections` keep-alive connections, each sending requests back to back for `seconds`.
async fn drive(addr: SocketAddr, next: &Next, expect: u16, o: &Options) -> Figures {
    let deadline = Instant::now() + Duration::from_secs(o.seconds);
    let start = Instant::now();
    let counter = AtomicUsize::new(0);
    let workers = (0..o.connections).map(|_| async {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let (mut latencies, mut errors) = (Vec::new(), 0usize);
        while Instant::now() < deadline {
            let Some((path, headers)) = next(counter.fetch_add(1, Ordering::Relaxed)) else {
                break;
            };
            let mut request = http::Request::get(path.as_str()).header("host", addr.to_string());
            for (name, value) in &headers {
                request = request.header(name, value);
            }
            let t = Instant::now();
            if sender.ready().await.is_err() {
                errors += 1;
                break;
            }
            match sender
                .send_request(request.body(Empty::<Bytes>::new()).expect("request"))
                .await
            {
                Ok(response) => {
                    let ok = response.status().as_u16() == expect;
                    let _ = response.into_body().collect().await;
                    if ok {
                        latencies.push(t.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                Err(_) => {
                    errors += 1;
                    break;
                }
            }
        }
        (latencies, errors)
    });
    let mut figures = Figures {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for (latencies, errors) in futures::future::join_all(workers).await {
        figures.requests += latencies.len();
        figures.errors += errors;
        figures.latencies.extend(latencies);
    }
    figures.elapsed = start.elapsed();
    figures.latencies.sort();
    figures
}

fn row(name: &str, f: &Figures, redis: Option<((u64, u64), (u64, u64))>) {
    let per_request = |before: u64, after: u64| (after - before) as f64 / (f.requests + f.errors).max(1) as f64;
    let (opens, calls) = match redis {
        Some(((o0, c0), (o1, c1))) => (
            format!("{:.2}", per_request(o0, o1)),
            format!("{:.2}", per_request(c0, c1)),
        ),
        None => ("-".into(), "-".into()),
    };
    println!(
        "{name:<36} {:>8.0} {:>8.3} {:>8.3} {:>7} {:>9} {:>9}",
        f.requests as f64 / f.elapsed.as_secs_f64(),
        f.percentile(0.50).as_secs_f64() * 1e3,
        f.percentile(0.99).as_secs_f64() * 1e3,
        f.errors,
        opens,
        calls,
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

/// `n` indexed sessions (as the gateway's login writes them), created in one pipeline;
/// with `pttl_ms`, their TTL is lowered so that a sliding refresh is due.
fn many_sessions(redis: &mut redis::Connection, n: usize, pttl_ms: Option<u64>) -> Vec<String> {
    let now = sessions::now();
    let mut pipe = redis::pipe();
    let mut cookies = Vec::with_capacity(n);
    for i in 0..n {
        let user = format!("bench-{}", i % 1000);
        let id = sessions::new_id_for(&user);
        let record = SessionRecordV1::new(user.as_str(), Default::default(), now, 86_400);
        let key = redis_layout::session_key(sessions::PREFIX, &id);
        pipe.cmd("EVAL")
            .arg(redis_layout::LOGIN)
            .arg(2)
            .arg(&key)
            .arg(redis_layout::user_index_key(sessions::PREFIX, &user))
            .arg(record.to_json())
            .arg(1800)
            .arg(id.as_str())
            .arg(record.expires_at)
            .arg(now)
            .ignore();
        if let Some(ms) = pttl_ms {
            pipe.cmd("PEXPIRE").arg(&key).arg(ms).ignore();
        }
        cookies.push(sessions::cookie_for(&id, KEY_A));
    }
    pipe.query::<()>(redis).expect("creating sessions");
    cookies
}

fn with_cookie(path: &str, cookie: &str, extra: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
    let mut headers = vec![("cookie".to_owned(), format!("sgw_session={cookie}"))];
    headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    (path.to_owned(), headers)
}

#[tokio::main]
async fn main() {
    let o = options();
    let redis = RedisServer::start();
    let origin = Origin::start_unrecorded().await;
    let (origin_url, redis_url) = (origin.url(), redis.url());
    let vars = [
        ("origin_url", origin_url.as_str()),
        ("redis_address", redis_url.as_str()),
        ("session_keys", KEY_A),
        ("public_paths", "/pub,/reflect/public"),
    ];
    let gateway = Gateway::start(&vars).await;
    let mut conn = redis.connection().expect("redis");
    let cookie = sessions::create(&mut conn, "bench-user", serde_json::json!({"role": "user"}), KEY_A);
    let mut invalid = cookie.clone().into_bytes();
    let i = invalid.len() - 5;
    invalid[i] = if invalid[i] == b'A' { b'B' } else { b'A' };
    let invalid = String::from_utf8(invalid).expect("ascii");
    let pool = (o.seconds as usize * 8000).max(10_000);
    let due = many_sessions(&mut conn, pool, Some(600_000));
    let to_end = many_sessions(&mut conn, pool, None);

    let wasm = session_gateway_tests::workspace_root().join("target/wasm32-wasip2/release/session_gateway.wasm");
    let wasm_size = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "session-gateway benchmark: {} s per row, {} keep-alive connections, {cores} cores",
        o.seconds, o.connections
    );
    println!(
        "component: {} ({wasm_size} bytes, {:.1} KiB)\n",
        wasm.display(),
        wasm_size as f64 / 1024.0
    );
    println!(
        "{:<36} {:>8} {:>8} {:>8} {:>7} {:>9} {:>9}",
        "scenario", "req/s", "p50 ms", "p99 ms", "errors", "redis", "redis"
    );
    println!(
        "{:<36} {:>8} {:>8} {:>8} {:>7} {:>9} {:>9}",
        "", "", "", "", "", "conn/req", "calls/req"
    );

    let (c, i) = (cookie.clone(), invalid.clone());
    let scenarios: Vec<(&str, SocketAddr, Next, u16)> = vec![
        (
            "origin direct (baseline)",
            origin.addr,
            Box::new(|_| Some(("/app".into(), vec![]))),
            200,
        ),
        (
            "valid session, no refresh due",
            gateway.addr,
            Box::new(move |_| Some(with_cookie("/app", &c, &[]))),
            200,
        ),
        (
            "valid session, refresh due",
            gateway.addr,
            Box::new(move |n| due.get(n).map(|c| with_cookie("/app", c, &[]))),
            200,
        ),
        (
            "invalid cookie -> 401",
            gateway.addr,
            Box::new(move |_| Some(with_cookie("/app", &i, &[]))),
            401,
        ),
        (
            "public path, no cookie",
            gateway.addr,
            Box::new(|_| Some(("/pub/x".into(), vec![]))),
            200,
        ),
        (
            "login (origin hook)",
            gateway.addr,
            Box::new(|n| {
                let login = format!(r#"{{"user_id":"login-{}"}}"#, n % 1000);
                Some(("/reflect/public".into(), vec![("x-reflect-x-sgw-login".into(), login)]))
            }),
            200,
        ),
        (
            "logout (origin hook)",
            gateway.addr,
            Box::new(move |n| {
                to_end
                    .get(n)
                    .map(|c| with_cookie("/reflect/app", c, &[("x-reflect-x-sgw-logout", "1")]))
            }),
            200,
        ),
        (
            "origin direct (baseline, again)",
            origin.addr,
            Box::new(|_| Some(("/app".into(), vec![]))),
            200,
        ),
    ];
    for (name, addr, next, expect) in &scenarios {
        let before = gateway.app.redis_stats.snapshot();
        let figures = drive(*addr, next, *expect, &o).await;
        let counted = (*addr == gateway.addr).then(|| (before, gateway.app.redis_stats.snapshot()));
        row(name, &figures, counted);
    }

    let codec = SignedCookieV1::new(KeyRing::parse(KEY_A).expect("key"));
    let two_keys = SignedCookieV1::new(KeyRing::parse(&format!("{},{KEY_A}", sessions::KEY_B)).expect("keys"));
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    println!("\nnative, per call:");
    println!(
        "  verify one cookie (1 key)       {:>8.2} µs",
        micros(per_call(200_000, || assert!(codec.decode(&cookie).is_some())))
    );
    println!(
        "  verify one cookie (2-key ring)  {:>8.2} µs",
        micros(per_call(200_000, || assert!(two_keys.decode(&cookie).is_some())))
    );
    println!(
        "  reject a tampered cookie        {:>8.2} µs",
        micros(per_call(200_000, || assert!(codec.decode(&invalid).is_none())))
    );
    let lookup = |n: &str| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string());
    println!(
        "  parse the configuration         {:>8.2} µs",
        micros(per_call(50_000, || drop(Config::parse(lookup).expect("config"))))
    );
}
