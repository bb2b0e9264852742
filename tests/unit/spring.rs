//! The `spring` format's core: Spring Session Data Redis's cookie and session hash. No JVM
//! package registry is reachable here, so no Spring app runs: the Java-serialized values are
//! real `ObjectOutputStream` output (tests/frameworks/spring/Fixtures.java), and the JSON
//! values are written from Spring's sources (cited at each).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use proptest::prelude::*;
use serde_json::{Value, json};
use session_gateway_core::CookieCodec;
use session_gateway_core::cookie_codec::SessionId;
use session_gateway_core::session::{ForeignRecord, MAX_RECORD_BYTES, RecordError, Session};
use session_gateway_core::spring::{
    DEFAULT_COOKIE_NAME, DEFAULT_KEY_PREFIX, DEFAULT_USER_POINTER, JdkValue, SpringCookie, SpringHash,
    SpringRecordDecoder, SpringSerializer, opaque_marker, read_jdk,
};

// Output of tests/frameworks/spring/Fixtures.java (OpenJDK 17.0.15). To regenerate, from that
// folder: `javac -d /tmp/spring-fixtures Fixtures.java && java -cp /tmp/spring-fixtures Fixtures`.
// Long 1764374400000 (2025-11-29T00:00:00Z), Long 1764376200000 (30 minutes later).
const CREATION_TIME: &str = "aced00057372000e6a6176612e6c616e672e4c6f6e673b8be490cc8f23df0200014a000576616c7565787200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b02000078700000019acce8cc00";
const LAST_ACCESSED_TIME: &str = "aced00057372000e6a6176612e6c616e672e4c6f6e673b8be490cc8f23df0200014a000576616c7565787200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b02000078700000019acd044340";
// Integer 1800, Integer -1.
const MAX_INACTIVE_INTERVAL: &str = "aced0005737200116a6176612e6c616e672e496e746567657212e2a0a4f781873802000149000576616c7565787200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b020000787000000708";
const NEVER_EXPIRES: &str = "aced0005737200116a6176612e6c616e672e496e746567657212e2a0a4f781873802000149000576616c7565787200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b0200007870ffffffff";
const LONG_MIN: &str = "aced00057372000e6a6176612e6c616e672e4c6f6e673b8be490cc8f23df0200014a000576616c7565787200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b02000078708000000000000000";
const INT_MIN: &str = "aced0005737200116a6176612e6c616e672e496e746567657212e2a0a4f781873802000149000576616c7565787200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b020000787080000000";
// "alice", "", "a\u0000\u00e9\u20ac\ud83d\ude00".
const STRING_ALICE: &str = "aced0005740005616c696365";
const STRING_EMPTY: &str = "aced0005740000";
const STRING_MIXED: &str = "aced000574000e61c080c3a9e282aceda0bdedb880";
// HashMap {"role": "admin"}, Boolean.TRUE.
const HASHMAP: &str = "aced0005737200116a6176612e7574696c2e486173684d61700507dac1c31660d103000246000a6c6f6164466163746f724900097468726573686f6c6478703f4000000000000c77080000001000000001740004726f6c6574000561646d696e78";
const BOOLEAN_TRUE: &str =
    "aced0005737200116a6176612e6c616e672e426f6f6c65616ecd207280d59cfaee0200015a000576616c7565787001";
// DefaultCookieSerializer's base64Encode of this id.
const COOKIE: &str = "MzNmZGQxYjYtYjQ5Ni00YjMzLTlmN2QtZGY5NjY3OWQzMmZl";
const ID: &str = "33fdd1b6-b496-4b33-9f7d-df96679d32fe";

const CREATED_MS: u64 = 1_764_374_400_000;
const LAST_ACCESSED_MS: u64 = 1_764_376_200_000;
const END_MS: u64 = LAST_ACCESSED_MS + 1800 * 1000;
const PRINCIPAL: &str =
    "sessionAttr:org.springframework.session.FindByIndexNameSessionRepository.PRINCIPAL_NAME_INDEX_NAME";

/// `PROPTEST_CASES` raises the case count for a long fuzzing run.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn record(pointer: &str) -> ForeignRecord {
    ForeignRecord {
        user_pointer: pointer.into(),
        data_keys: None,
    }
}

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

fn field(name: &str, value: impl Into<Vec<u8>>) -> (Vec<u8>, Vec<u8>) {
    (name.as_bytes().to_vec(), value.into())
}

/// A hash as RedisSessionRepository writes it with Java serialization, for user alice.
fn jdk_hash(max_inactive: &str) -> Fields {
    vec![
        field("creationTime", hex(CREATION_TIME)),
        field("maxInactiveInterval", hex(max_inactive)),
        field("lastAccessedTime", hex(LAST_ACCESSED_TIME)),
        field(PRINCIPAL, hex(STRING_ALICE)),
    ]
}

