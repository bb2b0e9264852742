//! Logging through the platform. Never pass a cookie, a session id or a key here: use
//! `SessionId::fingerprint`.

use crate::platform::{Level, Platform};

pub fn error(platform: &impl Platform, message: std::fmt::Arguments<'_>) {
    platform.log(Level::Error, message);
}

pub fn info(platform: &impl Platform, message: std::fmt::Arguments<'_>) {
    platform.log(Level::Info, message);
}
