//! Fast unit tests of the pure core: no Redis, no network, no Spin.

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use session_gateway_core::config::{self, Config};
use session_gateway_core::cookie_codec::{
    CookieCodec, MAX_CANDIDATES, SessionId, SignedCookieV1, cookie_values, find_php_session, find_session,
};
use session_gateway_core::expiry::{Expiry, Touch};
use session_gateway_core::forwarding::{self, ClientFacts, IdentityHeaders};
use session_gateway_core::hooks::{self, HookHeaders, Login};
use session_gateway_core::keys::{KeyError, KeyRing};
use session_gateway_core::policy::{
    Access, Decision, LoginRedirect, PublicPaths, RequestFacts, SessionLookup, accepts_html, decide,
};
use session_gateway_core::replies::Reply;
use session_gateway_core::session::{GatewayRecordDecoder, RecordError, Session, SessionDecoder, SessionRecordV1};
use session_gateway_core::set_cookie::{CookieSettings, CookieSettingsError, SameSite};

const K1: &str = "k1-0123456789abcdef0123456789abcdef";
const K2: &str = "k2-0123456789abcdef0123456789abcdef";

fn codec(keys: &str) -> SignedCookieV1 {
    SignedCookieV1::new(KeyRing::parse(keys).unwrap())
}

fn id(n: u8) -> SessionId {
    SessionId::from_random([n; 16])
}

/// `PROPTEST_CASES` raises the case count for a long fuzzing run.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---- keys ----

#[test]
fn key_ring_needs_32_byte_secrets() {
    assert_eq!(KeyRing::parse("").unwrap_err(), KeyError::Empty);
    assert_eq!(KeyRing::parse(" , ").unwrap_err(), KeyError::Empty);
    assert_eq!(
        KeyRing::parse(&"x".repeat(31)).unwrap_err(),
        KeyError::TooShort { position: 1, len: 31 }
    );
    assert_eq!(
        KeyRing::parse(&format!("{K1},short")).unwrap_err(),
        KeyError::TooShort { position: 2, len: 5 }
    );
    assert_eq!(KeyRing::parse(&format!(" {K1} , {K2} ")).unwrap().len(), 2);
    assert!(
        !format!("{:?}", KeyRing::parse(K1).unwrap()).contains(K1),
        "Debug never shows secrets"
    );
}

#[test]
fn first_key_signs_every_key_verifies() {
    let ring = KeyRing::parse(&format!("{K1},{K2}")).unwrap();
    let tag = ring.sign(b"msg");
    assert!(ring.verify(b"msg", &tag));
    assert!(KeyRing::parse(K1).unwrap().verify(b"msg", &tag));
    assert!(
        !KeyRing::parse(K2).unwrap().verify(b"msg", &tag),
        "the second key does not sign"
    );
    assert!(ring.verify(b"msg", &KeyRing::parse(K2).unwrap().sign(b"msg")));
    assert!(!ring.verify(b"msG", &tag));
    assert!(!ring.verify(b"msg", &tag[..31]));
}

// ---- cookie codec ----

#[test]
fn cookie_round_trips_and_has_the_documented_shape() {
    let c = codec(K1);
    let value = c.encode(&id(7));
    let parts: Vec<&str> = value.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0], "v1");
    assert_eq!(parts[1], id(7).as_str());
    assert_eq!(parts[1].len(), 22);
    assert_eq!(parts[2].len(), 43);
    assert_eq!(c.decode(&value).unwrap().id(), &id(7));
}

#[test]
fn every_single_character_change_is_refused() {
    let c = codec(K1);
    let value = c.encode(&id(9));
    for i in 0..value.len() {
        for replacement in [b'A', b'z', b'-', b'.', b'0'] {
            let mut bytes = value.clone().into_bytes();
            if bytes[i] == replacement {
                continue;
            }
            bytes[i] = replacement;
            let changed = String::from_utf8(bytes).unwrap();
            assert!(c.decode(&changed).is_none(), "accepted {changed}");
        }
    }
}

#[test]
fn wrong_key_version_and_lengths_are_refused() {
    let value = codec(K1).encode(&id(1));
    assert!(codec(K2).decode(&value).is_none());
    assert!(codec(&format!("{K2},{K1}")).decode(&value).is_some());
    assert!(codec(K1).decode(&value.replacen("v1.", "v2.", 1)).is_none());
    assert!(codec(K1).decode(&format!("{value}A")).is_none());
    assert!(codec(K1).decode(&value[..value.len() - 1]).is_none());
    assert!(codec(K1).decode(&"A".repeat(10_000)).is_none());
    assert!(SessionId::parse("short").is_none());
    assert!(SessionId::parse(&"a".repeat(65)).is_none());
    assert!(
        SessionId::parse("aaaaaaaaaaaaaaaaaaaaa:b").is_none(),
        "no key separators in ids"
    );
}

#[test]
fn php_formats_find_the_cookie_php_puts_in_its_cookie_array() {
    let codec = session_gateway_core::php::PhpCookie::default();
    let (a, b) = ("a".repeat(32), "b".repeat(32));
    let found = |header: &str| {
        let mut headers = HeaderMap::new();
        headers.insert("cookie", HeaderValue::from_str(header).unwrap());
        find_php_session(&headers, "MY_SESS", &codec).map(|id| id.as_str().to_owned())
    };
    // PHP takes `.` and ` ` for `_`, and an unmatched `[` too: the first of these wins.
    for planted in ["MY.SESS", "MY SESS", "MY[SESS", " MY_SESS", "\tMY.SESS"] {
        assert_eq!(
            found(&format!("{planted}={a}; MY_SESS={b}")),
            Some(a.clone()),
            "{planted}"
        );
    }
    assert_eq!(found(&format!("OTHER=1; MY_SESS={b}; MY_SESS={a}")), Some(b.clone()));
    // `MY_SESS[x]` makes $_COOKIE['MY_SESS'] an array, before or after: PHP has no session id.
    assert_eq!(found(&format!("MY_SESS[x]={a}; MY_SESS={b}")), None);
    assert_eq!(found(&format!("MY_SESS={b}; MY_SESS[]={a}")), None);
    // Neither trimmed nor unquoted, as PHP keeps them: no valid id, no session.
    assert_eq!(found(&format!("MY_SESS=\"{b}\"")), None);
    assert_eq!(found(&format!("MY_SESS ={b}")), None, "the name is MY_SESS_");
    assert_eq!(found(&format!("MY_SESS\t={b}")), None);
    // A name without a value is an empty first value.
    assert_eq!(found(&format!("MY_SESS; MY_SESS={b}")), None);
    assert_eq!(found(&format!("MY_SESSX={a}; MY_SES={a}")), None);
}

#[test]
fn find_session_takes_the_first_cookie_that_verifies() {
    let c = codec(K1);
    let good = c.encode(&id(3));
    let mut headers = HeaderMap::new();
    headers.append(
        "cookie",
        HeaderValue::from_str(&format!("other=1; sgw=junk; sgw={good}")).unwrap(),
    );
    assert_eq!(find_session(&headers, "sgw", &c).unwrap().id(), &id(3));
    assert!(find_session(&headers, "other", &c).is_none());
    let mut split = HeaderMap::new();
    split.append("cookie", HeaderValue::from_static("a=1"));
    split.append("cookie", HeaderValue::from_str(&format!("sgw={good}")).unwrap());
    assert!(
        find_session(&split, "sgw", &c).is_some(),
        "several Cookie headers are read"
    );
    let junk = |n: usize| (0..n).map(|i| format!("sgw=junk{i}; ")).collect::<String>();
    let mut many = HeaderMap::new();
    many.append(
        "cookie",
        HeaderValue::from_str(&format!("{}sgw={good}", junk(MAX_CANDIDATES - 1))).unwrap(),
    );
    assert!(
        find_session(&many, "sgw", &c).is_some(),
        "the last allowed candidate is tried"
    );
    let mut too_many = HeaderMap::new();
    too_many.append(
        "cookie",
        HeaderValue::from_str(&format!("{}sgw={good}", junk(MAX_CANDIDATES))).unwrap(),
    );
    assert!(
        find_session(&too_many, "sgw", &c).is_none(),
        "at most MAX_CANDIDATES candidates are tried"
    );
}

#[test]
fn the_session_cookie_is_found_among_any_bytes() {
    let c = codec(K1);
    let good = c.encode(&id(4));
    let find = |raw: Vec<u8>| {
        let mut headers = HeaderMap::new();
        headers.append("cookie", HeaderValue::from_bytes(&raw).unwrap());
        find_session(&headers, "sgw", &c).map(|v| v.id().clone())
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "raw UTF-8 in another cookie",
            format!("pref=Jos\u{e9}; sgw={good}").into_bytes(),
        ),
        (
            "UTF-8 after ours",
            format!("sgw={good}; city=S\u{e3}o Paulo").into_bytes(),
        ),
        (
            "bytes that are not UTF-8",
            [b"x=\xff\xfe\x80; sgw=".as_slice(), good.as_bytes()].concat(),
        ),
        ("quoted value", format!("a=1; sgw=\"{good}\"").into_bytes()),
        ("tabs and no spaces", format!("a=1;\tsgw={good}\t;b=2").into_bytes()),
        (
            "a header over 16 KiB",
            format!("big={}; sgw={good}", "x".repeat(40 * 1024)).into_bytes(),
        ),
        ("pairs without `=`", format!("flag; ; sgw={good}").into_bytes()),
    ];
    for (what, raw) in cases {
        assert_eq!(find(raw), Some(id(4)), "{what}");
    }
    for (what, raw) in [
        ("a name that only ends like ours", format!("xsgw={good}")),
        ("a name that only starts like ours", format!("sgw2={good}")),
        ("one quote", format!("sgw=\"{good}")),
        ("the value as a name", format!("{good}=sgw")),
    ] {
        assert_eq!(find(raw.into_bytes()), None, "{what}");
    }
    assert_eq!(
        cookie_values(b" a = 1 ;b=\"2\"; a=", b"a").collect::<Vec<_>>(),
        [b"1".as_slice(), b""]
    );
}

