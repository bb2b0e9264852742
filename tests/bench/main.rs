//! `cargo run --profile host -p session-gateway-tests --bin bench [-- --seconds N --connections N]`
//!
//! Drives HTTP load through the Spin-compatible host against a local origin and Redis, and
//! prints, side by side from one run: straight to the origin (the baseline), the floor
//! components of both worlds (`tests/floor`, `tests/floor-p2`: one outbound Redis GET and one
//! forward, the least this design does for an authenticated request), and through the gateway with a valid session (variables from `SPIN_VARIABLE_*`, from `--variable`, and
//! from the shipped runtime config; with and without a sliding refresh due), with an invalid
//! cookie on a protected path, on a public path without a cookie, for a login and for a
//! logout; for each gateway row, the Redis connections and round trips, the variable
//! lookups (and those that reached Spin's environment provider) and the component
//! instances per request, as the host counted them. Then keep-alive latency as a browser
//! sees it (one connection, requests one after the other) against an origin that never
//! stalls by itself. Then the native cost of verifying one cookie and of parsing the
//! whole configuration.
//!
//! Load generator, host, origin and Redis share this machine's cores: compare rows, not
//! absolute numbers.

use session_gateway_core::Config;
use session_gateway_core::cookie_codec::{CookieCodec, SessionId, SignedCookieV1};
use session_gateway_core::express::ExpressCookie;
use session_gateway_core::laravel::LaravelCookie;
use session_gateway_tests::spring_sessions;

/// An `APP_KEY` as `php artisan key:generate` writes them.
const LARAVEL_APP_KEY: &str = "base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
use session_gateway_core::keys::KeyRing;
use session_gateway_core::redis_layout;
use session_gateway_core::session::SessionRecordV1;
use session_gateway_tests::gateway::World;
use session_gateway_tests::load::{self, Figures, Load, Next, drive, ms};
use session_gateway_tests::sessions::{self, KEY_A};
use session_gateway_tests::{Gateway, Origin, RedisServer, SteadyOrigin, VariableStyle};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
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

/// What the host counted for a gateway: Redis (connections made, calls: outbound Redis and
/// the key-value store's pool together), variable (lookups, environment lookups), component
/// instances.
type Counts = ((u64, u64), (u64, u64), u64);

fn counts(gateway: &Gateway) -> Counts {
    let app = &gateway.app;
    let (opens, calls) = app.redis_stats.snapshot();
    let kv = &app.key_value.stats;
    (
        (
            opens + kv.connections.load(Ordering::Relaxed),
            calls + kv.calls.load(Ordering::Relaxed),
        ),
        app.variables.stats.snapshot(),
        app.instances.load(Ordering::Relaxed),
    )
}

fn row(name: &str, f: &Figures, counted: Option<(Counts, Counts)>) {
    let per_request = |before: u64, after: u64| (after - before) as f64 / (f.requests + f.errors).max(1) as f64;
    let cells: Vec<String> = match counted {
        Some((((o0, c0), (l0, e0), i0), ((o1, c1), (l1, e1), i1))) => [
            per_request(o0, o1),
            per_request(c0, c1),
            per_request(l0, l1),
            per_request(e0, e1),
            per_request(i0, i1),
        ]
        .iter()
        .map(|v| format!("{v:.2}"))
        .collect(),
        None => vec!["-".into(); 5],
    };
    println!(
        "{name:<38} {:>8.0} {:>8.3} {:>8.3} {:>7} {:>9} {:>9} {:>8} {:>8} {:>9}",
        f.requests as f64 / f.elapsed.as_secs_f64(),
        f.percentile(0.50).as_secs_f64() * 1e3,
        f.percentile(0.99).as_secs_f64() * 1e3,
        f.errors,
        cells[0],
        cells[1],
        cells[2],
        cells[3],
        cells[4],
    );
}