/// Another value of the fixtures' classes: their descriptors, then the value big-endian.
fn long(n: i64) -> Vec<u8> {
    [&hex(CREATION_TIME)[..74], &n.to_be_bytes()[..]].concat()
}

fn integer(n: i32) -> Vec<u8> {
    [&hex(MAX_INACTIVE_INTERVAL)[..77], &n.to_be_bytes()[..]].concat()
}

fn decode(fields: &[(Vec<u8>, Vec<u8>)], serializer: SpringSerializer, now_ms: u64) -> Result<Session, RecordError> {
    let r = record(DEFAULT_USER_POINTER);
    SpringRecordDecoder { record: &r, serializer }.decode_fields(fields, now_ms)
}

fn data(session: &Session) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&session.data_header).unwrap()).unwrap()
}

fn with(mut fields: Fields, name: &str, value: impl Into<Vec<u8>>) -> Fields {
    let value = value.into();
    match fields.iter_mut().find(|(f, _)| f == name.as_bytes()) {
        Some(slot) => slot.1 = value,
        None => fields.push(field(name, value)),
    }
    fields
}

fn without(fields: Fields, name: &str) -> Fields {
    fields.into_iter().filter(|(f, _)| f != name.as_bytes()).collect()
}

// ---- cookie ----

#[test]
fn defaults_are_spring_sessions() {
    assert_eq!(DEFAULT_COOKIE_NAME, "SESSION");
    assert_eq!(DEFAULT_KEY_PREFIX, "spring:session:sessions:");
    assert_eq!(
        DEFAULT_USER_POINTER,
        "/org.springframework.session.FindByIndexNameSessionRepository.PRINCIPAL_NAME_INDEX_NAME"
    );
}

#[test]
fn the_cookie_spring_sets_decodes_to_its_id_and_back() {
    let codec = SpringCookie::default();
    let id = codec.decode(COOKIE).expect("Spring's own cookie");
    assert_eq!(id.as_str(), ID);
    assert_eq!(codec.encode(&id), COOKIE);
    let raw = SpringCookie::raw();
    assert_eq!(raw.decode(ID).unwrap().as_str(), ID);
    assert_eq!(raw.encode(&SessionId::parse(ID).unwrap()), ID);
}

#[test]
fn cookies_that_spring_does_not_set_are_refused() {
    let codec = SpringCookie::base64();
    let refused = [
        String::new(),
        // The bare id: that is the raw codec's.
        ID.to_owned(),
        // Padding after a full unit: Java's decoder refuses it.
        format!("{COOKIE}="),
        format!("{COOKIE}=="),
        COOKIE[..47].to_owned(),
        format!("{COOKIE}AAAA"),
        // The URL-safe alphabet is not Java's basic one.
        format!("{}-", &COOKIE[..47]),
        format!("{}_", &COOKIE[..47]),
        format!(" {}", &COOKIE[1..]),
        // Ids that are not what UUID.randomUUID().toString() prints.
        STANDARD.encode(ID.to_uppercase()),
        STANDARD.encode("33fdd1b6-b496-1b33-9f7d-df96679d32fe"), // version 1
        STANDARD.encode("33fdd1b6-b496-4b33-cf7d-df96679d32fe"), // variant 110
        STANDARD.encode("33fdd1b6b4964b339f7ddf96679d32fe0000"), // no hyphens
        STANDARD.encode("33fdd1b6-b496-4b33-9f7d-df96679d32fg"),
        STANDARD.encode("33fdd1b6-b496-4b33-9f7d-df96679d32f"),
        STANDARD.encode("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        STANDARD.encode([0xffu8; 36]), // not UTF-8
    ];
    for value in &refused {
        assert!(codec.decode(value).is_none(), "{value:?}");
    }
    let raw = SpringCookie::raw();
    for value in [
        COOKIE,
        "33FDD1B6-B496-4B33-9F7D-DF96679D32FE",
        "33fdd1b6-b496-4b33-9f7d-df96679d32fe ",
    ] {
        assert!(raw.decode(value).is_none(), "{value:?}");
    }
}

fn uuid_v4(bytes: [u8; 16]) -> String {
    let mut b = bytes;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(2000)))]

    #[test]
    fn every_random_uuid_round_trips_in_both_codecs(bytes in any::<[u8; 16]>()) {
        let id = uuid_v4(bytes);
        let value = STANDARD.encode(&id);
        // A UUID's characters never make '+', '/' or padding.
        prop_assert!(value.len() == 48 && value.bytes().all(|b| b.is_ascii_alphanumeric()));
        let decoded = SpringCookie::base64().decode(&value).unwrap();
        prop_assert_eq!(decoded.as_str(), id.as_str());
        prop_assert_eq!(SpringCookie::base64().encode(&decoded), value);
        let raw = SpringCookie::raw().decode(&id).unwrap();
        prop_assert_eq!(raw.as_str(), id.as_str());
    }

    #[test]
    fn any_cookie_value_decodes_without_panicking(value in "\\PC{0,120}") {
        let _ = SpringCookie::base64().decode(&value);
        let _ = SpringCookie::raw().decode(&value);
    }
}