#[test]
fn fingerprints_are_short_and_do_not_reveal_the_id() {
    let fp = id(5).fingerprint();
    assert_eq!(fp.len(), 8);
    assert!(!id(5).as_str().contains(&fp));
    assert!(!format!("{:?}", id(5)).contains(id(5).as_str()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(2000)))]

    #[test]
    fn decode_never_panics_and_never_accepts_noise(value in "\\PC{0,300}") {
        prop_assert!(codec(K1).decode(&value).is_none());
    }

    #[test]
    fn decode_accepts_only_what_was_signed(bytes in any::<[u8; 16]>(), flip in 0usize..69, to in "[A-Za-z0-9_.-]") {
        let c = codec(K1);
        let value = c.encode(&SessionId::from_random(bytes));
        prop_assert!(c.decode(&value).is_some());
        let mut changed = value.clone().into_bytes();
        changed[flip] = to.as_bytes()[0];
        let changed = String::from_utf8(changed).unwrap();
        prop_assert_eq!(c.decode(&changed).is_some(), changed == value);
    }

    #[test]
    fn cookie_header_parsing_never_panics(header in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_bytes(&header) {
            headers.insert("cookie", v);
        }
        prop_assert!(find_session(&headers, "sgw", &codec(K1)).is_none());
    }

    /// Whatever other cookies hold (any bytes a header can carry, `=` and `"` included), a
    /// valid session cookie among them is found, and a tampered one never is.
    #[test]
    fn the_session_cookie_is_found_whatever_surrounds_it(
        before in proptest::collection::vec(proptest::collection::vec(any::<u8>().prop_filter("header byte", |b| *b != b';' && (*b >= 0x20 || *b == b'\t') && *b != 0x7f), 0..40), 0..6),
        after in proptest::collection::vec(proptest::collection::vec(any::<u8>().prop_filter("header byte", |b| *b != b';' && (*b >= 0x20 || *b == b'\t') && *b != 0x7f), 0..40), 0..6),
        quoted in any::<bool>(),
        tamper in any::<bool>(),
    ) {
        let c = codec(K1);
        let mut value = c.encode(&id(9));
        if tamper {
            value.replace_range(5..6, if &value[5..6] == "A" { "B" } else { "A" });
        }
        let ours = if quoted { format!("sgw=\"{value}\"") } else { format!("sgw={value}") };
        // Other cookies' names never start with `sgw=` (that would be another candidate of ours).
        let other = |bytes: &Vec<u8>| [b"o".as_slice(), bytes].concat();
        let mut raw: Vec<Vec<u8>> = before.iter().map(other).collect();
        raw.push(ours.into_bytes());
        raw.extend(after.iter().map(other));
        let header = HeaderValue::from_bytes(&raw.join(b"; ".as_slice())).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("cookie", header);
        prop_assert_eq!(find_session(&headers, "sgw", &c).is_some(), !tamper);
    }
}

// ---- session records ----

fn record_json(user: &str, created: u64, expires: u64, data: &str) -> Vec<u8> {
    format!(
        r#"{{"v":1,"user_id":{},"data":{data},"created_at":{created},"expires_at":{expires}}}"#,
        serde_json::to_string(user).unwrap()
    )
    .into_bytes()
}

