//! Keep-alive latency as a browser sees it: one connection, requests one after the other,
//! against an origin that never stalls by itself (TCP_NODELAY, one write per response).
//!
//! Under Spin, whose listener leaves Nagle's algorithm on (as this host does), a response
//! written in several small pieces waits for the client's delayed ACK: about 40 ms on
//! Linux. That is a behaviour, not a speed: a response either waits for an ACK or it does
//! not, so the median of a short run tells the two apart by a factor of ten or more.
//! (Variables come from `SPIN_VARIABLE_*` here: each lookup before a reply used to stall it,
//! and now only an instance's first request makes any.)

use session_gateway_tests::client::sequential;
use session_gateway_tests::sessions::{self, KEY_A};
use session_gateway_tests::{Gateway, RedisServer, SteadyOrigin};
use std::time::Duration;

const REQUESTS: usize = 40;

/// What is measured, the path, the request's headers, the status expected.
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], u16);
/// A stalled response takes about 40 ms; an unstalled one about a millisecond here.
const STALL: Duration = Duration::from_millis(20);

#[tokio::test(flavor = "multi_thread")]
async fn no_response_waits_for_a_delayed_ack() {
    let redis = RedisServer::start();
    let origin = SteadyOrigin::start().await;
    let (o, r) = (origin.url(), redis.url());
    let gateway = Gateway::start(&[
        ("origin_url", &o),
        ("redis_address", &r),
        ("session_keys", KEY_A),
        ("public_paths", "/pub"),
    ])
    .await;
    let cookie = format!(
        "sgw_session={}",
        sessions::create(&mut redis.connection().unwrap(), "kim", serde_json::json!({}), KEY_A)
    );
    let cases: [Case; 5] = [
        ("401 written by the gateway", "/private", &[], 401),
        ("public, origin sends Content-Length", "/pub/sized", &[], 200),
        ("public, origin sends chunked", "/pub/chunked", &[], 200),
        (
            "session, origin sends Content-Length",
            "/sized",
            &[("cookie", &cookie)],
            200,
        ),
        // The case that waited in this host as under Spin until the gateway read a chunked
        // body ahead (upstream.rs, `copy_body`).
        ("session, origin sends chunked", "/chunked", &[("cookie", &cookie)], 200),
    ];
    let mut stalled = Vec::new();
    for (what, path, headers, status) in cases {
        let replies = sequential(gateway.addr, path, headers, REQUESTS).await.unwrap();
        assert!(replies.iter().all(|(s, _)| *s == status), "{what}: {replies:?}");
        let mut times: Vec<Duration> = replies.iter().map(|(_, t)| *t).collect();
        times.sort();
        let (p50, max) = (times[times.len() / 2], times[times.len() - 1]);
        eprintln!("{what}: p50 {p50:?}, max {max:?}");
        if p50 > STALL {
            stalled.push(format!("{what}: p50 {p50:?}"));
        }
    }
    assert!(stalled.is_empty(), "responses waited for a delayed ACK: {stalled:?}");
}