// ---- the hash, Java serialization (the default) ----

#[test]
fn a_hash_of_java_serialized_values_reads_as_spring_wrote_it() {
    let fields = [
        jdk_hash(MAX_INACTIVE_INTERVAL),
        vec![
            field("sessionAttr:mixed", hex(STRING_MIXED)),
            field("sessionAttr:empty", hex(STRING_EMPTY)),
            field("sessionAttr:count", hex(INT_MIN)),
            field("sessionAttr:big", hex(LONG_MIN)),
            field("sessionAttr:prefs", hex(HASHMAP)),
            field("sessionAttr:flag", hex(BOOLEAN_TRUE)),
            // removeAttribute writes null, which the serializer writes as no bytes.
            field("sessionAttr:removed", Vec::new()),
            // Fields without the attribute prefix are not attributes (RedisSessionMapper).
            field("somethingElse", b"x".to_vec()),
        ],
    ]
    .concat();
    let session = decode(&fields, SpringSerializer::Jdk, LAST_ACCESSED_MS + 1000).unwrap();
    assert_eq!(session.user_id, "alice");
    assert_eq!(session.created_at, CREATED_MS / 1000);
    assert_eq!(session.expires_at, END_MS / 1000);
    assert_eq!(
        data(&session),
        json!({
            "org.springframework.session.FindByIndexNameSessionRepository.PRINCIPAL_NAME_INDEX_NAME": "alice",
            "mixed": "a\u{0}\u{e9}\u{20ac}\u{1f600}",
            "empty": "",
            "count": i32::MIN,
            "big": i64::MIN,
            "prefs": {"@opaque": "java-serialization"},
            "flag": {"@opaque": "java-serialization"},
        })
    );
    assert_eq!(opaque_marker(), json!({"@opaque": "java-serialization"}));
}

#[test]
fn the_user_must_be_a_readable_string_at_the_pointer() {
    let alive = LAST_ACCESSED_MS;
    let without_user = without(jdk_hash(MAX_INACTIVE_INTERVAL), PRINCIPAL);
    assert_eq!(
        decode(&without_user, SpringSerializer::Jdk, alive),
        Err(RecordError::Anonymous)
    );
    // The attribute removed (null): no user.
    let removed = with(jdk_hash(MAX_INACTIVE_INTERVAL), PRINCIPAL, Vec::new());
    assert_eq!(
        decode(&removed, SpringSerializer::Jdk, alive),
        Err(RecordError::Anonymous)
    );
    // An object that is not read (a SecurityContextImpl, a HashMap) is never a user id.
    let opaque = with(jdk_hash(MAX_INACTIVE_INTERVAL), PRINCIPAL, hex(HASHMAP));
    assert_eq!(
        decode(&opaque, SpringSerializer::Jdk, alive),
        Err(RecordError::BadUserId)
    );
    let r = record("/SPRING_SECURITY_CONTEXT/authentication/name");
    let context = with(
        jdk_hash(MAX_INACTIVE_INTERVAL),
        "sessionAttr:SPRING_SECURITY_CONTEXT",
        hex(HASHMAP),
    );
    assert_eq!(
        SpringRecordDecoder {
            record: &r,
            serializer: SpringSerializer::Jdk
        }
        .decode_fields(&context, alive),
        Err(RecordError::Anonymous)
    );
    // An integer is taken, as for every format; a string with a control character is not.
    let number = with(jdk_hash(MAX_INACTIVE_INTERVAL), PRINCIPAL, hex(MAX_INACTIVE_INTERVAL));
    assert_eq!(decode(&number, SpringSerializer::Jdk, alive).unwrap().user_id, "1800");
    let control = with(jdk_hash(MAX_INACTIVE_INTERVAL), PRINCIPAL, hex(STRING_MIXED));
    assert_eq!(
        decode(&control, SpringSerializer::Jdk, alive),
        Err(RecordError::BadUserId)
    );
}

#[test]
fn the_allowlist_keeps_only_the_listed_attributes() {
    let fields = with(jdk_hash(MAX_INACTIVE_INTERVAL), "sessionAttr:csrf", hex(STRING_ALICE));
    let r = ForeignRecord {
        user_pointer: DEFAULT_USER_POINTER.into(),
        data_keys: Some(vec!["csrf".into()]),
    };
    let session = SpringRecordDecoder {
        record: &r,
        serializer: SpringSerializer::Jdk,
    }
    .decode_fields(&fields, LAST_ACCESSED_MS)
    .unwrap();
    assert_eq!(data(&session), json!({"csrf": "alice"}));
}