#[test]
fn live_records_decode_with_header_safe_data() {
    let session = GatewayRecordDecoder
        .decode(&record_json("alice", 10, 100, r#"{"r":"a\r\nb"}"#), 50)
        .unwrap();
    assert_eq!(session.user_id, "alice");
    assert_eq!((session.created_at, session.expires_at), (10, 100));
    assert!(
        session
            .data_header
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let record = SessionRecordV1::new("bob", Default::default(), 1000, 60);
    assert_eq!(record.expires_at, 1060);
    assert_eq!(
        GatewayRecordDecoder.decode(&record.to_json(), 1000).unwrap().user_id,
        "bob"
    );
}

#[test]
fn dead_or_hostile_records_are_refused() {
    let d = GatewayRecordDecoder;
    assert_eq!(
        d.decode(&record_json("a", 10, 100, "{}"), 100),
        Err(RecordError::Expired)
    );
    assert_eq!(
        d.decode(&record_json("", 10, 100, "{}"), 50),
        Err(RecordError::BadUserId)
    );
    assert_eq!(
        d.decode(&record_json("a b", 10, 100, "{}"), 50),
        Err(RecordError::BadUserId)
    );
    assert_eq!(
        d.decode(&record_json("a\r\nx: y", 10, 100, "{}"), 50),
        Err(RecordError::BadUserId)
    );
    assert_eq!(
        d.decode(&record_json(&"u".repeat(257), 10, 100, "{}"), 50),
        Err(RecordError::BadUserId)
    );
    assert_eq!(
        d.decode(
            &record_json("a", 10, 100, &format!(r#"{{"x":"{}"}}"#, "y".repeat(5000))),
            50
        ),
        Err(RecordError::DataTooLarge)
    );
    assert_eq!(d.decode(&vec![b' '; 70 * 1024], 50), Err(RecordError::TooLarge));
    assert!(matches!(d.decode(b"not json", 50), Err(RecordError::Malformed(_))));
    assert!(matches!(
        d.decode(&record_json("a", 10, 100, "[1]"), 50),
        Err(RecordError::Malformed(_))
    ));
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(matches!(
        d.decode(&record_json("a", 10, 100, &format!(r#"{{"x":{deep}}}"#)), 50),
        Err(RecordError::Malformed(_))
    ));
    let v2 = br#"{"v":2,"user_id":"a","created_at":1,"expires_at":100}"#;
    assert_eq!(d.decode(v2, 50), Err(RecordError::UnsupportedVersion(2)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(1000)))]
    #[test]
    fn record_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = GatewayRecordDecoder.decode(&bytes, 50);
    }
}

// ---- policy ----

fn session() -> Session {
    Session {
        user_id: "u".into(),
        data_header: "e30".into(),
        created_at: 1,
        expires_at: 2,
    }
}

fn facts(path: &str, is_navigation: bool) -> RequestFacts<'_> {
    RequestFacts {
        path,
        path_and_query: path,
        is_navigation,
    }
}

#[test]
fn public_prefixes_match_whole_segments_of_clean_paths() {
    let public = PublicPaths::parse("/health, /static/ ,/").unwrap_or_default();
    assert!(public.matches("/anything"), "`/` makes everything public");
    let public = PublicPaths::parse("/health,/static/").unwrap();
    for path in ["/health", "/health/x", "/static/a.js", "/static/"] {
        assert!(public.matches(path), "{path}");
    }
    for path in [
        "/healthz",
        "/static",
        "/health/../admin",
        "/health/./x",
        "/health/%2E%2E/admin",
        "/health%2fx",
        "/health//x",
        "/health\\x",
        "/other",
        "/static/..;/admin",
        "/static/;/admin",
        "/static/a.js;jsessionid=1",
        "/static/%252e%252e/admin",
        "/static/%2e%2e/admin",
        "/static/a%20b.js",
        "/static/\u{ff0e}\u{ff0e}/admin",
    ] {
        assert!(!public.matches(path), "{path}");
    }
    assert!(PublicPaths::parse("health").is_err());
    assert!(PublicPaths::parse("/a/../b").is_err());
    assert!(PublicPaths::parse("/a;b").is_err());
    assert!(PublicPaths::parse("/a%20b").is_err());
}

/// The paths an origin might actually serve for `path`: with `;params` dropped from
/// segments (Tomcat, Jetty), `%` decoded once or twice, `\\` taken for `/` (IIS), and then
/// dot segments resolved and empty segments collapsed.
fn origin_views(path: &str) -> Vec<String> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let (mut out, mut i) = (Vec::new(), 0);
        while i < b.len() {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
            match (b[i], hex) {
                (b'%', Some(byte)) => (out.push(byte), i += 3),
                (byte, _) => (out.push(byte), i += 1),
            };
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    fn resolve(path: &str) -> String {
        let mut out: Vec<&str> = Vec::new();
        for seg in path.split('/') {
            match seg {
                "" | "." => {}
                ".." => drop(out.pop()),
                s => out.push(s),
            }
        }
        format!("/{}", out.join("/"))
    }
    let no_params = path
        .split('/')
        .map(|s| s.split(';').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("/");
    let mut views = Vec::new();
    for base in [path.to_owned(), no_params] {
        let once = decode(&base);
        let twice = decode(&once);
        for v in [base, once, twice] {
            views.push(resolve(&v.replace('\\', "/")));
        }
    }
    views
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(2000)))]

    /// However an origin normalises a path the policy calls public, it still lands under a
    /// public prefix.
    #[test]
    fn public_paths_stay_public_however_the_origin_normalises_them(
        segments in proptest::collection::vec(prop_oneof![
            Just("..".to_owned()), Just(".".to_owned()), Just("..;".to_owned()), Just(";x=1".to_owned()),
            Just("%2e%2e".to_owned()), Just("%252e%252e".to_owned()), Just("%2f".to_owned()),
            Just("%5c".to_owned()), Just("".to_owned()), Just("a\\..".to_owned()), "[a-z0-9._;%~-]{1,8}",
        ], 0..6),
    ) {
        let public = PublicPaths::parse("/static/,/health").unwrap();
        let path = format!("/static/{}", segments.join("/"));
        if public.matches(&path) {
            for view in origin_views(&path) {
                prop_assert!(view.starts_with("/static/") || view == "/static", "{path} is served as {view}");
            }
        }
    }
}

#[test]
fn decisions_fail_closed() {
    let public = PublicPaths::parse("/pub").unwrap();
    let login = LoginRedirect::new("/login", "next".into()).unwrap();
    let found = SessionLookup::Found(session());
    assert_eq!(
        decide(found, facts("/x", false), &public, None),
        Decision::Forward(Access::Authenticated(session()))
    );
    assert_eq!(
        decide(SessionLookup::Missing, facts("/pub/a", false), &public, None),
        Decision::Forward(Access::Anonymous)
    );
    assert_eq!(
        decide(
            SessionLookup::StoreUnavailable,
            facts("/pub", true),
            &public,
            Some(&login)
        ),
        Decision::Forward(Access::Anonymous)
    );
    assert_eq!(
        decide(
            SessionLookup::StoreUnavailable,
            facts("/x", true),
            &public,
            Some(&login)
        ),
        Decision::Unavailable
    );
    assert_eq!(
        decide(SessionLookup::Missing, facts("/x", false), &public, Some(&login)),
        Decision::Unauthorized
    );
    assert_eq!(
        decide(SessionLookup::Missing, facts("/x", true), &public, None),
        Decision::Unauthorized
    );
    assert_eq!(
        decide(SessionLookup::Missing, facts("/x?a=1", true), &public, Some(&login)),
        Decision::RedirectToLogin("/login?next=/x%3Fa%3D1".into())
    );
}

#[test]
fn login_redirects_never_open_redirect() {
    let login = LoginRedirect::new("https://id.example.com/login?app=1", "return_to".into()).unwrap();
    assert_eq!(
        login.location("/a b"),
        "https://id.example.com/login?app=1&return_to=/a%20b"
    );
    assert_eq!(
        login.location("//evil.com/x"),
        "https://id.example.com/login?app=1&return_to=/"
    );
    assert_eq!(
        login.location("/\\evil.com"),
        "https://id.example.com/login?app=1&return_to=/"
    );
    assert_eq!(
        login.location("http://evil.com"),
        "https://id.example.com/login?app=1&return_to=/"
    );
    for bad in [
        "//evil.com",
        "javascript:alert(1)",
        "login",
        "/a#b",
        "https://",
        "/\\evil",
    ] {
        assert!(LoginRedirect::new(bad, "next".into()).is_err(), "{bad}");
    }
    assert!(accepts_html("text/html,application/xhtml+xml;q=0.9"));
    assert!(accepts_html("TEXT/HTML; q=1"));
    assert!(!accepts_html("application/json, text/plain"));
    assert!(!accepts_html("text/htmlx"));
}

// ---- forwarding ----

fn hooks() -> HookHeaders {
    HookHeaders::new("x-sgw-").unwrap()
}

fn identity() -> IdentityHeaders {
    IdentityHeaders {
        user: HeaderName::from_static("x-session-user"),
        data: HeaderName::from_static("x-session-data"),
    }
}

#[test]
fn request_headers_drop_what_the_client_must_not_set() {
    let mut incoming = HeaderMap::new();
    for (name, value) in [
        ("connection", "close, x-listed"),
        ("x-listed", "1"),
        ("keep-alive", "5"),
        ("proxy-authorization", "x"),
        ("te", "trailers"),
        ("trailer", "x"),
        ("transfer-encoding", "chunked"),
        ("upgrade", "websocket"),
        ("host", "gw.example"),
        ("x-session-user", "mallory"),
        ("x-session-data", "e30"),
        ("x-forwarded-for", "6.6.6.6"),
        ("forwarded", "for=6.6.6.6"),
        ("x-real-ip", "6.6.6.6"),
        ("spin-full-url", "http://x"),
        ("x-sgw-login", r#"{"user_id":"mallory"}"#),
        ("x-sgw-revoke-user", "alice"),
        ("accept", "a"),
        ("cookie", "c=1"),
        // Spellings an origin folds into the names above (`_` for `-`).
        ("x_session_user", "mallory"),
        ("x-session_data", "e30"),
        ("x_forwarded_for", "6.6.6.6"),
        ("x_forwarded_host", "evil.example"),
        ("x_real_ip", "6.6.6.6"),
        ("spin_client_addr", "6.6.6.6:1"),
        ("x_sgw_login", r#"{"user_id":"mallory"}"#),
        ("x_listed", "1"),
        ("transfer_encoding", "chunked"),
        ("proxy_authorization", "x"),
        ("x.session.user", "mallory"),
        ("X.Forwarded.For", "6.6.6.6"),
        ("x-sgw.login", r#"{"user_id":"mallory"}"#),
        // Headers origins trust for the client's address or the URL, and httpoxy.
        ("true-client-ip", "6.6.6.6"),
        ("cf-connecting-ip", "6.6.6.6"),
        ("client_ip", "6.6.6.6"),
        ("x-original-url", "/admin"),
        ("x-rewrite-url", "/admin"),
        ("proxy", "http://evil.example"),
    ] {
        incoming.append(name, HeaderValue::from_static(value));
    }
    incoming.append("accept", HeaderValue::from_static("b"));
    let client = ClientFacts {
        addr: Some("10.1.2.3".into()),
        host: Some("gw.example".into()),
        proto: Some("https".into()),
    };

    let out = forwarding::request_headers(&incoming, &identity(), &hooks(), &client, &Access::Anonymous);
    let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "accept",
            "cookie",
            "x-forwarded-for",
            "x-forwarded-host",
            "x-forwarded-proto"
        ]
    );
    assert_eq!(out.get_all("accept").iter().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(out["x-forwarded-for"], "10.1.2.3");
    assert_eq!(out["x-forwarded-proto"], "https");

    let authed = forwarding::request_headers(
        &incoming,
        &identity(),
        &hooks(),
        &client,
        &Access::Authenticated(session()),
    );
    assert_eq!(authed.get_all("x-session-user").iter().collect::<Vec<_>>(), ["u"]);
    assert_eq!(authed["x-session-data"], "e30");
    assert_eq!(authed.keys_len(), names.len() + 2, "{authed:?}");
}

#[test]
fn headers_are_compared_as_origins_fold_them() {
    assert_eq!(forwarding::folded("x_session_user"), "x-session-user");
    assert_eq!(forwarding::folded("X_Session-User"), "x-session-user");
    assert_eq!(forwarding::folded("x-kept"), "x-kept");
    assert_eq!(forwarding::folded("X.Session~User"), "x-session-user");
    assert!(hooks().owns(&HeaderName::from_static("x_sgw_logout")));
    // Underscore-spelt headers the gateway does not own pass: apps may use them.
    let mut incoming = HeaderMap::new();
    incoming.append("x_app_tenant", HeaderValue::from_static("t1"));
    let out = forwarding::request_headers(
        &incoming,
        &identity(),
        &hooks(),
        &ClientFacts::default(),
        &Access::Anonymous,
    );
    assert_eq!(out["x_app_tenant"], "t1");
}

#[test]
fn responses_that_set_a_session_cookie_stay_out_of_shared_caches() {
    let run = |values: &[&str]| {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("cache-control", HeaderValue::from_str(v).unwrap());
        }
        forwarding::keep_out_of_shared_caches(&mut headers);
        headers
            .get_all("cache-control")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(run(&[]), ["private"]);
    assert_eq!(run(&["public, max-age=600, s-maxage=3600"]), ["max-age=600, private"]);
    assert_eq!(run(&["max-age=60", "Public"]), ["max-age=60, private"]);
    assert_eq!(run(&["no-store"]), ["no-store"], "the origin's stricter word is kept");
    assert_eq!(run(&["private, max-age=5"]), ["private, max-age=5"]);
    assert_eq!(run(&["no-cache"]), ["no-cache, private"]);
    assert_eq!(
        run(&["public, max-age=600, private=\"x-foo\""]),
        ["max-age=600, private=\"x-foo\", private"],
        "a qualified private leaves the rest storable"
    );
    let mut headers = HeaderMap::new();
    headers.insert("cdn-cache-control", HeaderValue::from_static("max-age=3600"));
    headers.insert("surrogate-control", HeaderValue::from_static("max-age=3600"));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    forwarding::keep_out_of_shared_caches(&mut headers);
    assert_eq!(
        headers.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
        ["cache-control"]
    );
}

#[test]
fn response_headers_lose_hop_by_hop_ones() {
    let mut incoming = HeaderMap::new();
    for (name, value) in [
        ("connection", "x-c"),
        ("x-c", "1"),
        ("keep-alive", "5"),
        ("proxy-authenticate", "B"),
        ("set-cookie", "a=1"),
        ("host", "127.0.0.1:8000"),
        ("x-ok", "1"),
    ] {
        incoming.append(name, HeaderValue::from_static(value));
    }
    incoming.append("set-cookie", HeaderValue::from_static("b=2"));
    let out = forwarding::response_headers(&incoming, &hooks());
    assert_eq!(
        out.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
        ["set-cookie", "x-ok"]
    );
    assert_eq!(out.get_all("set-cookie").iter().count(), 2);
}

// ---- configuration ----

fn parse(vars: &[(&str, &str)]) -> Result<Config, config::ConfigError> {
    Config::parse(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()))
}

const BASE: [(&str, &str); 3] = [
    ("origin_url", "http://127.0.0.1:8080"),
    ("redis_address", "redis://127.0.0.1:6379"),
    ("session_keys", K1),
];

fn with(extra: (&'static str, &'static str)) -> Vec<(&'static str, &'static str)> {
    let mut v: Vec<_> = BASE.iter().copied().filter(|(n, _)| *n != extra.0).collect();
    v.push(extra);
    v
}

/// The gateway looks variables up as its sections ask for them, and only declared ones:
/// every name asked for, under every format and topology, is in `VARIABLES`, and every
/// declared one is asked for by some configuration.
#[test]
fn sections_ask_only_for_declared_variables_and_each_is_asked_for() {
    let asked = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let settings: [&[(&str, &str)]; 9] = [
        &[
            ("login_url", "/login"),
            ("redis_sentinels", "redis://s:26379"),
            ("redis_master_name", "m"),
        ],
        &[("session_format", "express")],
        &[
            ("session_format", "flask"),
            ("session_cookie_signed", "true"),
            ("session_touch_secs", "60"),
        ],
        &[("session_format", "django")],
        &[("session_format", "php"), ("session_php_sid", "26,5")],
        &[
            ("session_format", "laravel"),
            ("session_keys", "base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
        ],
        &[("session_format", "spring"), ("session_cookie_base64", "false")],
        &[("redis_cluster_nodes", "redis://c:7000")],
        &[("cookie_domain", "example.com")],
    ];
    for extra in settings {
        let vars: Vec<(&str, &str)> = BASE
            .iter()
            .copied()
            .filter(|(n, _)| extra.iter().all(|(e, _)| e != n))
            .chain(extra.iter().copied())
            .collect();
        Config::parse(|name| {
            asked.borrow_mut().insert(name.to_owned());
            vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
        })
        .unwrap_or_else(|e| panic!("{extra:?}: {e}"));
    }
    let declared: std::collections::BTreeSet<String> = config::VARIABLES.iter().map(|v| v.to_string()).collect();
    assert_eq!(asked.into_inner(), declared);
}

#[test]
fn defaults_make_a_valid_configuration() {
    let config = parse(&BASE).unwrap();
    assert_eq!(config.cookie.name, "sgw_session");
    assert_eq!(config.sessions.key_prefix, "sgw:session:");
    assert_eq!(config.forwarding.identity_headers, identity());
    assert!(config.routing.login.is_none());
    assert_eq!(config.forwarding.origin.authority.as_str(), "127.0.0.1:8080");
    assert_eq!(
        config.sessions.session_key(&id(1)),
        format!("sgw:session:{}", id(1).as_str())
    );
    assert!(parse(&with(("origin_url", "https://app.internal/"))).is_ok());
}

#[test]
fn every_configuration_error_names_its_variable() {
    let cases: &[((&str, &str), &str)] = &[
        (("session_keys", ""), "session_keys"),
        (("session_keys", "tooshort"), "session_keys"),
        (("origin_url", ""), "origin_url"),
        (("origin_url", "app:8080"), "origin_url"),
        (("origin_url", "ftp://x"), "origin_url"),
        (("origin_url", "http://x/base"), "origin_url"),
        (("origin_url", "http://u:p@x"), "origin_url"),
        (("redis_address", "http://x"), "redis_address"),
        (("redis_address", "nonsense"), "redis_address"),
        (("cookie_name", "a b"), "cookie_name"),
        (("cookie_name", "a;b"), "cookie_name"),
        (("public_paths", "nope"), "public_paths"),
        (("login_url", "//evil"), "login_url"),
        (("user_header", "bad header"), "user_header"),
        (("user_header", "host"), "user_header"),
        (("data_header", "x-forwarded-user"), "data_header"),
        (("data_header", "x-session-user"), "data_header"),
        (("session_reads", "kv"), "session_reads"),
        (("session_format", "rails"), "session_format"),
        (("session_touch_secs", "600"), "session_touch_secs"),
    ];
    for (var, expected) in cases {
        let error = parse(&with(*var)).unwrap_err();
        assert_eq!(error.variable, *expected, "{var:?}");
        assert!(
            error.to_string().starts_with(&format!("variable `{expected}`")),
            "{error}"
        );
        assert!(!error.to_string().contains(K1));
    }
    let mut login = with(("login_url", "/login"));
    login.push(("login_next_param", "a&b"));
    assert_eq!(parse(&login).unwrap_err().variable, "login_next_param");
    for (topology, value) in [
        ("redis_cluster_nodes", "redis://127.0.0.1:7000"),
        ("redis_replicas", "redis://127.0.0.1:7001"),
        ("redis_sentinels", "redis://127.0.0.1:26379"),
    ] {
        let mut vars = with(("session_reads", "key_value"));
        vars.extend([(topology, value), ("redis_master_name", "m")]);
        assert_eq!(parse(&vars).unwrap_err().variable, "session_reads", "{topology}");
    }
}

#[test]
fn the_express_format_takes_express_defaults_and_secrets() {
    let mut vars = with(("session_format", "express"));
    vars.retain(|(n, _)| *n != "session_keys");
    vars.push(("session_keys", "keyboard cat"));
    let config = parse(&vars).unwrap();
    assert_eq!(config.cookie.name, "connect.sid");
    assert_eq!(config.sessions.key_prefix, "sess:");
    assert_eq!(config.sessions.format.name(), "express");
    assert_eq!(
        config.sessions.session_key(&id(1)),
        format!("sess:{}", id(1).as_str()),
        "no hash tag"
    );
    vars.push(("session_user_pointer", "passport.user"));
    assert_eq!(parse(&vars).unwrap_err().variable, "session_user_pointer");
    let django = parse(&with(("session_format", "django"))).unwrap();
    assert_eq!(
        (django.cookie.name.as_str(), django.sessions.key_prefix.as_str()),
        ("sessionid", ":1:django.contrib.sessions.cache")
    );
    assert_eq!(django.lifetimes.touch, None, "no touch unless asked");
    let mut touching = with(("session_format", "django"));
    touching.push(("session_touch_secs", "1209600"));
    assert_eq!(
        parse(&touching).unwrap().lifetimes.touch.map(|t| t.lifetime_secs),
        Some(1_209_600)
    );
    touching.push(("session_touch_secs", "soon"));
    touching.remove(touching.len() - 2);
    assert_eq!(parse(&touching).unwrap_err().variable, "session_touch_secs");
    let spring = parse(&with(("session_format", "spring"))).unwrap();
    assert_eq!(
        (spring.cookie.name.as_str(), spring.sessions.key_prefix.as_str()),
        ("SESSION", "spring:session:sessions:")
    );
    for (name, value) in [
        ("session_serializer", "kryo"),
        ("session_touch_secs", "1800"),
        ("session_reads", "key_value"),
        ("session_cookie_base64", "maybe"),
    ] {
        let mut vars = with(("session_format", "spring"));
        vars.push((name, value));
        assert_eq!(parse(&vars).unwrap_err().variable, name, "spring with {name}");
    }
    let mut laravel = with(("session_format", "laravel"));
    laravel.retain(|(n, _)| *n != "session_keys");
    laravel.push(("session_keys", "base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="));
    let config = parse(&laravel).unwrap();
    assert_eq!(
        (config.cookie.name.as_str(), config.sessions.key_prefix.as_str()),
        ("laravel-session", "laravel-database-laravel-cache-"),
        "Laravel 13's skeleton"
    );
    laravel.push(("session_keys", "base64:c2hvcnQ="));
    laravel.remove(laravel.len() - 2);
    let error = parse(&laravel).unwrap_err();
    assert_eq!(error.variable, "session_keys");
    assert!(!error.to_string().contains("c2hvcnQ"), "{error}");
    let php = parse(&with(("session_format", "php"))).unwrap();
    assert_eq!(
        (php.cookie.name.as_str(), php.sessions.key_prefix.as_str()),
        ("PHPSESSID", "PHPREDIS_SESSION:")
    );
    for (name, value) in [
        ("session_serializer", "igbinary"),
        ("session_php_sid", "26"),
        ("session_php_sid", "20,5"),
        ("session_php_sid", "26,7"),
    ] {
        let mut vars = with(("session_format", "php"));
        vars.push((name, value));
        assert_eq!(parse(&vars).unwrap_err().variable, name, "php with {name} = {value}");
    }
    // The native format keeps its 32-byte minimum.
    assert_eq!(
        parse(&with(("session_keys", "keyboard cat"))).unwrap_err().variable,
        "session_keys"
    );
}

#[test]
fn session_reads_default_to_outbound_redis() {
    assert_eq!(parse(&BASE).unwrap().sessions.reads, config::SessionReads::Redis);
    assert_eq!(
        parse(&with(("session_reads", "key_value"))).unwrap().sessions.reads,
        config::SessionReads::KeyValue
    );
}

#[test]
fn gateway_replies_carry_content_length() {
    for reply in [
        Reply::unauthorized(),
        Reply::login_redirect("/l".into()),
        Reply::unavailable(),
        Reply::bad_gateway(),
        Reply::misconfigured(),
    ] {
        let length = reply
            .headers
            .iter()
            .find(|(n, _)| *n == "content-length")
            .map(|(_, v)| v.clone());
        assert_eq!(length, Some(reply.body.len().to_string()), "{}", reply.status);
        assert!(
            reply
                .headers
                .iter()
                .any(|(n, v)| *n == "cache-control" && v == "no-store")
        );
    }
    assert!(Reply::unavailable().headers.contains(&("retry-after", "1".into())));
}

// ---- expiry ----

const EXPIRY: Expiry = Expiry {
    idle_secs: 600,
    absolute_secs: 3600,
    refresh_fraction: 0.5,
};

#[test]
fn ttl_is_the_sooner_of_idle_and_absolute() {
    assert_eq!(EXPIRY.absolute_end(1000), 4600);
    assert_eq!(EXPIRY.ttl_at(1000, 4600), Some(600));
    assert_eq!(
        EXPIRY.ttl_at(4300, 4600),
        Some(300),
        "the absolute end caps the idle timeout"
    );
    assert_eq!(EXPIRY.ttl_at(4600, 4600), None);
    assert_eq!(EXPIRY.ttl_at(5000, 4600), None);
}

#[test]
fn refresh_writes_only_below_the_threshold_and_never_past_the_absolute_end() {
    assert_eq!(
        EXPIRY.refresh(1000, 4600, 400_000),
        None,
        "more than half the idle timeout left"
    );
    assert_eq!(EXPIRY.refresh(1000, 4600, 299_000), Some(600));
    assert_eq!(
        EXPIRY.refresh(4500, 4600, 99_000),
        None,
        "capped TTL would not extend it"
    );
    assert_eq!(EXPIRY.refresh(4300, 4600, 100_000), Some(300));
    assert_eq!(
        EXPIRY.refresh(1000, 4600, -1),
        Some(600),
        "a key without TTL gets one back"
    );
    assert_eq!(EXPIRY.refresh(4600, 4600, 100), None);
    assert_eq!(
        EXPIRY.refresh(1000, 4600, i64::MAX),
        None,
        "a replica read (TTL unknown) never refreshes"
    );
}

#[test]
fn a_touch_is_due_below_the_fraction_and_never_adds_a_ttl() {
    let touch = Touch { lifetime_secs: 1000 };
    assert!(!touch.due(600_000, 0.5), "over half left");
    assert!(touch.due(499_999, 0.5));
    assert!(touch.due(0, 0.5));
    assert!(!touch.due(-1, 0.5), "the app stored it without a TTL");
    assert!(!touch.due(i64::MAX, 0.5), "read from a replica: the primary is down");
    assert!(touch.due(i64::MIN, 0.5), "a key-value read does not know the TTL");
    assert!(touch.due(900_000, 1.0), "a fraction of 1 touches every time");
}

#[test]
fn a_record_tells_its_remaining_ttl_never_more_than_redis_would() {
    // Idle 600 s, touched at 1000 s: Redis's TTL ends between 1600 and 1601 s.
    assert_eq!(EXPIRY.remaining_ms_by_record(1_000_000, 1000, 4600), 600_000);
    assert_eq!(EXPIRY.remaining_ms_by_record(1_300_500, 1000, 4600), 299_500);
    assert_eq!(
        EXPIRY.remaining_ms_by_record(4_300_000, 4000, 4600),
        300_000,
        "absolute end first"
    );
    assert_eq!(EXPIRY.remaining_ms_by_record(9_000_000, 1000, 4600), 0);
    assert_eq!(EXPIRY.remaining_ms_by_record(u64::MAX, u64::MAX, u64::MAX), 0);
    // The same refresh decision as from Redis's TTL.
    let remaining = EXPIRY.remaining_ms_by_record(1_301_000, 1000, 4600);
    assert_eq!(EXPIRY.refresh(1301, 4600, remaining), Some(600));
}

#[test]
fn frameworks_formats_read_only_the_first_cookie_of_their_name() {
    use session_gateway_core::cookie_codec::find_first_session;
    let c = codec(K1);
    let valid = c.encode(&id(1));
    let mut headers = HeaderMap::new();
    headers.append(
        http::header::COOKIE,
        HeaderValue::from_str(&format!("sgw_session=junk; sgw_session={valid}")).unwrap(),
    );
    assert!(
        find_session(&headers, "sgw_session", &c).is_some(),
        "native: the first that verifies"
    );
    assert!(
        find_first_session(&headers, "sgw_session", &c).is_none(),
        "a framework's parser sees only the junk one, so must the gateway"
    );
    let mut first = HeaderMap::new();
    first.append(
        http::header::COOKIE,
        HeaderValue::from_str(&format!("a=1; sgw_session={valid}; sgw_session=junk")).unwrap(),
    );
    assert!(find_first_session(&first, "sgw_session", &c).is_some());
}

#[test]
fn records_keep_fields_they_do_not_know_when_rewritten() {
    let newer = br#"{"v":1,"user_id":"a","created_at":1,"expires_at":9999999999,"mfa":{"at":5},"touched_at":3}"#;
    let record: SessionRecordV1 = serde_json::from_slice(newer).unwrap();
    let again: serde_json::Value = serde_json::from_slice(&record.to_json()).unwrap();
    assert_eq!(again["mfa"], serde_json::json!({"at": 5}));
    assert_eq!(again["touched_at"], 3);
}

#[test]
fn records_without_touched_at_read_as_touched_when_created() {
    let old = br#"{"v":1,"user_id":"a","created_at":100,"expires_at":999999999999}"#;
    let record: SessionRecordV1 = serde_json::from_slice(old).unwrap();
    assert_eq!(record.last_touched(), 100);
    assert!(
        !String::from_utf8(record.to_json()).unwrap().contains("touched_at"),
        "written as it was read"
    );
    let touched = SessionRecordV1 {
        touched_at: Some(500),
        ..record
    };
    let again: SessionRecordV1 = serde_json::from_slice(&touched.to_json()).unwrap();
    assert_eq!(again.last_touched(), 500);
}

// ---- hooks ----

fn hook_map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (n, v) in pairs {
        map.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

#[test]
fn hooks_parse_from_origin_headers() {
    let parsed = hooks::parse(
        &hook_map(&[
            ("x-sgw-login", r#"{"user_id":"alice","data":{"r":1}}"#),
            ("x-sgw-revoke-user", "alice"),
            ("x-other", "1"),
        ]),
        &hooks(),
    )
    .unwrap();
    assert_eq!(
        parsed.login,
        Some(Login {
            user_id: "alice".into(),
            data: serde_json::from_str(r#"{"r":1}"#).unwrap()
        })
    );
    assert_eq!(parsed.revoke_user.as_deref(), Some("alice"));
    assert!(!parsed.logout && !parsed.rotate && parsed.update.is_none());
    assert!(
        hooks::parse(&hook_map(&[("x-other", "1")]), &hooks())
            .unwrap()
            .is_empty()
    );
    let parsed = hooks::parse(
        &hook_map(&[("x-sgw-update", r#"{"a":null}"#), ("x-sgw-rotate", "1")]),
        &hooks(),
    )
    .unwrap();
    assert!(parsed.rotate && parsed.update.is_some());
    for bad in [
        vec![("x-sgw-login", "not json")],
        vec![("x-sgw-login", r#"{"data":{}}"#)],
        vec![("x-sgw-update", "[1]")],
        vec![("x-sgw-login", r#"{"user_id":"a"}"#), ("x-sgw-logout", "1")],
        vec![("x-sgw-logout", "1"), ("x-sgw-logout", "1")],
    ] {
        let error = hooks::parse(&hook_map(&bad), &hooks()).unwrap_err();
        assert!(error.to_string().starts_with("hook header `x-sgw-"), "{error}");
    }
    assert!(HookHeaders::new("X-Bad").is_none());
    assert!(HookHeaders::new("x-sgw").is_none(), "must end in '-'");
}

#[test]
fn update_merges_top_level_keys_and_null_removes() {
    let mut data: serde_json::Map<String, serde_json::Value> = serde_json::from_str(r#"{"a":1,"b":2}"#).unwrap();
    hooks::merge(&mut data, serde_json::from_str(r#"{"b":null,"c":{"d":3}}"#).unwrap());
    assert_eq!(
        serde_json::Value::Object(data),
        serde_json::json!({"a": 1, "c": {"d": 3}})
    );
}

// ---- Set-Cookie ----

fn settings(name: &str) -> CookieSettings {
    CookieSettings {
        name: name.into(),
        secure: true,
        same_site: SameSite::Lax,
        domain: None,
        persistent: false,
    }
}

#[test]
fn set_cookie_carries_the_safe_attributes() {
    let issued = settings("sgw").issue("v1.x.y".into(), 3600);
    for part in ["sgw=v1.x.y", "HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(issued.contains(part), "{issued} lacks {part}");
    }
    assert!(!issued.contains("Max-Age"), "a browser-session cookie by default");
    let persistent = CookieSettings {
        persistent: true,
        domain: Some("example.com".into()),
        ..settings("sgw")
    }
    .issue("v".into(), 60);
    assert!(
        persistent.contains("Max-Age=60") && persistent.contains("Domain=example.com"),
        "{persistent}"
    );
    let expired = settings("sgw").expire();
    assert!(
        expired.contains("Max-Age=0") && expired.starts_with("sgw=;"),
        "{expired}"
    );
    let local = CookieSettings {
        secure: false,
        ..settings("sgw")
    }
    .issue("v".into(), 1);
    assert!(!local.contains("Secure"));
}

#[test]
fn cookie_prefix_rules_are_enforced() {
    assert_eq!(
        CookieSettings {
            secure: false,
            ..settings("__Host-s")
        }
        .validate(),
        Err(CookieSettingsError::HostNeedsSecure)
    );
    assert_eq!(
        CookieSettings {
            domain: Some("a.com".into()),
            ..settings("__Host-s")
        }
        .validate(),
        Err(CookieSettingsError::HostForbidsDomain)
    );
    assert_eq!(
        CookieSettings {
            secure: false,
            ..settings("__Secure-s")
        }
        .validate(),
        Err(CookieSettingsError::SecurePrefixNeedsSecure)
    );
    assert_eq!(
        CookieSettings {
            secure: false,
            same_site: SameSite::None,
            ..settings("s")
        }
        .validate(),
        Err(CookieSettingsError::SameSiteNoneNeedsSecure)
    );
    assert_eq!(settings("__Host-s").validate(), Ok(()));
}

#[test]
fn lifecycle_settings_are_validated_with_the_variable_named() {
    let config = parse(&BASE).unwrap();
    assert_eq!(
        config.lifetimes.expiry,
        Expiry {
            idle_secs: 1800,
            absolute_secs: 86400,
            refresh_fraction: 0.5
        }
    );
    assert!(config.cookie.secure && !config.cookie.persistent);
    assert_eq!(config.forwarding.hook_headers.login.as_str(), "x-sgw-login");
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("idle_timeout", "0")], "idle_timeout"),
        (&[("idle_timeout", "ten")], "idle_timeout"),
        (&[("absolute_timeout", "-5")], "absolute_timeout"),
        (&[("refresh_fraction", "1.5")], "refresh_fraction"),
        (&[("refresh_fraction", "0")], "refresh_fraction"),
        (&[("cookie_secure", "yes")], "cookie_secure"),
        (&[("cookie_same_site", "sometimes")], "cookie_same_site"),
        (&[("cookie_domain", "a b")], "cookie_domain"),
        (&[("cookie_persistent", "1")], "cookie_persistent"),
        (
            &[("cookie_name", "__Host-s"), ("cookie_secure", "false")],
            "cookie_secure",
        ),
        (
            &[("cookie_name", "__Host-s"), ("cookie_domain", "example.com")],
            "cookie_domain",
        ),
        (
            &[("cookie_same_site", "None"), ("cookie_secure", "false")],
            "cookie_same_site",
        ),
        (&[("hook_header_prefix", "X-Bad")], "hook_header_prefix"),
        (&[("user_header", "x-sgw-user")], "user_header"),
    ];
    for (extra, variable) in cases {
        let mut vars: Vec<(&str, &str)> = BASE.to_vec();
        vars.extend_from_slice(extra);
        assert_eq!(parse(&vars).unwrap_err().variable, *variable, "{extra:?}");
    }
}

// ---- header rewriting under arbitrary input ----

/// Header names drawn from the ones that matter (hop-by-hop, owned, forwarding, Spin's) and noise.
fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "connection",
            "keep-alive",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "proxy-authorization",
            "host",
            "x-session-user",
            "x-session-data",
            "x-forwarded-for",
            "forwarded",
            "x-real-ip",
            "spin-client-addr",
            "x-sgw-login",
            "x-sgw-revoke-user",
            "cookie",
            "accept",
            "x-listed",
            "x-listed-2",
        ])
        .prop_map(str::to_owned),
        "[a-z][a-z0-9_.!#$%&'*+^`|~-]{0,20}",
    ]
    // Every `-` may be spelt with another token character, as origins fold them alike.
    .prop_flat_map(|name| {
        let dashes = name.matches('-').count();
        (
            Just(name),
            proptest::collection::vec(prop::sample::select(vec!['-', '_', '.', '~']), dashes),
        )
    })
    .prop_map(|(name, spellings)| {
        let mut spellings = spellings.into_iter();
        name.chars()
            .map(|c| if c == '-' { spellings.next().unwrap_or('-') } else { c })
            .collect()
    })
}

/// A `Connection` value naming some of the headers the request carries (and spellings of them).
fn connection_value(names: &[String], picks: &[usize]) -> String {
    let mut listed: Vec<String> = picks.iter().filter_map(|i| names.get(*i).cloned()).collect();
    listed.push("x-listed".into());
    listed.join(", ")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(2000)))]

    #[test]
    fn rewritten_headers_never_carry_what_the_client_must_not_set(
        pairs in proptest::collection::vec((header_name(), proptest::collection::vec(any::<u8>(), 0..40)), 0..30),
        picks in proptest::collection::vec(0usize..30, 0..4),
        with_connection in any::<bool>(),
        authenticated in any::<bool>(),
    ) {
        let mut incoming = HeaderMap::new();
        for (name, value) in &pairs {
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value)) {
                incoming.append(n, v);
            }
        }
        if with_connection {
            let names: Vec<String> = pairs.iter().map(|(n, _)| n.clone()).collect();
            incoming.append("connection", HeaderValue::from_str(&connection_value(&names, &picks)).unwrap());
        }
        let access = if authenticated { Access::Authenticated(session()) } else { Access::Anonymous };
        let client = ClientFacts { addr: Some("10.0.0.1".into()), host: None, proto: Some("https".into()) };
        let out = forwarding::request_headers(&incoming, &identity(), &hooks(), &client, &access);
        // What an origin that folds `_`, `.` and the like into `-` would read each name as.
        let fold = |n: &str| -> String {
            n.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
        };
        let listed: Vec<String> = incoming
            .get_all("connection")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|t| fold(t.trim())).collect::<Vec<_>>())
            .collect();
        let hop = ["connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-connection"];
        let set_by_gateway = ["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-session-user", "x-session-data"];
        for name in out.keys() {
            let (n, f) = (name.as_str(), fold(name.as_str()));
            prop_assert!(!hop.contains(&f.as_str()) && !f.starts_with("proxy-") && f != "host", "{n}");
            prop_assert!(!f.starts_with("spin-") && !f.starts_with("x-sgw-"), "{n}");
            prop_assert!(f != "forwarded" && f != "x-real-ip", "{n}");
            prop_assert!(!listed.contains(&f) || set_by_gateway.contains(&n), "{n} was listed in Connection");
            if f.starts_with("x-forwarded-") || f.starts_with("x-session-") {
                prop_assert!(set_by_gateway.contains(&n), "a client copy of {n} passed");
            }
        }
        prop_assert_eq!(out.get_all("x-forwarded-for").iter().collect::<Vec<_>>(), ["10.0.0.1"]);
        let named = |target: &str| out.iter().filter(|(n, _)| fold(n.as_str()) == target).count();
        prop_assert_eq!(named("x-session-user"), usize::from(authenticated));
        prop_assert_eq!(named("x-session-data"), usize::from(authenticated));
        if authenticated {
            prop_assert_eq!(out["x-session-user"].as_bytes(), b"u");
        }
        let kept = forwarding::response_headers(&incoming, &hooks());
        for name in kept.keys() {
            let f = fold(name.as_str());
            prop_assert!(!hop.contains(&f.as_str()) && !f.starts_with("proxy-") && !f.starts_with("x-sgw-"), "{name}");
            prop_assert!(!listed.contains(&f), "{name}");
        }
    }
}

#[test]
fn redis_topology_settings() {
    let config = parse(&BASE).unwrap();
    assert_eq!(config.sessions.redis.primary, "redis://127.0.0.1:6379");
    assert!(config.sessions.redis.replicas.is_empty() && config.sessions.redis.sentinel.is_none());
    let mut vars: Vec<(&str, &str)> = BASE.to_vec();
    vars.extend([
        ("redis_replicas", "redis://r1:6379, redis://r2:6380"),
        ("redis_sentinels", "redis://s1:26379"),
        ("redis_master_name", "m"),
    ]);
    let config = parse(&vars).unwrap();
    assert_eq!(config.sessions.redis.replicas, ["redis://r1:6379", "redis://r2:6380"]);
    assert_eq!(config.sessions.redis.sentinel.as_ref().unwrap().master_name, "m");
    for (extra, variable) in [
        (("redis_replicas", "http://r1"), "redis_replicas"),
        (("redis_sentinels", "redis://s1:26379"), "redis_master_name"),
        (("redis_sentinels", "nonsense"), "redis_sentinels"),
        (("redis_timeout_ms", "0"), "redis_timeout_ms"),
        (("origin_timeout_ms", "900000"), "origin_timeout_ms"),
    ] {
        assert_eq!(parse(&with(extra)).unwrap_err().variable, variable, "{extra:?}");
    }
    // A primary that Sentinel moved keeps its credentials and database.
    let moved = parse(&with(("redis_address", "redis://u:p@old:6379/2")))
        .unwrap()
        .sessions
        .redis
        .primary_at("10.0.0.9", "6380");
    assert_eq!(moved.as_deref(), Some("redis://u:p@10.0.0.9:6380/2"));
}

// ---- Redis Cluster ----

#[test]
fn hash_slots_follow_the_redis_cluster_spec() {
    use session_gateway_core::cluster::{expected_node, slot};
    assert_eq!(slot(b"123456789"), 0x31C3, "CRC16/XMODEM check value (below 16384)");
    assert_eq!(slot(b"foo"), 12182);
    assert_eq!(slot(b"{user1000}.following"), slot(b"{user1000}.followers"));
    // The spec's hash-tag examples; expected values from CRC16/XMODEM (Python's
    // `binascii.crc_hqx(key, 0) % 16384`) of the part Redis hashes.
    assert_eq!(slot(b"foo{}{bar}"), 8363, "an empty tag hashes the whole key");
    assert_eq!(slot(b"bar"), 5061);
    assert_eq!(slot(b"{bar"), 4015);
    assert_eq!(slot(b"foo{{bar}}zap"), 4015, "the tag is `{{bar`");
    assert_eq!(slot(b"foo{bar}{zap}"), 5061, "only the first tag counts");
    assert_eq!(
        (expected_node(0, 3), expected_node(5460, 3), expected_node(5461, 3)),
        (0, 0, 1)
    );
    assert_eq!(
        (
            expected_node(10922, 3),
            expected_node(10923, 3),
            expected_node(16383, 3)
        ),
        (1, 2, 2)
    );
}

#[test]
fn redirections_are_read_from_spins_error_text() {
    use session_gateway_core::cluster::{Redirect, redirect};
    assert_eq!(
        redirect("An error was signalled by the server - Moved: 15495 127.0.0.1:17202"),
        Some(Redirect::Moved("127.0.0.1:17202".into()))
    );
    assert_eq!(
        redirect("MOVED 3999 10.0.0.2:6381"),
        Some(Redirect::Moved("10.0.0.2:6381".into()))
    );
    assert_eq!(
        redirect("An error was signalled by the server - Ask: 44 h:1"),
        Some(Redirect::Ask("h:1".into()))
    );
    assert_eq!(redirect("Connection refused (os error 111)"), None);
    assert_eq!(redirect("Moved: notaslot h:1"), None);
}

#[test]
fn a_users_sessions_and_index_share_a_slot() {
    use session_gateway_core::cluster::slot;
    use session_gateway_core::redis_layout::{session_key, user_index_key, user_sessions_prefix};
    let tagged = SessionId::for_user([7; 16], "alice@example.com");
    assert_eq!(tagged.as_str().len(), 26);
    assert!(SessionId::parse(tagged.as_str()).is_some(), "a tagged id is a valid id");
    let key = session_key("sgw:", &tagged);
    assert_eq!(
        key,
        format!(
            "{}{}",
            user_sessions_prefix("sgw:", "alice@example.com"),
            tagged.as_str()
        )
    );
    assert_eq!(
        slot(key.as_bytes()),
        slot(user_index_key("sgw:", "alice@example.com").as_bytes())
    );
    assert_ne!(tagged.tag(), SessionId::for_user([7; 16], "bob").tag());
    assert_eq!(
        session_key("sgw:", &id(1)),
        format!("sgw:{}", id(1).as_str()),
        "untagged ids keep the plain layout"
    );
}

// ---- express (express-session + connect-redis) ----

mod express_format {
    use proptest::prelude::*;
    use session_gateway_core::express::{ExpressCookie, ExpressRecordDecoder, parse_iso8601};
    use session_gateway_core::session::{ForeignRecord, RecordError, SessionDecoder};
    use session_gateway_core::{CookieCodec, KeyRing, SessionId};

    const ID: &str = "Xq3iRAtB0pQ7kM2nV9sL4wYz8cE1fH6J";
    // From Node.js: encodeURIComponent('s:' + cookie-signature's sign(ID, secret)).
    const SIGNED_KEYBOARD_CAT: &str =
        "s%3AXq3iRAtB0pQ7kM2nV9sL4wYz8cE1fH6J.Wae5W8afhgCQuZXatYKe%2F0ar70x2qm1COYUFeeoZbHA";
    const SIGNED_SECOND: &str = "s%3AXq3iRAtB0pQ7kM2nV9sL4wYz8cE1fH6J.nCREz74GL3%2FzumyLuOVhZorF9cOb%2Fkx4e3RFOBgBR1k";

    fn codec(secrets: &str) -> ExpressCookie {
        ExpressCookie::new(KeyRing::parse_with_minimum(secrets, 1).unwrap())
    }

    #[test]
    fn cookies_signed_by_express_session_verify_with_any_secret() {
        let id = codec("keyboard cat").decode(SIGNED_KEYBOARD_CAT).expect("verifies");
        assert_eq!(id.as_str(), ID);
        let rotated = codec("second secret,keyboard cat");
        assert!(
            rotated.decode(SIGNED_KEYBOARD_CAT).is_some(),
            "the old secret still verifies"
        );
        assert!(rotated.decode(SIGNED_SECOND).is_some());
        assert_eq!(
            rotated.encode(&SessionId::parse(ID).unwrap()),
            SIGNED_SECOND,
            "the first secret signs, as Express does"
        );
        assert!(codec("another secret").decode(SIGNED_KEYBOARD_CAT).is_none());
        // Decoded by hand (as a browser may send it) verifies too.
        let plain = SIGNED_KEYBOARD_CAT.replace("%3A", ":").replace("%2F", "/");
        assert!(codec("keyboard cat").decode(&plain).is_some());
    }

    #[test]
    fn unsigned_truncated_or_altered_cookies_are_no_session() {
        let c = codec("keyboard cat");
        for bad in [
            ID.to_owned(),
            format!("s%3A{ID}"),
            format!("s%3A{ID}."),
            SIGNED_KEYBOARD_CAT.replacen("s%3A", "", 1),
            SIGNED_KEYBOARD_CAT.replacen("Xq3", "Yq3", 1),
            SIGNED_KEYBOARD_CAT[..SIGNED_KEYBOARD_CAT.len() - 1].to_owned(),
            format!("{SIGNED_KEYBOARD_CAT}A"),
            SIGNED_KEYBOARD_CAT.replace("%2F", "%2"),
            SIGNED_KEYBOARD_CAT.replace("%3A", "%ZZ"),
            "s%3A..".to_owned(),
            "s%3A%C3%A9.x".to_owned(),
        ] {
            assert!(c.decode(&bad).is_none(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_cookie_value_decodes_without_panicking(value in ".{0,300}") {
            let c = codec("keyboard cat");
            let _ = c.decode(&value);
        }

        #[test]
        fn any_single_character_change_is_refused(pos in 0usize..80, to in any::<char>()) {
            let c = codec("keyboard cat");
            let mut chars: Vec<char> = SIGNED_KEYBOARD_CAT.chars().collect();
            let pos = pos % chars.len();
            prop_assume!(chars[pos] != to);
            chars[pos] = to;
            let changed: String = chars.into_iter().collect();
            // Only re-spellings of the same bytes (an escape decoded by hand) may pass.
            if let Some(id) = c.decode(&changed) {
                prop_assert_eq!(id.as_str(), ID);
            }
        }
    }

    fn record(pointer: &str, keys: Option<&[&str]>) -> ForeignRecord {
        ForeignRecord {
            user_pointer: pointer.into(),
            data_keys: keys.map(|k| k.iter().map(|s| s.to_string()).collect()),
        }
    }

    const NOW: u64 = 1_764_374_400; // 2025-11-29T00:00:00Z

    #[test]
    fn connect_redis_records_decode_with_the_user_at_the_pointer() {
        let json = br#"{"cookie":{"originalMaxAge":86400000,"expires":"2025-11-30T00:00:00.123Z","httpOnly":true,"path":"/"},"passport":{"user":"alice"},"cart":[1,2],"csrfSecret":"s3cr3t"}"#;
        let all = record("/passport/user", None);
        let session = ExpressRecordDecoder { record: &all }.decode(json, NOW).unwrap();
        assert_eq!(session.user_id, "alice");
        assert_eq!(session.expires_at, 1_764_460_800);
        let allowed = record("/passport/user", Some(&["passport", "cart"]));
        let session = ExpressRecordDecoder { record: &allowed }.decode(json, NOW).unwrap();
        let data =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &session.data_header).unwrap();
        let data: serde_json::Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(
            data,
            serde_json::json!({"passport": {"user": "alice"}, "cart": [1, 2]}),
            "only the allowed keys"
        );
        let numeric = br#"{"cookie":{"expires":null},"passport":{"user":42}}"#;
        assert_eq!(
            ExpressRecordDecoder { record: &all }
                .decode(numeric, NOW)
                .unwrap()
                .user_id,
            "42"
        );
    }

    #[test]
    fn sessions_without_a_user_expired_or_hostile_are_no_session() {
        let r = record("/passport/user", None);
        let decode = |bytes: &[u8]| ExpressRecordDecoder { record: &r }.decode(bytes, NOW);
        assert_eq!(decode(br#"{"cookie":{"expires":null}}"#), Err(RecordError::Anonymous));
        assert_eq!(decode(br#"{"cookie":{},"passport":{}}"#), Err(RecordError::Anonymous));
        assert_eq!(
            decode(br#"{"cookie":{"expires":"2025-11-28T23:59:59.000Z"},"passport":{"user":"a"}}"#),
            Err(RecordError::Expired)
        );
        for hostile in [
            &br#"{"cookie":{"expires":"tomorrow"},"passport":{"user":"a"}}"#[..],
            br#"{"cookie":{"expires":5},"passport":{"user":"a"}}"#,
            br#"{"passport":{"user":"a b"}}"#,
            br#"{"passport":{"user":{"id":1}}}"#,
            br#"{"passport":{"user":1.5}}"#,
            br#"["passport"]"#,
            br#"{"passport":"#,
            b"\xff\xfe",
        ] {
            assert!(decode(hostile).is_err(), "{}", String::from_utf8_lossy(hostile));
        }
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(decode(deep.as_bytes()).is_err());
        let huge = format!(r#"{{"passport":{{"user":"a"}},"x":"{}"}}"#, "x".repeat(70_000));
        assert_eq!(decode(huge.as_bytes()), Err(RecordError::TooLarge));
        let wide = format!(r#"{{"passport":{{"user":"a"}},"x":"{}"}}"#, "x".repeat(10_000));
        assert_eq!(decode(wide.as_bytes()), Err(RecordError::DataTooLarge));
    }

    proptest! {
        #[test]
        fn hostile_records_never_panic_and_never_yield_a_foreign_user(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let r = record("/passport/user", None);
            if let Ok(session) = (ExpressRecordDecoder { record: &r }).decode(&bytes, NOW) {
                // Anything accepted really holds that user at the pointer.
                let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                let at = value.pointer("/passport/user").unwrap();
                prop_assert_eq!(at.as_str().map(str::to_owned).unwrap_or_else(|| at.to_string()), session.user_id);
            }
        }
    }

    #[test]
    fn dates_parse_as_javascript_writes_them() {
        assert_eq!(parse_iso8601("2025-11-30T00:00:00.123Z"), Some(1_764_460_800));
        assert_eq!(parse_iso8601("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_iso8601("2000-02-29T12:34:56.000Z"), Some(951_827_696));
        for bad in [
            "2025-13-01T00:00:00Z",
            "2025-11-30 00:00:00Z",
            "2025-11-30T00:00:00",
            "x",
            "2025-11-30T00:00:00.Z1",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }
}

// ---- flask (Flask-Session) ----

mod flask_format {
    use proptest::prelude::*;
    use session_gateway_core::flask::{FlaskCookie, FlaskRecordDecoder, decode_value};
    use session_gateway_core::session::{ForeignRecord, RecordError, SessionDecoder};
    use session_gateway_core::{CookieCodec, SessionId};

    const ID: &str = "wWsbE4VPfAt-WFw4BVKnl888mW3rvvPIERuSpsJ8seM";
    // From itsdangerous 2.2: Signer("flask secret key", salt="flask-session", key_derivation="hmac").sign(ID).
    const SIGNED: &str = "wWsbE4VPfAt-WFw4BVKnl888mW3rvvPIERuSpsJ8seM.f5Wr8mwgBUBlnzbfE1rayAUIMPU";
    // From msgspec 0.23: msgpack.encode({"_permanent": True, "_user_id": "alice", "_fresh": True, "role": "member", "n": 7}).
    const MSGPACK: &str =
        "85aa5f7065726d616e656e74c3a85f757365725f6964a5616c696365a65f6672657368c3a4726f6c65a66d656d626572a16e07";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn record() -> ForeignRecord {
        ForeignRecord {
            user_pointer: "/_user_id".into(),
            data_keys: None,
        }
    }

    #[test]
    fn cookies_signed_by_flask_session_verify() {
        let signed = FlaskCookie::signed(["flask secret key"]);
        assert_eq!(signed.decode(SIGNED).unwrap().as_str(), ID);
        assert_eq!(signed.encode(&SessionId::parse(ID).unwrap()), SIGNED);
        assert!(
            FlaskCookie::signed(["new key", "flask secret key"])
                .decode(SIGNED)
                .is_some()
        );
        assert!(FlaskCookie::signed(["another key"]).decode(SIGNED).is_none());
        assert!(signed.decode(ID).is_none(), "unsigned where signing is on");
        assert!(signed.decode(&SIGNED.replace(".f5W", ".f6W")).is_none());
        let unsigned = FlaskCookie::unsigned();
        assert_eq!(unsigned.decode(ID).unwrap().as_str(), ID);
        for bad in [
            "short",
            "has space in it and is long enough",
            "wWsbE4VPfAt+WFw4BVKnl888mW3rvvPIERuSpsJ8seM",
            "",
        ] {
            assert!(unsigned.decode(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn msgpack_and_json_records_decode_and_nothing_else_does() {
        let r = record();
        let session = FlaskRecordDecoder { record: &r }.decode(&hex(MSGPACK), 0).unwrap();
        assert_eq!(session.user_id, "alice");
        let json = br#"{"_permanent":true,"_user_id":"alice","role":"member"}"#;
        assert_eq!(
            FlaskRecordDecoder { record: &r }.decode(json, 0).unwrap().user_id,
            "alice"
        );
        assert_eq!(
            FlaskRecordDecoder { record: &r }.decode(&hex("81a4726f6c65a66d656d626572"), 0),
            Err(RecordError::Anonymous),
            "a session without _user_id"
        );
        let pickle = b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x08_user_id\x94\x8c\x05alice\x94s.";
        assert!(decode_value(pickle).is_err(), "a pickle is refused, not read");
        for hostile in [
            hex("92a161a162"),                     // an array, not a map
            hex("81a161c4026869"),                 // bytes
            hex("81a161d6ff00000000"),             // an extension (timestamp)
            hex("81c3a161"),                       // a non-string key
            hex("dd7fffffff"),                     // an array claiming 2^31 items
            hex("db7fffffff"),                     // a string claiming 2 GiB
            hex(&"81a161".repeat(200)),            // nested past the depth bound
            hex(&MSGPACK[..MSGPACK.len() - 4]),    // truncated
            hex("82a85f757365725f6964a135a178c1"), // the reserved marker, which msgspec refuses
        ] {
            assert!(
                FlaskRecordDecoder { record: &r }.decode(&hostile, 0).is_err(),
                "{hostile:02x?}"
            );
        }
    }

    #[test]
    fn json_floats_read_back_exactly() {
        let value = decode_value(br#"{"f":207840.07719238894}"#).unwrap();
        assert_eq!(value["f"].as_f64(), Some(207840.07719238894));
    }

    proptest! {
        #[test]
        fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let r = record();
            let _ = FlaskRecordDecoder { record: &r }.decode(&bytes, 0);
        }

        #[test]
        fn any_cookie_value_decodes_without_panicking(value in ".{0,200}") {
            let _ = FlaskCookie::signed(["k"]).decode(&value);
            let _ = FlaskCookie::unsigned().decode(&value);
        }
    }
}

// ---- django (cache-backed sessions, pickled) ----

mod django_format {
    use proptest::prelude::*;
    use session_gateway_core::CookieCodec;
    use session_gateway_core::django::{DjangoCookie, DjangoRecordDecoder, unpickle};
    use session_gateway_core::session::{ForeignRecord, RecordError, SessionDecoder};

    // From CPython 3.11: pickle.dumps(d, protocol) of one session dict, protocols 2 and 5.
    const PROTOCOL_2: &str = "80027d710028580d0000005f617574685f757365725f69647101580100000031710258120000005f617574685f757365725f6261636b656e6471035829000000646a616e676f2e636f6e747269622e617574682e6261636b656e64732e4d6f64656c4261636b656e647104580f0000005f617574685f757365725f6861736871055802000000616271065804000000726f6c65710758060000006d656d626572710858010000006e71094a90eefeff5803000000626967710a8a06000000000001580100000066710b473ff8000000000000580100000074710c4b01580100000078710d86710e58010000006c710f5d711028884e7d711158010000006b71125801000000767113736558010000006571147d7115752e";
    const PROTOCOL_5: &str = "800595cc000000000000007d94288c0d5f617574685f757365725f6964948c0131948c125f617574685f757365725f6261636b656e64948c29646a616e676f2e636f6e747269622e617574682e6261636b656e64732e4d6f64656c4261636b656e64948c0f5f617574685f757365725f68617368948c026162948c04726f6c65948c066d656d626572948c016e944a90eefeff8c03626967948a060000000000018c016694473ff80000000000008c0174944b018c01789486948c016c945d9428884e7d948c016b948c01769473658c0165947d94752e";
    // {'a': s, 'b': s} with one string object: the second is a memo reference.
    const SHARED_STRING: &str = "8005951c000000000000007d94288c0161948c0a78787878787878787878948c0162946802752e";
    // {'a': l, 'b': l} with one list object.
    const SHARED_LIST: &str = "80059514000000000000007d94288c0161945d944b01618c0162946802752e";
    // A dict whose value reduces to os.system('touch /tmp/pwned') when unpickled by Python.
    const REDUCE: &str = "8005953e000000000000007d948c0d5f617574685f757365725f6964948c05706f736978948c0673797374656d9493948c10746f756368202f746d702f70776e65649485945294732e";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn session_dicts_pickled_by_python_read_as_python_wrote_them() {
        let expected = serde_json::json!({
            "_auth_user_id": "1",
            "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
            "_auth_user_hash": "ab",
            "role": "member",
            "n": -70000,
            "big": 1u64 << 40,
            "f": 1.5,
            "t": [1, "x"],
            "l": [true, null, {"k": "v"}],
            "e": {}
        });
        assert_eq!(unpickle(&hex(PROTOCOL_2)).unwrap(), expected);
        assert_eq!(unpickle(&hex(PROTOCOL_5)).unwrap(), expected);
        assert_eq!(
            unpickle(&hex(SHARED_STRING)).unwrap(),
            serde_json::json!({"a": "xxxxxxxxxx", "b": "xxxxxxxxxx"})
        );
        let r = ForeignRecord {
            user_pointer: "/_auth_user_id".into(),
            data_keys: Some(vec!["role".into()]),
        };
        assert_eq!(
            DjangoRecordDecoder { record: &r }
                .decode(&hex(PROTOCOL_5), 0)
                .unwrap()
                .user_id,
            "1"
        );
    }

    #[test]
    fn anything_but_plain_data_is_refused() {
        assert!(
            unpickle(&hex(REDUCE)).unwrap_err().contains("opcode 0x93"),
            "STACK_GLOBAL"
        );
        assert!(unpickle(&hex(SHARED_LIST)).is_err(), "a shared mutable container");
        let global = b"\x80\x02cos\nsystem\nq\x00.";
        assert!(unpickle(global).is_err());
        let mut truncated = hex(PROTOCOL_5);
        truncated.pop();
        assert!(unpickle(&truncated).is_err());
        let mut trailing = hex(PROTOCOL_5);
        trailing.push(b'N');
        assert!(unpickle(&trailing).is_err());
        assert!(unpickle(b"\x80\x06}.").is_err(), "an unknown protocol");
        assert!(unpickle(b"\x80\x05\x8c\xff").is_err(), "a string past the end");
        assert!(unpickle(b"\x80\x05X\xff\xff\xff\xff").is_err());
        assert!(
            unpickle(b"\x80\x05\x8a\x09123456789.").is_err(),
            "an integer wider than 64 bits"
        );
        assert!(unpickle(b"\x80\x05G\x7f\xf8\x00\x00\x00\x00\x00\x00.").is_err(), "NaN");
        assert!(unpickle(b"\x80\x05}(\x8c\x01a.").is_err(), "an unclosed mark");
        assert!(
            unpickle(b"\x80\x05}(K\x01K\x02u.").is_err(),
            "a key that is not a string"
        );
        // Depth: 100 nested lists.
        let mut deep = b"\x80\x05".to_vec();
        deep.extend(std::iter::repeat_n(b']', 100));
        deep.extend(std::iter::repeat_n(b'a', 99));
        deep.push(b'.');
        assert!(unpickle(&deep).unwrap_err().contains("deep"));
        // A string repeated through memo references far past the input's size.
        let mut laughs = b"\x80\x05](X\x00\xf0\x00\x00".to_vec();
        laughs.extend(std::iter::repeat_n(b'x', 0xf000));
        laughs.push(0x94);
        laughs.extend(std::iter::repeat_n([b'h', 0], 100).flatten());
        laughs.extend(b"e.");
        assert!(unpickle(&laughs).unwrap_err().contains("too large"));
        // Found by a differential test against CPython: what Python refuses, so does the parser.
        let mut memo_laughs = hex("80048d007d000000000000");
        memo_laughs.extend(std::iter::repeat_n(b'a', 32000));
        memo_laughs.extend(std::iter::repeat_n(0x94, 33000));
        memo_laughs.push(b'.');
        assert!(
            unpickle(&memo_laughs).unwrap_err().contains("too large"),
            "memo copies count"
        );
        for (python_refuses, what) in [
            ("80025d284b07654b004b09732e", "set items on a list"),
            ("7d288c01755d284b07654b004b0973752e", "set items on a nested list"),
            ("7d288c0d5f617574685f757365725f69648c0135652e", "appends on a dict"),
            ("294b01612e", "an append to a tuple"),
            ("80047d9516000000000000002e", "a frame past the end"),
            ("80057d94720000ff7f2e", "a memo index far ahead"),
        ] {
            assert!(unpickle(&hex(python_refuses)).is_err(), "{what}");
        }
        let r = ForeignRecord {
            user_pointer: "/_auth_user_id".into(),
            data_keys: None,
        };
        assert!(matches!(
            DjangoRecordDecoder { record: &r }.decode(&hex(REDUCE), 0),
            Err(RecordError::Malformed(_))
        ));
    }

    #[test]
    fn session_keys_are_djangos_charset() {
        let c = DjangoCookie;
        assert_eq!(
            c.decode("8hcfnuu254ltyu0euzc83pgisb5d5c2e").unwrap().as_str(),
            "8hcfnuu254ltyu0euzc83pgisb5d5c2e"
        );
        for bad in [
            "8HCFNUU254LTYU0EUZC83PGISB5D5C2E",
            "8hcfnuu254ltyu0euzc83pgisb5d5c2-",
            "short",
            "8hcfnuu254ltyu0euzc83pgisb5d5c2e%00",
        ] {
            assert!(c.decode(bad).is_none(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn hostile_pickles_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = unpickle(&bytes);
        }

        #[test]
        fn mutated_session_pickles_never_panic(pos in 0usize..220, byte in any::<u8>()) {
            let mut bytes = hex(PROTOCOL_5);
            let pos = pos % bytes.len();
            bytes[pos] = byte;
            let _ = unpickle(&bytes);
        }
    }
}
