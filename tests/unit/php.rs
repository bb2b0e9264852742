//! Native PHP sessions (phpredis): PHP's `serialize()` format read without PHP, the
//! `PHPSESSID` cookie and the record decoder. Only the core's public API.

use base64::Engine;
use http::HeaderMap;
use http::header::COOKIE;
use proptest::prelude::*;
use serde_json::{Value, json};
use session_gateway_core::CookieCodec;
use session_gateway_core::cookie_codec::{MAX_COOKIE_VALUE_BYTES, find_first_session};
use session_gateway_core::php::{self, PhpCookie, PhpRecordDecoder};
use session_gateway_core::php_serialize::{SerializeHandler, session_data, unserialize};
use session_gateway_core::session::{ForeignRecord, MAX_RECORD_BYTES, RecordError, SessionDecoder};

// Captured from PHP 8.2.36 (Debian 12's php8.2-cli): `session_encode()` of one `$_SESSION`
// under each `session.serialize_handler`, set up as
//
//   enum Plan: string { case Pro = 'pro'; }
//   class Cart { public $items = []; private $secret = 's3'; protected $owner = 7;
//     public function __wakeup() { system('touch /tmp/pwned'); } }
//   $shared = new Cart; $tags = ['a', 'b'];
//   $_SESSION = ['user_id' => 42, 'role' => 'member',
//     'since' => new DateTime('2026-01-02 03:04:05', new DateTimeZone('UTC')),
//     'visits' => 3, 'ratio' => 0.1, 'flags' => [true, false, null],
//     'prefs' => ['lang' => 'fr', 10 => 'x', '7' => 'seven'], 'token' => "\x00\xff\xfebin",
//     'cart' => $shared, 'cart_again' => $shared];
//   $_SESSION['tags'] = &$tags; $_SESSION['tags_ref'] = &$tags;
//   $_SESSION['plan'] = Plan::Pro; $_SESSION['name'] = "Zoë \"quoted\" ;|}";
//
// `Cart::__wakeup` would run a command in PHP; here the object only names its class.
const PHP_HANDLER: &[u8] = b"user_id|i:42;role|s:6:\"member\";since|O:8:\"DateTime\":3:{s:4:\"date\";s:26:\"2026-01-02 03:04:05.000000\";s:13:\"timezone_type\";i:3;s:8:\"timezone\";s:3:\"UTC\";}visits|i:3;ratio|d:0.1;flags|a:3:{i:0;b:1;i:1;b:0;i:2;N;}prefs|a:3:{s:4:\"lang\";s:2:\"fr\";i:10;s:1:\"x\";i:7;s:5:\"seven\";}token|s:6:\"\x00\xff\xfebin\";cart|O:4:\"Cart\":3:{s:5:\"items\";a:0:{}s:12:\"\x00Cart\x00secret\";s:2:\"s3\";s:8:\"\x00*\x00owner\";i:7;}cart_again|r:18;tags|a:2:{i:0;s:1:\"a\";i:1;s:1:\"b\";}tags_ref|R:23;plan|E:8:\"Plan:Pro\";name|s:17:\"Zo\xc3\xab \"quoted\" ;|}\";";
const PHP_SERIALIZE_HANDLER: &[u8] = b"a:14:{s:7:\"user_id\";i:42;s:4:\"role\";s:6:\"member\";s:5:\"since\";O:8:\"DateTime\":3:{s:4:\"date\";s:26:\"2026-01-02 03:04:05.000000\";s:13:\"timezone_type\";i:3;s:8:\"timezone\";s:3:\"UTC\";}s:6:\"visits\";i:3;s:5:\"ratio\";d:0.1;s:5:\"flags\";a:3:{i:0;b:1;i:1;b:0;i:2;N;}s:5:\"prefs\";a:3:{s:4:\"lang\";s:2:\"fr\";i:10;s:1:\"x\";i:7;s:5:\"seven\";}s:5:\"token\";s:6:\"\x00\xff\xfebin\";s:4:\"cart\";O:4:\"Cart\":3:{s:5:\"items\";a:0:{}s:12:\"\x00Cart\x00secret\";s:2:\"s3\";s:8:\"\x00*\x00owner\";i:7;}s:10:\"cart_again\";r:19;s:4:\"tags\";a:2:{i:0;s:1:\"a\";i:1;s:1:\"b\";}s:8:\"tags_ref\";R:24;s:4:\"plan\";E:8:\"Plan:Pro\";s:4:\"name\";s:17:\"Zo\xc3\xab \"quoted\" ;|}\";}";
// The test app's sessions (tests/frameworks/php/app.php on PHP 8.2.36 with phpredis 5.3.7,
// Debian 12) after `POST /login` and one `POST /visit`, as `GET PHPREDIS_SESSION:<id>` gave
// them: the php handler with user alice, php_serialize with user bob.
const APP_PHP: &[u8] = b"user_id|s:5:\"alice\";role|s:6:\"member\";logged_in_at|O:17:\"DateTimeImmutable\":3:{s:4:\"date\";s:26:\"2026-11-29 19:16:08.396900\";s:13:\"timezone_type\";i:3;s:8:\"timezone\";s:3:\"UTC\";}visits|i:1;";
const APP_PHP_SERIALIZE: &[u8] = b"a:4:{s:7:\"user_id\";s:3:\"bob\";s:4:\"role\";s:6:\"member\";s:12:\"logged_in_at\";O:17:\"DateTimeImmutable\":3:{s:4:\"date\";s:26:\"2026-11-29 19:16:15.006133\";s:13:\"timezone_type\";i:3;s:8:\"timezone\";s:3:\"UTC\";}s:6:\"visits\";i:1;}";