// ---- expiry ----

#[test]
fn a_session_ends_max_inactive_interval_after_its_last_access() {
    let fields = jdk_hash(MAX_INACTIVE_INTERVAL);
    // RedisSessionRepository: the key's TTL ends at lastAccessedTime + maxInactiveInterval
    // (EXPIREAT), and MapSession.isExpired is `now - interval >= lastAccessedTime`.
    assert!(decode(&fields, SpringSerializer::Jdk, LAST_ACCESSED_MS).is_ok());
    assert!(decode(&fields, SpringSerializer::Jdk, END_MS - 1).is_ok());
    assert_eq!(
        decode(&fields, SpringSerializer::Jdk, END_MS),
        Err(RecordError::Expired)
    );
    // RedisIndexedSessionRepository: the key lives maxInactiveInterval + 5 minutes after each
    // save, so for those 5 minutes the key is there and the session is over.
    for now in [END_MS, END_MS + 60_000, END_MS + 299_999] {
        assert_eq!(decode(&fields, SpringSerializer::Jdk, now), Err(RecordError::Expired));
    }
    // Each access moves the end.
    let later = with(fields.clone(), "lastAccessedTime", long(END_MS as i64));
    assert!(decode(&later, SpringSerializer::Jdk, END_MS + 1).is_ok());
    assert_eq!(
        decode(&later, SpringSerializer::Jdk, END_MS + 1_800_000),
        Err(RecordError::Expired)
    );
}

#[test]
fn a_negative_interval_never_expires_and_zero_expires_at_once() {
    let never = jdk_hash(NEVER_EXPIRES);
    let session = decode(&never, SpringSerializer::Jdk, u64::MAX).unwrap();
    assert_eq!(session.expires_at, u64::MAX);
    let zero = with(jdk_hash(MAX_INACTIVE_INTERVAL), "maxInactiveInterval", integer(0));
    assert_eq!(
        decode(&zero, SpringSerializer::Jdk, LAST_ACCESSED_MS),
        Err(RecordError::Expired)
    );
    let hash = SpringHash {
        creation_time_ms: CREATED_MS,
        last_accessed_time_ms: LAST_ACCESSED_MS,
        max_inactive_secs: 0,
        attributes: Default::default(),
    };
    assert!(hash.is_expired(LAST_ACCESSED_MS));
    assert!(!hash.is_expired(LAST_ACCESSED_MS - 1));
    let far = SpringHash {
        last_accessed_time_ms: u64::MAX - 5,
        max_inactive_secs: i32::MAX,
        ..hash
    };
    assert_eq!(far.end_ms(), Some(u64::MAX));
}

// ---- required fields ----

#[test]
fn missing_or_mistyped_timing_fields_are_malformed() {
    let alive = LAST_ACCESSED_MS;
    let malformed =
        |fields: &Fields, serializer| matches!(decode(fields, serializer, alive), Err(RecordError::Malformed(_)));
    let base = jdk_hash(MAX_INACTIVE_INTERVAL);
    assert!(
        malformed(&Vec::new(), SpringSerializer::Jdk),
        "an empty HGETALL: no key"
    );
    for name in ["creationTime", "lastAccessedTime", "maxInactiveInterval"] {
        assert!(
            malformed(&without(base.clone(), name), SpringSerializer::Jdk),
            "{name} missing"
        );
        assert!(
            malformed(&with(base.clone(), name, Vec::new()), SpringSerializer::Jdk),
            "{name} null"
        );
        assert!(
            malformed(&with(base.clone(), name, hex(STRING_ALICE)), SpringSerializer::Jdk),
            "{name} a String"
        );
        assert!(
            malformed(&with(base.clone(), name, hex(HASHMAP)), SpringSerializer::Jdk),
            "{name} opaque"
        );
        assert!(
            malformed(&with(base.clone(), name, b"1800".to_vec()), SpringSerializer::Jdk),
            "{name} text"
        );
        let mut twice = base.clone();
        twice.push(field(
            name,
            hex(if name == "maxInactiveInterval" {
                MAX_INACTIVE_INTERVAL
            } else {
                CREATION_TIME
            }),
        ));
        assert!(malformed(&twice, SpringSerializer::Jdk), "{name} twice");
    }
    // Spring casts the times to Long and the interval to Integer.
    assert!(malformed(
        &with(base.clone(), "creationTime", hex(MAX_INACTIVE_INTERVAL)),
        SpringSerializer::Jdk
    ));
    assert!(malformed(
        &with(base.clone(), "lastAccessedTime", hex(MAX_INACTIVE_INTERVAL)),
        SpringSerializer::Jdk
    ));
    assert!(malformed(
        &with(base.clone(), "maxInactiveInterval", hex(CREATION_TIME)),
        SpringSerializer::Jdk
    ));
    // Before 1970: never written by Spring, which stamps the current time.
    assert!(malformed(
        &with(base.clone(), "creationTime", hex(LONG_MIN)),
        SpringSerializer::Jdk
    ));
    assert!(malformed(
        &with(base.clone(), "lastAccessedTime", hex(LONG_MIN)),
        SpringSerializer::Jdk
    ));
    // Attribute names are UTF-8 (StringRedisSerializer), and given once.
    let mut bad_name = base.clone();
    bad_name.push((b"sessionAttr:\xff".to_vec(), hex(STRING_ALICE)));
    assert!(malformed(&bad_name, SpringSerializer::Jdk));
    let mut twice = base.clone();
    twice.push(field(PRINCIPAL, hex(STRING_ALICE)));
    assert!(malformed(&twice, SpringSerializer::Jdk));
    // An attribute that is no Java serialization at all: the app cannot read it either.
    assert!(malformed(
        &with(base, "sessionAttr:x", b"alice".to_vec()),
        SpringSerializer::Jdk
    ));
}

