//! Sessions that frameworks already keep in Redis, read by the gateway as they are. Each
//! test logs in through the real framework app (pinned in tests/frameworks/<name>), then
//! sends the app's own cookie through the gateway, which forwards to that same app.

use session_gateway_tests::spring_sessions::{
    self, PRINCIPAL_NAME, cookie as spring_cookie, hex, jdk_integer, jdk_long, jdk_string, now_ms,
};
use session_gateway_tests::{FrameworkApp, Gateway, RedisServer, Reply};

const SECRET: &str = "keyboard cat";
const NEW_SECRET: &str = "a newer secret";

fn set_cookie(reply: &Reply) -> String {
    let value = reply.header("set-cookie").expect("the app sets its cookie");
    value.split(';').next().unwrap().to_owned()
}

/// The gateway in front of `app`, reading its sessions in `format` with `secrets`.
async fn framework_gateway(
    redis: &RedisServer,
    app: &FrameworkApp,
    format: &str,
    secrets: &str,
    extra: &[(&str, &str)],
) -> Gateway {
    let (origin, redis_url) = (app.url(), redis.url());
    let mut vars = vec![
        ("origin_url", origin.as_str()),
        ("redis_address", redis_url.as_str()),
        ("session_format", format),
        ("session_keys", secrets),
        ("cookie_secure", "false"),
    ];
    vars.extend_from_slice(extra);
    Gateway::start(&vars).await
}

async fn express_gateway(redis: &RedisServer, app: &FrameworkApp, secrets: &str, extra: &[(&str, &str)]) -> Gateway {
    framework_gateway(redis, app, "express", secrets, extra).await
}

async fn whoami(gateway: &Gateway, cookie: &str) -> Reply {
    session_gateway_tests::client::get(gateway.addr, "/whoami", &[("cookie", cookie)]).await
}

fn forwarded(reply: &Reply) -> serde_json::Value {
    serde_json::from_slice(&reply.body).expect("the app echoes the headers it got")
}

