//! The session lifecycle end to end: an origin that answers with hook headers, the real
//! component in the host, a real Redis whose keys and TTLs the tests read back.

use base64::Engine;
use session_gateway_core::redis_layout;
use session_gateway_core::session::SessionRecordV1;
use session_gateway_tests::client::get;
use session_gateway_tests::sessions::{self, KEY_A, PREFIX};
use session_gateway_tests::{RedisServer, Reply, Stack};
use std::time::Duration;

/// A stack whose `/reflect/public` passes anonymously (where login hooks come from).
async fn start(extra: &[(&str, &str)]) -> Stack {
    start_with(RedisServer::start(), extra).await
}

async fn start_with(redis: RedisServer, extra: &[(&str, &str)]) -> Stack {
    let mut vars = vec![("public_paths", "/reflect/public")];
    vars.extend_from_slice(extra);
    Stack::start_with(redis, &vars).await
}

/// A request whose origin answer carries the hook headers `hooks` (name, value).
async fn hook(stack: &Stack, cookie: Option<&str>, hooks: &[(&str, &str)]) -> Reply {
    let path = if cookie.is_some() {
        "/reflect/app"
    } else {
        "/reflect/public"
    };
    let names: Vec<String> = hooks.iter().map(|(n, _)| format!("x-reflect-{n}")).collect();
    let mut headers: Vec<(&str, &str)> = names
        .iter()
        .map(String::as_str)
        .zip(hooks.iter().map(|(_, v)| *v))
        .collect();
    let c = cookie.map(|c| format!("sgw_session={c}"));
    if let Some(c) = &c {
        headers.push(("cookie", c));
    }
    get(stack.gateway.addr, path, &headers).await
}

async fn status_with(stack: &Stack, cookie: &str) -> u16 {
    get(
        stack.gateway.addr,
        "/app",
        &[("cookie", &format!("sgw_session={cookie}"))],
    )
    .await
    .status
    .as_u16()
}

/// Logs `user` in through the origin's login hook; returns the cookie value.
async fn login(stack: &Stack, user: &str) -> String {
    let reply = hook(
        stack,
        None,
        &[(
            "x-sgw-login",
            &format!(r#"{{"user_id":"{user}","data":{{"plan":"pro"}}}}"#),
        )],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    session_cookie(&reply).expect("login sets the session cookie")
}

/// The value of the `sgw_session` Set-Cookie, if any.
fn session_cookie(reply: &Reply) -> Option<String> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix("sgw_session=")
                .map(|rest| rest.split(';').next().unwrap_or("").to_owned())
        })
}

fn set_cookie_header(reply: &Reply) -> String {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join("\n")
}

