//! Redis topologies the tests start on this machine: a primary with a replica, and a
//! primary, a replica and a Sentinel through a failover. Loopback only.

use session_gateway_tests::client::get;
use session_gateway_tests::sessions::{self, KEY_A};
use session_gateway_tests::{Gateway, Origin, RedisServer, Reply};
use std::time::{Duration, Instant};

const MASTER: &str = "sessions";

/// The real manifest, allowed to reach any local Redis port (the primary moves in a failover).
async fn gateway(origin: &Origin, vars: &[(&str, &str)]) -> Gateway {
    let o = origin.url();
    let manifest = Gateway::manifest_with_hosts(&[&o, "redis://127.0.0.1:*"]);
    let mut all = vec![
        ("origin_url", o.as_str()),
        ("session_keys", KEY_A),
        ("public_paths", "/reflect/public"),
    ];
    all.extend_from_slice(vars);
    Gateway::start_from(&manifest, &all).await
}

fn cookie_header(cookie: &str) -> String {
    format!("sgw_session={cookie}")
}

async fn login(gateway: &Gateway, user: &str) -> Reply {
    get(
        gateway.addr,
        "/reflect/public",
        &[("x-reflect-x-sgw-login", &format!(r#"{{"user_id":"{user}"}}"#))],
    )
    .await
}

fn session_cookie(reply: &Reply) -> Option<String> {
    reply
        .header("set-cookie")
        .and_then(|v| v.strip_prefix("sgw_session="))
        .map(|v| v.split(';').next().unwrap_or("").to_owned())
}

/// Waits until every write so far on `primary` has reached one replica.
fn replicated(primary: &RedisServer) {
    let acked: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(5000)
        .query(&mut primary.connection().unwrap())
        .unwrap();
    assert_eq!(acked, 1, "the replica did not acknowledge");
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_fall_back_to_a_replica_and_writes_never_go_there() {
    let mut primary = RedisServer::start();
    let replica = RedisServer::replica_of(&primary);
    let origin = Origin::start().await;
    let (p, r) = (primary.url(), replica.url());
    let gateway = gateway(&origin, &[("redis_address", &p), ("redis_replicas", &r)]).await;
    let cookie = sessions::create(
        &mut primary.connection().unwrap(),
        "alice",
        serde_json::json!({}),
        KEY_A,
    );
    replicated(&primary);
    assert_eq!(
        get(gateway.addr, "/app", &[("cookie", &cookie_header(&cookie))])
            .await
            .status,
        200
    );

    primary.stop();
    let reply = get(gateway.addr, "/app", &[("cookie", &cookie_header(&cookie))]).await;
    assert_eq!(
        reply.status,
        200,
        "authenticated requests pass with only the replica answering: {}",
        gateway.logs()
    );
    assert_eq!(
        origin.requests_to("/app").last().unwrap().headers["x-session-user"],
        "alice"
    );
    assert!(gateway.logs().contains("read from a replica"), "{}", gateway.logs());

    let reply = login(&gateway, "bob").await;
    assert_eq!(
        reply.status, 503,
        "a login cannot be written to a replica: refused, not lost"
    );
    assert!(session_cookie(&reply).is_none());
    let reply = get(
        gateway.addr,
        "/reflect/app",
        &[("cookie", &cookie_header(&cookie)), ("x-reflect-x-sgw-logout", "1")],
    )
    .await;
    assert_eq!(
        reply.status, 503,
        "a logout that cannot be written is not reported as done"
    );
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query(&mut replica.connection().unwrap())
        .unwrap();
    assert!(
        keys.iter().all(|k| !k.contains("user:bob")),
        "nothing was written to the replica"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sentinel_failover_recovers_within_bounded_time_and_loses_no_session() {
    let mut primary = RedisServer::start_with(&["--save", "", "--appendonly", "no"]);
    let replica = RedisServer::replica_of(&primary);
    let sentinel = RedisServer::sentinel_for(&primary, MASTER);
    let origin = Origin::start().await;
    let (p, s) = (primary.url(), sentinel.url());
    let gateway = gateway(
        &origin,
        &[
            ("redis_address", &p),
            ("redis_sentinels", &s),
            ("redis_master_name", MASTER),
        ],
    )
    .await;

    let before = session_cookie(&login(&gateway, "carol").await).expect("login before the failover");
    replicated(&primary);
    // Sentinel must have seen the replica before the primary goes away.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let replicas: redis::Value = redis::cmd("SENTINEL")
            .arg("replicas")
            .arg(MASTER)
            .query(&mut sentinel.connection().unwrap())
            .unwrap();
        if matches!(&replicas, redis::Value::Array(a) if !a.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "Sentinel never saw the replica");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    primary.stop();
    let killed = Instant::now();
    let mut during = Vec::new();
    let recovered = loop {
        let reply = login(&gateway, "dave").await;
        if reply.status == 200 {
            break killed.elapsed();
        }
        during.push(reply.status.as_u16());
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "no recovery within 30 s: {during:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!("sentinel failover: logins work again {recovered:?} after the primary was killed");
    assert!(
        during.iter().all(|s| *s == 503),
        "fail closed while there is no primary: {during:?}"
    );

    let reply = get(gateway.addr, "/app", &[("cookie", &cookie_header(&before))]).await;
    assert_eq!(reply.status, 200, "the session Redis kept survives the failover");
    let addr: Vec<String> = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg(MASTER)
        .query(&mut sentinel.connection().unwrap())
        .unwrap();
    assert_eq!(addr[1], replica.port.to_string(), "the replica is the primary now");
    let reply = get(
        gateway.addr,
        "/reflect/app",
        &[("cookie", &cookie_header(&before)), ("x-reflect-x-sgw-logout", "1")],
    )
    .await;
    assert_eq!(reply.status, 200, "writes go to the new primary");
    assert_eq!(
        get(gateway.addr, "/app", &[("cookie", &cookie_header(&before))])
            .await
            .status,
        401
    );
}
