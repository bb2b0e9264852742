//! Sessions that frameworks already keep in Redis, read by the gateway as they are. Each
//! test logs in through the real framework app (pinned in tests/frameworks/<name>), then
//! sends the app's own cookie through the gateway, which forwards to that same app.

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

    let touching = framework_gateway(&redis, &app, "django", "unused", &[("session_touch_secs", "1000")]).await;
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
