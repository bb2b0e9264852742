//! `cargo run --profile host -p session-gateway-tests --bin spin-check -- --spin PATH [--from MANIFEST]`
//!
//! End-to-end checks of the gateway under a real `spin up` (not this project's host), against
//! a real `redis-server` and real origins. Prints one line per check and exits non-zero if any
//! failed. `--from` is relative to the workspace root unless absolute (default `spin.toml`).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use session_gateway_tests::client::{Reply, send};
use session_gateway_tests::load::{self, ms};
use session_gateway_tests::origin::DRIP_PAUSE_MS;
use session_gateway_tests::sessions::{self, KEY_A};
use session_gateway_tests::spin::{self, SpinProcess};
use session_gateway_tests::{Origin, RedisServer, SteadyOrigin, workspace_root};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bound on any one exchange: the 0.2 build once hung on a pausing body under wasmtime 47, and
/// a hang must show up as a FAIL, not as a stuck run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A response that waited for a delayed ACK takes about 40 ms on Linux; one that did not,
/// a few milliseconds at most.
const STALL: Duration = Duration::from_millis(30);
const KEEPALIVE_REQUESTS: usize = 200;
const UPLOAD_BYTES: usize = 200_000;
const USER: &str = "kim";

struct Check {
    id: &'static str,
    name: &'static str,
    pass: bool,
    detail: String,
}

impl Check {
    fn new(id: &'static str, name: &'static str, pass: bool, detail: impl Into<String>) -> Self {
        let check = Self {
            id,
            name,
            pass,
            detail: detail.into(),
        };
        // Printed as it completes, so a run that stalls later still shows what it measured.
        println!(
            "{} {:<3} {}: {}",
            if check.pass { "PASS" } else { "FAIL" },
            check.id,
            check.name,
            check.detail
        );
        check
    }
}

/// A request bounded by [`REQUEST_TIMEOUT`]; errors and timeouts become text for the report.
async fn exchange<B>(addr: SocketAddr, request: http::Request<B>) -> Result<Reply, String>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match tokio::time::timeout(REQUEST_TIMEOUT, send(addr, request)).await {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(error)) => Err(format!("request failed: {error:#}")),
        Err(_) => Err(format!("no complete reply within {REQUEST_TIMEOUT:?}")),
    }
}

async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Result<Reply, String> {
    let mut builder = http::Request::get(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    exchange(addr, builder.body(Empty::<Bytes>::new()).expect("request")).await
}

fn status_of(reply: &Result<Reply, String>) -> String {
    match reply {
        Ok(reply) => reply.status.as_u16().to_string(),
        Err(error) => error.clone(),
    }
}

/// A GET whose body frames are timed from the request's start, so a relay that holds the
/// first chunk back until the origin finishes shows up. Returns what arrived even on timeout.
async fn timed_frames(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Result<TimedBody, String> {
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let mut builder = http::Request::get(path).header("host", addr.to_string());
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT;
    let request = builder.body(Empty::<Bytes>::new()).expect("request");
    let response = match tokio::time::timeout_at(deadline, sender.send_request(request)).await {
        Ok(response) => response.map_err(|e| e.to_string())?,
        Err(_) => return Err(format!("no response head within {REQUEST_TIMEOUT:?}")),
    };
    let mut timed = TimedBody {
        status: response.status().as_u16(),
        chunks: Vec::new(),
        complete: false,
    };
    let mut body = response.into_body();
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Ok(timed),
            Ok(None) => break,
            Ok(Some(frame)) => {
                if let Ok(data) = frame.map_err(|e| e.to_string())?.into_data() {
                    timed.chunks.push((started.elapsed(), data));
                }
            }
        }
    }
    timed.complete = true;
    Ok(timed)
}

struct TimedBody {
    status: u16,
    chunks: Vec<(Duration, Bytes)>,
    complete: bool,
}

