//! Sessions as native PHP keeps them in Redis: `session.save_handler = redis` (phpredis).
//!
//! - Cookie `PHPSESSID` = the session id, unsigned: `session.sid_length` characters (32 by
//!   PHP's default, 26 in `php.ini-production`) of `session.sid_bits_per_character` bits each
//!   (4: `[0-9a-f]`, 5: `[0-9a-v]`, 6: `[0-9a-zA-Z,-]`), from PHP's CSPRNG
//!   (`php_session_create_id`). PHP URL-encodes the id in `Set-Cookie` (a `,` goes out as
//!   `%2C`) and URL-decodes cookies as it reads them.
//! - Key `PHPREDIS_SESSION:` + id (phpredis's default `prefix` in `session.save_path`); the
//!   key's TTL (`session.gc_maxlifetime`, set again on every request) is the expiry.
//! - The value is `$_SESSION` as `session.serialize_handler` writes it: `php` (the default:
//!   `name|<serialized value>` per variable) or `php_serialize` (one serialized array), read
//!   by [`crate::php_serialize`], which never instantiates anything. PHP has no convention
//!   for where the user is: [`DEFAULT_USER_POINTER`] is `/user_id`, the name most apps and
//!   tutorials give `$_SESSION['user_id']`.

use crate::cookie_codec::{CookieCodec, MAX_COOKIE_VALUE_BYTES, SessionId, VerifiedSessionId};
use crate::php_serialize::{SerializeHandler, session_data};
use crate::session::{ForeignRecord, RecordError, Session, SessionDecoder};

pub const DEFAULT_COOKIE_NAME: &str = "PHPSESSID";
pub const DEFAULT_KEY_PREFIX: &str = "PHPREDIS_SESSION:";
pub const DEFAULT_USER_POINTER: &str = "/user_id";

/// PHP's session cookie: the bare id, in the shape PHP makes ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhpCookie {
    /// `None`: PHP's defaults (32 characters of 4 bits) and `php.ini-production`'s (26 of 5).
    only: Option<SidFormat>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SidFormat {
    length: usize,
    bits_per_character: u8,
}

const PHP_DEFAULT: SidFormat = SidFormat {
    length: 32,
    bits_per_character: 4,
};
const PRODUCTION_INI: SidFormat = SidFormat {
    length: 26,
    bits_per_character: 5,
};

impl SidFormat {
    fn accepts(&self, id: &str) -> bool {
        id.len() == self.length
            && id.bytes().all(|b| match self.bits_per_character {
                4 => matches!(b, b'0'..=b'9' | b'a'..=b'f'),
                5 => matches!(b, b'0'..=b'9' | b'a'..=b'v'),
                _ => b.is_ascii_alphanumeric() || b == b',' || b == b'-',
            })
    }
}

impl Default for PhpCookie {
    /// Ids of PHP's default settings and of `php.ini-production`'s.
    fn default() -> Self {
        Self { only: None }
    }
}

impl PhpCookie {
    /// Ids of one `session.sid_length` and `session.sid_bits_per_character` only; `None`
    /// for settings PHP refuses (a length outside 22 to 256, bits outside 4 to 6).
    pub fn configured(sid_length: usize, sid_bits_per_character: u8) -> Option<Self> {
        let valid = (22..=256).contains(&sid_length) && (4..=6).contains(&sid_bits_per_character);
        valid.then_some(Self {
            only: Some(SidFormat {
                length: sid_length,
                bits_per_character: sid_bits_per_character,
            }),
        })
    }
}

impl CookieCodec for PhpCookie {
    fn decode(&self, value: &str) -> Option<VerifiedSessionId> {
        // Percent-decoded, as PHP reads `$_COOKIE`: `%2C` is a 6-bit id's `,`.
        let id = percent_encoding::percent_decode_str(value).decode_utf8().ok()?;
        // Only ids shaped as PHP makes them: with `session.use_strict_mode` off (PHP's
        // default), PHP also adopts any id a client sends, which the gateway never reads.
        let shaped = match self.only {
            Some(format) => format.accepts(&id),
            None => PHP_DEFAULT.accepts(&id) || PRODUCTION_INI.accepts(&id),
        };
        if !shaped {
            return None;
        }
        // Unsigned: the id's charset and length are all there is to check; its random bits
        // (128 and more with PHP's settings) are what protects it.
        SessionId::from_framework(&id).map(VerifiedSessionId::verified)
    }

    /// The id's length, each character of which may come URL-encoded (PHP sends `,` as `%2C`).
    fn max_value_bytes(&self) -> usize {
        let longest = self.only.map_or(PHP_DEFAULT.length, |format| format.length);
        MAX_COOKIE_VALUE_BYTES.max(3 * longest)
    }

    /// What PHP sets: the id URL-encoded (`php_url_encode`), which only touches `,`.
    fn encode(&self, id: &SessionId) -> String {
        id.as_str().replace(',', "%2C")
    }
}

/// The `$_SESSION` phpredis stores, read as a [`ForeignRecord`].
#[derive(Clone, Copy, Debug)]
pub struct PhpRecordDecoder<'a> {
    pub record: &'a ForeignRecord,
    pub handler: SerializeHandler,
}

impl SessionDecoder for PhpRecordDecoder<'_> {
    fn decode(&self, bytes: &[u8], _now: u64) -> Result<Session, RecordError> {
        let value = session_data(bytes, self.handler)?;
        // No expiry in the value: phpredis gives the key a TTL of `session.gc_maxlifetime`.
        self.record.session(&value, 0, u64::MAX)
    }
}