/// Keep-alive latency as a browser sees it: one connection, `n` requests one after the other.
async fn keepalive_row(name: &str, addr: SocketAddr, path: &str, headers: &[(&str, &str)], n: usize) {
    // A row's figures are read whatever the status: each scenario's is checked by the tests.
    let k = load::keepalive(addr, path, headers, n, http::StatusCode::OK)
        .await
        .expect("sequential requests");
    println!(
        "{name:<44} {:>8.3} {:>8.3} {:>8.3} {:>8}",
        ms(k.at(0.5)),
        ms(k.at(0.9)),
        ms(k.at(1.0)),
        k.over(load::KEEPALIVE_SLOW)
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

/// A session as express-session and connect-redis write it; returns its cookie value.
fn express_session(redis: &mut redis::Connection, secret: &str) -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("random");
    let id = SessionId::parse(&base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        bytes,
    ))
    .expect("an id");
    let record = serde_json::json!({
        "cookie": {"originalMaxAge": 86_400_000, "expires": "2100-01-01T00:00:00.000Z", "httpOnly": true, "path": "/"},
        "passport": {"user": "bench-user"},
        "role": "user",
    });
    redis::cmd("SET")
        .arg(format!("sess:{}", id.as_str()))
        .arg(record.to_string())
        .arg("EX")
        .arg(86_400)
        .query::<()>(redis)
        .expect("SET");
    ExpressCookie::new(KeyRing::parse_with_minimum(secret, 1).expect("secret")).encode(&id)
}

/// A session as Flask-Session writes it (its JSON serialization; unsigned cookie, the
/// extension's default); returns its cookie value.
fn flask_session(redis: &mut redis::Connection) -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("random");
    let id = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
    let record = serde_json::json!({"_permanent": true, "_user_id": "bench-user", "_fresh": true, "role": "user"});
    redis::cmd("SET")
        .arg(format!("session:{id}"))
        .arg(record.to_string())
        .arg("EX")
        .arg(86_400)
        .query::<()>(redis)
        .expect("SET");
    id
}

/// A session as Django's cache backend pickles it (protocol 5, as CPython writes
/// `{"_auth_user_id": "1", "role": "user"}`); returns its cookie value.
fn django_session(redis: &mut redis::Connection) -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("random");
    let key: String = bytes
        .iter()
        .map(|b| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[usize::from(*b) % 36]))
        .collect();
    let pickle = b"\x80\x05}\x94(\x8c\x0d_auth_user_id\x94\x8c\x011\x94\x8c\x04role\x94\x8c\x04user\x94u.";
    redis::cmd("SET")
        .arg(format!(":1:django.contrib.sessions.cache{key}"))
        .arg(&pickle[..])
        .arg("EX")
        .arg(86_400)
        .query::<()>(redis)
        .expect("SET");
    key
}

/// A session as PHP's php serialize handler writes it through phpredis, with a 26-character
/// id of 5 bits (php.ini-production's); returns its cookie value.
fn php_session(redis: &mut redis::Connection) -> String {
    let mut bytes = [0u8; 26];
    getrandom::fill(&mut bytes).expect("random");
    let id: String = bytes
        .iter()
        .map(|b| char::from(b"0123456789abcdefghijklmnopqrstuv"[usize::from(*b) % 32]))
        .collect();
    redis::cmd("SET")
        .arg(format!("PHPREDIS_SESSION:{id}"))
        .arg(r#"user_id|s:10:"bench-user";role|s:4:"user";"#)
        .arg("EX")
        .arg(86_400)
        .query::<()>(redis)
        .expect("SET");
    id
}

/// A session as Laravel's Redis driver writes it (Laravel 13's key layout, the value
/// serialized twice), and its cookie encrypted with `app_key`; returns the cookie value.
fn laravel_session(redis: &mut redis::Connection, app_key: &str) -> String {
    let mut bytes = [0u8; 40];
    getrandom::fill(&mut bytes).expect("random");
    let id: String = bytes
        .iter()
        .map(|b| char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[usize::from(*b) % 62]))
        .collect();
    let inner = format!(
        r#"a:3:{{s:6:"_token";s:40:"{id}";s:50:"{user_key}";s:10:"bench-user";s:4:"role";s:4:"user";}}"#,
        user_key = &session_gateway_core::laravel::DEFAULT_USER_POINTER[1..]
    );
    redis::cmd("SET")
        .arg(format!("{}{id}", session_gateway_core::laravel::DEFAULT_KEY_PREFIX))
        .arg(format!("s:{}:\"{inner}\";", inner.len()))
        .arg("EX")
        .arg(86_400)
        .query::<()>(redis)
        .expect("SET");
    let codec = LaravelCookie::new(session_gateway_core::laravel::DEFAULT_COOKIE_NAME, app_key).expect("APP_KEY");
    codec.encode(&SessionId::parse(&id).expect("an id"))
}