/// The session data the gateway forwarded, decoded from its header.
fn forwarded_data(seen: &serde_json::Value) -> serde_json::Value {
    let header = seen["x-session-data"].as_str().expect("a data header");
    let json = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap();
    serde_json::from_slice(&json).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_express_login_is_accepted_and_its_logout_ends_it() {
    let redis = RedisServer::start();
    let app = FrameworkApp::express(&redis.url(), SECRET, None);
    let gateway = express_gateway(&redis, &app, SECRET, &[]).await;

    let cookie = set_cookie(&app.post("/login?user=alice", None).await);
    assert!(cookie.starts_with("connect.sid=s%3A"), "{cookie}");
    let reply = whoami(&gateway, &cookie).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = forwarded(&reply);
    assert_eq!(seen["x-session-user"], "alice");
    let data = forwarded_data(&seen);
    assert_eq!(data["role"], "member", "the session's data as the app stored it");

    assert_eq!(app.post("/logout", Some(&cookie)).await.status, 200);
    assert_eq!(whoami(&gateway, &cookie).await.status, 401, "logged out in the app");
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_anonymous_and_spoofed_requests_are_refused() {
    let redis = RedisServer::start();
    let app = FrameworkApp::express(&redis.url(), SECRET, None);
    let gateway = express_gateway(&redis, &app, SECRET, &[]).await;

    let cookie = set_cookie(&app.post("/login?user=bob", None).await);
    let (name, value) = cookie.split_once('=').unwrap();
    let mut bytes = value.as_bytes().to_vec();
    let i = bytes.len() - 3;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{name}={}", String::from_utf8(bytes).unwrap());
    assert_eq!(whoami(&gateway, &tampered).await.status, 401, "tampered signature");

    // The id alone, unsigned: express-session itself ignores it, so does the gateway.
    let id = urlencoded_id(value);
    assert_eq!(whoami(&gateway, &format!("connect.sid={id}")).await.status, 401);

    let anonymous = set_cookie(&app.post("/visit", None).await);
    assert_eq!(
        whoami(&gateway, &anonymous).await.status,
        401,
        "a session nobody logged into"
    );

    let spoof = session_gateway_tests::client::get(
        gateway.addr,
        "/whoami",
        &[
            ("cookie", &cookie),
            ("x-session-user", "admin"),
            ("x_session_user", "admin"),
        ],
    )
    .await;
    assert_eq!(spoof.status, 200);
    let seen = forwarded(&spoof);
    assert_eq!(seen["x-session-user"], "bob");
    assert!(seen.get("x_session_user").is_none());
}

fn urlencoded_id(value: &str) -> String {
    value.trim_start_matches("s%3A").split('.').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_express_session_ends_when_express_says_it_does() {
    let redis = RedisServer::start();
    // connect-redis sets the key's TTL from cookie.expires: 1.5 s, rounded up to 2 s.
    let app = FrameworkApp::express(&redis.url(), SECRET, Some(1500));
    let gateway = express_gateway(&redis, &app, SECRET, &[]).await;
    let cookie = set_cookie(&app.post("/login?user=carol", None).await);
    assert_eq!(whoami(&gateway, &cookie).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2600)).await;
    assert_eq!(whoami(&gateway, &cookie).await.status, 401, "past its max age");

    // A record whose cookie.expires has passed is refused even while Redis still holds it
    // (a TTL lost to a restore or a PERSIST).
    let cookie = set_cookie(&app.post("/login?user=carol", None).await);
    let mut conn = redis.connection().unwrap();
    let key = format!("sess:{}", urlencoded_id(cookie.split_once('=').unwrap().1));
    redis::cmd("PERSIST").arg(&key).query::<()>(&mut conn).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(whoami(&gateway, &cookie).await.status, 401, "expired by cookie.expires");
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_survive_a_secret_rotation() {
    let redis = RedisServer::start();
    let before = FrameworkApp::express(&redis.url(), SECRET, None);
    let old_cookie = set_cookie(&before.post("/login?user=dave", None).await);
    drop(before);

    // The app and the gateway both get the new secret first and keep the old one.
    let rotated = format!("{NEW_SECRET},{SECRET}");
    let app = FrameworkApp::express(&redis.url(), &rotated, None);
    let gateway = express_gateway(&redis, &app, &rotated, &[]).await;
    assert_eq!(
        whoami(&gateway, &old_cookie).await.status,
        200,
        "signed with the old secret"
    );
    let new_cookie = set_cookie(&app.post("/login?user=erin", None).await);
    assert_ne!(old_cookie.split('.').nth(1), new_cookie.split('.').nth(1));
    let reply = whoami(&gateway, &new_cookie).await;
    assert_eq!(reply.status, 200);
    assert_eq!(forwarded(&reply)["x-session-user"], "erin");

    // With the old secret retired, its cookies stop working.
    let retired = express_gateway(&redis, &app, NEW_SECRET, &[]).await;
    assert_eq!(whoami(&retired, &old_cookie).await.status, 401);
    assert_eq!(whoami(&retired, &new_cookie).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn only_allowed_keys_reach_the_data_header_and_hooks_are_refused() {
    let redis = RedisServer::start();
    let app = FrameworkApp::express(&redis.url(), SECRET, None);
    let gateway = express_gateway(&redis, &app, SECRET, &[("session_data_keys", "role")]).await;
    let cookie = set_cookie(&app.post("/login?user=fay", None).await);
    let reply = whoami(&gateway, &cookie).await;
    assert_eq!(
        forwarded_data(&forwarded(&reply)),
        serde_json::json!({"role": "member"})
    );

    // The gateway only reads an Express app's sessions: a native hook from the origin is a
    // configuration mistake, answered 502, never a session the app does not know.
    let origin = session_gateway_tests::Origin::start().await;
    let (origin_url, redis_url) = (origin.url(), redis.url());
    let hooked = Gateway::start(&[
        ("origin_url", origin_url.as_str()),
        ("redis_address", redis_url.as_str()),
        ("session_format", "express"),
        ("session_keys", SECRET),
        ("public_paths", "/reflect/public"),
    ])
    .await;
    let reply = session_gateway_tests::client::get(
        hooked.addr,
        "/reflect/public",
        &[("x-reflect-x-sgw-login", r#"{"user_id":"mallory"}"#)],
    )
    .await;
    assert_eq!(reply.status, 502);
    assert!(reply.header("set-cookie").is_none());
    assert!(
        hooked.logs().contains("hooks need `session_format = native`"),
        "{}",
        hooked.logs()
    );
}

// ---- flask: Flask-Session 0.8 (Redis backend) with Flask-Login ----

const FLASK_SECRET: &str = "flask secret key";

async fn flask_gateway(redis: &RedisServer, app: &FrameworkApp, signed: bool) -> Gateway {
    let signed = if signed { "true" } else { "false" };
    framework_gateway(redis, app, "flask", FLASK_SECRET, &[("session_cookie_signed", signed)]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flask_login_is_accepted_in_each_serialization_until_logout() {
    let redis = RedisServer::start();
    for format in ["msgpack", "json"] {
        let app = FrameworkApp::flask(&redis.url(), FLASK_SECRET, false, format, 3600);
        let gateway = flask_gateway(&redis, &app, false).await;
        let cookie = set_cookie(&app.post("/login?user=alice", None).await);
        assert!(cookie.starts_with("session="), "{cookie}");
        let reply = whoami(&gateway, &cookie).await;
        assert_eq!(reply.status, 200, "{format}: {}", reply.text());
        let seen = forwarded(&reply);
        assert_eq!(seen["x-session-user"], "alice", "{format}");
        let data = forwarded_data(&seen);
        assert_eq!(data["role"], "member", "{format}");

        assert_eq!(app.post("/logout", Some(&cookie)).await.status, 200);
        assert_eq!(whoami(&gateway, &cookie).await.status, 401, "{format}: logged out");
        let anonymous = set_cookie(&app.post("/visit", None).await);
        assert_eq!(
            whoami(&gateway, &anonymous).await.status,
            401,
            "{format}: nobody logged in"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_flask_cookies_are_verified_and_pickles_never_read() {
    let redis = RedisServer::start();
    let app = FrameworkApp::flask(&redis.url(), FLASK_SECRET, true, "msgpack", 3600);
    let gateway = flask_gateway(&redis, &app, true).await;
    let cookie = set_cookie(&app.post("/login?user=bob", None).await);
    let (id, _) = cookie
        .trim_start_matches("session=")
        .split_once('.')
        .expect("signed: id.signature");
    assert_eq!(whoami(&gateway, &cookie).await.status, 200);
    assert_eq!(
        whoami(&gateway, &format!("session={id}")).await.status,
        401,
        "the id without its signature"
    );
    let mut tampered = cookie.clone().into_bytes();
    let i = tampered.len() - 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        whoami(&gateway, &String::from_utf8(tampered).unwrap()).await.status,
        401
    );
    let wrong_key = framework_gateway(
        &redis,
        &app,
        "flask",
        "another key",
        &[("session_cookie_signed", "true")],
    )
    .await;
    assert_eq!(whoami(&wrong_key, &cookie).await.status, 401, "signed with another key");

    // Flask-Session before 0.7 pickled the session; the gateway never unpickles. A pickle
    // that would run code when loaded, under a valid id and signature:
    let pickle = b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94\x8c\x05touch\x94\x85\x94R\x94.";
    redis::cmd("SET")
        .arg(format!("session:{id}"))
        .arg(&pickle[..])
        .query::<()>(&mut redis.connection().unwrap())
        .unwrap();
    assert_eq!(whoami(&gateway, &cookie).await.status, 401);
    assert!(gateway.logs().contains("pickle is never read"), "{}", gateway.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flask_session_ends_with_its_lifetime() {
    let redis = RedisServer::start();
    let app = FrameworkApp::flask(&redis.url(), FLASK_SECRET, false, "msgpack", 2);
    let gateway = flask_gateway(&redis, &app, false).await;
    let cookie = set_cookie(&app.post("/login?user=carol", None).await);
    assert_eq!(whoami(&gateway, &cookie).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(
        whoami(&gateway, &cookie).await.status,
        401,
        "PERMANENT_SESSION_LIFETIME passed"
    );
}

// ---- django: cache-backed sessions on Django's Redis cache, with django.contrib.auth ----

async fn django_gateway(redis: &RedisServer, app: &FrameworkApp) -> Gateway {
    // Django's session cookie is unsigned: the variable is required, and unused.
    framework_gateway(redis, app, "django", "unused", &[]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_django_login_is_accepted_until_logout() {
    let redis = RedisServer::start();
    let app = FrameworkApp::django(&redis.url(), 3600);
    let gateway = django_gateway(&redis, &app).await;
    let cookie = set_cookie(&app.post("/login?user=alice", None).await);
    assert!(cookie.starts_with("sessionid="), "{cookie}");
    let reply = whoami(&gateway, &cookie).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = forwarded(&reply);
    assert_eq!(seen["x-session-user"], "1", "Django keeps the user's primary key");
    let data = forwarded_data(&seen);
    assert_eq!(data["role"], "member");
    assert_eq!(data["_auth_user_backend"], "django.contrib.auth.backends.ModelBackend");

    let mut tampered = cookie.clone().into_bytes();
    let i = tampered.len() - 1;
    tampered[i] = if tampered[i] == b'a' { b'b' } else { b'a' };
    assert_eq!(
        whoami(&gateway, &String::from_utf8(tampered).unwrap()).await.status,
        401
    );
    let anonymous = set_cookie(&app.post("/visit", None).await);
    assert_eq!(whoami(&gateway, &anonymous).await.status, 401, "nobody logged in");

    assert_eq!(app.post("/logout", Some(&cookie)).await.status, 200);
    assert_eq!(whoami(&gateway, &cookie).await.status, 401, "logged out in the app");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_django_session_ends_with_its_age_and_a_hostile_pickle_is_never_run() {
    let redis = RedisServer::start();
    let app = FrameworkApp::django(&redis.url(), 2);
    let gateway = django_gateway(&redis, &app).await;
    let cookie = set_cookie(&app.post("/login?user=bob", None).await);
    assert_eq!(whoami(&gateway, &cookie).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(whoami(&gateway, &cookie).await.status, 401, "past SESSION_COOKIE_AGE");

    // A pickle that would run a command if Python unpickled it, under a key Django could hold.
    let marker = std::env::temp_dir().join(format!("sgw-pwned-{}", session_gateway_tests::free_port()));
    let command = format!("touch {}", marker.display());
    let mut pickle = b"\x80\x05}\x94\x8c\x0d_auth_user_id\x94\x8c\x05posix\x8c\x06system\x93".to_vec();
    pickle.push(0x8c);
    pickle.push(command.len() as u8);
    pickle.extend(command.as_bytes());
    pickle.extend(b"\x85Rs.");
    let id = "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz";
    redis::cmd("SET")
        .arg(format!(":1:django.contrib.sessions.cache{id}"))
        .arg(pickle)
        .query::<()>(&mut redis.connection().unwrap())
        .unwrap();
    assert_eq!(whoami(&gateway, &format!("sessionid={id}")).await.status, 401);
    assert!(!marker.exists());
    assert!(gateway.logs().contains("not plain data"), "{}", gateway.logs());
}

// ---- the framework's touch-on-read, done at the edge (`session_touch_secs`) ----

fn ttl_secs(redis: &RedisServer, key: &str) -> i64 {
    let mut conn = redis.connection().unwrap();
    redis::cmd("TTL").arg(key).query(&mut conn).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_touch_sets_the_apps_lifetime_again_only_when_half_of_it_is_gone() {
    let redis = RedisServer::start();
    // Django itself does not touch a session it only reads, so what moves the TTL is the gateway.
    let app = FrameworkApp::django(&redis.url(), 600);
    let cookie = set_cookie(&app.post("/login?user=alice", None).await);
    let key = format!(":1:django.contrib.sessions.cache{}", cookie.split_once('=').unwrap().1);

    let untouched = django_gateway(&redis, &app).await;
    assert_eq!(whoami(&untouched, &cookie).await.status, 200);
    assert!(ttl_secs(&redis, &key) <= 600, "off by default");

    // Reads through outbound Redis give the TTL, so the touch can wait until it is due.
    let touching = framework_gateway(
        &redis,
        &app,
        "django",
        "unused",
        &[("session_touch_secs", "1000"), ("session_reads", "redis")],
    )
    .await;
    // 600 s left of 1000: over half, so nothing is written.
    assert_eq!(whoami(&touching, &cookie).await.status, 200);
    assert!(
        ttl_secs(&redis, &key) <= 600,
        "no touch while over half of the lifetime is left"
    );

    let mut conn = redis.connection().unwrap();
    redis::cmd("EXPIRE").arg(&key).arg(400).query::<()>(&mut conn).unwrap();
    assert_eq!(whoami(&touching, &cookie).await.status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while ttl_secs(&redis, &key) <= 400 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        ttl_secs(&redis, &key) > 990,
        "touched back to the lifetime: {}",
        ttl_secs(&redis, &key)
    );

    // Key-value reads come without the TTL: the touch script itself checks it, so the same
    // rule holds, and a key the app stored without a TTL keeps none.
    let (origin, redis_url) = (app.url(), redis.url());
    let key_value = Gateway::start_reading_key_value(
        &[
            ("origin_url", origin.as_str()),
            ("redis_address", redis_url.as_str()),
            ("session_format", "django"),
            ("session_keys", "unused"),
            ("cookie_secure", "false"),
            ("session_touch_secs", "1000"),
        ],
        &redis_url,
    )
    .await;
    redis::cmd("EXPIRE").arg(&key).arg(700).query::<()>(&mut conn).unwrap();
    assert_eq!(whoami(&key_value, &cookie).await.status, 200);
    assert!(ttl_secs(&redis, &key) <= 700, "over half left: untouched");
    redis::cmd("EXPIRE").arg(&key).arg(300).query::<()>(&mut conn).unwrap();
    assert_eq!(whoami(&key_value, &cookie).await.status, 200);
    assert!(ttl_secs(&redis, &key) > 990, "touched with 300 s of 1000 left");
    redis::cmd("PERSIST").arg(&key).query::<()>(&mut conn).unwrap();
    assert_eq!(whoami(&key_value, &cookie).await.status, 200);
    assert_eq!(ttl_secs(&redis, &key), -1, "no TTL added where the app set none");

    // Refused sessions are never touched: an anonymous one keeps its TTL.
    let anonymous = set_cookie(&app.post("/visit", None).await);
    let anonymous_key = format!(
        ":1:django.contrib.sessions.cache{}",
        anonymous.split_once('=').unwrap().1
    );
    redis::cmd("EXPIRE")
        .arg(&anonymous_key)
        .arg(100)
        .query::<()>(&mut conn)
        .unwrap();
    assert_eq!(whoami(&touching, &anonymous).await.status, 401);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        ttl_secs(&redis, &anonymous_key) <= 100,
        "an anonymous session is not the gateway's to keep alive"
    );
}

// ---- spring: Spring Session Data Redis hashes. No JVM registry is reachable, so no Spring
// app runs here: the values are the bytes Java's ObjectOutputStream writes (the unit tests
// hold fixtures made by the JDK itself, tests/frameworks/spring/Fixtures.java). ----

const SPRING_ID: &str = "33fdd1b6-b496-4b33-9f7d-df96679d32fe";

fn store_spring_session(
    redis: &RedisServer,
    id: &str,
    idle_ms: i64,
    max_inactive_secs: i32,
    attributes: &[(&str, Vec<u8>)],
) {
    spring_sessions::store(
        &mut redis.connection().unwrap(),
        id,
        idle_ms,
        max_inactive_secs,
        attributes,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spring_session_is_read_from_its_hash_with_java_serialized_values() {
    let stack = session_gateway_tests::Stack::start(&[("session_format", "spring")]).await;
    let map = "aced0005737200116a6176612e7574696c2e486173684d61700507dac1c31660d103000246000a6c6f6164466163746f724900097468726573686f6c6478703f4000000000000c77080000001000000001740004726f6c6574000561646d696e78";
    store_spring_session(
        &stack.redis,
        SPRING_ID,
        1000,
        1800,
        &[
            (PRINCIPAL_NAME, jdk_string("alice")),
            ("visits", jdk_integer(3)),
            ("preferences", hex(map)),
        ],
    );
    let cookie = spring_cookie(SPRING_ID);
    let reply = stack.get("/p", &[("cookie", &cookie)]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = &stack.origin.requests_to("/p")[0];
    assert_eq!(seen.headers["x-session-user"], "alice");
    let data: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            seen.headers["x-session-data"].to_str().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(data["visits"], 3, "an Integer read as Java wrote it");
    assert_eq!(
        data["preferences"],
        serde_json::json!({"@opaque": "java-serialization"}),
        "a HashMap is never deserialized"
    );

    // The bare id, not base64 as Spring sets it; another id; a tampered value.
    for bad in [
        format!("SESSION={SPRING_ID}"),
        spring_cookie("33fdd1b6-b496-4b33-9f7d-df96679d32ff"),
        format!("{cookie}x"),
    ] {
        assert_eq!(stack.get("/p", &[("cookie", &bad)]).await.status, 401, "{bad}");
    }
    // A visitor's session: no principal name.
    let visitor = "8d3c5f2e-0b7a-4c1d-9e6f-2a4b6c8d0e1f";
    store_spring_session(&stack.redis, visitor, 1000, 1800, &[("visits", jdk_integer(1))]);
    assert_eq!(
        stack.get("/p", &[("cookie", &spring_cookie(visitor))]).await.status,
        401
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spring_session_ends_by_its_own_times_even_while_the_key_lives_on() {
    let stack = session_gateway_tests::Stack::start(&[("session_format", "spring")]).await;
    // RedisIndexedSessionRepository keeps the key 5 minutes past the session's end: idle for
    // 31 minutes of 30, the key is still there, and the session is over.
    store_spring_session(
        &stack.redis,
        SPRING_ID,
        31 * 60 * 1000,
        1800,
        &[(PRINCIPAL_NAME, jdk_string("bob"))],
    );
    let cookie = spring_cookie(SPRING_ID);
    assert_eq!(
        stack.get("/p", &[("cookie", &cookie)]).await.status,
        401,
        "idle past maxInactiveInterval"
    );

    // Active again (the app moved lastAccessedTime): alive.
    let mut conn = stack.redis();
    redis::cmd("HSET")
        .arg(format!("spring:session:sessions:{SPRING_ID}"))
        .arg("lastAccessedTime")
        .arg(jdk_long(now_ms()))
        .query::<()>(&mut conn)
        .unwrap();
    assert_eq!(stack.get("/p", &[("cookie", &cookie)]).await.status, 200);

    // A key of the wrong type is no session, not an outage.
    let other = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
    redis::cmd("SET")
        .arg(format!("spring:session:sessions:{other}"))
        .arg("not a hash")
        .query::<()>(&mut conn)
        .unwrap();
    assert_eq!(stack.get("/p", &[("cookie", &spring_cookie(other))]).await.status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spring_session_in_json_points_into_the_security_context() {
    let context = r#"{"@class":"org.springframework.security.core.context.SecurityContextImpl","authentication":{"@class":"org.springframework.security.authentication.UsernamePasswordAuthenticationToken","principal":{"@class":"org.springframework.security.core.userdetails.User","username":"carol","password":null,"accountNonExpired":true,"accountNonLocked":true,"credentialsNonExpired":true,"enabled":true,"authorities":["java.util.Collections$UnmodifiableSet",[{"@class":"org.springframework.security.core.authority.SimpleGrantedAuthority","authority":"ROLE_USER"}]]},"credentials":null,"authenticated":true,"details":null,"authorities":["java.util.Collections$UnmodifiableRandomAccessList",[{"@class":"org.springframework.security.core.authority.SimpleGrantedAuthority","authority":"ROLE_USER"}]]}}"#;
    let stack = session_gateway_tests::Stack::start(&[
        ("session_format", "spring"),
        ("session_serializer", "json"),
        (
            "session_user_pointer",
            "/SPRING_SECURITY_CONTEXT/authentication/principal/username",
        ),
        ("session_data_keys", "theme"),
    ])
    .await;
    let mut conn = stack.redis();
    let now = now_ms();
    redis::cmd("HSET")
        .arg(format!("spring:session:sessions:{SPRING_ID}"))
        .arg("creationTime")
        .arg(now.to_string())
        .arg("lastAccessedTime")
        .arg(now.to_string())
        .arg("maxInactiveInterval")
        .arg("1800")
        .arg("sessionAttr:SPRING_SECURITY_CONTEXT")
        .arg(context)
        .arg("sessionAttr:theme")
        .arg("\"dark\"")
        .query::<()>(&mut conn)
        .unwrap();
    let reply = stack.get("/p", &[("cookie", &spring_cookie(SPRING_ID))]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = &stack.origin.requests_to("/p")[0];
    assert_eq!(seen.headers["x-session-user"], "carol");
    let data = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        seen.headers["x-session-data"].to_str().unwrap(),
    )
    .unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&data).unwrap(),
        serde_json::json!({"theme": "dark"}),
        "the security context stays out of the data header"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn spring_refuses_what_it_cannot_do_and_fails_closed() {
    let origin = session_gateway_tests::Origin::start().await;
    let redis = RedisServer::start();
    let (o, r) = (origin.url(), redis.url());
    for (name, value) in [("session_touch_secs", "1800"), ("session_serializer", "kryo")] {
        let gateway = session_gateway_tests::Gateway::start(&[
            ("origin_url", &o),
            ("redis_address", &r),
            ("session_keys", "unused"),
            ("session_format", "spring"),
            (name, value),
        ])
        .await;
        let reply =
            session_gateway_tests::client::get(gateway.addr, "/p", &[("cookie", &spring_cookie(SPRING_ID))]).await;
        assert_eq!(reply.status, 500, "{name}");
        assert!(
            gateway.logs().contains(&format!("variable `{name}`")),
            "{}",
            gateway.logs()
        );
    }
    let mut stack = session_gateway_tests::Stack::start(&[("session_format", "spring")]).await;
    store_spring_session(
        &stack.redis,
        SPRING_ID,
        0,
        1800,
        &[(PRINCIPAL_NAME, jdk_string("dave"))],
    );
    let cookie = spring_cookie(SPRING_ID);
    assert_eq!(stack.get("/p", &[("cookie", &cookie)]).await.status, 200);
    stack.redis.stop();
    assert_eq!(
        stack.get("/p", &[("cookie", &cookie)]).await.status,
        503,
        "Redis down: fail closed"
    );
    assert_eq!(
        stack.origin.requests_to("/p").len(),
        1,
        "nothing forwarded while Redis is down"
    );
}

// ---- laravel: Laravel 8's own components (Debian's), the Redis session driver ----

const LARAVEL_KEY: &str = "base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const LARAVEL_NEW_KEY: &str = "base64:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

/// The `name=...` pair among the reply's cookies.
fn cookie_named(reply: &Reply, name: &str) -> String {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap().to_owned())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("the app sets {name}: {:?}", reply.headers))
}

/// The gateway set for an app made from Laravel 8's skeleton: its cookie name and key layout.
async fn laravel_gateway(redis: &RedisServer, app: &FrameworkApp, keys: &str) -> Gateway {
    framework_gateway(
        redis,
        app,
        "laravel",
        keys,
        &[
            ("cookie_name", "laravel_session"),
            ("key_prefix", "laravel_database_laravel_cache:"),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_laravel_login_is_accepted_until_logout_and_tampering_is_refused() {
    let redis = RedisServer::start();
    let app = FrameworkApp::laravel(&redis.url(), LARAVEL_KEY, 120, "laravel_session");
    let gateway = laravel_gateway(&redis, &app, LARAVEL_KEY).await;

    let cookie = cookie_named(&app.post("/login?user=alice", None).await, "laravel_session");
    let reply = whoami(&gateway, &cookie).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = forwarded(&reply);
    assert_eq!(seen["x-session-user"], "alice", "SessionGuard's login_web_<sha1> entry");
    let data = forwarded_data(&seen);
    assert_eq!(data["role"], "member");
    assert!(
        data["_token"].is_string(),
        "Laravel's CSRF token is in the session: {data}"
    );

    // One byte changed anywhere in the encrypted value: the MAC refuses it.
    let (name, value) = cookie.split_once('=').unwrap();
    for i in [0, value.len() / 2, value.len() - 4] {
        let mut bytes = value.as_bytes().to_vec();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = format!("{name}={}", String::from_utf8(bytes).unwrap());
        assert_eq!(whoami(&gateway, &tampered).await.status, 401, "byte {i}");
    }
    // A visitor's session (no login entry) is nobody's.
    let visitor = cookie_named(&app.post("/visit", None).await, "laravel_session");
    assert_eq!(whoami(&gateway, &visitor).await.status, 401);

    // A cookie the same app encrypted, with the same key, for another cookie name: its
    // session exists in Redis, and only Laravel's cookie-value prefix tells it apart.
    let other_app = FrameworkApp::laravel(&redis.url(), LARAVEL_KEY, 120, "laravel_other");
    let other = cookie_named(&other_app.post("/login?user=mallory", None).await, "laravel_other");
    let swapped = format!("laravel_session={}", other.split_once('=').unwrap().1);
    assert_eq!(
        whoami(&gateway, &swapped).await.status,
        401,
        "encrypted for another cookie"
    );

    // PHP reads `laravel.session` as `laravel_session`, and keeps the first: so does the
    // gateway, or the user it forwards and the session the app uses would differ.
    let bob = cookie_named(&app.post("/login?user=bob", None).await, "laravel_session");
    let bob_value = bob.split_once('=').unwrap().1;
    let planted = format!("laravel.session={bob_value}; {cookie}");
    let reply = whoami(&gateway, &planted).await;
    assert_eq!(reply.status, 200);
    assert_eq!(forwarded(&reply)["x-session-user"], "bob", "the cookie PHP puts first");
    let as_array = format!("laravel_session[x]={bob_value}; {cookie}");
    assert_eq!(
        whoami(&gateway, &as_array).await.status,
        401,
        "an array: PHP has no session id"
    );

    assert_eq!(app.post("/logout", Some(&cookie)).await.status, 200);
    assert_eq!(whoami(&gateway, &cookie).await.status, 401, "logged out in the app");
}

#[tokio::test(flavor = "multi_thread")]
async fn laravel_sessions_survive_a_key_rotation_and_end_with_their_key() {
    let redis = RedisServer::start();
    let app = FrameworkApp::laravel(&redis.url(), LARAVEL_KEY, 120, "laravel_session");
    let cookie = cookie_named(&app.post("/login?user=42", None).await, "laravel_session");

    // APP_KEY rotated: the new key first, the old one in APP_PREVIOUS_KEYS (Laravel 11+).
    let rotated = laravel_gateway(&redis, &app, &format!("{LARAVEL_NEW_KEY},{LARAVEL_KEY}")).await;
    let reply = whoami(&rotated, &cookie).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        forwarded(&reply)["x-session-user"],
        "42",
        "an integer id, as Eloquent keys are"
    );
    let retired = laravel_gateway(&redis, &app, LARAVEL_NEW_KEY).await;
    assert_eq!(whoami(&retired, &cookie).await.status, 401, "the old key retired");

    // The key's TTL is the session's lifetime: once Redis drops it, the session is over.
    let mut conn = redis.connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("laravel_database_laravel_cache:*")
        .query(&mut conn)
        .unwrap();
    assert!(!keys.is_empty());
    let ttl: i64 = redis::cmd("TTL").arg(&keys[0]).query(&mut conn).unwrap();
    assert!(ttl > 7000 && ttl <= 7200, "SESSION_LIFETIME in seconds: {ttl}");
    for key in &keys {
        redis::cmd("PEXPIRE").arg(key).arg(1).query::<()>(&mut conn).unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(whoami(&rotated, &cookie).await.status, 401, "expired in Redis");
}

// ---- php: native PHP sessions on phpredis's save handler ----

async fn php_gateway(redis: &RedisServer, app: &FrameworkApp, extra: &[(&str, &str)]) -> Gateway {
    framework_gateway(redis, app, "php", "unused", extra).await
}

fn php_key(cookie: &str) -> String {
    format!("PHPREDIS_SESSION:{}", cookie.split_once('=').unwrap().1)
}

#[tokio::test(flavor = "multi_thread")]
async fn php_logins_are_accepted_in_both_serialize_handlers_until_logout() {
    let redis = RedisServer::start();
    for handler in ["php", "php_serialize"] {
        let app = FrameworkApp::php(&redis.url(), redis.port, handler, 1440, &[]);
        let extra = [("session_serializer", handler)];
        let gateway = php_gateway(&redis, &app, &extra).await;
        let cookie = cookie_named(&app.post("/login?user=alice", None).await, "PHPSESSID");
        let reply = whoami(&gateway, &cookie).await;
        assert_eq!(reply.status, 200, "{handler}: {}", reply.text());
        let seen = forwarded(&reply);
        assert_eq!(seen["x-session-user"], "alice", "{handler}");
        let data = forwarded_data(&seen);
        assert_eq!(data["role"], "member");
        assert_eq!(
            data["logged_in_at"],
            serde_json::json!({"__PHP_Incomplete_Class_Name": "DateTimeImmutable"}),
            "an object stays opaque"
        );

        // The other handler's reading of the same record is refused, not misread.
        let other = if handler == "php" { "php_serialize" } else { "php" };
        let mismatched = php_gateway(&redis, &app, &[("session_serializer", other)]).await;
        assert_eq!(
            whoami(&mismatched, &cookie).await.status,
            401,
            "{handler} read as {other}"
        );

        let visitor = cookie_named(&app.post("/visit", None).await, "PHPSESSID");
        assert_eq!(whoami(&gateway, &visitor).await.status, 401, "nobody logged in");
        assert_eq!(app.post("/logout", Some(&cookie)).await.status, 200);
        assert_eq!(whoami(&gateway, &cookie).await.status, 401, "session_destroy()");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn php_ids_are_checked_against_the_apps_sid_settings() {
    let redis = RedisServer::start();
    // PHP's built-in defaults: 32 characters of 4 bits. Debian's php.ini has 26 of 5.
    let builtin = [("session.sid_length", "32"), ("session.sid_bits_per_character", "4")];
    let app = FrameworkApp::php(&redis.url(), redis.port, "php", 1440, &builtin);
    let production = FrameworkApp::php(&redis.url(), redis.port, "php", 1440, &[]);
    let gateway = php_gateway(&redis, &app, &[]).await;
    let hex = cookie_named(&app.post("/login?user=bob", None).await, "PHPSESSID");
    let base32 = cookie_named(&production.post("/login?user=bob", None).await, "PHPSESSID");
    assert_eq!(hex.len(), "PHPSESSID=".len() + 32);
    assert_eq!(base32.len(), "PHPSESSID=".len() + 26);
    for cookie in [&hex, &base32] {
        assert_eq!(
            whoami(&gateway, cookie).await.status,
            200,
            "both defaults work: {cookie}"
        );
    }
    // Narrowed to the app's own settings, the other shape is no session.
    let narrowed = php_gateway(&redis, &app, &[("session_php_sid", "32,4")]).await;
    assert_eq!(whoami(&narrowed, &hex).await.status, 200);
    assert_eq!(whoami(&narrowed, &base32).await.status, 401);

    // With use_strict_mode off (PHP's default), PHP adopts any id a client makes up and stores
    // a session under it; an id of the wrong shape is never read at the edge.
    let made_up = "PHPSESSID=attacker-chosen";
    assert_eq!(app.post("/login?user=carol", Some(made_up)).await.status, 200);
    assert_eq!(whoami(&gateway, made_up).await.status, 401);

    // A changed id; one whose key Redis dropped (gc_maxlifetime).
    let mut changed = hex.clone().into_bytes();
    let i = changed.len() - 1;
    changed[i] = if changed[i] == b'a' { b'b' } else { b'a' };
    assert_eq!(whoami(&gateway, &String::from_utf8(changed).unwrap()).await.status, 401);
    let mut conn = redis.connection().unwrap();
    redis::cmd("PEXPIRE")
        .arg(php_key(&hex))
        .arg(1)
        .query::<()>(&mut conn)
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(whoami(&gateway, &hex).await.status, 401, "past gc_maxlifetime");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_php_record_is_never_run() {
    let redis = RedisServer::start();
    let app = FrameworkApp::php(&redis.url(), redis.port, "php", 1440, &[]);
    let gateway = php_gateway(&redis, &app, &[]).await;
    let cookie = cookie_named(&app.post("/login?user=dave", None).await, "PHPSESSID");
    // An object whose class would run a command on unserialize in PHP (a gadget chain's
    // entry), a reference cycle, and a count that would allocate a billion slots.
    let mut conn = redis.connection().unwrap();
    let mut store = |record: &str| {
        redis::cmd("SET")
            .arg(php_key(&cookie))
            .arg(record)
            .query::<()>(&mut conn)
            .unwrap();
    };
    store(r#"user_id|s:4:"dave";cart|O:4:"Cart":1:{s:3:"cmd";s:9:"touch /x1";}"#);
    let reply = whoami(&gateway, &cookie).await;
    assert_eq!(reply.status, 200, "an object is read, opaque: {}", reply.text());
    assert_eq!(
        forwarded_data(&forwarded(&reply))["cart"],
        serde_json::json!({"__PHP_Incomplete_Class_Name": "Cart"}),
        "no property of it is forwarded, nothing of it is run"
    );
    for hostile in [
        r#"user_id|s:4:"dave";loop|a:1:{i:0;R:2;}"#,
        r#"user_id|s:4:"dave";big|a:1000000000:{}"#,
    ] {
        store(hostile);
        assert_eq!(whoami(&gateway, &cookie).await.status, 401, "{hostile}");
    }
}
