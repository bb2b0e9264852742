//! `cargo run --profile host -p session-gateway-tests --bin soak [-- --seconds 60]`
//!
//! Bounded soak: mixed traffic (valid sessions, tampered cookies, anonymous requests to public
//! and protected paths) through the host for `--seconds`, with Redis killed a third of the way
//! in and restarted two seconds later (AOF, so sessions survive). Prints the counts and exits
//! non-zero if an invalid cookie ever reached the origin authenticated, if anything failed
//! outside the outage, or if the process's memory kept growing.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use session_gateway_tests::sessions::{self, KEY_A};
use session_gateway_tests::{Gateway, Origin, RedisServer};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KINDS: [(&str, &str, u16); 4] = [
    ("valid", "/app", 200),
    ("invalid", "/app", 401),
    ("anonymous-public", "/pub/x", 200),
    ("anonymous-protected", "/app", 401),
];

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:")
                    .map(|v| v.trim().trim_end_matches(" kB").trim().to_owned())
            })
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[derive(Default)]
struct Counts {
    /// (kind, status) -> count, outside and inside the outage window.
    outside: BTreeMap<(String, u16), u64>,
    inside: BTreeMap<(String, u16), u64>,
    transport_errors: u64,
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = match args.as_slice() {
        [_] => 60,
        [_, flag, n] if flag == "--seconds" => n.parse().expect("--seconds takes a number"),
        _ => {
            eprintln!("usage: soak [--seconds N]");
            std::process::exit(2);
        }
    };
    let seconds = seconds.max(9);
    let dir = std::env::temp_dir().join(format!("sgw-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let dir_arg = dir.display().to_string();
    let mut redis = RedisServer::start_with(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--dir",
        &dir_arg,
    ]);
    let origin = Origin::start_unrecorded().await;
    let (o, r) = (origin.url(), redis.url());
    let gateway = Gateway::start(&[
        ("origin_url", &o),
        ("redis_address", &r),
        ("session_keys", KEY_A),
        ("public_paths", "/pub"),
    ])
    .await;
    let mut conn = redis.connection().expect("redis");
    let valid: Vec<String> = (0..100)
        .map(|i| sessions::create(&mut conn, &format!("soak-{i}"), serde_json::json!({}), KEY_A))
        .collect();
    // Make sure the sessions are on disk before the kill.
    redis::cmd("BGREWRITEAOF").query::<()>(&mut conn).ok();
    std::thread::sleep(Duration::from_millis(1500));
    // A tag character in the middle changed (the last one carries padding bits: changing it to
    // a character that differs only there could leave the cookie valid).
    let invalid: Vec<String> = valid
        .iter()
        .map(|c| {
            let mut b = c.clone().into_bytes();
            let i = b.len() - 5;
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            String::from_utf8(b).expect("ascii")
        })
        .collect();
    assert!(valid.iter().zip(&invalid).all(|(v, i)| v != i));

    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let counts = Arc::new(Mutex::new(Counts::default()));
    let outage: Arc<Mutex<Option<(Duration, Duration)>>> = Arc::default();
    let addr = gateway.addr;
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (counts, outage, valid, invalid) = (counts.clone(), outage.clone(), valid.clone(), invalid.clone());
            tokio::spawn(async move {
                let mut n = w;
                'connections: while Instant::now() < deadline {
                    let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
                        continue;
                    };
                    let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
                    else {
                        continue;
                    };
                    tokio::spawn(conn);
                    while Instant::now() < deadline {
                        n += 8;
                        let (kind, path, _) = KINDS[n % KINDS.len()];
                        let mut request = http::Request::get(path)
                            .header("host", addr.to_string())
                            .header("x-soak", kind);
                        match kind {
                            "valid" => {
                                request = request.header("cookie", format!("sgw_session={}", valid[n % valid.len()]))
                            }
                            "invalid" => {
                                request =
                                    request.header("cookie", format!("sgw_session={}", invalid[n % invalid.len()]))
                            }
                            _ => {}
                        }
                        let at = start.elapsed();
                        let sent = async {
                            sender.ready().await?;
                            let response = sender
                                .send_request(request.body(Empty::<Bytes>::new()).expect("request"))
                                .await?;
                            let status = response.status().as_u16();
                            response.into_body().collect().await?;
                            Ok::<_, hyper::Error>(status)
                        };
                        let status = match sent.await {
                            Ok(status) => status,
                            Err(_) => {
                                counts.lock().unwrap().transport_errors += 1;
                                continue 'connections;
                            }
                        };
                        // Inside the outage window: from a second before the kill (requests in flight)
                        // until a second after the restart.
                        let inside = outage.lock().unwrap().is_some_and(|(down, up)| {
                            at + Duration::from_secs(1) >= down && at <= up + Duration::from_secs(1)
                        });
                        let mut c = counts.lock().unwrap();
                        let map = if inside { &mut c.inside } else { &mut c.outside };
                        *map.entry((kind.to_owned(), status)).or_default() += 1;
                    }
                }
            })
        })
        .collect();

    let mut memory = vec![(0u64, rss_kib())];
    let down_at = Duration::from_secs(seconds / 3);
    tokio::time::sleep(down_at).await;
    let down = start.elapsed();
    *outage.lock().unwrap() = Some((down, Duration::from_secs(3600)));
    redis.stop();
    memory.push((down.as_secs(), rss_kib()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.restart();
    let up = start.elapsed();
    *outage.lock().unwrap() = Some((down, up));
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t = start.elapsed().as_secs();
        if t.is_multiple_of((seconds / 6).max(1)) {
            memory.push((t, rss_kib()));
        }
    }
    for w in workers {
        w.await.expect("worker");
    }
    memory.push((start.elapsed().as_secs(), rss_kib()));

    let c = counts.lock().unwrap();
    let expected = |kind: &str| KINDS.iter().find(|k| k.0 == kind).map(|k| k.2).unwrap_or(0);
    println!(
        "soak: {seconds} s, 8 connections; Redis killed at {:.1} s, back at {:.1} s",
        down.as_secs_f64(),
        up.as_secs_f64()
    );
    println!(
        "\n{:<22} {:>8} {:>14} {:>14}",
        "kind", "status", "outside outage", "during outage"
    );
    let keys: std::collections::BTreeSet<_> = c.outside.keys().chain(c.inside.keys()).cloned().collect();
    for key in &keys {
        println!(
            "{:<22} {:>8} {:>14} {:>14}",
            key.0,
            key.1,
            c.outside.get(key).unwrap_or(&0),
            c.inside.get(key).unwrap_or(&0)
        );
    }
    let unexpected_outside: u64 = c
        .outside
        .iter()
        .filter(|((k, s), _)| *s != expected(k))
        .map(|(_, n)| n)
        .sum();
    let unexpected_inside: u64 = c
        .inside
        .iter()
        .filter(|((k, s), _)| *s != expected(k))
        .map(|(_, n)| n)
        .sum();
    let tally = origin.tally();
    let invalid_authed = tally.get("invalid").map_or(0, |t| t.1) + tally.get("anonymous-protected").map_or(0, |t| t.1);
    println!("\nat the origin (requests, with identity): {tally:?}");
    println!("authenticated forwards of invalid or missing cookies: {invalid_authed}");
    println!("unexpected statuses outside the outage: {unexpected_outside}");
    println!("unexpected statuses during the outage (503 expected for valid sessions): {unexpected_inside}");
    println!("transport errors: {}", c.transport_errors);
    println!("process RSS (s, KiB): {memory:?}");
    let settled = &memory[memory.len() / 2..];
    let growth = settled
        .last()
        .map_or(0, |m| m.1)
        .saturating_sub(settled.first().map_or(0, |m| m.1));
    println!("RSS growth over the second half: {growth} KiB");
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);

    let failed = invalid_authed > 0 || unexpected_outside > 0 || c.transport_errors > 0 || growth > 64 * 1024;
    println!("\n{}", if failed { "SOAK FAILED" } else { "soak passed" });
    std::process::exit(i32::from(failed));
}
