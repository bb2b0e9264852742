//! One-line logs on stderr, which Spin collects per component. Never pass a cookie, a
//! session id or a key here: use `SessionId::fingerprint`.

pub fn error(message: std::fmt::Arguments<'_>) {
    eprintln!("session-gateway error: {message}");
}

pub fn info(message: std::fmt::Arguments<'_>) {
    eprintln!("session-gateway: {message}");
}
