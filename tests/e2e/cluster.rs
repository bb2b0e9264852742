//! A real Redis Cluster on loopback (3 primaries, with replicas where a failover is tested):
//! slot routing, a slot migration and a primary failover while traffic runs.

use session_gateway_core::cluster;
use session_gateway_core::redis_layout;
use session_gateway_tests::client::get;
use session_gateway_tests::sessions::{KEY_A, PREFIX};
use session_gateway_tests::{Gateway, Origin, RedisCluster, RedisServer, Reply};
use std::time::{Duration, Instant};

async fn gateway(origin: &Origin, cluster: &RedisCluster) -> Gateway {
    let o = origin.url();
    let nodes = cluster.primary_urls();
    let (seed, list) = (nodes[0].clone(), nodes.join(","));
    let manifest = Gateway::manifest_with_hosts(&[&o, "redis://127.0.0.1:*"]);
    let vars = [
        ("origin_url", o.as_str()),
        ("session_keys", KEY_A),
        ("public_paths", "/reflect/public"),
        ("redis_address", seed.as_str()),
        ("redis_cluster_nodes", list.as_str()),
    ];
    Gateway::start_from(&manifest, &vars).await
}

async fn login(gateway: &Gateway, user: &str) -> String {
    let reply = get(
        gateway.addr,
        "/reflect/public",
        &[("x-reflect-x-sgw-login", &format!(r#"{{"user_id":"{user}"}}"#))],
    )
    .await;
    assert_eq!(
        reply.status,
        200,
        "login of {user}: {} {}",
        reply.text(),
        gateway.logs()
    );
    session_cookie(&reply).expect("a session cookie")
}

fn session_cookie(reply: &Reply) -> Option<String> {
    reply
        .header("set-cookie")
        .and_then(|v| v.strip_prefix("sgw_session="))
        .map(|v| v.split(';').next().unwrap_or("").to_owned())
}

async fn status(gateway: &Gateway, cookie: &str) -> u16 {
    get(gateway.addr, "/app", &[("cookie", &format!("sgw_session={cookie}"))])
        .await
        .status
        .as_u16()
}

fn node_id(node: &RedisServer) -> String {
    redis::cmd("CLUSTER")
        .arg("MYID")
        .query(&mut node.connection().unwrap())
        .unwrap()
}

/// The slot every key of `user` lives in.
fn user_slot(user: &str) -> u16 {
    cluster::slot(redis_layout::user_index_key(PREFIX, user).as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_route_by_slot_and_survive_a_slot_migration() {
    let redis = RedisCluster::start(3, 0);
    let origin = Origin::start().await;
    let gateway = gateway(&origin, &redis).await;
    let users: Vec<String> = (0..12).map(|i| format!("user-{i}")).collect();
    let mut cookies = Vec::new();
    for user in &users {
        cookies.push(login(&gateway, user).await);
    }
    let holding = redis
        .nodes
        .iter()
        .filter(|n| redis::cmd("DBSIZE").query::<i64>(&mut n.connection().unwrap()).unwrap() > 0)
        .count();
    assert!(holding >= 2, "sessions spread over the primaries ({holding} hold keys)");

    // The expected node is right: one connection and one round trip per authenticated request.
    let before = gateway.app.redis_stats.snapshot();
    for cookie in &cookies {
        assert_eq!(status(&gateway, cookie).await, 200);
    }
    let after = gateway.app.redis_stats.snapshot();
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (12, 12),
        "opens and calls for 12 requests"
    );

    // Migrate the slot of user-0 from its node to the next one while requests keep coming.
    let slot = user_slot("user-0");
    let from = cluster::expected_node(slot, 3);
    let to = (from + 1) % 3;
    let (source, target) = (&redis.nodes[from], &redis.nodes[to]);
    let (source_id, target_id) = (node_id(source), node_id(target));
    let mut src = source.connection().unwrap();
    let mut dst = target.connection().unwrap();
    redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg("IMPORTING")
        .arg(&source_id)
        .query::<()>(&mut dst)
        .unwrap();
    redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg("MIGRATING")
        .arg(&target_id)
        .query::<()>(&mut src)
        .unwrap();
    assert_eq!(
        status(&gateway, &cookies[0]).await,
        200,
        "migrating, keys still on the source"
    );
    let keys: Vec<String> = redis::cmd("CLUSTER")
        .arg("GETKEYSINSLOT")
        .arg(slot)
        .arg(1000)
        .query(&mut src)
        .unwrap();
    assert!(!keys.is_empty());
    redis::cmd("MIGRATE")
        .arg("127.0.0.1")
        .arg(target.port)
        .arg("")
        .arg(0)
        .arg(5000)
        .arg("KEYS")
        .arg(&keys)
        .query::<()>(&mut src)
        .unwrap();
    assert_eq!(
        status(&gateway, &cookies[0]).await,
        200,
        "keys moved, slot still migrating: ASK"
    );
    // A login writes the new session and the user's index together: while the slot is split
    // between two nodes Redis answers TRYAGAIN, and the gateway fails closed.
    let reply = get(
        gateway.addr,
        "/reflect/public",
        &[("x-reflect-x-sgw-login", r#"{"user_id":"user-0"}"#)],
    )
    .await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    // Redis errors reach the component in Spin's words: "An error was signalled by the server - ...".
    assert!(
        gateway
            .logs()
            .contains("An error was signalled by the server - TryAgain"),
        "{}",
        gateway.logs()
    );
    for node in &redis.nodes {
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("NODE")
            .arg(&target_id)
            .query::<()>(&mut node.connection().unwrap())
            .unwrap();
    }
    assert_eq!(status(&gateway, &cookies[0]).await, 200, "slot moved: MOVED");
    let during = login(&gateway, "user-0").await;
    assert_eq!(status(&gateway, &during).await, 200, "a login once the slot has moved");

    // The user's index moved with the sessions: revoking still reaches all of them.
    let reply = get(
        gateway.addr,
        "/reflect/app",
        &[
            ("cookie", &format!("sgw_session={}", cookies[1])),
            ("x-reflect-x-sgw-revoke-user", "user-0"),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", gateway.logs());
    assert_eq!(status(&gateway, &cookies[0]).await, 401);
    assert_eq!(status(&gateway, &during).await, 401);
    for cookie in &cookies[1..] {
        assert_eq!(status(&gateway, cookie).await, 200, "other users are untouched");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_primary_failover_while_traffic_runs_loses_no_session() {
    let redis = RedisCluster::start(3, 1);
    let origin = Origin::start().await;
    let gateway = gateway(&origin, &redis).await;
    let users: Vec<String> = (0..9).map(|i| format!("member-{i}")).collect();
    let mut cookies = Vec::new();
    for user in &users {
        cookies.push(login(&gateway, user).await);
    }
    for primary in &redis.nodes[..3] {
        let _: i64 = redis::cmd("WAIT")
            .arg(1)
            .arg(5000)
            .query(&mut primary.connection().unwrap())
            .unwrap();
    }
    let victim = cluster::expected_node(user_slot("member-0"), 3);
    let traffic_gateway = gateway.addr;
    let traffic_cookies = cookies.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_traffic = stop.clone();
    let traffic = tokio::spawn(async move {
        let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
        while !stop_traffic.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
            for cookie in &traffic_cookies {
                let reply = get(traffic_gateway, "/app", &[("cookie", &format!("sgw_session={cookie}"))]).await;
                *statuses.entry(reply.status.as_u16()).or_default() += 1;
            }
        }
        statuses
    });

    let mut redis = redis;
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.nodes[victim].stop();
    let killed = Instant::now();
    loop {
        if status(&gateway, &cookies[0]).await == 200 {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "no recovery within 30 s: {}",
            gateway.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "cluster failover: sessions of the failed primary served again {:?} after the kill",
        killed.elapsed()
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let statuses = traffic.await.unwrap();
    assert!(
        statuses.keys().all(|s| *s == 200 || *s == 503),
        "only 200 or 503 while failing over: {statuses:?}"
    );
    // Lost would be a 401; a 503 (a Redis call slower than `redis_timeout_ms` on a loaded
    // machine) is an outage that passes, so each session gets a few seconds to answer 200.
    for (i, cookie) in cookies.iter().enumerate() {
        let mut answers = Vec::new();
        while answers.last() != Some(&200) && answers.len() < 50 {
            let answer = status(&gateway, cookie).await;
            assert_ne!(answer, 401, "session of {} lost: {}", users[i], gateway.logs());
            answers.push(answer);
            if answer != 200 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        assert_eq!(answers.last(), Some(&200), "session of {}: {answers:?}", users[i]);
    }
    let again = login(&gateway, "member-0").await;
    assert_eq!(
        status(&gateway, &again).await,
        200,
        "logins work on the promoted replica"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_over_another_users_session_works_in_a_cluster() {
    let redis = RedisCluster::start(3, 0);
    let origin = Origin::start().await;
    let gateway = gateway(&origin, &redis).await;
    let (guest, member) = ("guest-7", "member-7");
    assert_ne!(
        user_slot(guest),
        user_slot(member),
        "the two users' keys sit in different slots"
    );
    for relogin_as in [member, guest] {
        let before = login(&gateway, guest).await;
        let reply = get(
            gateway.addr,
            "/reflect/app",
            &[
                ("cookie", &format!("sgw_session={before}")),
                ("x-reflect-x-sgw-login", &format!(r#"{{"user_id":"{relogin_as}"}}"#)),
            ],
        )
        .await;
        assert_eq!(
            reply.status,
            200,
            "login as {relogin_as} over {guest}'s session: {} {}",
            reply.text(),
            gateway.logs()
        );
        let after = session_cookie(&reply).expect("a session cookie");
        assert_eq!(status(&gateway, &before).await, 401, "the session before login is gone");
        assert_eq!(status(&gateway, &after).await, 200);
    }
    assert!(!gateway.logs().contains("CROSSSLOT"), "{}", gateway.logs());
}
