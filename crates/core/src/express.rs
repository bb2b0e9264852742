//! Sessions as Express keeps them: express-session 1.x with connect-redis 6 to 10.
//!
//! - Cookie `connect.sid` = URL-encoded `s:` + id + `.` + base64 (standard alphabet, no
//!   padding) of HMAC-SHA256(secret, id). The first secret signs, every secret verifies
//!   (express-session's `unsigncookie`, cookie-signature's `unsign`); an unsigned value is
//!   no session, as in express-session.
//! - Key `sess:` + id; the value is the session as JSON (`JSON.stringify`), with the
//!   cookie's settings under `cookie` and, with Passport, the user under `passport.user`.
//!   connect-redis gives the key a TTL from `cookie.expires` (one day without one).

use crate::cookie_codec::{CookieCodec, SessionId, VerifiedSessionId};
use crate::keys::KeyRing;
use crate::session::{ForeignRecord, RecordError, Session, SessionDecoder};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

const SIGNED_PREFIX: &str = "s:";
/// base64 of a 32-byte HMAC without padding.
const SIGNATURE_CHARS: usize = 43;

pub const DEFAULT_COOKIE_NAME: &str = "connect.sid";
pub const DEFAULT_KEY_PREFIX: &str = "sess:";
pub const DEFAULT_USER_POINTER: &str = "/passport/user";

/// express-session's signed cookie, verified with the app's `secret` list.
#[derive(Clone, Debug)]
pub struct ExpressCookie {
    secrets: KeyRing,
}

impl ExpressCookie {
    pub fn new(secrets: KeyRing) -> Self {
        Self { secrets }
    }
}

impl CookieCodec for ExpressCookie {
    fn decode(&self, value: &str) -> Option<VerifiedSessionId> {
        let decoded = percent_decode(value)?;
        let signed = decoded.strip_prefix(SIGNED_PREFIX)?;
        let (id, signature) = signed.rsplit_once('.')?;
        let id = SessionId::parse(id)?;
        if signature.len() != SIGNATURE_CHARS {
            return None;
        }
        let tag = STANDARD_NO_PAD.decode(signature).ok()?;
        self.secrets
            .verify(id.as_str().as_bytes(), &tag)
            .then(|| VerifiedSessionId::verified(id))
    }

    /// What express-session sets: `cookie.serialize` percent-encodes the signed value.
    fn encode(&self, id: &SessionId) -> String {
        let signature = STANDARD_NO_PAD.encode(self.secrets.sign(id.as_str().as_bytes()));
        format!(
            "s%3A{}.{}",
            id.as_str(),
            signature.replace('+', "%2B").replace('/', "%2F")
        )
    }
}

/// What express-session's cookie parser does: `decodeURIComponent`, or the value as it is
/// when that fails; only ASCII can be a session.
fn percent_decode(value: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(value).decode_utf8().ok()?;
    decoded.is_ascii().then(|| decoded.into_owned())
}

/// The JSON connect-redis stores, read as a [`ForeignRecord`].
#[derive(Clone, Copy, Debug)]
pub struct ExpressRecordDecoder<'a> {
    pub record: &'a ForeignRecord,
}

impl SessionDecoder for ExpressRecordDecoder<'_> {
    fn decode(&self, bytes: &[u8], now: u64) -> Result<Session, RecordError> {
        let value = self.record.parse_json(bytes)?;
        // The cookie's own expiry counts besides the Redis TTL: express-session writes it,
        // and a record restored without its TTL must still end.
        let expires_at = match value.pointer("/cookie/expires") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(date)) => {
                Some(parse_iso8601(date).ok_or_else(|| RecordError::Malformed("cookie.expires is not a date".into()))?)
            }
            Some(_) => return Err(RecordError::Malformed("cookie.expires is not a date".into())),
        };
        if expires_at.is_some_and(|end| end <= now) {
            return Err(RecordError::Expired);
        }
        self.record.session(&value, 0, expires_at.unwrap_or(u64::MAX))
    }
}

/// Unix seconds of `JSON.stringify(new Date(...))`: `YYYY-MM-DDTHH:MM:SS(.sss)Z`.
pub fn parse_iso8601(date: &str) -> Option<u64> {
    // Byte offsets below must be character boundaries.
    if !date.is_ascii() {
        return None;
    }
    let b = date.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !date.ends_with('Z') {
        return None;
    }
    let fraction = &date[19..date.len() - 1];
    if !(fraction.is_empty() || (fraction.starts_with('.') && fraction[1..].bytes().all(|c| c.is_ascii_digit()))) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = date.get(range)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
}
