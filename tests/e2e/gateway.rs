//! The gateway end to end: a real redis-server, a real origin, the real component in the
//! Spin-compatible host, and real HTTP over TCP.

use base64::Engine;
use bytes::Bytes;
use http_body_util::{Full, StreamBody};
use hyper::body::Frame;
use session_gateway_core::session::SessionRecordV1;
use session_gateway_tests::client::get;
use session_gateway_tests::gateway::{World, world};
use session_gateway_tests::origin::{pattern, sha256_hex};
use session_gateway_tests::sessions::{self, KEY_A, KEY_B};
use session_gateway_tests::{Gateway, Origin, RedisServer, Stack, send};
use std::convert::Infallible;
use std::time::{Duration, Instant};

/// Request headers, as the cases of a table give them.
type Headers<'a> = &'a [(&'a str, &'a str)];

fn cookie(value: &str) -> String {
    format!("sgw_session={value}")
}

#[tokio::test(flavor = "multi_thread")]
async fn valid_session_reaches_origin_with_its_identity() {
    let stack = Stack::start(&[]).await;
    let value = stack.create_session(
        "alice@example.com",
        serde_json::json!({"role": "admin", "name": "Alice"}),
    );

    let reply = stack.get("/account?tab=1", &[("cookie", &cookie(&value))]).await;

    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "ok");
    let seen = stack.origin.requests_to("/account");
    assert_eq!(seen.len(), 1);
    let headers = &seen[0].headers;
    assert_eq!(headers["x-session-user"], "alice@example.com");
    let data = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(headers["x-session-data"].as_bytes())
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&data).unwrap(),
        serde_json::json!({"role": "admin", "name": "Alice"})
    );
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-host"], stack.gateway.addr.to_string());
    assert_eq!(seen[0].uri.query(), Some("tab=1"));
    assert!(
        headers.keys().all(|k| !k.as_str().starts_with("spin-")),
        "Spin's internal headers leaked: {headers:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_cookies_never_reach_a_protected_path() {
    let stack = Stack::start(&[]).await;
    let good = stack.create_session("alice", serde_json::json!({}));
    let (signed, tag) = good.rsplit_once('.').unwrap();
    let flip = |s: &str, i: usize| {
        let mut b = s.as_bytes().to_vec();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    let other_key = sessions::cookie_for(&session_gateway_core::SessionId::parse(&signed[3..]).unwrap(), KEY_B);
    let bad = [
        ("tampered id", format!("{}.{tag}", flip(signed, 5))),
        ("tampered tag", format!("{signed}.{}", flip(tag, 0))),
        ("truncated", good[..good.len() - 1].to_owned()),
        ("no tag", signed.to_owned()),
        ("wrong key", other_key),
        ("other version", format!("v2{}", &good[2..])),
        ("oversized", format!("{good}{}", "A".repeat(5000))),
        ("garbage", "%%%garbage;;==,\"\\".to_owned()),
        ("empty", String::new()),
    ];
    for (what, value) in &bad {
        let reply = stack.get("/private", &[("cookie", &cookie(value))]).await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text());
        assert_eq!(reply.header("content-type"), Some("application/json"), "{what}");
        assert_eq!(
            reply.header("content-length"),
            Some(reply.body.len().to_string().as_str()),
            "{what}"
        );
    }
    // Bytes that are not UTF-8.
    let request = http::Request::get("/private")
        .header(
            "cookie",
            http::HeaderValue::from_bytes(b"sgw_session=v1.\xff\xfe.\x80").unwrap(),
        )
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(
        send(stack.gateway.addr, request).await.unwrap().status,
        401,
        "non-UTF-8"
    );
    assert!(
        stack.origin.requests_to("/private").is_empty(),
        "a bad cookie reached the origin"
    );
    // And the good one still works.
    assert_eq!(stack.get("/private", &[("cookie", &cookie(&good))]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_old_key_verifies_while_it_is_in_the_ring() {
    let redis = RedisServer::start();
    let origin = Origin::start().await;
    let old_cookie = sessions::create(&mut redis.connection().unwrap(), "bob", serde_json::json!({}), KEY_A);
    let ring = format!("{KEY_B},{KEY_A}");
    let (o, r) = (origin.url(), redis.url());

    let rotated = Gateway::start(&[("origin_url", &o), ("redis_address", &r), ("session_keys", &ring)]).await;
    let reply = get(rotated.addr, "/p", &[("cookie", &cookie(&old_cookie))]).await;
    assert_eq!(reply.status, 200, "old key still in the ring");

    let retired = Gateway::start(&[("origin_url", &o), ("redis_address", &r), ("session_keys", KEY_B)]).await;
    let reply = get(retired.addr, "/p", &[("cookie", &cookie(&old_cookie))]).await;
    assert_eq!(reply.status, 401, "old key removed from the ring");
    assert_eq!(origin.requests_to("/p").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn client_sent_identity_and_forwarding_headers_never_reach_the_origin() {
    let stack = Stack::start(&[("public_paths", "/pub")]).await;
    // Spin appends its own `spin-*` headers after these, so they come first (the host does
    // the same); the `_` spellings are what CGI, WSGI and Puma fold into the `-` names.
    let spoof = [
        ("x-session-user", "mallory"),
        ("X-Session-Data", "eyJyb2xlIjoiYWRtaW4ifQ"),
        ("x_session_user", "mallory"),
        ("X_Session_Data", "eyJyb2xlIjoiYWRtaW4ifQ"),
        ("x-forwarded-for", "6.6.6.6"),
        ("x_forwarded_for", "6.6.6.6"),
        ("x_forwarded_host", "evil.example"),
        ("forwarded", "for=6.6.6.6"),
        ("x-real-ip", "6.6.6.6"),
        ("x_real_ip", "6.6.6.6"),
        ("spin-client-addr", "10.6.6.6:1"),
        ("spin-full-url", "https://evil.example/x"),
        ("spin_client_addr", "10.6.6.6:1"),
        ("X.Session.User", "mallory"),
        ("true-client-ip", "6.6.6.6"),
        ("x-original-url", "/admin"),
    ];
    let reply = stack.get("/pub/page", &spoof).await;
    assert_eq!(reply.status, 200);
    let value = stack.create_session("alice", serde_json::json!({"role": "user"}));
    let c = cookie(&value);
    let mut with_cookie = spoof.to_vec();
    with_cookie.push(("cookie", &c));
    assert_eq!(stack.get("/private", &with_cookie).await.status, 200);

    let anonymous = &stack.origin.requests_to("/pub/page")[0].headers;
    let authed = &stack.origin.requests_to("/private")[0].headers;
    // Every name as an origin that folds `_`, `.` and the like into `-` reads it.
    let folded = |headers: &http::HeaderMap, name: &str| {
        headers
            .iter()
            .filter(|(n, _)| n.as_str().replace(['_', '.'], "-") == name)
            .map(|(_, v)| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert!(folded(anonymous, "x-session-user").is_empty() && folded(anonymous, "x-session-data").is_empty());
    assert_eq!(folded(authed, "x-session-user"), ["alice"]);
    assert_eq!(folded(authed, "x-session-data").len(), 1);
    let gateway_host = stack.gateway.addr.to_string();
    for headers in [anonymous, authed] {
        assert_eq!(folded(headers, "x-forwarded-for"), ["127.0.0.1"]);
        assert_eq!(folded(headers, "x-forwarded-host"), [gateway_host.as_str()]);
        assert_eq!(folded(headers, "x-forwarded-proto"), ["http"]);
        assert!(folded(headers, "forwarded").is_empty() && folded(headers, "x-real-ip").is_empty());
        assert!(folded(headers, "spin-client-addr").is_empty() && folded(headers, "spin-full-url").is_empty());
        assert!(folded(headers, "true-client-ip").is_empty() && folded(headers, "x-original-url").is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn public_paths_pass_anonymously_and_only_whole_segments_match() {
    let stack = Stack::start(&[("public_paths", "/health, /static/")]).await;
    let spoof = [("x-session-user", "mallory"), ("x_session_user", "mallory")];
    for path in ["/health", "/health/live", "/static/app.js"] {
        assert_eq!(stack.get(path, &spoof).await.status, 200, "{path}");
    }
    for path in [
        "/healthz",
        "/static",
        "/health/../admin",
        "/health/%2e%2e/admin",
        "/health//x",
        "/admin",
        // Tomcat and Jetty drop `;..`, origins that decode twice see `..`: never public.
        "/static/..;/admin",
        "/static/%252e%252e/admin",
        "/static/app.js;jsessionid=x",
    ] {
        assert_eq!(stack.get(path, &spoof).await.status, 401, "{path}");
    }
    let seen = stack.origin.requests();
    assert_eq!(
        seen.iter().map(|r| r.uri.path()).collect::<Vec<_>>(),
        ["/health", "/health/live", "/static/app.js"]
    );
    for request in &seen {
        for name in request.headers.keys() {
            assert_ne!(
                name.as_str().replace('_', "-"),
                "x-session-user",
                "a client's identity header passed on a public path"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn method_path_query_headers_body_and_status_round_trip() {
    let stack = Stack::start(&[]).await;
    let c = cookie(&stack.create_session("alice", serde_json::json!({})));
    for method in ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PURGE"] {
        let body = format!("body of {method} \u{e9}\u{0}");
        let request = http::Request::builder()
            .method(method)
            .uri("/echo/a%20b/c?x=1&y=%2F&x=2")
            .header("cookie", &c)
            .header("x-custom", "one")
            .header("x-custom", "two")
            .header("content-type", "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from(body.clone())))
            .unwrap();
        let reply = send(stack.gateway.addr, request).await.unwrap();
        assert_eq!(reply.status, 200, "{method}");
        assert_eq!(reply.body, body.as_bytes(), "{method}");
        assert_eq!(reply.headers.get_all("x-multi").iter().collect::<Vec<_>>(), ["a", "b"]);
        let seen = stack.origin.requests().pop().unwrap();
        assert_eq!(seen.method.as_str(), method);
        assert_eq!(seen.uri.path(), "/echo/a%20b/c");
        assert_eq!(seen.uri.query(), Some("x=1&y=%2F&x=2"));
        assert_eq!(
            seen.headers.get_all("x-custom").iter().collect::<Vec<_>>(),
            ["one", "two"]
        );
        assert_eq!(seen.headers["content-type"], "text/plain; charset=utf-8");
        assert_eq!(seen.body_sha256, sha256_hex(body.as_bytes()));
    }
    for code in [201u16, 204, 304, 404, 418, 500, 503] {
        let reply = stack.get(&format!("/status/{code}"), &[("cookie", &c)]).await;
        assert_eq!(reply.status.as_u16(), code);
        assert_eq!(reply.header("x-origin"), Some("1"), "status {code} is the origin's own");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_megabyte_bodies_stream_both_ways() {
    let stack = Stack::start(&[]).await;
    let c = cookie(&stack.create_session("alice", serde_json::json!({})));
    let size = 8 << 20;
    let data = pattern(size);
    // The request body is sent in chunks without Content-Length (chunked).
    let chunks: Vec<Result<Frame<Bytes>, Infallible>> = data
        .chunks(256 * 1024)
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    let request = http::Request::post("/echo/upload")
        .header("cookie", &c)
        .body(StreamBody::new(futures::stream::iter(chunks)))
        .unwrap();
    let reply = send(stack.gateway.addr, request).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), size);
    assert_eq!(sha256_hex(&reply.body), sha256_hex(&data));
    assert_eq!(stack.origin.requests_to("/echo/upload")[0].body_len, size);

    let reply = stack.get(&format!("/stream/{size}"), &[("cookie", &c)]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(sha256_hex(&reply.body), sha256_hex(&data));
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_down_fails_closed_with_503_and_recovers() {
    let mut stack = Stack::start(&[("public_paths", "/pub")]).await;
    let c = cookie(&stack.create_session("alice", serde_json::json!({})));
    stack.redis.stop();

    let reply = stack.get("/private", &[("cookie", &c)]).await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert!(stack.origin.requests_to("/private").is_empty());
    let reply = stack
        .get(
            "/pub/x",
            &[("cookie", &c), ("x-session-user", "alice"), ("x_session_user", "alice")],
        )
        .await;
    assert_eq!(reply.status, 200, "public paths pass while Redis is down");
    let seen = &stack.origin.requests_to("/pub/x")[0].headers;
    assert!(
        seen.keys().all(|n| n.as_str().replace('_', "-") != "x-session-user"),
        "no identity without a session: {seen:?}"
    );
    assert!(
        stack.gateway.logs().contains("session store unavailable"),
        "{}",
        stack.gateway.logs()
    );

    // Without persistence the session is gone after the restart: a fresh one works.
    stack.redis.restart();
    let c = cookie(&stack.create_session("alice", serde_json::json!({})));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = stack.get("/private", &[("cookie", &c)]).await.status;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery after Redis came back (last status {status})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn origin_down_gives_502() {
    let stack = Stack::start(&[("public_paths", "/pub")]).await;
    stack.origin.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let reply = stack.get("/pub/x", &[]).await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(stack.gateway.logs().contains("origin unreachable"));
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_configuration_gives_500_and_names_the_variable() {
    let redis = RedisServer::start();
    let origin = Origin::start().await;
    let value = sessions::create(&mut redis.connection().unwrap(), "alice", serde_json::json!({}), KEY_A);
    let (o, r) = (origin.url(), redis.url());
    let with_session = cookie(&value);
    let session: Headers = &[("cookie", &with_session)];
    let navigation: Headers = &[("accept", "text/html")];
    // Each request reads the variables its path needs (see `each_path_reads_only_the_variables_it_needs`),
    // so each case sends one that reads the bad one.
    let cases: [(Headers, &str, Headers); 6] = [
        (
            &[("origin_url", &o), ("redis_address", &r), ("session_keys", "")],
            "session_keys",
            session,
        ),
        (
            &[("origin_url", &o), ("redis_address", &r), ("session_keys", "short")],
            "session_keys",
            session,
        ),
        (
            &[
                ("origin_url", "http://user@127.0.0.1:1"),
                ("redis_address", &r),
                ("session_keys", KEY_A),
            ],
            "origin_url",
            session,
        ),
        (
            &[
                ("origin_url", &o),
                ("redis_address", &r),
                ("session_keys", KEY_A),
                ("login_url", "//evil.example"),
            ],
            "login_url",
            navigation,
        ),
        (
            &[
                ("origin_url", &o),
                ("redis_address", &r),
                ("session_keys", KEY_A),
                ("user_header", "connection"),
            ],
            "user_header",
            session,
        ),
        // An anonymous forward reads the forwarding section too: a client's identity headers
        // are removed from every forward.
        (
            &[
                ("origin_url", &o),
                ("redis_address", &r),
                ("session_keys", KEY_A),
                ("public_paths", "/private"),
                ("data_header", "x-session-user"),
            ],
            "data_header",
            &[("x-session-user", "mallory")],
        ),
    ];
    for (vars, variable, headers) in cases {
        let gateway = Gateway::start(vars).await;
        let reply = get(gateway.addr, "/private", headers).await;
        assert_eq!(reply.status, 500, "{variable}");
        assert!(
            !reply.text().contains(variable),
            "the client learns nothing: {}",
            reply.text()
        );
        let logs = gateway.logs();
        assert!(logs.contains(&format!("`{variable}`")), "log names {variable}: {logs}");
        assert!(!logs.contains(KEY_A), "a key was logged: {logs}");
    }
    assert!(
        origin.requests().is_empty(),
        "nothing is forwarded with a bad configuration"
    );
}

/// The cookie settings are read only when the origin sends a hook: a bad one fails that
/// response with 500 and writes no new session, while requests that never read it are served
/// and what needs no cookie (a logout) is still carried out.
#[tokio::test(flavor = "multi_thread")]
async fn a_bad_cookie_setting_fails_the_hook_that_reads_it_and_loses_no_logout() {
    let stack = Stack::start(&[("public_paths", "/reflect/public"), ("cookie_same_site", "sometimes")]).await;
    let value = stack.create_session("alice", serde_json::json!({}));
    let served = stack.get("/app", &[("cookie", &cookie(&value))]).await;
    assert_eq!(served.status, 200, "a request without hooks reads no cookie setting");
    let mut conn = stack.redis.connection().unwrap();
    let keys_before: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();

    let login = stack
        .get("/reflect/public", &[("x-reflect-x-sgw-login", r#"{"user_id":"bob"}"#)])
        .await;

    assert_eq!(login.status, 500, "{}", login.text());
    assert!(login.headers.get_all("set-cookie").iter().next().is_none());
    let keys_after: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    assert_eq!(
        keys_after.len(),
        keys_before.len(),
        "no session was written: {keys_after:?}"
    );
    let logs = stack.gateway.logs();
    assert!(logs.contains("`cookie_same_site`"), "{logs}");

    // A logout the app has already done is carried out in Redis all the same: the cookie
    // that would expire the client's copy is what cannot be written.
    let logout = stack
        .get(
            "/reflect/app",
            &[("cookie", &cookie(&value)), ("x-reflect-x-sgw-logout", "1")],
        )
        .await;
    assert_eq!(logout.status, 500, "{}", logout.text());
    let after = stack.get("/app", &[("cookie", &cookie(&value))]).await;
    assert_eq!(
        after.status, 401,
        "the session ended although its cookie was not expired"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_required_variable_without_value_stops_the_app_from_starting() {
    let error = Gateway::load(
        &session_gateway_tests::gateway::manifest_path(),
        &[("origin_url", "http://127.0.0.1:1")],
    )
    .err()
    .expect("session_keys is required");
    assert!(error.to_string().contains("session_keys"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_navigation_redirects_to_login_with_a_same_site_next() {
    let stack = Stack::start(&[("login_url", "/login")]).await;
    let html = [("accept", "text/html,application/xhtml+xml;q=0.9")];
    let reply = stack.get("/dash/board?tab=2&x=%C3%A9", &html).await;
    assert_eq!(reply.status, 302);
    assert_eq!(
        reply.header("location"),
        Some("/login?next=/dash/board%3Ftab%3D2%26x%3D%25C3%25A9")
    );
    assert_eq!(reply.header("content-length"), Some("0"));
    let reply = stack.get("//evil.example/x", &html).await;
    assert_eq!(
        reply.header("location"),
        Some("/login?next=/"),
        "no open redirect through next"
    );
    assert_eq!(
        stack.get("/api/items", &[("accept", "application/json")]).await.status,
        401
    );
    let post = http::Request::post("/form")
        .header("accept", "text/html")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(
        send(stack.gateway.addr, post).await.unwrap().status,
        401,
        "only GET/HEAD navigations redirect"
    );
    assert!(stack.origin.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_records_are_no_session_not_an_outage() {
    let stack = Stack::start(&[]).await;
    let mut redis = stack.redis.connection().unwrap();
    let expired = SessionRecordV1 {
        expires_at: sessions::now() - 1,
        ..SessionRecordV1::new("alice", Default::default(), sessions::now() - 100, 10)
    };
    let deep = format!(
        "{{\"v\":1,\"user_id\":\"a\",\"created_at\":1,\"expires_at\":99999999999,\"data\":{{\"x\":{}1{}}}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("expired by its own timestamps", expired.to_json()),
        ("not JSON", b"\x00\xffnot json".to_vec()),
        ("deeply nested", deep.into_bytes()),
        (
            "huge",
            format!(
                "{{\"v\":1,\"user_id\":\"a\",\"created_at\":1,\"expires_at\":99999999999,\"data\":{{\"x\":\"{}\"}}}}",
                "x".repeat(100_000)
            )
            .into_bytes(),
        ),
        (
            "CR/LF in user id",
            br#"{"v":1,"user_id":"a\r\nx-admin: 1","created_at":1,"expires_at":99999999999}"#.to_vec(),
        ),
    ];
    for (what, bytes) in cases {
        let value = sessions::store_raw(&mut redis, &bytes, 60, KEY_A);
        let reply = stack.get("/private", &[("cookie", &cookie(&value))]).await;
        assert_eq!(reply.status, 401, "{what}");
    }
    // A key of the wrong Redis type is a bad record, not an unavailable store.
    let id = sessions::new_id();
    redis::cmd("SADD")
        .arg(session_gateway_core::redis_layout::session_key(sessions::PREFIX, &id))
        .arg("x")
        .query::<()>(&mut redis)
        .unwrap();
    let reply = stack
        .get("/private", &[("cookie", &cookie(&sessions::cookie_for(&id, KEY_A)))])
        .await;
    assert_eq!(reply.status, 401);
    assert!(stack.origin.requests().is_empty());
    let logs = stack.gateway.logs();
    assert!(logs.contains("refused"), "{logs}");
    assert!(!logs.contains(id.as_str()), "a session id was logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_many_and_huge_cookies() {
    let stack = Stack::start(&[]).await;
    let good = stack.create_session("alice", serde_json::json!({}));
    let many: String = (0..200).map(|i| format!("c{i}=v{i}; ")).collect();
    let cases = [
        (
            "garbage duplicate first",
            format!("sgw_session=junk; sgw_session={good}"),
            200,
        ),
        ("among many cookies", format!("{many}sgw_session={good}"), 200),
        (
            "4 KiB cookie beside it",
            format!("big={}; sgw_session={good}", "b".repeat(4096)),
            200,
        ),
        (
            "header over 16 KiB",
            format!("big={}; sgw_session={good}", "b".repeat(17 * 1024)),
            200,
        ),
        ("quoted value (RFC 6265)", format!("a=1; sgw_session=\"{good}\""), 200),
        (
            "more duplicates than are tried",
            format!("{}sgw_session={good}", "sgw_session=junk; ".repeat(8)),
            401,
        ),
    ];
    for (what, header, status) in cases {
        assert_eq!(
            stack.get("/private", &[("cookie", &header)]).await.status,
            status,
            "{what}"
        );
    }
    // Browsers send other cookies' values in raw UTF-8: the session cookie is still found.
    for raw in [
        format!("pref=Jos\u{e9}; sgw_session={good}"),
        format!("sgw_session={good}; city=S\u{e3}o Paulo"),
    ] {
        let request = http::Request::get("/private")
            .header("cookie", http::HeaderValue::from_bytes(raw.as_bytes()).unwrap())
            .body(Full::new(Bytes::new()))
            .unwrap();
        let reply = send(stack.gateway.addr, request).await.unwrap();
        assert_eq!(reply.status, 200, "{raw}: {}", reply.text());
    }
    // Two Cookie headers (HTTP/2-style split) are both read.
    let reply = stack
        .get("/private", &[("cookie", "a=1"), ("cookie", &cookie(&good))])
        .await;
    assert_eq!(reply.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn hop_by_hop_headers_are_dropped_both_ways() {
    let stack = Stack::start(&[("public_paths", "/hop,/pub")]).await;
    let reply = stack
        .get(
            "/pub/x",
            &[
                ("connection", "x-secret"),
                ("x-secret", "1"),
                ("te", "trailers"),
                ("proxy-authorization", "Basic eA=="),
                ("x-kept", "1"),
            ],
        )
        .await;
    assert_eq!(reply.status, 200);
    let seen = &stack.origin.requests_to("/pub/x")[0].headers;
    for name in ["connection", "te", "proxy-authorization"] {
        assert!(seen.get(name).is_none(), "{name} reached the origin");
    }
    assert_eq!(seen["x-kept"], "1");
    // Spin removes `Connection` before the component sees the request (the host does the
    // same), so what it listed arrives as an ordinary header.
    assert_eq!(seen["x-secret"], "1");

    let reply = stack.get("/hop", &[]).await;
    assert_eq!(
        reply.status, 200,
        "Spin refuses responses with hop-by-hop headers; the gateway must strip them"
    );
    assert_eq!(reply.text(), "hop");
    assert_eq!(reply.header("x-kept"), Some("yes"));
    for name in ["keep-alive", "proxy-authenticate"] {
        assert!(reply.headers.get(name).is_none(), "{name} reached the client");
    }
    // The 0.2 world hides the origin's `Connection` from the guest (wasmtime's wasi:http 0.2
    // removes it, under Spin too), so what it lists cannot be told apart (README).
    let listed = reply.header("x-conn-listed");
    match world() {
        World::P2 => assert_eq!(listed, Some("secret")),
        World::P3 => assert_eq!(listed, None, "x-conn-listed reached the client"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_hosts_outside_the_manifest_are_refused() {
    let redis = RedisServer::start();
    let origin = Origin::start().await;
    let value = sessions::create(&mut redis.connection().unwrap(), "alice", serde_json::json!({}), KEY_A);
    // The same manifest with allowed_outbound_hosts pinned to other ports.
    let manifest = Gateway::manifest_with_hosts(&["http://127.0.0.1:1", "redis://127.0.0.1:1"]);
    let (o, r) = (origin.url(), redis.url());
    let gateway = Gateway::start_from(
        &manifest,
        &[
            ("origin_url", &o),
            ("redis_address", &r),
            ("session_keys", KEY_A),
            ("public_paths", "/pub"),
            // A key-value store comes from the runtime config, which allowed_outbound_hosts
            // does not govern (in Spin too): this test is about outbound Redis.
            ("session_reads", "redis"),
        ],
    )
    .await;

    assert_eq!(
        get(gateway.addr, "/private", &[("cookie", &cookie(&value))])
            .await
            .status,
        503,
        "Redis not allowed"
    );
    assert_eq!(get(gateway.addr, "/pub/x", &[]).await.status, 502, "origin not allowed");
    assert!(origin.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_that_never_answers_fails_closed() {
    // Accepts connections, counts what it hears, never says a word; hangs up on `close`.
    use tokio::io::AsyncReadExt;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("redis://{}", silent.local_addr().unwrap());
    let heard = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let close = std::sync::Arc::new(tokio::sync::Notify::new());
    let (counter, hang_up) = (heard.clone(), close.clone());
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        loop {
            tokio::select! {
                accepted = silent.accept() => {
                    let Ok((mut socket, _)) = accepted else { break };
                    let counter = counter.clone();
                    sockets.push(tokio::spawn(async move {
                        let mut buffer = [0u8; 4096];
                        while let Ok(n @ 1..) = socket.read(&mut buffer).await {
                            counter.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
                        }
                        std::future::pending::<()>().await;
                    }));
                }
                () = hang_up.notified() => break,
            }
        }
        // Aborting a reader drops its socket: the gateway's connection is closed.
        sockets.iter().for_each(tokio::task::JoinHandle::abort);
    });
    let origin = Origin::start().await;
    let o = origin.url();
    let gateway = Gateway::start(&[
        ("origin_url", &o),
        ("redis_address", &silent_url),
        ("session_keys", KEY_A),
        ("redis_timeout_ms", "300"),
        ("public_paths", "/pub"),
    ])
    .await;
    let value = sessions::cookie_for(&sessions::new_id(), KEY_A);
    if world() == World::P2 {
        // The 0.2 world's Redis calls block the guest: nothing can bound them, and Spin's
        // client waits for a reply without limit. The request waits as long as Redis is
        // silent (README, "When something fails"); it is never forwarded, and it fails
        // closed once Redis hangs up.
        let (addr, sent) = (gateway.addr, cookie(&value));
        let pending = tokio::spawn(async move { get(addr, "/private", &[("cookie", &sent)]).await });
        let asked = Instant::now();
        while heard.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            assert!(
                asked.elapsed() < Duration::from_secs(5),
                "the gateway never asked Redis"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!pending.is_finished(), "answered while Redis was silent");
        close.notify_one();
        let reply = tokio::time::timeout(Duration::from_secs(5), pending)
            .await
            .expect("an answer once Redis hung up")
            .unwrap();
        assert_eq!(reply.status, 503, "{}", reply.text());
    } else {
        for _ in 0..3 {
            let started = Instant::now();
            let reply = get(gateway.addr, "/private", &[("cookie", &cookie(&value))]).await;
            assert_eq!(reply.status, 503);
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "took {:?}",
                started.elapsed()
            );
        }
        assert!(gateway.logs().contains("no answer within 300 ms"), "{}", gateway.logs());
    }
    // A public path looks the cookie's session up too; without a cookie it needs no Redis.
    let header = cookie(&value);
    let public = match world() {
        World::P2 => vec![],
        World::P3 => vec![("cookie", header.as_str())],
    };
    assert_eq!(get(gateway.addr, "/pub/x", &public).await.status, 200);
    assert!(origin.requests_to("/private").is_empty());
    held.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_origin_that_hangs_gives_504_in_bounded_time() {
    let stack = Stack::start(&[("origin_timeout_ms", "300"), ("public_paths", "/hang,/pub")]).await;
    let started = Instant::now();
    let reply = stack.get("/hang", &[]).await;
    assert_eq!(reply.status, 504, "{}", reply.text());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        stack.get("/pub/after", &[]).await.status,
        200,
        "the gateway still serves"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_disconnects_mid_body_breaks_nothing() {
    use tokio::io::AsyncWriteExt;
    let stack = Stack::start(&[("public_paths", "/echo")]).await;
    for sent in 1..=3 {
        let mut socket = tokio::net::TcpStream::connect(stack.gateway.addr).await.unwrap();
        let head = "POST /echo/cut HTTP/1.1\r\nhost: x\r\nx-soak: cut\r\ncontent-length: 1000000\r\n\r\n";
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(&[b'x'; 10_000]).await.unwrap();
        // The cut comes once the forward has begun (the origin has the head): a client that
        // leaves earlier may be dropped before any forward, which is also fine but not this case.
        let deadline = Instant::now() + Duration::from_secs(5);
        while stack.origin.tally().get("cut").map_or(0, |t| t.0) < sent && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            stack.origin.tally().get("cut").map_or(0, |t| t.0),
            sent,
            "the forward began"
        );
        drop(socket);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while stack.origin.requests_to("/echo/cut").len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reply = stack.get("/echo/after", &[]).await;
    assert_eq!(reply.status, 200);
    let cut = stack.origin.requests_to("/echo/cut");
    assert_eq!(
        cut.len(),
        3,
        "each cut forward was ended, not left hanging at the origin"
    );
    assert!(
        cut.iter().all(|r| r.body_len < 1_000_000),
        "no truncated body passed as whole: {:?}",
        cut.iter().map(|r| r.body_len).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_addresses_with_acl_user_password_and_database() {
    let redis = RedisServer::start_with(&[
        "--save",
        "",
        "--appendonly",
        "no",
        "--user",
        "sgw",
        "on",
        ">s3cret",
        "~*",
        "+@all",
    ]);
    let origin = Origin::start().await;
    let o = origin.url();
    // Spin's allowed hosts take no user info or path: the entry names host and port only.
    let manifest = Gateway::manifest_with_hosts(&[&o, &redis.url()]);
    let address = format!("redis://sgw:s3cret@127.0.0.1:{}/3", redis.port);
    let gateway = Gateway::start_from(
        &manifest,
        &[("origin_url", &o), ("redis_address", &address), ("session_keys", KEY_A)],
    )
    .await;

    let mut conn = redis.connection().unwrap();
    redis::cmd("SELECT").arg(3).query::<()>(&mut conn).unwrap();
    let value = sessions::create(&mut conn, "alice", serde_json::json!({}), KEY_A);
    assert_eq!(
        get(gateway.addr, "/p", &[("cookie", &cookie(&value))]).await.status,
        200,
        "read from database 3 as user sgw"
    );

    let wrong = format!("redis://sgw:wrong@127.0.0.1:{}/3", redis.port);
    let denied = Gateway::start_from(
        &manifest,
        &[("origin_url", &o), ("redis_address", &wrong), ("session_keys", KEY_A)],
    )
    .await;
    assert_eq!(
        get(denied.addr, "/p", &[("cookie", &cookie(&value))]).await.status,
        503,
        "bad credentials fail closed"
    );
    assert!(
        !denied.logs().contains("wrong"),
        "no password in the logs: {}",
        denied.logs()
    );
}

/// A CA and a certificate for 127.0.0.1 signed by it, made with openssl in `dir`.
fn test_certificates(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "1",
        "-subj",
        "/CN=sgw-test-ca",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "1",
        "-extfile",
        "san.ext",
    ]);
}

#[tokio::test(flavor = "multi_thread")]
async fn rediss_addresses_work_over_tls() {
    let dir = std::env::temp_dir().join(format!(
        "sgw-tls-{}-{}",
        std::process::id(),
        sessions::new_id().fingerprint()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    test_certificates(&dir);
    let file = |name: &str| dir.join(name).display().to_string();
    let tls_port = session_gateway_tests::free_port().to_string();
    let (cert, key, ca) = (file("server.crt"), file("server.key"), file("ca.crt"));
    let redis = RedisServer::start_with(&[
        "--save",
        "",
        "--appendonly",
        "no",
        "--tls-port",
        &tls_port,
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca,
        "--tls-auth-clients",
        "no",
    ]);
    let origin = Origin::start().await;
    let o = origin.url();
    let address = format!("rediss://127.0.0.1:{tls_port}");
    let manifest = Gateway::manifest_with_hosts(&[&o, &address]);
    let vars = [
        ("origin_url", o.as_str()),
        ("redis_address", address.as_str()),
        ("session_keys", KEY_A),
    ];
    let value = sessions::create(&mut redis.connection().unwrap(), "tess", serde_json::json!({}), KEY_A);

    let trusted =
        Gateway::serve(Gateway::load_with_env(&manifest, &vars, &[("SPIN_HOST_REDIS_CA", &ca)]).unwrap()).await;
    assert_eq!(
        get(trusted.addr, "/p", &[("cookie", &cookie(&value))]).await.status,
        200,
        "{}",
        trusted.logs()
    );
    assert_eq!(origin.requests_to("/p")[0].headers["x-session-user"], "tess");

    let untrusted = Gateway::start_from(&manifest, &vars).await;
    assert_eq!(
        get(untrusted.addr, "/p", &[("cookie", &cookie(&value))]).await.status,
        503,
        "an unverified server fails closed"
    );
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_streaming_origin_streams_through() {
    use session_gateway_tests::origin::DRIP_PAUSE_MS;
    let stack = Stack::start(&[("public_paths", "/pub")]).await;
    let value = stack.create_session("sam", serde_json::json!({}));
    // A relay that hangs (as the 0.2 build once did under wasmtime 47) fails, not stalls.
    tokio::time::timeout(Duration::from_secs(10), async {
        for (path, cookie) in [("/pub/drip", None), ("/drip", Some(cookie(&value)))] {
            let stream = tokio::net::TcpStream::connect(stack.gateway.addr).await.unwrap();
            let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(connection);
            let mut request = http::Request::get(path).header("host", "gw");
            if let Some(cookie) = &cookie {
                request = request.header("cookie", cookie);
            }
            let started = Instant::now();
            let response = sender
                .send_request(request.body(Full::new(Bytes::new())).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path}");
            let mut body = response.into_body();
            let first = http_body_util::BodyExt::frame(&mut body).await.unwrap().unwrap();
            let first_at = started.elapsed();
            assert_eq!(first.into_data().unwrap(), "first,", "{path}");
            assert!(
                first_at < Duration::from_millis(DRIP_PAUSE_MS / 2),
                "{path}: the first chunk waited for the rest ({first_at:?})"
            );
            let mut rest = Vec::new();
            while let Some(frame) = http_body_util::BodyExt::frame(&mut body).await {
                if let Ok(data) = frame.unwrap().into_data() {
                    rest.extend_from_slice(&data);
                }
            }
            assert_eq!(rest, b"second", "{path}");
            assert!(started.elapsed() >= Duration::from_millis(DRIP_PAUSE_MS), "{path}");
        }
    })
    .await
    .expect("the streaming relay hung");
}

/// Under Spin each lookup served by the environment provider costs a `block_in_place`:
/// a request reads only the sections of the configuration its path needs, and an instance
/// that serves many requests (wasi:http 0.3) reads each section once.
#[tokio::test(flavor = "multi_thread")]
async fn each_path_reads_only_the_variables_it_needs() {
    let stack = Stack::start(&[("public_paths", "/pub")]).await;
    let value = stack.create_session("alice", serde_json::json!({}));
    let (signed, _) = value.rsplit_once('.').unwrap();
    let tampered = format!("{signed}.AAAA");
    let lookups = || stack.gateway.app.variables.stats.snapshot().0;
    // session_format, cookie_name
    let which_cookie = 2;
    // public_paths, login_url
    let routing = 2;
    // session_keys
    let keys = 1;
    // redis_address, redis_replicas, redis_sentinels, redis_cluster_nodes, session_reads,
    // key_prefix, and redis_timeout_ms where a Redis call can be bounded (0.3)
    let store = if world() == World::P3 { 7 } else { 6 };
    // idle_timeout, absolute_timeout, refresh_fraction, session_touch_secs
    let lifetimes = 4;
    // origin_url, origin_timeout_ms, user_header, data_header, hook_header_prefix
    let forwarding = 5;
    let (tampered, valid) = (cookie(&tampered), cookie(&value));
    let paths: [(&str, Headers, u16, u64); 4] = [
        ("/private", &[], 401, which_cookie + routing),
        ("/pub/x", &[], 200, which_cookie + routing + forwarding),
        ("/private", &[("cookie", &tampered)], 401, which_cookie + keys + routing),
        (
            "/private",
            &[("cookie", &valid)],
            200,
            which_cookie + keys + store + lifetimes + forwarding,
        ),
    ];
    let mut read = Vec::new();
    for _round in 0..2 {
        for (path, headers, status, _) in &paths {
            let before = lookups();
            let reply = stack.get(path, headers).await;
            assert_eq!(reply.status, *status, "{path}: {}", reply.text());
            read.push(lookups() - before);
        }
    }
    let expected: Vec<u64> = match world() {
        // A fresh instance per request: every request reads its sections.
        World::P2 => paths.iter().chain(&paths).map(|p| p.3).collect(),
        // One instance: each section is read by the first request that needs it, once.
        World::P3 => vec![which_cookie + routing, forwarding, keys, store + lifetimes, 0, 0, 0, 0],
    };
    assert_eq!(
        read, expected,
        "variable lookups per request, two rounds of the four paths"
    );
}

/// Concurrent first requests on a fresh gateway (one wasi:http 0.3 instance takes up to 16
/// at once) each read the sections they need, and each is answered as if it came alone.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_first_requests_each_read_a_whole_configuration() {
    let stack = Stack::start(&[("public_paths", "/pub")]).await;
    let value = stack.create_session("alice", serde_json::json!({}));
    let valid = cookie(&value);
    let requests = (0..16).map(|i| {
        let (addr, valid) = (stack.gateway.addr, valid.clone());
        async move {
            match i % 3 {
                0 => (get(addr, "/private", &[("cookie", &valid)]).await.status, 200),
                1 => (get(addr, "/private", &[]).await.status, 401),
                _ => (get(addr, "/pub/x", &[]).await.status, 200),
            }
        }
    });
    let answers = futures::future::join_all(requests).await;
    for (got, want) in answers {
        assert_eq!(got, want);
    }
    let seen = stack.origin.requests_to("/private");
    assert_eq!(
        seen.len(),
        6,
        "the six valid sessions, and nothing else, reach /private"
    );
    assert!(seen.iter().all(|r| r.headers["x-session-user"] == "alice"));
}