/// A Spring Session hash with Java-serialized values; returns its cookie (`SESSION=...`).
fn spring_session(redis: &mut redis::Connection) -> String {
    let id = "5e0c4a8f-2d1b-4c3e-9f7a-6b5d4c3b2a19";
    spring_sessions::store(
        redis,
        id,
        0,
        86_400,
        &[
            (
                spring_sessions::PRINCIPAL_NAME,
                spring_sessions::jdk_string("bench-user"),
            ),
            ("role", spring_sessions::jdk_string("user")),
        ],
    );
    spring_sessions::cookie(id)
}

fn with_cookie(path: &str, cookie: &str, extra: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
    let mut headers = vec![("cookie".to_owned(), format!("sgw_session={cookie}"))];
    headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    (path.to_owned(), headers)
}

#[tokio::main]
async fn main() {
    let o = options();
    let load = Load {
        connections: o.connections,
        duration: Duration::from_secs(o.seconds),
    };
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
    let flags = Gateway::start_styled(&vars, VariableStyle::Flags).await;
    let floor_manifest = session_gateway_tests::gateway::ensure_floor_built(World::P3);
    let floor = Gateway::start_from(&floor_manifest, &vars[..2]).await;
    // The 0.2 build's own baseline: a fresh instance per request, as the gateway's 0.2 rows.
    let floor_p2_manifest = session_gateway_tests::gateway::ensure_floor_built(World::P2);
    let floor_p2 = Gateway::start_from(&floor_p2_manifest, &vars[..2]).await;
    let runtime_config = Gateway::start_styled(&vars, VariableStyle::RuntimeConfig).await;
    let key_value = Gateway::start_reading_key_value(&vars, &redis_url).await;
    let mut express_vars = vars.to_vec();
    express_vars.retain(|(k, _)| *k != "session_keys");
    express_vars.extend([("session_format", "express"), ("session_keys", "keyboard cat")]);
    let express = Gateway::start_styled(&express_vars, VariableStyle::RuntimeConfig).await;
    let mut flask_vars = vars.to_vec();
    flask_vars.extend([("session_format", "flask")]);
    let flask = Gateway::start_styled(&flask_vars, VariableStyle::RuntimeConfig).await;
    let mut django_vars = vars.to_vec();
    django_vars.extend([("session_format", "django")]);
    let django = Gateway::start_styled(&django_vars, VariableStyle::RuntimeConfig).await;
    let mut php_vars = vars.to_vec();
    php_vars.extend([("session_format", "php")]);
    let php = Gateway::start_styled(&php_vars, VariableStyle::RuntimeConfig).await;
    let mut laravel_vars = vars.to_vec();
    laravel_vars.retain(|(k, _)| *k != "session_keys");
    laravel_vars.extend([("session_format", "laravel"), ("session_keys", LARAVEL_APP_KEY)]);
    let laravel = Gateway::start_styled(&laravel_vars, VariableStyle::RuntimeConfig).await;
    let mut spring_vars = vars.to_vec();
    spring_vars.extend([("session_format", "spring")]);
    let spring = Gateway::start_styled(&spring_vars, VariableStyle::RuntimeConfig).await;
    let mut conn = redis.connection().expect("redis");
    let cookie = sessions::create(&mut conn, "bench-user", serde_json::json!({"role": "user"}), KEY_A);
    let express_cookie = express_session(&mut conn, "keyboard cat");
    let flask_cookie = flask_session(&mut conn);
    let django_cookie = django_session(&mut conn);
    let php_cookie = php_session(&mut conn);
    let laravel_cookie = laravel_session(&mut conn, LARAVEL_APP_KEY);
    let spring_cookie = spring_session(&mut conn);
    let mut invalid = cookie.clone().into_bytes();
    let i = invalid.len() - 5;
    invalid[i] = if invalid[i] == b'A' { b'B' } else { b'A' };
    let invalid = String::from_utf8(invalid).expect("ascii");
    let pool = (o.seconds as usize * 8000).max(10_000);
    let due = many_sessions(&mut conn, pool, Some(600_000));
    let to_end = many_sessions(&mut conn, pool, None);

    // The build under test follows `SGW_TEST_WORLD` (unset: spin.toml, the 0.2 build); the
    // key-value rows are always the 0.3 build, the only one that takes key-value reads.
    let world = session_gateway_tests::gateway::world();
    let wasm = spin_host::Manifest::load(&session_gateway_tests::gateway::manifest_path())
        .expect("the manifest loads")
        .source;
    let wasm_size = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "session-gateway benchmark: {} s per row, {} keep-alive connections, {cores} cores",
        o.seconds, o.connections
    );
    println!(
        "component ({world:?}, SGW_TEST_WORLD=p2|p3 to choose; key-value rows: P3): {} ({wasm_size} bytes, {:.1} KiB)\n",
        wasm.display(),
        wasm_size as f64 / 1024.0
    );
    println!(
        "{:<38} {:>8} {:>8} {:>8} {:>7} {:>9} {:>9} {:>8} {:>8} {:>9}",
        "scenario", "req/s", "p50 ms", "p99 ms", "errors", "redis", "redis", "vars", "env vars", "instances"
    );
    println!(
        "{:<38} {:>8} {:>8} {:>8} {:>7} {:>9} {:>9} {:>8} {:>8} {:>9}",
        "", "", "", "", "", "conn/req", "calls/req", "/req", "/req", "/req"
    );

    let (c, i) = (cookie.clone(), invalid.clone());
    let (c2, c3, c4) = (cookie.clone(), cookie.clone(), cookie.clone());
    let (c5, c6, c7) = (express_cookie.clone(), flask_cookie.clone(), django_cookie.clone());
    let (c8, c9, c10) = (php_cookie.clone(), laravel_cookie.clone(), spring_cookie.clone());
    let scenarios: Vec<(&str, SocketAddr, Next, u16)> = vec![
        (
            "origin direct (baseline)",
            origin.addr,
            Box::new(|_| Some(("/app".into(), vec![]))),
            200,
        ),
        (
            "floor 0.3: one Redis GET + one forward",
            floor.addr,
            Box::new(|_| Some(("/app".into(), vec![]))),
            200,
        ),
        (
            "floor 0.2: the same, wasi:http 0.2",
            floor_p2.addr,
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
            "  same, variables by --variable",
            flags.addr,
            Box::new(move |_| Some(with_cookie("/app", &c2, &[]))),
            200,
        ),
        (
            "  same, variables by runtime config",
            runtime_config.addr,
            Box::new(move |_| Some(with_cookie("/app", &c3, &[]))),
            200,
        ),
        (
            "  same, + key-value reads",
            key_value.addr,
            Box::new(move |_| Some(with_cookie("/app", &c4, &[]))),
            200,
        ),
        (
            "  same, session_format = express",
            express.addr,
            Box::new(move |_| {
                Some((
                    String::from("/app"),
                    vec![("cookie".into(), format!("connect.sid={c5}"))],
                ))
            }),
            200,
        ),
        (
            "  same, session_format = flask",
            flask.addr,
            Box::new(move |_| Some((String::from("/app"), vec![("cookie".into(), format!("session={c6}"))]))),
            200,
        ),
        (
            "  same, session_format = django",
            django.addr,
            Box::new(move |_| Some((String::from("/app"), vec![("cookie".into(), format!("sessionid={c7}"))]))),
            200,
        ),
        (
            "  same, session_format = php",
            php.addr,
            Box::new(move |_| Some((String::from("/app"), vec![("cookie".into(), format!("PHPSESSID={c8}"))]))),
            200,
        ),
        (
            "  same, session_format = laravel",
            laravel.addr,
            Box::new(move |_| {
                Some((
                    String::from("/app"),
                    vec![("cookie".into(), format!("laravel-session={c9}"))],
                ))
            }),
            200,
        ),
        (
            "  same, session_format = spring",
            spring.addr,
            Box::new(move |_| Some((String::from("/app"), vec![("cookie".into(), c10.clone())]))),
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
    let gateways = [
        &gateway,
        &flags,
        &runtime_config,
        &key_value,
        &express,
        &flask,
        &django,
        &php,
        &laravel,
        &spring,
        &floor,
        &floor_p2,
    ];
    for (name, addr, next, expect) in &scenarios {
        let measured = gateways.iter().find(|g| g.addr == *addr);
        let before = measured.map(|g| counts(g));
        let figures = drive(*addr, next, *expect, load).await;
        let counted = measured.zip(before).map(|(g, before)| (before, counts(g)));
        row(name, &figures, counted);
    }

    // Keep-alive latency, against an origin that never stalls by itself.
    let steady = SteadyOrigin::start().await;
    let steady_url = steady.url();
    let mut steady_vars = vars;
    steady_vars[0] = ("origin_url", steady_url.as_str());
    let steady_gateway = Gateway::start_styled(&steady_vars, VariableStyle::RuntimeConfig).await;
    let (n, c) = (1000, format!("sgw_session={cookie}"));
    println!("\nkeep-alive, one connection, {n} requests one after the other (runtime config):");
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>8}",
        "scenario", "p50 ms", "p90 ms", "max ms", ">10 ms"
    );
    keepalive_row("origin direct, Content-Length", steady.addr, "/sized", &[], n).await;
    keepalive_row("origin direct, chunked", steady.addr, "/chunked", &[], n).await;
    let addr = steady_gateway.addr;
    keepalive_row("gateway 401 (its own reply)", addr, "/app", &[], n).await;
    keepalive_row("public path, origin Content-Length", addr, "/pub/sized", &[], n).await;
    keepalive_row("public path, origin chunked", addr, "/pub/chunked", &[], n).await;
    keepalive_row(
        "valid session, origin Content-Length",
        addr,
        "/sized",
        &[("cookie", &c)],
        n,
    )
    .await;
    keepalive_row("valid session, origin chunked", addr, "/chunked", &[("cookie", &c)], n).await;
    let steady_key_value = Gateway::start_reading_key_value(&steady_vars, &redis_url).await;
    let addr = steady_key_value.addr;
    keepalive_row(
        "valid session, Content-Length, key-value reads",
        addr,
        "/sized",
        &[("cookie", &c)],
        n,
    )
    .await;
    let floor_steady = Gateway::start_from(&floor_manifest, &steady_vars[..2]).await;
    keepalive_row("floor 0.3, origin Content-Length", floor_steady.addr, "/sized", &[], n).await;
    let floor_p2_steady = Gateway::start_from(&floor_p2_manifest, &steady_vars[..2]).await;
    keepalive_row(
        "floor 0.2, origin Content-Length",
        floor_p2_steady.addr,
        "/sized",
        &[],
        n,
    )
    .await;

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