impl TimedBody {
    fn text(&self) -> String {
        let bytes: Vec<u8> = self.chunks.iter().flat_map(|(_, b)| b.to_vec()).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// When the bytes "first," had all arrived.
    fn first_at(&self) -> Option<Duration> {
        let mut seen = Vec::new();
        self.chunks.iter().find_map(|(at, b)| {
            seen.extend_from_slice(b);
            seen.starts_with(b"first,").then_some(*at)
        })
    }
}

async fn check_drip(id: &'static str, name: &'static str, addr: SocketAddr, path: &str, cookie: &str) -> Check {
    let headers: &[(&str, &str)] = if cookie.is_empty() { &[] } else { &[("cookie", cookie)] };
    let limit = Duration::from_millis(DRIP_PAUSE_MS / 2);
    match timed_frames(addr, path, headers).await {
        Err(error) => Check::new(id, name, false, error),
        Ok(body) => {
            let first = body.first_at();
            let arrivals: Vec<String> = body
                .chunks
                .iter()
                .map(|(at, b)| format!("{:?}@{}ms", String::from_utf8_lossy(b), at.as_millis()))
                .collect();
            let pass = body.status == 200
                && body.complete
                && body.text() == "first,second"
                && first.is_some_and(|t| t < limit);
            let ending = if body.complete {
                "complete".to_owned()
            } else {
                format!("INCOMPLETE after {REQUEST_TIMEOUT:?}")
            };
            let first = first.map_or("never".to_owned(), |t| format!("{} ms", t.as_millis()));
            Check::new(
                id,
                name,
                pass,
                format!(
                    "status {}, \"first,\" at {first} (limit {} ms, origin pauses {DRIP_PAUSE_MS} ms), body {:?} {ending}; chunks [{}]",
                    body.status,
                    limit.as_millis(),
                    body.text(),
                    arrivals.join(", ")
                ),
            )
        }
    }
}

async fn check_keepalive(id: &'static str, name: &'static str, addr: SocketAddr, path: &str, cookie: &str) -> Check {
    let headers = [("cookie", cookie)];
    // One request first on its own connection: an instance's first request reads Spin's
    // variables (a blocking lookup each), a one-off cost that is not the stall measured here.
    let _ = get(addr, path, &headers).await;
    let run = tokio::time::timeout(
        REQUEST_TIMEOUT * 4,
        load::keepalive(addr, path, &headers, KEEPALIVE_REQUESTS, http::StatusCode::OK),
    )
    .await;
    let measured = match run {
        Ok(Ok(measured)) => measured,
        Ok(Err(error)) => return Check::new(id, name, false, format!("connection failed: {error:#}")),
        Err(_) => {
            return Check::new(
                id,
                name,
                false,
                format!("{KEEPALIVE_REQUESTS} requests took over {:?}", REQUEST_TIMEOUT * 4),
            );
        }
    };
    let (not_ok, slow) = (measured.unexpected, measured.over(STALL));
    Check::new(
        id,
        name,
        not_ok == 0 && slow == 0,
        format!(
            "{KEEPALIVE_REQUESTS} requests on one connection: p50 {:.2} ms, p90 {:.2} ms, max {:.2} ms; {slow} over {} ms; {not_ok} not 200",
            ms(measured.at(0.5)),
            ms(measured.at(0.9)),
            ms(measured.at(1.0)),
            STALL.as_millis()
        ),
    )
}

/// `cookie` with one base64url character of its tag changed (not the last one, whose low
/// bits are padding: a change there alone could decode to the same tag).
fn tampered(cookie: &str) -> String {
    let mut bytes = cookie.as_bytes().to_vec();
    let i = bytes.len() - 5;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ascii")
}

/// The components' `source`s, so the report says which build was loaded.
fn sources(manifest: &Path) -> String {
    let Ok(doc) = std::fs::read_to_string(manifest).map(|t| t.parse::<toml::Table>()) else {
        return "unreadable manifest".into();
    };
    let components = doc
        .ok()
        .and_then(|d| d.get("component").and_then(|c| c.as_table()).cloned());
    components
        .map(|c| {
            c.values()
                .filter_map(|v| v.get("source").and_then(|s| s.as_str()).map(str::to_owned))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

struct Run {
    spin: PathBuf,
    manifest: PathBuf,
    dir: PathBuf,
}

impl Run {
    /// A `spin up` in a fresh subdirectory `name` of the run's directory, with the common
    /// variables and `extra` (names in the manifest's spelling).
    async fn spin(&self, name: &str, origin: &str, redis: &str, extra: &[(&str, &str)]) -> Result<SpinProcess, String> {
        let mut env = vec![
            ("origin_url", origin),
            ("redis_address", redis),
            ("redis_allowed_hosts", redis),
            ("session_keys", KEY_A),
            ("public_paths", "/pub"),
            ("cookie_secure", "false"),
        ];
        env.extend_from_slice(extra);
        SpinProcess::start(&self.spin, &self.manifest, self.dir.join(name), &env).await
    }

    async fn checks(&self) -> Vec<Check> {
        let mut out = Vec::new();
        // Persisted at every write, so the session made before the kill in check 8 is still
        // there after the restart and the same cookie can be admitted again.
        let redis_dir = self.dir.join("redis");
        std::fs::create_dir_all(&redis_dir).expect("redis dir");
        let redis_dir = redis_dir.display().to_string();
        let mut redis = RedisServer::start_with(&[
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            &redis_dir,
        ]);
        let origin = Origin::start().await;
        let (o, r) = (origin.url(), redis.url());
        let spin = match self.spin("main", &o, &r, &[]).await {
            Ok(spin) => spin,
            Err(error) => return vec![Check::new("0", "spin up", false, error)],
        };
        let addr = spin.addr;
        let value = sessions::create(
            &mut redis.connection().expect("redis"),
            USER,
            serde_json::json!({}),
            KEY_A,
        );
        let cookie = format!("sgw_session={value}");
        let reached = |path: &str| origin.requests_to(path).len();

        let reply = get(addr, "/c1/private", &[]).await;
        out.push(Check::new(
            "1",
            "no cookie -> 401, origin not reached",
            reply.as_ref().is_ok_and(|r| r.status == 401) && reached("/c1/private") == 0,
            format!("status {}, origin saw {}", status_of(&reply), reached("/c1/private")),
        ));

        let reply = get(addr, "/pub/x", &[]).await;
        out.push(Check::new(
            "2",
            "public path /pub/x -> 200 via origin",
            reply.as_ref().is_ok_and(|r| r.status == 200 && r.text() == "ok") && reached("/pub/x") == 1,
            format!("status {}, origin saw {}", status_of(&reply), reached("/pub/x")),
        ));

        let reply = get(addr, "/c3/app", &[("cookie", &cookie), ("x-session-user", "mallory")]).await;
        let seen: Vec<String> = origin
            .requests_to("/c3/app")
            .iter()
            .flat_map(|r| {
                r.headers
                    .get_all("x-session-user")
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        out.push(Check::new(
            "3",
            "session -> 200, origin gets the session's user, not the client's",
            reply.as_ref().is_ok_and(|r| r.status == 200) && reached("/c3/app") == 1 && seen == [USER],
            format!(
                "status {}, origin saw x-session-user {seen:?} (client sent \"mallory\")",
                status_of(&reply)
            ),
        ));

        let forged = format!("sgw_session={}", tampered(&value));
        let reply = get(addr, "/c4/app", &[("cookie", &forged)]).await;
        out.push(Check::new(
            "4",
            "tampered cookie -> 401, origin not reached",
            reply.as_ref().is_ok_and(|r| r.status == 401) && reached("/c4/app") == 0,
            format!("status {}, origin saw {}", status_of(&reply), reached("/c4/app")),
        ));

        out.push(check_drip("5a", "streaming, public /pub/drip", addr, "/pub/drip", "").await);
        out.push(check_drip("5b", "streaming, session /drip", addr, "/drip", &cookie).await);

        let upload = Bytes::from(session_gateway_tests::origin::pattern(UPLOAD_BYTES));
        let request = http::Request::post("/echo/upload")
            .header("cookie", &cookie)
            .body(Full::new(upload.clone()))
            .expect("request");
        let reply = exchange(addr, request).await;
        let recorded = origin.requests_to("/echo/upload");
        let origin_len = recorded.first().map(|r| r.body_len);
        out.push(Check::new(
            "6",
            "POST /echo/upload 200,000 bytes with session -> 200, echoed whole",
            reply.as_ref().is_ok_and(|r| r.status == 200 && r.body == upload) && origin_len == Some(UPLOAD_BYTES),
            format!(
                "status {}, origin received {origin_len:?} bytes, echo {} bytes (equal: {})",
                status_of(&reply),
                reply.as_ref().map_or(0, |r| r.body.len()),
                reply.as_ref().is_ok_and(|r| r.body == upload)
            ),
        ));

        // An origin that never stalls a keep-alive client itself (TCP_NODELAY, one write per
        // response): any delay measured comes from Spin and the gateway.
        let steady = SteadyOrigin::start().await;
        match self.spin("keepalive", &steady.url(), &r, &[]).await {
            Ok(spin) => {
                out.push(
                    check_keepalive(
                        "7a",
                        "keep-alive, session, Content-Length",
                        spin.addr,
                        "/sized",
                        &cookie,
                    )
                    .await,
                );
                out.push(check_keepalive("7b", "keep-alive, session, chunked", spin.addr, "/chunked", &cookie).await);
            }
            Err(error) => out.push(Check::new("7", "keep-alive", false, error)),
        }

        redis.stop();
        let down = get(addr, "/c8/down", &[("cookie", &cookie)]).await;
        let down_ok = down.as_ref().is_ok_and(|r| r.status == 503) && reached("/c8/down") == 0;
        redis.restart();
        let restarted = Instant::now();
        // Allowed a few seconds, and the wait reported: Spin opens a new Redis connection per
        // request, so the first request after the restart is expected to succeed.
        let mut up = get(addr, "/c8/up", &[("cookie", &cookie)]).await;
        let mut attempts = 1;
        while !up.as_ref().is_ok_and(|r| r.status == 200) && restarted.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            up = get(addr, "/c8/up", &[("cookie", &cookie)]).await;
            attempts += 1;
        }
        out.push(Check::new(
            "8",
            "Redis down -> 503, origin not reached; restarted -> 200",
            down_ok && up.as_ref().is_ok_and(|r| r.status == 200),
            format!(
                "down: status {}, origin saw {}; restarted: status {} after {attempts} attempt(s), {} ms",
                status_of(&down),
                reached("/c8/down"),
                status_of(&up),
                restarted.elapsed().as_millis()
            ),
        ));
        drop(spin);

        match self.spin("bad-config", &o, &r, &[("idle_timeout", "abc")]).await {
            Ok(bad) => {
                let reply = get(bad.addr, "/c9/app", &[("cookie", &cookie)]).await;
                // Component stderr reaches Spin's output and its log file asynchronously.
                let deadline = Instant::now() + Duration::from_secs(3);
                let mut logged = bad.output();
                while !logged.contains("idle_timeout") && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    logged = bad.output();
                }
                let line = logged
                    .lines()
                    .find(|l| l.contains("idle_timeout"))
                    .unwrap_or("(no line names idle_timeout)")
                    .trim()
                    .to_owned();
                out.push(Check::new(
                    "9",
                    "idle_timeout=abc -> 500, output names idle_timeout",
                    reply.as_ref().is_ok_and(|r| r.status == 500)
                        && reached("/c9/app") == 0
                        && logged.contains("idle_timeout"),
                    format!(
                        "status {}, origin saw {}; log: {line}",
                        status_of(&reply),
                        reached("/c9/app")
                    ),
                ));
            }
            Err(error) => out.push(Check::new("9", "invalid configuration", false, error)),
        }
        out
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: spin-check --spin PATH [--from MANIFEST]  (MANIFEST relative to the workspace root; default spin.toml)"
    );
    std::process::exit(2);
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut spin, mut from) = (None, PathBuf::from("spin.toml"));
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--spin", Some(path)) => spin = Some(PathBuf::from(path)),
            ("--from", Some(path)) => from = PathBuf::from(path),
            _ => usage(),
        }
    }
    let Some(spin) = spin else { usage() };
    let manifest = workspace_root().join(from);
    if !manifest.is_file() {
        eprintln!("no manifest at {}", manifest.display());
        std::process::exit(2);
    }
    let dir = std::env::temp_dir().join(format!("sgw-spin-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    println!("spin:     {} ({})", spin.display(), spin::version(&spin));
    println!("manifest: {} (source: {})", manifest.display(), sources(&manifest));
    let run = Run { spin, manifest, dir };
    // On Ctrl-C the checks' future is dropped, and with it every SpinProcess (their own
    // process groups do not get the terminal's SIGINT).
    let checks = tokio::select! {
        checks = run.checks() => checks,
        _ = tokio::signal::ctrl_c() => Vec::new(),
    };
    let failed = checks.iter().filter(|c| !c.pass).count();
    if checks.is_empty() {
        println!("interrupted; files kept in {}", run.dir.display());
        std::process::exit(130);
    }
    if failed == 0 {
        let _ = std::fs::remove_dir_all(&run.dir);
        println!("all {} checks passed", checks.len());
    } else {
        // Kept for the evidence: Spin's output and the component logs of each `spin up`.
        println!(
            "{failed} of {} checks FAILED; Spin output kept in {}",
            checks.len(),
            run.dir.display()
        );
        std::process::exit(1);
    }
}
