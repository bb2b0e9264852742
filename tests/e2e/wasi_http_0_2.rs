//! What only the wasi:http 0.2 build (crates/gateway-p2, spin.toml) has, whichever build the
//! rest of the suite runs against: the host serves 0.2 components as Spin does, a fresh
//! instance per request, with `fermyon:spin@2.0.0` Redis and variables.

use session_gateway_tests::sessions::{self, KEY_A};
use session_gateway_tests::{Gateway, Origin, RedisServer, client};

async fn p2_gateway(origin: &Origin, redis: &RedisServer) -> Gateway {
    let (o, r) = (origin.url(), redis.url());
    Gateway::start_from(
        &session_gateway_tests::gateway::manifest_of(session_gateway_tests::gateway::World::P2),
        &[("origin_url", &o), ("redis_address", &r), ("session_keys", KEY_A)],
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_0_2_build_admits_sessions_and_refuses_the_rest_one_instance_per_request() {
    let (origin, mut redis) = (Origin::start().await, RedisServer::start());
    let gateway = p2_gateway(&origin, &redis).await;
    assert!(gateway.app.is_wasi_http_0_2(), "spin.toml loads the 0.2 build");
    let cookie = sessions::create(
        &mut redis.connection().unwrap(),
        "alice",
        serde_json::json!({"role": "admin"}),
        KEY_A,
    );
    let header = format!("sgw_session={cookie}");

    let before = gateway.app.instances.load(std::sync::atomic::Ordering::Relaxed);
    let reply = client::get(
        gateway.addr,
        "/p",
        &[("cookie", &header), ("x-session-user", "mallory")],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = &origin.requests_to("/p")[0];
    assert_eq!(seen.headers["x-session-user"], "alice", "the client's copy is replaced");
    assert_eq!(client::get(gateway.addr, "/p", &[]).await.status, 401);
    let mut tampered = header.clone().into_bytes();
    let i = tampered.len() - 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(
        client::get(gateway.addr, "/p", &[("cookie", &tampered)]).await.status,
        401
    );
    let after = gateway.app.instances.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        after - before,
        3,
        "a fresh instance for each request, as Spin runs 0.2 components"
    );

    redis.stop();
    assert_eq!(
        client::get(gateway.addr, "/p", &[("cookie", &header)]).await.status,
        503,
        "Redis down: fail closed"
    );
    assert_eq!(origin.requests_to("/p").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_0_2_build_relays_bodies_both_ways() {
    let (origin, redis) = (Origin::start().await, RedisServer::start());
    let gateway = p2_gateway(&origin, &redis).await;
    let cookie = sessions::create(&mut redis.connection().unwrap(), "bob", serde_json::json!({}), KEY_A);
    let body = vec![b'x'; 200_000];
    let request = http::Request::post("/echo/upload")
        .header("cookie", format!("sgw_session={cookie}"))
        .header("content-length", body.len())
        .body(http_body_util::Full::new(bytes::Bytes::from(body.clone())))
        .unwrap();
    let reply = session_gateway_tests::send(gateway.addr, request).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), body.len(), "the origin's echo came back whole");
    assert_eq!(origin.requests_to("/echo/upload")[0].body_len, body.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_0_2_build_refuses_key_value_reads_as_a_configuration_error() {
    // It could not bound a key-value call, and Spin's key-value client holds a request for
    // over 30 s while the store's Redis is down: a 503 would never come.
    let (origin, redis) = (Origin::start().await, RedisServer::start());
    let (o, r) = (origin.url(), redis.url());
    let gateway = Gateway::start_from(
        &session_gateway_tests::gateway::manifest_of(session_gateway_tests::gateway::World::P2),
        &[
            ("origin_url", &o),
            ("redis_address", &r),
            ("session_keys", KEY_A),
            ("session_reads", "key_value"),
            ("public_paths", "/pub"),
        ],
    )
    .await;
    let cookie = sessions::create(&mut redis.connection().unwrap(), "kim", serde_json::json!({}), KEY_A);
    let reply = client::get(gateway.addr, "/p", &[("cookie", &format!("sgw_session={cookie}"))]).await;
    assert_eq!(reply.status, 500);
    assert!(
        !reply.text().contains("key_value"),
        "the reason is logged, not told: {}",
        reply.text()
    );
    assert!(origin.requests().is_empty(), "nothing is forwarded");
    // A public path without a cookie reads no store setting, so it is served.
    assert_eq!(client::get(gateway.addr, "/pub/x", &[]).await.status, 200);
    let logs = gateway.logs();
    assert!(
        logs.contains("variable `session_reads`") && logs.contains("wasi:http 0.3 build"),
        "{logs}"
    );
}