#[test]
fn records_are_bounded() {
    let big = with(
        jdk_hash(MAX_INACTIVE_INTERVAL),
        "sessionAttr:big",
        vec![0u8; MAX_RECORD_BYTES],
    );
    assert_eq!(
        decode(&big, SpringSerializer::Jdk, LAST_ACCESSED_MS),
        Err(RecordError::TooLarge)
    );
    let mut many = jdk_hash(MAX_INACTIVE_INTERVAL);
    many.extend((0..2000).map(|_| (Vec::new(), Vec::new())));
    assert_eq!(
        decode(&many, SpringSerializer::Jdk, LAST_ACCESSED_MS),
        Err(RecordError::TooLarge)
    );
    // Within the record bound but past the data header's.
    let wide = with(jdk_hash(MAX_INACTIVE_INTERVAL), "sessionAttr:wide", {
        let text = "x".repeat(8000);
        [
            b"\xac\xed\x00\x05\x74".to_vec(),
            (text.len() as u16).to_be_bytes().to_vec(),
            text.into_bytes(),
        ]
        .concat()
    });
    assert_eq!(
        decode(&wide, SpringSerializer::Jdk, LAST_ACCESSED_MS),
        Err(RecordError::DataTooLarge)
    );
}

// ---- Java serialization: exact encodings only ----

#[test]
fn object_output_stream_values_read_exactly() {
    assert_eq!(read_jdk(&hex(CREATION_TIME)), Ok(JdkValue::Long(CREATED_MS as i64)));
    assert_eq!(read_jdk(&hex(LONG_MIN)), Ok(JdkValue::Long(i64::MIN)));
    assert_eq!(read_jdk(&hex(MAX_INACTIVE_INTERVAL)), Ok(JdkValue::Integer(1800)));
    assert_eq!(read_jdk(&hex(NEVER_EXPIRES)), Ok(JdkValue::Integer(-1)));
    assert_eq!(read_jdk(&hex(INT_MIN)), Ok(JdkValue::Integer(i32::MIN)));
    assert_eq!(read_jdk(&hex(STRING_ALICE)), Ok(JdkValue::String("alice".into())));
    assert_eq!(read_jdk(&hex(STRING_EMPTY)), Ok(JdkValue::String(String::new())));
    assert_eq!(
        read_jdk(&hex(STRING_MIXED)),
        Ok(JdkValue::String("a\u{0}\u{e9}\u{20ac}\u{1f600}".into()))
    );
    assert_eq!(read_jdk(&hex(HASHMAP)), Ok(JdkValue::Opaque));
    assert_eq!(read_jdk(&hex(BOOLEAN_TRUE)), Ok(JdkValue::Opaque));
    assert!(matches!(read_jdk(b"alice"), Err(RecordError::Malformed(_))));
    assert!(matches!(read_jdk(b""), Err(RecordError::Malformed(_))));
}

/// Where the class name and serialVersionUID sit in the Long and Integer encodings.
const LONG_NAME: std::ops::Range<usize> = 8..22;
const LONG_UID: std::ops::Range<usize> = 22..30;
const INTEGER_NAME: std::ops::Range<usize> = 8..25;
const INTEGER_UID: std::ops::Range<usize> = 25..33;

