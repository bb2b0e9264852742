//! Spring Session hashes as `RedisSessionMapper` writes them. No JVM registry is reachable,
//! so no Spring app runs in the tests: the values are the exact bytes Java's
//! `ObjectOutputStream` writes (tests/unit/spring.rs holds fixtures made by the JDK itself,
//! with tests/frameworks/spring/Fixtures.java).

/// The principal name attribute, where the `spring` format finds the user by default.
pub const PRINCIPAL_NAME: &str =
    "org.springframework.session.FindByIndexNameSessionRepository.PRINCIPAL_NAME_INDEX_NAME";

/// `writeObject(Long)`: the class descriptors, then the value.
pub fn jdk_long(n: i64) -> Vec<u8> {
    let head = "aced00057372000e6a6176612e6c616e672e4c6f6e673b8be490cc8f23df0200014a000576616c7565787200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b0200007870";
    [hex(head), n.to_be_bytes().to_vec()].concat()
}

/// `writeObject(Integer)`.
pub fn jdk_integer(n: i32) -> Vec<u8> {
    let head = "aced0005737200116a6176612e6c616e672e496e746567657212e2a0a4f781873802000149000576616c7565787200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b0200007870";
    [hex(head), n.to_be_bytes().to_vec()].concat()
}

/// `writeObject(String)` of an ASCII string: TC_STRING, its length, its bytes.
pub fn jdk_string(s: &str) -> Vec<u8> {
    [
        hex("aced000574"),
        (s.len() as u16).to_be_bytes().to_vec(),
        s.as_bytes().to_vec(),
    ]
    .concat()
}

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The `SESSION` cookie Spring's `DefaultCookieSerializer` sets for `id`.
pub fn cookie(id: &str) -> String {
    format!(
        "SESSION={}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, id)
    )
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// Writes the hash of session `id`, last accessed `idle_ms` ago, Java-serialized.
pub fn store(
    redis: &mut redis::Connection,
    id: &str,
    idle_ms: i64,
    max_inactive_secs: i32,
    attributes: &[(&str, Vec<u8>)],
) {
    let mut command = redis::cmd("HSET");
    command
        .arg(format!("spring:session:sessions:{id}"))
        .arg("creationTime")
        .arg(jdk_long(now_ms() - idle_ms - 60_000))
        .arg("lastAccessedTime")
        .arg(jdk_long(now_ms() - idle_ms))
        .arg("maxInactiveInterval")
        .arg(jdk_integer(max_inactive_secs));
    for (name, value) in attributes {
        command.arg(format!("sessionAttr:{name}")).arg(value);
    }
    command.query::<()>(redis).expect("HSET");
}