fn no_hook_headers(reply: &Reply) {
    for name in reply.headers.keys() {
        assert!(
            !name.as_str().starts_with("x-sgw-"),
            "hook header {name} reached the client"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn login_sets_a_cookie_that_then_works() {
    let stack = start(&[("idle_timeout", "600"), ("absolute_timeout", "3600")]).await;
    let reply = hook(
        &stack,
        None,
        &[("x-sgw-login", r#"{"user_id":"carol","data":{"plan":"pro"}}"#)],
    )
    .await;
    assert_eq!(reply.status, 200);
    no_hook_headers(&reply);
    let header = set_cookie_header(&reply);
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(header.contains(attribute), "{header} lacks {attribute}");
    }
    assert!(
        !header.contains("Max-Age"),
        "browser-session cookie by default: {header}"
    );
    let cookie = session_cookie(&reply).unwrap();

    assert_eq!(status_with(&stack, &cookie).await, 200);
    let seen = stack.origin.requests_to("/app").pop().unwrap();
    assert_eq!(seen.headers["x-session-user"], "carol");
    let data = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(seen.headers["x-session-data"].as_bytes())
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&data).unwrap(),
        serde_json::json!({"plan": "pro"})
    );

    let id = sessions::id_of(&cookie);
    let mut redis = stack.redis();
    let ttl = sessions::pttl(&mut redis, &id);
    assert!((598_000..=600_000).contains(&ttl), "TTL is the idle timeout: {ttl}");
    assert_eq!(sessions::indexed(&mut redis, "carol"), [id.as_str()]);
    let index_ttl: i64 = redis::cmd("TTL")
        .arg(redis_layout::user_index_key(PREFIX, "carol"))
        .query(&mut redis)
        .unwrap();
    assert!(
        (3590..=3600).contains(&index_ttl),
        "the index lives as long as the user's last session: {index_ttl}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_makes_that_same_cookie_fail() {
    let stack = start(&[]).await;
    let cookie = login(&stack, "dan").await;
    assert_eq!(status_with(&stack, &cookie).await, 200);
    let reply = hook(&stack, Some(&cookie), &[("x-sgw-logout", "1")]).await;
    assert_eq!(reply.status, 200);
    no_hook_headers(&reply);
    assert!(
        set_cookie_header(&reply).contains("Max-Age=0"),
        "{}",
        set_cookie_header(&reply)
    );
    assert_eq!(status_with(&stack, &cookie).await, 401);
    let mut redis = stack.redis();
    assert_eq!(sessions::pttl(&mut redis, &sessions::id_of(&cookie)), -2);
    assert!(sessions::indexed(&mut redis, "dan").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pre_login_session_stops_working_after_login() {
    let stack = start(&[]).await;
    let before = login(&stack, "guest-42").await;
    let reply = hook(&stack, Some(&before), &[("x-sgw-login", r#"{"user_id":"erin"}"#)]).await;
    let after = session_cookie(&reply).unwrap();
    assert_ne!(after, before);
    assert_eq!(
        status_with(&stack, &before).await,
        401,
        "the old session was deleted (no fixation)"
    );
    assert_eq!(status_with(&stack, &after).await, 200);
    assert!(sessions::indexed(&mut stack.redis(), "guest-42").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_gives_a_new_id_and_the_old_one_stops_at_once() {
    let stack = start(&[]).await;
    let old = login(&stack, "frank").await;
    let old_ttl = sessions::pttl(&mut stack.redis(), &sessions::id_of(&old));
    let reply = hook(&stack, Some(&old), &[("x-sgw-rotate", "1")]).await;
    no_hook_headers(&reply);
    let new = session_cookie(&reply).expect("rotation sets a new cookie");
    assert_ne!(new, old);
    assert_eq!(status_with(&stack, &old).await, 401);
    assert_eq!(status_with(&stack, &new).await, 200);
    let mut redis = stack.redis();
    let new_ttl = sessions::pttl(&mut redis, &sessions::id_of(&new));
    assert!(
        new_ttl <= old_ttl && old_ttl - new_ttl < 5_000,
        "the TTL carries over: {old_ttl} -> {new_ttl}"
    );
    assert_eq!(sessions::indexed(&mut redis, "frank"), [sessions::id_of(&new).as_str()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn revoke_user_ends_every_session_of_that_user_and_no_other() {
    let stack = start(&[]).await;
    let grace = [
        login(&stack, "grace").await,
        login(&stack, "grace").await,
        login(&stack, "grace").await,
    ];
    let heidi = login(&stack, "heidi").await;
    let reply = hook(&stack, Some(&heidi), &[("x-sgw-revoke-user", "grace")]).await;
    assert_eq!(reply.status, 200);
    no_hook_headers(&reply);
    assert!(session_cookie(&reply).is_none(), "heidi's own cookie is left alone");
    for cookie in &grace {
        assert_eq!(status_with(&stack, cookie).await, 401);
    }
    assert_eq!(status_with(&stack, &heidi).await, 200);
    let mut redis = stack.redis();
    let exists: i64 = redis::cmd("EXISTS")
        .arg(redis_layout::user_index_key(PREFIX, "grace"))
        .query(&mut redis)
        .unwrap();
    assert_eq!(exists, 0);
    assert_eq!(sessions::indexed(&mut redis, "heidi").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn update_merges_data_without_extending_the_absolute_lifetime() {
    let stack = start(&[]).await;
    let cookie = login(&stack, "ivan").await;
    let id = sessions::id_of(&cookie);
    let mut redis = stack.redis();
    let key = redis_layout::session_key(PREFIX, &id);
    let before: String = redis::cmd("GET").arg(&key).query(&mut redis).unwrap();
    let ttl_before = sessions::pttl(&mut redis, &id);
    let reply = hook(
        &stack,
        Some(&cookie),
        &[("x-sgw-update", r#"{"plan":null,"team":"blue"}"#)],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(session_cookie(&reply).is_none());
    let after: String = redis::cmd("GET").arg(&key).query(&mut redis).unwrap();
    let (before, after): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&before).unwrap(),
        serde_json::from_str(&after).unwrap(),
    );
    assert_eq!(after["data"], serde_json::json!({"team": "blue"}));
    assert_eq!(after["expires_at"], before["expires_at"]);
    assert_eq!(after["created_at"], before["created_at"]);
    assert!(
        sessions::pttl(&mut redis, &id) <= ttl_before,
        "the TTL is kept, not reset"
    );
    status_with(&stack, &cookie).await;
    let data = &stack.origin.requests_to("/app").pop().unwrap().headers["x-session-data"];
    let data = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(data.as_bytes())
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&data).unwrap(),
        serde_json::json!({"team": "blue"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_session_expires_and_an_active_one_does_not() {
    let stack = start(&[
        ("idle_timeout", "2"),
        ("absolute_timeout", "60"),
        ("refresh_fraction", "0.75"),
    ])
    .await;
    let active = login(&stack, "judy").await;
    let idle = login(&stack, "judy").await;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            status_with(&stack, &active).await,
            200,
            "activity keeps the session alive"
        );
    }
    assert_eq!(
        status_with(&stack, &idle).await,
        401,
        "3.2 s without a request is past the 2 s idle timeout"
    );
    let ttl = sessions::pttl(&mut stack.redis(), &sessions::id_of(&active));
    assert!((0..=2_000).contains(&ttl), "TTL never exceeds the idle timeout: {ttl}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_absolute_timeout_ends_an_active_session() {
    let stack = start(&[
        ("idle_timeout", "60"),
        ("absolute_timeout", "2"),
        ("refresh_fraction", "1"),
    ])
    .await;
    let cookie = login(&stack, "ken").await;
    let ttl = sessions::pttl(&mut stack.redis(), &sessions::id_of(&cookie));
    assert!(
        (1_000..=2_000).contains(&ttl),
        "TTL is the sooner of idle and absolute: {ttl}"
    );
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(status_with(&stack, &cookie).await);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(statuses[0], 200);
    assert_eq!(
        *statuses.last().unwrap(),
        401,
        "active for 3.5 s, absolute lifetime 2 s: {statuses:?}"
    );
}

/// Commands that write a record or its TTL (scripts' commands included), so far.
fn ttl_writes(redis: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query(redis).unwrap();
    ["cmdstat_set:calls=", "cmdstat_expire:calls="]
        .iter()
        .filter_map(|stat| info.lines().find_map(|l| l.strip_prefix(stat)))
        .filter_map(|rest| rest.split(',').next())
        .map(|n| n.parse::<u64>().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn sliding_refresh_writes_only_below_the_threshold() {
    let stack = start(&[
        ("idle_timeout", "30"),
        ("absolute_timeout", "3600"),
        ("refresh_fraction", "0.5"),
    ])
    .await;
    let cookie = login(&stack, "leo").await;
    let mut redis = stack.redis();
    let writes = ttl_writes(&mut redis);
    for _ in 0..20 {
        assert_eq!(status_with(&stack, &cookie).await, 200);
    }
    assert_eq!(ttl_writes(&mut redis), writes, "29 s of 30 left: no write");

    // Below half the idle timeout, one request extends the TTL back to the idle timeout.
    // The session is made to look last touched 20 s ago, both ways a reader can tell: its
    // TTL (outbound Redis reads) and its record (key-value reads, which see no TTL).
    let id = sessions::id_of(&cookie);
    let key = redis_layout::session_key(PREFIX, &id);
    let mut record: SessionRecordV1 =
        serde_json::from_slice(&redis::cmd("GET").arg(&key).query::<Vec<u8>>(&mut redis).unwrap()).unwrap();
    record.touched_at = Some(sessions::now() - 20);
    redis::cmd("SET")
        .arg(&key)
        .arg(record.to_json())
        .arg("PX")
        .arg(10_000)
        .query::<()>(&mut redis)
        .unwrap();
    let writes = ttl_writes(&mut redis);
    assert_eq!(status_with(&stack, &cookie).await, 200);
    let ttl = sessions::pttl(&mut redis, &id);
    assert!(ttl > 28_000, "refreshed to the idle timeout: {ttl}");
    assert_eq!(ttl_writes(&mut redis), writes + 1, "one write: the refresh");
    let refreshed: SessionRecordV1 =
        serde_json::from_slice(&redis::cmd("GET").arg(&key).query::<Vec<u8>>(&mut redis).unwrap()).unwrap();
    assert!(
        refreshed.touched_at.unwrap() >= sessions::now() - 1,
        "the record says when it was refreshed: {refreshed:?}"
    );
    for _ in 0..5 {
        assert_eq!(status_with(&stack, &cookie).await, 200);
    }
    assert_eq!(ttl_writes(&mut redis), writes + 1, "refreshed once, not again");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_sent_hook_headers_have_no_effect() {
    let stack = start(&[]).await;
    // The origin reflects any x-sgw-* header it receives: the gateway must not let them in.
    let reply = get(
        stack.gateway.addr,
        "/reflect/public",
        &[("x-sgw-login", r#"{"user_id":"mallory"}"#)],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(session_cookie(&reply).is_none());
    let victim = login(&stack, "nina").await;
    let reply = get(
        stack.gateway.addr,
        "/reflect/public",
        &[("x-sgw-revoke-user", "nina"), ("x-sgw-logout", "1")],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(status_with(&stack, &victim).await, 200);
    assert!(sessions::indexed(&mut stack.redis(), "mallory").is_empty());
    assert!(
        stack
            .origin
            .requests()
            .iter()
            .all(|r| r.headers.keys().all(|k| !k.as_str().starts_with("x-sgw-")))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_hooks_and_redis_failures_are_never_silent() {
    let mut stack = start(&[]).await;
    let reply = hook(&stack, None, &[("x-sgw-login", r#"{"user_id":"has space"}"#)]).await;
    assert_eq!(reply.status, 502, "an invalid login is refused, not half-done");
    assert!(session_cookie(&reply).is_none());
    let reply = hook(&stack, None, &[("x-sgw-login", "not json")]).await;
    assert_eq!(reply.status, 502);
    assert!(stack.gateway.logs().contains("x-sgw-login"), "{}", stack.gateway.logs());

    stack.redis.stop();
    let reply = hook(&stack, None, &[("x-sgw-login", r#"{"user_id":"olga"}"#)]).await;
    assert_eq!(
        reply.status, 503,
        "a login that could not be written is not reported as done"
    );
    assert!(session_cookie(&reply).is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn persistent_and_host_prefixed_cookies() {
    let stack = start(&[
        ("cookie_persistent", "true"),
        ("absolute_timeout", "7200"),
        ("cookie_same_site", "Strict"),
    ])
    .await;
    let reply = hook(&stack, None, &[("x-sgw-login", r#"{"user_id":"pat"}"#)]).await;
    let header = set_cookie_header(&reply);
    assert!(
        header.contains("Max-Age=7200") && header.contains("SameSite=Strict"),
        "{header}"
    );

    // The cookie settings are read when a hook writes a cookie: the login fails, and says why.
    let bad = start(&[("cookie_name", "__Host-sgw"), ("cookie_domain", "example.com")]).await;
    let reply = hook(&bad, None, &[("x-sgw-login", r#"{"user_id":"pat"}"#)]).await;
    assert_eq!(reply.status, 500);
    assert!(session_cookie(&reply).is_none());
    assert!(bad.gateway.logs().contains("`cookie_domain`"), "{}", bad.gateway.logs());
}

fn sgw(stack: &Stack, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(session_gateway_tests::gateway::ensure_cli_built())
        .args(args)
        .env("SPIN_VARIABLE_REDIS_ADDRESS", stack.redis.url())
        .env("SPIN_VARIABLE_SESSION_KEYS", KEY_A)
        .env_remove("SPIN_VARIABLE_KEY_PREFIX")
        .output()
        .expect("sgw runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_and_gateway_share_sessions() {
    let stack = start(&[]).await;
    let (code, out) = sgw(&stack, &["create", "--user", "quinn", "--data", r#"{"role":"ops"}"#]);
    assert_eq!(code, 0);
    let from_cli = out.trim().to_owned();
    assert_eq!(
        status_with(&stack, &from_cli).await,
        200,
        "a CLI session works in the gateway"
    );
    assert_eq!(
        stack.origin.requests_to("/app").pop().unwrap().headers["x-session-user"],
        "quinn"
    );

    let from_gateway = login(&stack, "quinn").await;
    let (code, out) = sgw(&stack, &["show", "--cookie", &from_gateway]);
    assert_eq!(code, 0);
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["user_id"], "quinn");
    assert_eq!(shown["valid"], true);
    let (code, out) = sgw(&stack, &["list", "--user", "quinn"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let (code, _) = sgw(&stack, &["revoke", "--cookie", &from_gateway]);
    assert_eq!(code, 0);
    assert_eq!(status_with(&stack, &from_gateway).await, 401);
    let (code, _) = sgw(&stack, &["revoke-user", "--user", "quinn"]);
    assert_eq!(code, 0);
    assert_eq!(status_with(&stack, &from_cli).await, 401);

    assert_eq!(sgw(&stack, &["show", "--cookie", &from_cli]).0, 1, "gone: exit 1");
    assert_eq!(sgw(&stack, &["show", "--cookie", "v1.forged.tag"]).0, 1);
    assert_eq!(sgw(&stack, &["create"]).0, 2, "usage error: exit 2");
    assert_eq!(sgw(&stack, &["frobnicate"]).0, 2);
    for command in ["create", "show", "list", "revoke", "revoke-user"] {
        let (code, out) = sgw(&stack, &[command, "--help"]);
        assert_eq!(code, 0, "{command} --help");
        assert!(out.starts_with(&format!("usage: sgw {command} ")), "{out}");
    }
    let (code, out) = sgw(&stack, &["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("revoke-user"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledged_login_survives_kill_9_with_aof_always() {
    let dir = std::env::temp_dir().join(format!(
        "sgw-aof-{}-{}",
        std::process::id(),
        sessions::new_id().fingerprint()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let dir_arg = dir.display().to_string();
    let redis = RedisServer::start_with(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
        "--dir",
        &dir_arg,
    ]);
    let mut stack = start_with(redis, &[]).await;
    let reply = hook(&stack, None, &[("x-sgw-login", r#"{"user_id":"rita"}"#)]).await;
    let cookie = session_cookie(&reply).expect("login acknowledged");

    stack.redis.restart(); // SIGKILL, then start again on the same port and directory
    assert_eq!(
        status_with(&stack, &cookie).await,
        200,
        "the session written before kill -9 is still there"
    );
    assert_eq!(sessions::indexed(&mut stack.redis(), "rita").len(), 1);
    drop(stack);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_revokes_everything_then_logs_in_afresh() {
    let stack = start(&[]).await;
    let (phone, laptop) = (login(&stack, "sam").await, login(&stack, "sam").await);
    let reply = hook(
        &stack,
        Some(&laptop),
        &[("x-sgw-revoke-user", "sam"), ("x-sgw-login", r#"{"user_id":"sam"}"#)],
    )
    .await;
    assert_eq!(reply.status, 200);
    let fresh = session_cookie(&reply).expect("the new session's cookie");
    assert_eq!(status_with(&stack, &phone).await, 401);
    assert_eq!(status_with(&stack, &laptop).await, 401);
    assert_eq!(status_with(&stack, &fresh).await, 200);
    assert_eq!(
        sessions::indexed(&mut stack.redis(), "sam"),
        [sessions::id_of(&fresh).as_str()]
    );
}

/// The session's data as stored in Redis.
fn stored_data(stack: &Stack, cookie: &str) -> serde_json::Value {
    let key = redis_layout::session_key(PREFIX, &sessions::id_of(cookie));
    let record: String = redis::cmd("GET").arg(&key).query(&mut stack.redis()).unwrap();
    serde_json::from_str::<serde_json::Value>(&record).unwrap()["data"].clone()
}

/// An update hook whose origin answers 600 ms after the gateway loaded the session.
fn slow_update(stack: &Stack, cookie: &str, update: &'static str) -> tokio::task::JoinHandle<Reply> {
    let (addr, c) = (stack.gateway.addr, format!("sgw_session={cookie}"));
    tokio::spawn(async move {
        get(
            addr,
            "/reflect/app",
            &[
                ("cookie", &c),
                ("x-origin-delay-ms", "600"),
                ("x-reflect-x-sgw-update", update),
            ],
        )
        .await
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_updates_to_different_keys_both_survive() {
    let stack = start(&[]).await;
    let cookie = login(&stack, "olga").await;
    // The slow request loads the record first and answers last: before the fix, its write
    // of the record as it loaded it undid the fast request's change.
    let slow = slow_update(&stack, &cookie, r#"{"slow":1,"plan":"team"}"#);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let fast = hook(&stack, Some(&cookie), &[("x-sgw-update", r#"{"fast":2,"empty":[]}"#)]).await;
    assert_eq!(fast.status, 200, "{}", fast.text());
    assert_eq!(
        stored_data(&stack, &cookie),
        serde_json::json!({"plan": "pro", "fast": 2, "empty": []})
    );
    let slow = slow.await.unwrap();
    assert_eq!(slow.status, 200, "{}", slow.text());
    assert_eq!(
        stored_data(&stack, &cookie),
        serde_json::json!({"plan": "team", "fast": 2, "slow": 1, "empty": []}),
        "both updates are kept, and an untouched empty array stays an array"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn login_with_update_or_rotate_in_the_same_response_applies_them_in_order() {
    let stack = start(&[]).await;
    let old = login(&stack, "pavel").await;
    let reply = hook(
        &stack,
        Some(&old),
        &[
            ("x-sgw-login", r#"{"user_id":"pavel","data":{"plan":"free","seat":1}}"#),
            ("x-sgw-update", r#"{"plan":"pro","seat":null}"#),
            ("x-sgw-rotate", "1"),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    no_hook_headers(&reply);
    let cookies: Vec<_> = reply.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies.len(), 1, "one session cookie: {cookies:?}");
    let new = session_cookie(&reply).unwrap();
    assert_ne!(new, old);
    assert_eq!(status_with(&stack, &old).await, 401, "the session before login is gone");
    assert_eq!(status_with(&stack, &new).await, 200);
    assert_eq!(
        stored_data(&stack, &new),
        serde_json::json!({"plan": "pro"}),
        "the update applied after the login"
    );
    assert_eq!(
        sessions::indexed(&mut stack.redis(), "pavel"),
        [sessions::id_of(&new).as_str()]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_response_that_sets_the_session_cookie_is_private() {
    let stack = start(&[]).await;
    let reply = hook(
        &stack,
        None,
        &[
            ("x-sgw-login", r#"{"user_id":"quinn"}"#),
            ("cache-control", "public, max-age=600, s-maxage=3600"),
        ],
    )
    .await;
    assert!(session_cookie(&reply).is_some());
    assert_eq!(
        reply.headers.get_all("cache-control").iter().collect::<Vec<_>>(),
        ["max-age=600, private"]
    );
    let cookie = session_cookie(&reply).unwrap();
    let reply = hook(&stack, Some(&cookie), &[("x-sgw-logout", "1")]).await;
    assert_eq!(reply.header("cache-control"), Some("private"), "an expiring cookie too");
    let reply = hook(&stack, None, &[("cache-control", "public, max-age=60")]).await;
    assert_eq!(
        reply.header("cache-control"),
        Some("public, max-age=60"),
        "responses that set no cookie keep the origin's caching"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_that_lost_its_session_to_a_rotate_is_not_silent() {
    let stack = start(&[]).await;
    let cookie = login(&stack, "rosa").await;
    let slow = slow_update(&stack, &cookie, r#"{"elevated":null}"#);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let rotated = hook(&stack, Some(&cookie), &[("x-sgw-rotate", "1")]).await;
    let new = session_cookie(&rotated).expect("rotated");
    let slow = slow.await.unwrap();
    assert_eq!(slow.status, 503, "the update could not be written: {}", slow.text());
    assert!(session_cookie(&slow).is_none());
    assert_eq!(status_with(&stack, &new).await, 200);
    assert!(
        stack.gateway.logs().contains("before its update was written"),
        "{}",
        stack.gateway.logs()
    );
}