#[test]
fn any_other_class_or_version_is_opaque() {
    for (fixture, name, uid) in [
        (CREATION_TIME, LONG_NAME, LONG_UID),
        (MAX_INACTIVE_INTERVAL, INTEGER_NAME, INTEGER_UID),
    ] {
        let bytes = hex(fixture);
        let mut other_class = bytes.clone();
        *other_class[name.clone()].last_mut().unwrap() ^= 1; // java.lang.Lonf, java.lang.Integes
        assert_eq!(read_jdk(&other_class), Ok(JdkValue::Opaque));
        for i in uid {
            let mut other_version = bytes.clone();
            other_version[i] ^= 0x40;
            assert_eq!(
                read_jdk(&other_version),
                Ok(JdkValue::Opaque),
                "serialVersionUID byte {i}"
            );
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(read_jdk(&extra), Ok(JdkValue::Opaque));
    }
    // An Integer's descriptor with a Long's eight value bytes, and the other way round.
    let long_as_integer = [&hex(MAX_INACTIVE_INTERVAL)[..], &[0, 0, 0, 0]].concat();
    assert_eq!(read_jdk(&long_as_integer), Ok(JdkValue::Opaque));
    let integer_as_long = hex(CREATION_TIME)[..hex(CREATION_TIME).len() - 4].to_vec();
    assert_eq!(read_jdk(&integer_as_long), Ok(JdkValue::Opaque));
}

#[test]
fn every_truncation_is_refused_or_opaque() {
    for fixture in [
        CREATION_TIME,
        MAX_INACTIVE_INTERVAL,
        STRING_ALICE,
        STRING_MIXED,
        HASHMAP,
    ] {
        let bytes = hex(fixture);
        for cut in 0..bytes.len() {
            let short = &bytes[..cut];
            match read_jdk(short) {
                Err(RecordError::Malformed(_)) => assert!(cut < 4, "{fixture} cut at {cut}"),
                Ok(JdkValue::Opaque) => assert!(cut >= 4, "{fixture} cut at {cut}"),
                other => panic!("{fixture} cut at {cut}: {other:?}"),
            }
            // As a timing field, any cut is malformed; as an attribute, no value.
            let fields = with(jdk_hash(MAX_INACTIVE_INTERVAL), "creationTime", short.to_vec());
            assert!(matches!(
                decode(&fields, SpringSerializer::Jdk, LAST_ACCESSED_MS),
                Err(RecordError::Malformed(_))
            ));
            let fields = with(jdk_hash(MAX_INACTIVE_INTERVAL), "maxInactiveInterval", short.to_vec());
            assert!(matches!(
                decode(&fields, SpringSerializer::Jdk, LAST_ACCESSED_MS),
                Err(RecordError::Malformed(_))
            ));
        }
    }
}

#[test]
fn strings_are_read_only_as_write_utf_writes_them() {
    let string = |utf: &[u8]| {
        let len = u16::try_from(utf.len()).unwrap().to_be_bytes();
        [b"\xac\xed\x00\x05\x74", &len[..], utf].concat()
    };
    assert_eq!(read_jdk(&string(b"bob")), Ok(JdkValue::String("bob".into())));
    let not_as_java_writes = [
        &b"a\x00"[..],               // NUL is c0 80
        b"\xc1\x81",                 // 'A' in two bytes
        b"\xe0\x81\x81",             // 'A' in three bytes
        b"\xe0\x82\xa9",             // U+00A9 in three bytes
        b"\xf0\x9f\x98\x80",         // standard UTF-8 for U+1F600: Java writes surrogates
        b"\xed\xa0\xbd",             // a lone high surrogate
        b"\xed\xb8\x80\xed\xa0\xbd", // surrogates in the wrong order
        b"\xc3",                     // cut in a character
        b"\x80",                     // a continuation byte first
        b"\xc3\x29",                 // a bad continuation
    ];
    for utf in not_as_java_writes {
        assert_eq!(read_jdk(&string(utf)), Ok(JdkValue::Opaque), "{utf:02x?}");
    }
    // The length must be the whole rest.
    let mut longer = hex(STRING_ALICE);
    longer.push(b'x');
    assert_eq!(read_jdk(&longer), Ok(JdkValue::Opaque));
    let mut shorter = hex(STRING_ALICE);
    shorter.pop();
    assert_eq!(read_jdk(&shorter), Ok(JdkValue::Opaque));
    // TC_LONGSTRING is never within the record bound: opaque.
    let long_string = [
        b"\xac\xed\x00\x05\x7c".to_vec(),
        5u64.to_be_bytes().to_vec(),
        b"alice".to_vec(),
    ]
    .concat();
    assert_eq!(read_jdk(&long_string), Ok(JdkValue::Opaque));
}

// ---- the hash, JSON (GenericJackson2JsonRedisSerializer) ----

// What GenericJackson2JsonRedisSerializer writes for each value: ObjectMapper.writeValueAsBytes
// (spring-data-redis JacksonObjectWriter.create) with Spring's default typing, "@class" as a
// property (GenericJackson2JsonRedisSerializer.createDefaultTypeResolverBuilder, 3.5.x lines
// 215-226), which leaves wrappers and final java.* classes untyped (its TypeResolverBuilder.useForType,
// lines 636-655): a Long or an Integer is a bare number, a String a bare string. Jackson never
// types Integer (NumberSerializers.IntegerSerializer.serializeWithType, jackson-databind 2.18)
// nor String. A HashMap is typed as a property (As.PROPERTY), and a Long inside an untyped
// container as a wrapper array (StdScalarSerializer.serializeWithType). Spring Security's
// NON_FINAL typing (SecurityJackson2Modules.createAllowlistedDefaultTyping, 6.5.x) writes the
// same for all of these.
fn json_hash() -> Fields {
    vec![
        field("creationTime", b"1764374400000".to_vec()),
        field("maxInactiveInterval", b"1800".to_vec()),
        field("lastAccessedTime", b"1764376200000".to_vec()),
        field(PRINCIPAL, br#""alice""#.to_vec()),
    ]
}

// SecurityContextMixinTests.SECURITY_CONTEXT_JSON with the authentication of
// UsernamePasswordAuthenticationTokenMixinTests.AUTHENTICATED_JSON (a User principal, as form
// login stores it), both from spring-security 6.5.x core/src/test/java/.../jackson2/.
const SECURITY_CONTEXT_USER: &str = r#"{"@class":"org.springframework.security.core.context.SecurityContextImpl","authentication":{"@class":"org.springframework.security.authentication.UsernamePasswordAuthenticationToken","principal":{"@class":"org.springframework.security.core.userdetails.User","username":"admin","password":"1234","accountNonExpired":true,"accountNonLocked":true,"credentialsNonExpired":true,"enabled":true,"authorities":["java.util.Collections$UnmodifiableSet",[{"@class":"org.springframework.security.core.authority.SimpleGrantedAuthority","authority":"ROLE_USER"}]]},"credentials":"1234","authenticated":true,"details":null,"authorities":["java.util.Collections$UnmodifiableRandomAccessList",[{"@class":"org.springframework.security.core.authority.SimpleGrantedAuthority","authority":"ROLE_USER"}]]}}"#;
// SecurityContextMixinTests.SECURITY_CONTEXT_JSON as it is (a String principal).
const SECURITY_CONTEXT_STRING: &str = r#"{"@class":"org.springframework.security.core.context.SecurityContextImpl","authentication":{"@class":"org.springframework.security.authentication.UsernamePasswordAuthenticationToken","principal":"admin","credentials":"1234","authenticated":true,"details":null,"authorities":["java.util.Collections$UnmodifiableRandomAccessList",[{"@class":"org.springframework.security.core.authority.SimpleGrantedAuthority","authority":"ROLE_USER"}]]}}"#;

#[test]
fn a_hash_of_json_values_reads_as_jackson_wrote_it() {
    let fields = [
        json_hash(),
        vec![
            field(
                "sessionAttr:prefs",
                br#"{"@class":"java.util.HashMap","role":"admin","n":["java.lang.Long",5]}"#.to_vec(),
            ),
            field("sessionAttr:count", b"3".to_vec()),
            field("sessionAttr:removed", Vec::new()),
        ],
    ]
    .concat();
    let session = decode(&fields, SpringSerializer::Json, LAST_ACCESSED_MS).unwrap();
    assert_eq!(session.user_id, "alice");
    assert_eq!(
        (session.created_at, session.expires_at),
        (CREATED_MS / 1000, END_MS / 1000)
    );
    assert_eq!(
        data(&session),
        json!({
            "org.springframework.session.FindByIndexNameSessionRepository.PRINCIPAL_NAME_INDEX_NAME": "alice",
            "prefs": {"@class": "java.util.HashMap", "role": "admin", "n": ["java.lang.Long", 5]},
            "count": 3,
        })
    );
    assert_eq!(
        decode(&fields, SpringSerializer::Json, END_MS),
        Err(RecordError::Expired)
    );
}

#[test]
fn with_json_the_security_context_holds_the_user() {
    let alive = LAST_ACCESSED_MS;
    for (context, pointer) in [
        (
            SECURITY_CONTEXT_USER,
            "/SPRING_SECURITY_CONTEXT/authentication/principal/username",
        ),
        (
            SECURITY_CONTEXT_STRING,
            "/SPRING_SECURITY_CONTEXT/authentication/principal",
        ),
    ] {
        let fields = with(
            without(json_hash(), PRINCIPAL),
            "sessionAttr:SPRING_SECURITY_CONTEXT",
            context.as_bytes().to_vec(),
        );
        let r = ForeignRecord {
            user_pointer: pointer.into(),
            data_keys: Some(vec![]),
        };
        let decoder = SpringRecordDecoder {
            record: &r,
            serializer: SpringSerializer::Json,
        };
        assert_eq!(decoder.decode_fields(&fields, alive).unwrap().user_id, "admin");
        // The default pointer finds no user in such a session.
        assert_eq!(
            decode(&fields, SpringSerializer::Json, alive),
            Err(RecordError::Anonymous)
        );
    }
}

#[test]
fn json_timing_fields_must_be_what_spring_reads_back() {
    let alive = LAST_ACCESSED_MS;
    let ok = |fields: &Fields| decode(fields, SpringSerializer::Json, alive).is_ok();
    // Plain Jackson with EVERYTHING typing wraps a Long; Spring reads it back as a Long.
    assert!(ok(&with(
        json_hash(),
        "creationTime",
        br#"["java.lang.Long",1764374400000]"#.to_vec()
    )));
    assert!(ok(&with(
        json_hash(),
        "lastAccessedTime",
        br#"["java.lang.Long",1764376200000]"#.to_vec()
    )));
    assert!(ok(&with(json_hash(), "maxInactiveInterval", b"-1".to_vec())));
    let refused = [
        ("creationTime", &b"5"[..]), // read back as an Integer: Spring's cast to Long fails
        ("creationTime", b"-1764374400000"),
        ("creationTime", b"1.7643744E12"),
        ("creationTime", br#""1764374400000""#),
        ("creationTime", br#"["java.lang.Integer",1764374400000]"#),
        ("creationTime", br#"["java.lang.Long"]"#),
        ("creationTime", b"null"),
        ("creationTime", b""),
        ("lastAccessedTime", b"18446744073709551615"),
        ("maxInactiveInterval", b"2147483648"),
        ("maxInactiveInterval", b"1800.0"),
        ("maxInactiveInterval", br#"["java.lang.Integer",1800]"#),
        ("maxInactiveInterval", &hex(MAX_INACTIVE_INTERVAL)), // Java serialization under JSON
    ];
    for (name, value) in refused {
        let fields = with(json_hash(), name, value.to_vec());
        assert!(
            matches!(
                decode(&fields, SpringSerializer::Json, alive),
                Err(RecordError::Malformed(_))
            ),
            "{name} = {:?}",
            String::from_utf8_lossy(value)
        );
    }
    for value in [&b"{"[..], b"alice", &hex(STRING_ALICE)] {
        let fields = with(json_hash(), "sessionAttr:x", value.to_vec());
        assert!(matches!(
            decode(&fields, SpringSerializer::Json, alive),
            Err(RecordError::Malformed(_))
        ));
    }
    // JSON values under the Java serializer are no Java serialization.
    assert!(matches!(
        decode(&json_hash(), SpringSerializer::Jdk, alive),
        Err(RecordError::Malformed(_))
    ));
}

// ---- hostile input ----

fn field_name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"creationTime".to_vec()),
        Just(b"lastAccessedTime".to_vec()),
        Just(b"maxInactiveInterval".to_vec()),
        Just(PRINCIPAL.as_bytes().to_vec()),
        "sessionAttr:[a-z]{0,3}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..16),
    ]
}

fn field_value() -> impl Strategy<Value = Vec<u8>> {
    let fixtures = [
        CREATION_TIME,
        MAX_INACTIVE_INTERVAL,
        STRING_ALICE,
        STRING_MIXED,
        HASHMAP,
    ];
    prop_oneof![
        proptest::sample::select(fixtures.to_vec()).prop_map(hex),
        // A fixture with one byte changed and a cut.
        (
            proptest::sample::select(fixtures.to_vec()),
            any::<prop::sample::Index>(),
            any::<u8>(),
            any::<prop::sample::Index>()
        )
            .prop_map(|(f, at, to, cut)| {
                let mut bytes = hex(f);
                let i = at.index(bytes.len());
                bytes[i] = to;
                let keep = cut.index(bytes.len() + 1);
                bytes.truncate(keep.max(i));
                bytes
            }),
        "[-0-9\\[\\]\",.a-zA-Z{}:@ ]{0,24}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(2000)))]

    #[test]
    fn hostile_hashes_never_panic(
        fields in proptest::collection::vec((field_name(), field_value()), 0..12),
        now in any::<u64>(),
    ) {
        for serializer in [SpringSerializer::Jdk, SpringSerializer::Json] {
            let _ = decode(&fields, serializer, now);
        }
    }

    #[test]
    fn any_bytes_read_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = read_jdk(&bytes);
        let mut stream = b"\xac\xed\x00\x05".to_vec();
        stream.extend_from_slice(&bytes);
        prop_assert!(read_jdk(&stream).is_ok());
    }

    #[test]
    fn a_changed_descriptor_byte_never_reads_as_a_number(at in 0usize..77, to in any::<u8>()) {
        // Everything before the value: 74 bytes for a Long, 77 for an Integer.
        for (fixture, prefix_len) in [(CREATION_TIME, 74), (MAX_INACTIVE_INTERVAL, 77)] {
            let mut bytes = hex(fixture);
            let at = at % prefix_len;
            prop_assume!(bytes[at] != to);
            bytes[at] = to;
            let read = read_jdk(&bytes);
            prop_assert!(matches!(read, Ok(JdkValue::Opaque) | Err(RecordError::Malformed(_))), "{:?}", read);
        }
    }
}
