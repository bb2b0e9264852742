//! Session reads through Spin's key-value store (`session_reads = key_value`), backed by Redis
//! in a runtime config, which only the wasi:http 0.3 build takes (spin-p3.toml): these tests
//! load it whatever `SGW_TEST_WORLD` says. The rest of the suite also runs in this mode
//! (`SGW_TEST_READS`); these tests hold what only this mode has: no connection per request,
//! and a store that misses or fails costing speed, never a wrong answer.

use session_gateway_tests::gateway::{World, ensure_component_built, key_value_section, manifest_of, temp_file};
use session_gateway_tests::sessions::KEY_A;
use session_gateway_tests::{Gateway, Origin, RedisServer, Stack};
use spin_host::{App, LogSink};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;

/// A gateway over `redis` whose `default` key-value store is Redis at `store_url`.
async fn gateway(redis: &RedisServer, origin: &Origin, store_url: &str, extra: &[(&str, &str)]) -> Gateway {
    ensure_component_built();
    let mut env: HashMap<String, String> = [
        ("ORIGIN_URL", origin.url()),
        ("REDIS_ADDRESS", redis.url()),
        ("SESSION_KEYS", KEY_A.to_owned()),
        ("SESSION_READS", "key_value".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (format!("SPIN_VARIABLE_{k}"), v))
    .collect();
    env.extend(
        extra
            .iter()
            .map(|(k, v)| (format!("SPIN_VARIABLE_{}", k.to_ascii_uppercase()), v.to_string())),
    );
    let runtime_config = temp_file("runtime-config", &key_value_section(store_url));
    let app = App::load_full(
        &manifest_of(World::P3),
        &env,
        &BTreeMap::new(),
        Some(&runtime_config),
        LogSink::Capture,
    )
    .expect("the application loads");
    Gateway::serve(app).await
}

fn cookie(value: &str) -> String {
    format!("sgw_session={value}")
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_share_one_connection_instead_of_one_per_request() {
    let redis = RedisServer::start();
    let origin = Origin::start().await;
    let gateway = gateway(&redis, &origin, &redis.url(), &[]).await;
    let value =
        session_gateway_tests::sessions::create(&mut redis.connection().unwrap(), "kim", serde_json::json!({}), KEY_A);

    for _ in 0..20 {
        let reply = session_gateway_tests::client::get(gateway.addr, "/app", &[("cookie", &cookie(&value))]).await;
        assert_eq!(reply.status, 200);
    }
    let seen = origin.requests_to("/app");
    assert_eq!(seen.len(), 20);
    assert!(seen.iter().all(|r| r.headers["x-session-user"] == "kim"));
    assert_eq!(
        gateway.app.redis_stats.snapshot().0,
        0,
        "no outbound Redis connection for a session read"
    );
    let kv = &gateway.app.key_value.stats;
    assert_eq!(kv.connections.load(Ordering::Relaxed), 1, "one pooled connection");
    assert!(
        kv.calls.load(Ordering::Relaxed) >= 20,
        "each request read through the store"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_that_does_not_see_the_sessions_costs_speed_not_answers() {
    let redis = RedisServer::start();
    let elsewhere = RedisServer::start();
    let origin = Origin::start().await;
    let gateway = gateway(&redis, &origin, &elsewhere.url(), &[]).await;
    let value =
        session_gateway_tests::sessions::create(&mut redis.connection().unwrap(), "lou", serde_json::json!({}), KEY_A);

    for _ in 0..3 {
        let reply = session_gateway_tests::client::get(gateway.addr, "/app", &[("cookie", &cookie(&value))]).await;
        assert_eq!(reply.status, 200, "Redis holds the session");
    }
    assert_eq!(origin.requests_to("/app")[0].headers["x-session-user"], "lou");
    assert!(
        gateway.app.redis_stats.snapshot().0 >= 3,
        "each read fell back to outbound Redis"
    );
    let logs = gateway.logs();
    let (told, instances) = (
        logs.matches("missed a session that Redis holds").count(),
        gateway.app.instances.load(Ordering::Relaxed) as usize,
    );
    assert!(
        (1..=instances).contains(&told),
        "said once per instance ({instances} instances): {logs}"
    );
    assert!(!logs.contains(&value), "the cookie is never logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_store_falls_back_to_redis_and_a_dead_redis_still_fails_closed() {
    let mut redis = RedisServer::start();
    let origin = Origin::start().await;
    let dead = format!("redis://127.0.0.1:{}", session_gateway_tests::free_port());
    let gateway = gateway(&redis, &origin, &dead, &[("redis_timeout_ms", "300")]).await;
    let value =
        session_gateway_tests::sessions::create(&mut redis.connection().unwrap(), "max", serde_json::json!({}), KEY_A);

    const REQUESTS: usize = 6;
    for _ in 0..REQUESTS {
        let reply = session_gateway_tests::client::get(gateway.addr, "/app", &[("cookie", &cookie(&value))]).await;
        assert_eq!(reply.status, 200, "read from outbound Redis");
    }
    // Each instance tries the store once, then rests 5 s (the host may use more than one).
    let instances = gateway.app.instances.load(Ordering::Relaxed) as usize;
    let failures = gateway.logs().matches("key-value store failed").count();
    assert!(
        failures >= 1 && failures <= instances && failures < REQUESTS,
        "after a failure the store rests, so a hanging one cannot slow every request \
         ({failures} failures, {instances} instances): {}",
        gateway.logs()
    );

    redis.stop();
    let reply = session_gateway_tests::client::get(gateway.addr, "/app", &[("cookie", &cookie(&value))]).await;
    assert_eq!(reply.status, 503, "neither answers: fail closed");
    assert_eq!(
        origin.requests_to("/app").len(),
        REQUESTS,
        "the 503 never reached the origin"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ended_session_is_refused_at_once() {
    let stack = Stack::start(&[]).await;
    let redis_url = stack.redis.url();
    let gateway = gateway(&stack.redis, &stack.origin, &redis_url, &[]).await;
    let value = stack.create_session("ned", serde_json::json!({}));
    let get = |value: String| {
        let addr = gateway.addr;
        async move { session_gateway_tests::client::get(addr, "/app", &[("cookie", &cookie(&value))]).await }
    };
    assert_eq!(get(value.clone()).await.status, 200);
    let id = session_gateway_tests::sessions::id_of(&value);
    redis::cmd("DEL")
        .arg(session_gateway_core::redis_layout::session_key(
            session_gateway_tests::sessions::PREFIX,
            &id,
        ))
        .query::<()>(&mut stack.redis())
        .unwrap();
    assert_eq!(get(value).await.status, 401, "deleted in Redis: gone for the store too");
}

#[tokio::test(flavor = "multi_thread")]
async fn key_value_reads_with_a_cluster_are_a_configuration_error() {
    let redis = RedisServer::start();
    let origin = Origin::start().await;
    let gateway = gateway(&redis, &origin, &redis.url(), &[("redis_cluster_nodes", &redis.url())]).await;
    // The store's section is read once a cookie verifies.
    let value =
        session_gateway_tests::sessions::create(&mut redis.connection().unwrap(), "kim", serde_json::json!({}), KEY_A);
    let reply = session_gateway_tests::client::get(gateway.addr, "/app", &[("cookie", &cookie(&value))]).await;
    assert_eq!(reply.status, 500);
    assert!(gateway.logs().contains("`session_reads`"), "{}", gateway.logs());
    assert!(origin.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_copy_past_its_idle_time_is_checked_with_redis() {
    let redis = RedisServer::start();
    let elsewhere = RedisServer::start();
    let origin = Origin::start().await;
    let gateway = gateway(&redis, &origin, &elsewhere.url(), &[("idle_timeout", "60")]).await;
    // The store holds a copy last touched two minutes ago (idle timeout one minute); Redis
    // has no such session: the copy must not be served.
    let now = session_gateway_tests::sessions::now();
    let mut record = session_gateway_core::SessionRecordV1::new("stale", Default::default(), now - 120, 3600);
    record.touched_at = Some(now - 120);
    let value = session_gateway_tests::sessions::store_raw(
        &mut elsewhere.connection().unwrap(),
        &record.to_json(),
        3600,
        KEY_A,
    );
    let reply = session_gateway_tests::client::get(gateway.addr, "/app", &[("cookie", &cookie(&value))]).await;
    assert_eq!(reply.status, 401, "Redis does not have it");

    // Redis has it, with a live TTL, while its record lags (a refresh that set only the
    // TTL): served, with the TTL from Redis.
    let id = session_gateway_tests::sessions::id_of(&value);
    let key = session_gateway_core::redis_layout::session_key(session_gateway_tests::sessions::PREFIX, &id);
    redis::cmd("SET")
        .arg(&key)
        .arg(record.to_json())
        .arg("EX")
        .arg(50)
        .query::<()>(&mut redis.connection().unwrap())
        .unwrap();
    let reply = session_gateway_tests::client::get(gateway.addr, "/app", &[("cookie", &cookie(&value))]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(origin.requests_to("/app")[0].headers["x-session-user"], "stale");
}