fn fixture_session() -> Value {
    json!({
        "user_id": 42,
        "role": "member",
        "since": {"__PHP_Incomplete_Class_Name": "DateTime"},
        "visits": 3,
        "ratio": 0.1,
        "flags": [true, false, null],
        "prefs": {"lang": "fr", "10": "x", "7": "seven"},
        "token": null,
        "cart": {"__PHP_Incomplete_Class_Name": "Cart"},
        "cart_again": {"__PHP_Incomplete_Class_Name": "Cart"},
        "tags": ["a", "b"],
        "tags_ref": ["a", "b"],
        "plan": {"__PHP_Incomplete_Class_Name": "Plan", "case": "Pro"},
        "name": "Zoë \"quoted\" ;|}"
    })
}

fn record(pointer: &str, keys: Option<&[&str]>) -> ForeignRecord {
    ForeignRecord {
        user_pointer: pointer.into(),
        data_keys: keys.map(|keys| keys.iter().map(|k| k.to_string()).collect()),
    }
}

fn data_of(header: &str) -> Value {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn malformed(result: Result<Value, RecordError>) -> String {
    match result {
        Err(RecordError::Malformed(why)) => why,
        other => panic!("not refused as malformed: {other:?}"),
    }
}

// ---- sessions PHP wrote ----

#[test]
fn sessions_php_encoded_read_as_php_holds_them() {
    assert_eq!(
        session_data(PHP_HANDLER, SerializeHandler::Php).unwrap(),
        fixture_session()
    );
    assert_eq!(
        session_data(PHP_SERIALIZE_HANDLER, SerializeHandler::PhpSerialize).unwrap(),
        fixture_session()
    );
    // The php_serialize session is one serialized array: unserialize reads it too.
    assert_eq!(unserialize(PHP_SERIALIZE_HANDLER).unwrap(), fixture_session());
    let app = |user: &str| {
        json!({
            "user_id": user,
            "role": "member",
            "logged_in_at": {"__PHP_Incomplete_Class_Name": "DateTimeImmutable"},
            "visits": 1
        })
    };
    assert_eq!(session_data(APP_PHP, SerializeHandler::Php).unwrap(), app("alice"));
    assert_eq!(
        session_data(APP_PHP_SERIALIZE, SerializeHandler::PhpSerialize).unwrap(),
        app("bob")
    );
}

#[test]
fn the_decoder_finds_the_user_and_forwards_the_allowed_keys() {
    let all = record(php::DEFAULT_USER_POINTER, None);
    for (bytes, handler) in [
        (PHP_HANDLER, SerializeHandler::Php),
        (PHP_SERIALIZE_HANDLER, SerializeHandler::PhpSerialize),
    ] {
        let session = PhpRecordDecoder { record: &all, handler }.decode(bytes, 1_000).unwrap();
        assert_eq!(session.user_id, "42", "an integer id is taken as its decimal");
        assert_eq!(data_of(&session.data_header), fixture_session());
        // No expiry in the record: the key's TTL is the expiry.
        assert_eq!((session.created_at, session.expires_at), (0, u64::MAX));
    }
    let some = record("/user_id", Some(&["role", "plan"]));
    let session = PhpRecordDecoder {
        record: &some,
        handler: SerializeHandler::Php,
    }
    .decode(APP_PHP, 0)
    .unwrap();
    assert_eq!(session.user_id, "alice");
    assert_eq!(data_of(&session.data_header), json!({"role": "member"}));
}

#[test]
fn sessions_without_a_user_or_with_an_unusable_one_are_not_sessions() {
    let r = record(php::DEFAULT_USER_POINTER, None);
    let decode = |bytes: &[u8], handler| PhpRecordDecoder { record: &r, handler }.decode(bytes, 0);
    // An empty record is an empty session, as PHP reads it: a visitor.
    assert_eq!(decode(b"", SerializeHandler::Php), Err(RecordError::Anonymous));
    assert_eq!(decode(b"", SerializeHandler::PhpSerialize), Err(RecordError::Anonymous));
    assert_eq!(
        decode(b"a:0:{}", SerializeHandler::PhpSerialize),
        Err(RecordError::Anonymous)
    );
    assert_eq!(
        decode(b"role|s:1:\"x\";", SerializeHandler::Php),
        Err(RecordError::Anonymous)
    );
    assert_eq!(
        decode(b"user_id|N;", SerializeHandler::Php),
        Err(RecordError::Anonymous)
    );
    // A user id with no JSON form reads as null: no user, never a wrong one.
    assert_eq!(
        decode(b"user_id|s:2:\"\xff\xfe\";", SerializeHandler::Php),
        Err(RecordError::Anonymous)
    );
    for user in [
        &b"user_id|O:4:\"User\":1:{s:2:\"id\";i:1;}"[..],
        b"user_id|E:10:\"Role:Admin\";",
        b"user_id|b:1;",
        b"user_id|d:1.5;",
        b"user_id|a:1:{i:0;i:1;}",
        b"user_id|s:6:\"a b\r\nc\";",
        b"user_id|s:0:\"\";",
    ] {
        assert_eq!(
            decode(user, SerializeHandler::Php),
            Err(RecordError::BadUserId),
            "{user:?}"
        );
    }
    let huge = vec![b'N'; MAX_RECORD_BYTES + 1];
    assert_eq!(decode(&huge, SerializeHandler::Php), Err(RecordError::TooLarge));
    assert_eq!(unserialize(&huge), Err(RecordError::TooLarge));
    let malformed = decode(b"user_id|i:1", SerializeHandler::Php);
    assert!(matches!(malformed, Err(RecordError::Malformed(_))));
}

// ---- the grammar ----

#[test]
fn scalars_read_as_php_has_them() {
    for (input, expected) in [
        (&b"N;"[..], json!(null)),
        (b"b:0;", json!(false)),
        (b"b:1;", json!(true)),
        (b"i:0;", json!(0)),
        (b"i:-17;", json!(-17)),
        (b"i:+5;", json!(5)),
        (b"i:-0;", json!(0)),
        (b"i:007;", json!(7)),
        (b"i:9223372036854775807;", json!(i64::MAX)),
        (b"i:-9223372036854775808;", json!(i64::MIN)),
        (b"d:0.1;", json!(0.1)),
        (b"d:-0;", json!(-0.0)),
        (b"d:1;", json!(1.0)),
        (b"d:1.0E+25;", json!(1e25)),
        (b"d:1.0E-7;", json!(1e-7)),
        (b"d:5.;", json!(5.0)),
        (b"d:.5;", json!(0.5)),
        (b"d:+.5e1;", json!(5.0)),
        (b"d:4.9E-324;", json!(5e-324)),
        (b"d:1.7976931348623157E+308;", json!(f64::MAX)),
        (b"d:1e400;", json!(null)),
        (b"d:INF;", json!(null)),
        (b"d:-INF;", json!(null)),
        (b"d:NAN;", json!(null)),
        (b"s:0:\"\";", json!("")),
        (b"s:4:\"Zo\xc3\xab\";", json!("Zoë")),
        (b"s:5:\"a\";b\"\";", json!("a\";b\"")),
        (b"s:3:\"\xff\x00a\";", json!(null)),
        (b"s:2:\"\xc3;\";", json!(null)),
    ] {
        assert_eq!(
            unserialize(input).unwrap(),
            expected,
            "{}",
            String::from_utf8_lossy(input)
        );
    }
    // Floats read back to the same bits: `-0` keeps its sign.
    assert!(unserialize(b"d:-0;").unwrap().as_f64().unwrap().is_sign_negative());
}

#[test]
fn arrays_become_lists_or_objects_as_json_encode_makes_them() {
    for (input, expected) in [
        (&b"a:0:{}"[..], json!([])),
        (b"a:2:{i:0;s:1:\"a\";i:1;s:1:\"b\";}", json!(["a", "b"])),
        // A numeric string key is an integer key in PHP.
        (b"a:2:{s:1:\"0\";s:1:\"a\";s:1:\"1\";s:1:\"b\";}", json!(["a", "b"])),
        (b"a:2:{i:1;s:1:\"a\";i:0;s:1:\"b\";}", json!({"1": "a", "0": "b"})),
        (b"a:1:{i:1;s:1:\"a\";}", json!({"1": "a"})),
        (b"a:1:{i:-3;N;}", json!({"-3": null})),
        (
            b"a:4:{s:2:\"05\";N;s:2:\"-0\";N;s:2:\"+1\";N;s:0:\"\";N;}",
            json!({"05": null, "-0": null, "+1": null, "": null}),
        ),
        (
            b"a:2:{s:1:\"k\";a:1:{i:0;a:0:{}}s:1:\"l\";a:1:{s:1:\"x\";d:2.5;}}",
            json!({"k": [[]], "l": {"x": 2.5}}),
        ),
    ] {
        assert_eq!(
            unserialize(input).unwrap(),
            expected,
            "{}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn objects_and_enums_stay_opaque() {
    // Properties, private and protected ones included, are never read into JSON.
    let object = b"O:4:\"User\":3:{s:2:\"id\";i:1;s:10:\"\x00User\x00pass\";s:6:\"secret\";s:7:\"\x00*\x00role\";a:1:{i:0;i:1;}}";
    assert_eq!(
        unserialize(object).unwrap(),
        json!({"__PHP_Incomplete_Class_Name": "User"})
    );
    // A gadget chain (here one that PHP's Monolog classes would turn into a command) is only
    // class names to the parser.
    let gadget = b"O:32:\"Monolog\\Handler\\SyslogUdpHandler\":1:{s:9:\"\x00*\x00socket\";O:29:\"Monolog\\Handler\\BufferHandler\":2:{s:10:\"\x00*\x00handler\";r:2;s:13:\"\x00*\x00processors\";a:2:{i:0;s:3:\"pwd\";i:1;s:6:\"system\";}}}";
    assert_eq!(
        unserialize(gadget).unwrap(),
        json!({"__PHP_Incomplete_Class_Name": "Monolog\\Handler\\SyslogUdpHandler"})
    );
    // `C:`: the payload is never read, whatever it holds.
    let custom = b"a:2:{i:0;C:11:\"ArrayObject\":21:{x:i:0;a:0:{};m:a:0:{}}i:1;C:3:\"Foo\":6:{\xff}\"{;|}}";
    assert_eq!(
        unserialize(custom).unwrap(),
        json!([{"__PHP_Incomplete_Class_Name": "ArrayObject"}, {"__PHP_Incomplete_Class_Name": "Foo"}])
    );
    assert_eq!(
        unserialize(b"E:11:\"Suit:Hearts\";").unwrap(),
        json!({"__PHP_Incomplete_Class_Name": "Suit", "case": "Hearts"})
    );
    assert_eq!(
        unserialize(b"O:8:\"stdClass\":0:{}").unwrap(),
        json!({"__PHP_Incomplete_Class_Name": "stdClass"})
    );
    // Inside an object, what the gateway would refuse outside is left unread: a key twice,
    // a key that is not UTF-8, a property that is a reference to another one, a cycle.
    let loose = b"O:1:\"A\":5:{s:1:\"a\";i:1;s:1:\"a\";i:2;s:1:\"\xff\";i:3;s:1:\"b\";R:2;s:1:\"c\";a:1:{i:0;R:5;}}";
    assert_eq!(unserialize(loose).unwrap(), json!({"__PHP_Incomplete_Class_Name": "A"}));
}

#[test]
fn references_resolve_to_what_php_shares() {
    // r: an object met before (slots count from 1, the array itself first).
    assert_eq!(
        unserialize(b"a:3:{i:0;O:8:\"stdClass\":0:{}i:1;r:2;i:2;r:3;}").unwrap(),
        json!(vec![json!({"__PHP_Incomplete_Class_Name": "stdClass"}); 3])
    );
    assert_eq!(
        unserialize(b"a:2:{i:0;E:6:\"Pure:A\";i:1;r:2;}").unwrap(),
        json!(vec![json!({"__PHP_Incomplete_Class_Name": "Pure", "case": "A"}); 2])
    );
    // R: a PHP reference to any value: an array, a scalar, an object.
    assert_eq!(
        unserialize(b"a:3:{i:0;a:2:{i:0;i:1;i:1;s:1:\"x\";}i:1;R:2;i:2;R:4;}").unwrap(),
        json!([[1, "x"], [1, "x"], "x"])
    );
    // Slots are numbered across a session's variables in the php handler.
    assert_eq!(
        session_data(b"a|a:1:{i:0;i:7;}b|R:1;c|R:2;", SerializeHandler::Php).unwrap(),
        json!({"a": [7], "b": [7], "c": 7})
    );
    // Properties take slots too, so what follows them is numbered after them.
    assert_eq!(
        unserialize(b"a:2:{i:0;O:1:\"A\":2:{s:1:\"p\";i:1;s:1:\"q\";i:2;}i:1;a:1:{i:0;s:1:\"z\";}}").unwrap(),
        json!([{"__PHP_Incomplete_Class_Name": "A"}, ["z"]])
    );
    assert_eq!(
        unserialize(b"a:3:{i:0;O:1:\"A\":2:{s:1:\"p\";i:1;s:1:\"q\";i:2;}i:1;a:1:{i:0;s:1:\"z\";}i:2;R:5;}").unwrap(),
        json!([{"__PHP_Incomplete_Class_Name": "A"}, ["z"], ["z"]])
    );
    // A reference to the custom object itself is fine: only numbers after it are unknown.
    assert_eq!(
        unserialize(b"a:2:{i:0;C:1:\"L\":4:{i:1;}i:1;r:2;}").unwrap(),
        json!(vec![json!({"__PHP_Incomplete_Class_Name": "L"}); 2])
    );
}

#[test]
fn references_php_would_not_make_or_that_cannot_be_copied_are_refused() {
    for (input, why) in [
        (&b"a:1:{i:0;R:1;}"[..], "an array that contains it"),
        (b"a:1:{i:0;a:1:{i:0;R:2;}}", "an array that contains it"),
        (b"a:2:{i:0;i:1;i:1;r:2;}", "not an object"),
        (b"a:1:{i:0;r:2;}", "not an object"), // itself
        (b"a:1:{i:0;R:0;}", "not read yet"),
        (b"a:1:{i:0;R:99;}", "not read yet"),
        (b"R:1;", "not read yet"),
        (b"r:1;", "not an object"), // itself
        (
            b"a:2:{i:0;O:1:\"A\":1:{s:1:\"p\";a:0:{}}i:1;R:3;}",
            "into an object's properties",
        ),
        (
            b"a:3:{i:0;C:1:\"L\":4:{i:1;}i:1;i:5;i:2;R:3;}",
            "past a custom-serialized object",
        ),
        (
            b"a:2:{i:0;C:1:\"L\":4:{i:1;}i:1;r:3;}",
            "past a custom-serialized object",
        ),
    ] {
        let why_not = malformed(unserialize(input));
        assert!(why_not.contains(why), "{}: {why_not}", String::from_utf8_lossy(input));
    }
    // The php handler: a reference to a variable of the session itself.
    assert!(malformed(session_data(b"a|a:1:{i:0;R:1;}", SerializeHandler::Php)).contains("contains it"));
}

#[test]
fn references_cannot_expand_a_small_record_without_bound() {
    // Each level doubles the one before: 2^30 copies of a 4 KiB string from 4 KiB of input.
    let mut laughs = format!("a:31:{{i:0;s:4096:\"{}\";", "x".repeat(4096));
    for level in 1..=30 {
        let previous = level + 1; // the array of the level before
        laughs.push_str(&format!("i:{level};a:2:{{i:0;R:{previous};i:1;R:{previous};}}"));
    }
    laughs.push('}');
    let why = malformed(unserialize(laughs.as_bytes()));
    assert!(why.contains("copy too much"), "{why}");
    // An object's form holds its class name: references to it are copies too.
    let mut long_class = format!("a:2001:{{i:0;O:40000:\"{}\":0:{{}}", "A".repeat(40_000));
    for i in 1..=2000 {
        long_class.push_str(&format!("i:{i};r:2;"));
    }
    long_class.push('}');
    let why = malformed(unserialize(long_class.as_bytes()));
    assert!(why.contains("copy too much"), "{why}");
    // A few copies of a small value are fine.
    let few = b"a:4:{i:0;s:3:\"abc\";i:1;R:2;i:2;R:2;i:3;R:2;}";
    assert_eq!(unserialize(few).unwrap(), json!(vec!["abc"; 4]));
}

#[test]
fn every_other_departure_from_what_php_writes_is_refused() {
    for (input, why) in [
        (&b""[..], "truncated"),
        (b"N", "truncated"),
        (b"N;N;", "bytes after the value"),
        (b"b:2;", "0 or 1"),
        (b"i:;", "without digits"),
        (b"i:1", "truncated"),
        (b"i:1.5;", "unexpected"),
        (b"i:9223372036854775808;", "outside 64 bits"),
        (b"i:-9223372036854775809;", "outside 64 bits"),
        (b"i:99999999999999999999999;", "outside 64 bits"),
        (b"d:;", "without digits"),
        (b"d:.;", "without digits"),
        (b"d:1e;", "exponent"),
        (b"d:inf;", "without digits"),
        (b"d:+INF;", "without digits"),
        (b"d:1,5;", "unexpected"),
        (b"s:1:\"ab\";", "unexpected"),
        (b"s:3:\"ab\";", "unexpected"),
        (b"s:-1:\"\";", "without digits"),
        (b"s:+1:\"a\";", "without digits"),
        (b"s:99:\"a\";", "truncated"),
        (b"s:99999999999999999999999:\"a\";", "too large"),
        (b"S:1:\"\\61\";", "not a value PHP writes"),
        (b"o:1:\"A\":0:{}", "not a value PHP writes"),
        (b"x:1;", "not a value PHP writes"),
        (b"a:1:{N;i:1;}", "not an integer or a string"),
        (b"a:1:{d:1;i:1;}", "not an integer or a string"),
        (b"a:1:{b:1;i:1;}", "not an integer or a string"),
        (b"a:1:{a:0:{}i:1;}", "not an integer or a string"),
        (b"a:1:{R:1;i:1;}", "not an integer or a string"),
        (b"a:1:{s:1:\"\xff\";N;}", "key that is not UTF-8"),
        (b"a:2:{i:0;N;i:0;N;}", "twice"),
        (b"a:2:{i:5;N;s:1:\"5\";N;}", "twice"),
        (b"a:2:{s:1:\"k\";N;s:1:\"k\";N;}", "twice"),
        (b"a:2:{i:0;s:5:\"abcde\";}", "truncated"),
        (b"a:1:{i:0;N;i:1;N;}", "unexpected"),
        (b"a:1:{i:0;N;", "truncated"),
        (b"a:1:{i:0;N;};", "bytes after the value"),
        (b"a:-1:{}", "without digits"),
        (b"a:1000000000:{i:0;N;}", "more elements than bytes"),
        (b"a:99999999999999999999999:{}", "too large"),
        (b"O:0:\"\":0:{}", "not a class name"),
        (b"O:4:\"\\Foo\":0:{}", "not a class name"),
        (b"O:3:\"a b\":0:{}", "not a class name"),
        (b"O:3:\"a;b\":0:{}", "not a class name"),
        (b"O:1:\"A\":1:{N;i:1;}", "not an integer or a string"),
        (b"O:1:\"A\":1000000:{}", "more elements than bytes"),
        (b"O:1:\"A\":0:{", "truncated"),
        (b"C:1:\"A\":5:{ab}", "truncated"),
        (b"C:1:\"A\":1:{ab}", "unexpected"),
        (b"E:4:\"Suit\";", "without its enum"),
        (b"E:5:\"Suit:\";", "not an enum case"),
        (b"E:3:\":Up\";", "not an enum case"),
        (b"E:8:\"Suit:a-b\";", "not an enum case"),
    ] {
        let why_not = malformed(unserialize(input));
        assert!(why_not.contains(why), "{}: {why_not}", String::from_utf8_lossy(input));
        // Where, never what: the message holds no input.
        assert!(why_not.starts_with("PHP serialize: "));
    }
}

#[test]
fn session_handlers_refuse_what_php_refuses_or_never_writes() {
    let php = |bytes: &[u8]| session_data(bytes, SerializeHandler::Php);
    let php_serialize = |bytes: &[u8]| session_data(bytes, SerializeHandler::PhpSerialize);
    // PHP 7 dropped the `!` marker of undefined variables: it is part of the name now.
    assert_eq!(php(b"!a|i:1;|i:2;").unwrap(), json!({"!a": 1, "": 2}));
    assert_eq!(php(b"5|i:1;").unwrap(), json!({"5": 1}));
    assert!(malformed(php(b"a|i:1;junk")).contains("a name without a value"));
    assert!(malformed(php(b"a|i:1;b|")).contains("truncated"));
    assert!(malformed(php(b"a|i:1;a|i:2;")).contains("a name twice"));
    assert!(malformed(php(b"\xff|i:1;")).contains("not UTF-8"));
    assert!(malformed(php(b"a|i:1;b|r:1;")).contains("not an object"));
    // php_serialize: one array, nothing after it (PHP ignores trailing bytes, never writes any).
    assert_eq!(php_serialize(b"a:1:{i:0;s:1:\"x\";}").unwrap(), json!({"0": "x"}));
    assert_eq!(php_serialize(b"a:1:{i:5;N;}").unwrap(), json!({"5": null}));
    assert!(malformed(php_serialize(b"i:5;")).contains("not an array"));
    assert!(malformed(php_serialize(b"O:8:\"stdClass\":0:{}")).contains("not an array"));
    assert!(malformed(php_serialize(b"a:0:{}junk")).contains("bytes after"));
    assert!(malformed(php_serialize(b"a|i:1;")).contains("not a value PHP writes"));
}

#[test]
fn nesting_stops_at_64_levels() {
    let nested = |levels: usize| {
        let mut s = "a:1:{i:0;".repeat(levels - 1);
        s.push_str("a:0:{}");
        s.push_str(&"}".repeat(levels - 1));
        s
    };
    assert!(unserialize(nested(64).as_bytes()).is_ok());
    assert!(malformed(unserialize(nested(65).as_bytes())).contains("nested too deep"));
    // Objects count as levels, their properties unread or not.
    let objects = format!("{}N;{}", "O:1:\"A\":1:{s:1:\"p\";".repeat(65), "}".repeat(65));
    assert!(malformed(unserialize(objects.as_bytes())).contains("nested too deep"));
    // A copy made by a reference is as deep as where it lands.
    let deep_copy = format!("a:2:{{i:0;{}i:1;R:2;}}", nested(63));
    assert!(unserialize(deep_copy.as_bytes()).is_ok());
    let deeper_copy = format!("a:2:{{i:0;{}i:1;a:1:{{i:0;R:2;}}}}", nested(63));
    assert!(malformed(unserialize(deeper_copy.as_bytes())).contains("nested too deep"));
    // The deepest input that fits is refused quickly and without overflowing the stack.
    let hostile = "a:1:{i:0;".repeat(MAX_RECORD_BYTES / 9);
    assert!(malformed(unserialize(hostile.as_bytes())).contains("nested too deep"));
}

#[test]
fn truncation_at_every_byte_is_refused() {
    for len in 0..PHP_SERIALIZE_HANDLER.len() {
        let cut = &PHP_SERIALIZE_HANDLER[..len];
        assert!(unserialize(cut).is_err(), "{len}");
        if len > 0 {
            assert!(session_data(cut, SerializeHandler::PhpSerialize).is_err(), "{len}");
        }
    }
    // php: a cut between two variables is a shorter session; anywhere else it is refused.
    let whole = session_data(PHP_HANDLER, SerializeHandler::Php).unwrap();
    let whole = whole.as_object().unwrap();
    for len in 0..PHP_HANDLER.len() {
        if let Ok(shorter) = session_data(&PHP_HANDLER[..len], SerializeHandler::Php) {
            let shorter = shorter.as_object().unwrap();
            assert!(shorter.len() < whole.len(), "{len}");
            assert!(shorter.iter().all(|(k, v)| whole.get(k) == Some(v)), "{len}");
        }
    }
}

// ---- the cookie ----

#[test]
fn session_ids_of_phps_default_and_production_settings_are_accepted() {
    let c = PhpCookie::default();
    // `Set-Cookie: PHPSESSID=...` from the test app: PHP 8.2 without a php.ini (32
    // characters of 4 bits), and with Debian's, which is php.ini-production (26 of 5).
    for sent in ["5c7b1f91d305cbd8d47eeefc1ffe5f4c", "49h3sjrecnjspclmkqsnommlhh"] {
        assert_eq!(c.encode(c.decode(sent).unwrap().id()), sent);
    }
    for id in [
        "0123456789abcdef0123456789abcdef",
        "0123456789abcdefghijklmnop",
        "u1v2u1v2u1v2u1v2u1v2u1v2u1",
    ] {
        assert_eq!(c.decode(id).unwrap().as_str(), id);
        assert_eq!(c.encode(c.decode(id).unwrap().id()), id);
    }
    for bad in [
        "0123456789abcdef0123456789abcdeg",   // 32 characters, but not 4 bits each
        "0123456789ABCDEF0123456789ABCDEF",   // PHP's ids are lower case
        "0123456789abcdefghijklmnow",         // 26, but `w` is past 5 bits
        "0123456789abcdef0123456789abcde",    // 31
        "0123456789abcdef0123456789abcdef0",  // 33
        "0123456789abcdefghijklmnopq",        // 27
        "0123456789abcdef0123456789abcde+",   // a space to PHP
        "0123456789abcdef0123456789abcd%2",   // a stray escape
        "0123456789abcdef0123456789abcde%00", // NUL
        "",
    ] {
        assert!(c.decode(bad).is_none(), "{bad}");
    }
    // PHP URL-decodes cookies: an escaped character is the character.
    assert_eq!(
        c.decode("%30123456789abcdef0123456789abcdef").unwrap().as_str(),
        "0123456789abcdef0123456789abcdef"
    );
}

#[test]
fn a_configured_sid_format_is_the_only_one_accepted() {
    // From the test app with `session.sid_length=40` and `session.sid_bits_per_character=6`.
    let sent = "7mlICxMwOwbg0Zh2wHItQw%2CgqWjtQ1YjzVnRVGgU";
    let forty = PhpCookie::configured(40, 6).unwrap();
    assert_eq!(
        forty.decode(sent).unwrap().as_str(),
        "7mlICxMwOwbg0Zh2wHItQw,gqWjtQ1YjzVnRVGgU"
    );
    assert_eq!(forty.encode(forty.decode(sent).unwrap().id()), sent);
    assert!(PhpCookie::default().decode(sent).is_none());

    let six = PhpCookie::configured(48, 6).unwrap();
    let id = "aZ09,-bY18,-cX27,-dW36,-eV45,-fU54,-gT63,-hS72,-";
    // PHP sets `,` URL-encoded; both forms read as the same id.
    let sent = six.encode(six.decode(id).unwrap().id());
    assert_eq!(sent, id.replace(',', "%2C"));
    assert_eq!(six.decode(&sent).unwrap().as_str(), id);
    assert!(
        six.decode("0123456789abcdef0123456789abcdef").is_none(),
        "the default no longer"
    );
    assert!(
        six.decode(&id.replace(',', "_")).is_none(),
        "`_` is not in PHP's alphabet"
    );
    assert!(six.decode(&id[..47]).is_none());

    let short = PhpCookie::configured(22, 4).unwrap();
    assert!(short.decode("0123456789abcdef012345").is_some());
    assert!(short.decode("0123456789abcdef0123456789abcdef").is_none());
    let longest = PhpCookie::configured(256, 5).unwrap();
    assert!(longest.decode(&"v".repeat(256)).is_some());
    assert!(longest.decode(&"v".repeat(255)).is_none());
    // The longest ids, sent with `,` as `%2C`, are still looked at by the cookie finder.
    let commas = PhpCookie::configured(256, 6).unwrap();
    let id = ",".repeat(256);
    let mut headers = HeaderMap::new();
    headers.insert(
        COOKIE,
        format!("PHPSESSID={}", commas.encode(&commas.decode(&id).unwrap()))
            .parse()
            .unwrap(),
    );
    assert_eq!(find_first_session(&headers, "PHPSESSID", &commas).unwrap().as_str(), id);
    assert!(PhpCookie::default().max_value_bytes() >= MAX_COOKIE_VALUE_BYTES);
    let four = PhpCookie::configured(32, 4).unwrap();
    assert!(four.decode("0123456789abcdefghijklmnopqrstuv").is_none());
    // What PHP's ini handlers refuse.
    for (length, bits) in [(21, 4), (257, 4), (32, 3), (32, 7), (0, 0)] {
        assert!(PhpCookie::configured(length, bits).is_none(), "{length} {bits}");
    }
}

// ---- hostile input ----

/// A PHP serialization of a JSON value (objects with keys PHP keeps as strings), in
/// PHP's own forms or others its grammar allows.
fn php_serialized(value: &Value, out: &mut String, exponent: bool) {
    match value {
        Value::Null => out.push_str("N;"),
        Value::Bool(b) => out.push_str(if *b { "b:1;" } else { "b:0;" }),
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap();
            out.push_str(&if exponent {
                format!("d:{f:e};")
            } else {
                format!("d:{f};")
            })
        }
        Value::Number(n) => out.push_str(&format!("i:{n};")),
        Value::String(s) => out.push_str(&format!("s:{}:\"{s}\";", s.len())),
        Value::Array(items) => {
            out.push_str(&format!("a:{}:{{", items.len()));
            for (i, item) in items.iter().enumerate() {
                out.push_str(&format!("i:{i};"));
                php_serialized(item, out, exponent);
            }
            out.push('}');
        }
        Value::Object(map) => {
            out.push_str(&format!("a:{}:{{", map.len()));
            for (key, item) in map {
                out.push_str(&format!("s:{}:\"{key}\";", key.len()));
                php_serialized(item, out, exponent);
            }
            out.push('}');
        }
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_][a-z0-9 _|;\"}]{0,6}", inner, 1..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn values_round_trip(value in json_value(), exponent in any::<bool>()) {
        let mut bytes = String::new();
        php_serialized(&value, &mut bytes, exponent);
        prop_assert_eq!(unserialize(bytes.as_bytes()).unwrap(), value.clone());
        if let Value::Object(map) = &value {
            let mut session = String::new();
            for (name, item) in map {
                if !name.contains('|') {
                    session.push_str(name);
                    session.push('|');
                    php_serialized(item, &mut session, exponent);
                }
            }
            let read = session_data(session.as_bytes(), SerializeHandler::Php).unwrap();
            prop_assert!(read.as_object().unwrap().iter().all(|(k, v)| map.get(k) == Some(v)));
            prop_assert_eq!(session_data(bytes.as_bytes(), SerializeHandler::PhpSerialize).unwrap(), value);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = unserialize(&bytes);
        let _ = session_data(&bytes, SerializeHandler::Php);
        let _ = session_data(&bytes, SerializeHandler::PhpSerialize);
    }

    #[test]
    fn grammar_shaped_noise_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just("a:"), Just("O:1:\"A\":"), Just("C:1:\"A\":"), Just("E:3:\"A:B\";"), Just("s:"),
        Just("i:"), Just("d:"), Just("b:1;"), Just("N;"), Just("R:"), Just("r:"), Just("{"),
        Just("}"), Just(":"), Just(";"), Just("\""), Just("|"), Just("1"), Just("2"), Just("0"),
        Just("-"), Just("."), Just("e"), Just("INF;"), Just("99999999999999999999"),
    ], 0..60)) {
        let bytes = parts.concat();
        let _ = unserialize(bytes.as_bytes());
        let _ = session_data(bytes.as_bytes(), SerializeHandler::Php);
        let _ = session_data(bytes.as_bytes(), SerializeHandler::PhpSerialize);
    }

    #[test]
    fn mutated_sessions_never_panic(pos in any::<usize>(), byte in any::<u8>(), which in any::<bool>()) {
        let fixture = if which { PHP_HANDLER } else { PHP_SERIALIZE_HANDLER };
        let mut bytes = fixture.to_vec();
        let pos = pos % bytes.len();
        bytes[pos] = byte;
        let _ = session_data(&bytes, SerializeHandler::Php);
        let _ = session_data(&bytes, SerializeHandler::PhpSerialize);
        bytes.remove(pos);
        let _ = session_data(&bytes, SerializeHandler::Php);
        let _ = unserialize(&bytes);
    }

    #[test]
    fn any_cookie_value_decodes_without_panicking(value in ".{0,300}") {
        let _ = PhpCookie::default().decode(&value);
        let _ = PhpCookie::configured(40, 6).unwrap().decode(&value);
    }
}

// ---- against PHP itself ----

/// The one-off differential check against PHP (tests/frameworks/php/differential.php): runs
/// only when `PHP_DIFFERENTIAL` names files that script wrote (comma-separated). Wherever the
/// parser reads a value, PHP must read the same; where PHP's class code refused a value the
/// parser reads (an invalid DateTime, an unknown enum), PHP without classes must read it as
/// the parser does. What the parser alone refuses is tallied.
#[test]
fn agrees_with_php_wherever_it_reads() {
    let Ok(paths) = std::env::var("PHP_DIFFERENTIAL") else {
        return;
    };
    let mut tally = std::collections::BTreeMap::<String, usize>::new();
    let mut disagreements = Vec::new();
    // PHP names a loaded class as declared, the parser as the record spells it (PHP's class
    // names are case-insensitive).
    fn fold_class_names(value: &mut Value) {
        match value {
            Value::Array(items) => items.iter_mut().for_each(fold_class_names),
            Value::Object(map) => map.iter_mut().for_each(|(key, item)| match item {
                Value::String(class) if key == "__PHP_Incomplete_Class_Name" => *class = class.to_lowercase(),
                item => fold_class_names(item),
            }),
            _ => {}
        }
    }
    let php_reading = |reading: &str| match reading {
        "!" | "~" | "?" | "-" => None,
        json => {
            let mut value = serde_json::from_str::<Value>(json).unwrap();
            fold_class_names(&mut value);
            Some(value)
        }
    };
    for path in paths.split(',') {
        for line in std::fs::read_to_string(path).unwrap().lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            let [kind, bytes, php, classless] = fields[..] else {
                panic!("not a line of differential.php: {line}");
            };
            let bytes = base64::engine::general_purpose::STANDARD.decode(bytes).unwrap();
            let ours = match kind {
                "value" => unserialize(&bytes),
                "php" => session_data(&bytes, SerializeHandler::Php),
                _ => session_data(&bytes, SerializeHandler::PhpSerialize),
            };
            let ours = ours.map(|mut value| {
                fold_class_names(&mut value);
                value
            });
            let outcome = match (ours, php_reading(php), php_reading(classless)) {
                (Ok(ours), Some(php), _) if ours == php => "read alike".to_owned(),
                (Ok(ours), None, Some(php)) if ours == php => "read alike once PHP loads no class".to_owned(),
                // An enum case is looked up even without classes; the parser never looks.
                (Ok(_), None, _) if bytes.windows(2).any(|w| w == b"E:") && php == "!" => {
                    "read, where PHP's enum lookup refused".to_owned()
                }
                (Ok(ours), None, _) if kind == "php" && php == "!" && ours.to_string().contains("__PHP_Incomplete") => {
                    "read, where PHP's class code refused (php handler: not checked without classes)".to_owned()
                }
                (Ok(ours), _, _) => {
                    disagreements.push(format!(
                        "{kind} {:?}: read as {ours}; PHP: {php}",
                        String::from_utf8_lossy(&bytes)
                    ));
                    continue;
                }
                (Err(_), None, _) if php == "!" => "refused by both".to_owned(),
                (Err(e), _, _) => {
                    let why = match php {
                        "~" => "PHP builds a cycle".to_owned(),
                        "?" => "PHP makes $_SESSION a non-array".to_owned(),
                        _ => e.to_string().split(" at byte").next().unwrap().to_owned(),
                    };
                    format!("refused where PHP reads: {why}")
                }
            };
            *tally.entry(format!("{kind}: {outcome}")).or_default() += 1;
        }
    }
    for (outcome, n) in &tally {
        eprintln!("{n:>7}  {outcome}");
    }
    for d in disagreements.iter().take(20) {
        eprintln!("DISAGREE {d}");
    }
    assert!(disagreements.is_empty(), "{} disagreements", disagreements.len());
}
