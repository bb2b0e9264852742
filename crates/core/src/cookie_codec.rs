//! The session cookie's wire format, behind a trait so that other formats (the cookies
//! express-session or Flask already set) can be added beside it.
//!
//! Format `v1`: `v1.<id>.<tag>`, where `<id>` is the session id (22 to 64 characters of
//! base64url alphabet) and `<tag>` is the unpadded base64url HMAC-SHA256 of `v1.<id>` under
//! a key of the ring. The version is covered by the MAC, so a tag can never be replayed
//! under another format.

use crate::keys::KeyRing;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderMap;
use http::header::COOKIE;

/// Longest cookie value considered at all (unless a codec says otherwise, see
/// [`CookieCodec::max_value_bytes`]); a v1 value is 69 to 111 bytes.
pub const MAX_COOKIE_VALUE_BYTES: usize = 256;
/// At most this many cookies with our name are verified (duplicates from other paths or
/// domains); longer values are skipped unverified and do not count.
pub const MAX_CANDIDATES: usize = 8;

const V1_PREFIX: &str = "v1.";
const TAG_CHARS: usize = 43; // 32 bytes, base64url without padding
const ID_MIN_CHARS: usize = 22; // 128 bits
const ID_MAX_CHARS: usize = 64;
/// PHP's `session.sid_length` goes to 256.
const FRAMEWORK_ID_MAX_CHARS: usize = 256;
const TAG_LEN: usize = 4;
const TAGGED_ID_CHARS: usize = 22 + TAG_LEN;

/// A user's hash tag: 4 base64url characters of SHA-256(user id) (24 bits: enough to spread
/// users over the 16384 slots, and not a way back to the user id).
pub fn user_tag(user_id: &str) -> String {
    use sha2::{Digest, Sha256};
    URL_SAFE_NO_PAD.encode(&Sha256::digest(user_id.as_bytes())[..3])
}

/// A session id as it appears in cookies and Redis keys: base64url alphabet only (and `,` in
/// PHP's ids), so it can never smuggle key separators or header bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl std::fmt::Debug for SessionId {
    // Ids are bearer secrets: debug output shows only a short hash.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionId(#{})", self.fingerprint())
    }
}

impl SessionId {
    pub fn parse(s: &str) -> Option<Self> {
        let ok = (ID_MIN_CHARS..=ID_MAX_CHARS).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(s.to_owned()))
    }

    /// An id a framework's codec of this crate has checked against that framework's rules,
    /// which go beyond [`SessionId::parse`]: PHP's ids run to 256 characters, and its 6-bit
    /// alphabet has `,`. The alphabet still holds nothing that separates a key or a header.
    pub(crate) fn from_framework(s: &str) -> Option<Self> {
        let ok = (ID_MIN_CHARS..=FRAMEWORK_ID_MAX_CHARS).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b',');
        ok.then(|| Self(s.to_owned()))
    }

    /// A new id from CSPRNG output supplied by the caller (the core has no randomness).
    pub fn from_random(bytes: [u8; 16]) -> Self {
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A new id for a session of `user_id`: 22 characters from 128 random bits, then the
    /// user's 4-character hash tag, so that in Redis Cluster a user's sessions and index
    /// share a slot (see `redis_layout`).
    pub fn for_user(bytes: [u8; 16], user_id: &str) -> Self {
        Self(format!("{}{}", URL_SAFE_NO_PAD.encode(bytes), user_tag(user_id)))
    }

    /// The hash tag carried by ids made with [`SessionId::for_user`].
    pub fn tag(&self) -> Option<&str> {
        (self.0.len() == TAGGED_ID_CHARS).then(|| &self.0[TAGGED_ID_CHARS - TAG_LEN..])
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 8 hex digits of SHA-256(id): enough to correlate log lines, useless to an attacker.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.0.as_bytes());
        digest[..4].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A session id whose cookie signature checked out. Only a [`CookieCodec`] makes one.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VerifiedSessionId(SessionId);

impl VerifiedSessionId {
    /// For codecs of this crate, once a signature checked out.
    pub(crate) fn verified(id: SessionId) -> Self {
        Self(id)
    }

    pub fn id(&self) -> &SessionId {
        &self.0
    }
}

impl std::ops::Deref for VerifiedSessionId {
    type Target = SessionId;
    fn deref(&self) -> &SessionId {
        &self.0
    }
}

/// Turns a cookie value into a verified session id and back.
pub trait CookieCodec {
    /// `None` for anything that is not a well-formed value with a valid signature.
    fn decode(&self, value: &str) -> Option<VerifiedSessionId>;
    fn encode(&self, id: &SessionId) -> String;

    /// Longer values are skipped unread. A format whose values are longer than the gateway's
    /// own (Laravel's encrypted cookies are 342 bytes) says so here.
    fn max_value_bytes(&self) -> usize {
        MAX_COOKIE_VALUE_BYTES
    }
}

/// The gateway's own signed format, `v1`.
#[derive(Clone, Debug)]
pub struct SignedCookieV1 {
    keys: KeyRing,
}

impl SignedCookieV1 {
    pub fn new(keys: KeyRing) -> Self {
        Self { keys }
    }
}

impl CookieCodec for SignedCookieV1 {
    fn decode(&self, value: &str) -> Option<VerifiedSessionId> {
        if value.len() > MAX_COOKIE_VALUE_BYTES {
            return None;
        }
        let rest = value.strip_prefix(V1_PREFIX)?;
        let (id, tag) = rest.rsplit_once('.')?;
        let id = SessionId::parse(id)?;
        if tag.len() != TAG_CHARS {
            return None;
        }
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let signed = &value[..V1_PREFIX.len() + id.as_str().len()];
        self.keys
            .verify(signed.as_bytes(), &tag)
            .then_some(VerifiedSessionId(id))
    }

    fn encode(&self, id: &SessionId) -> String {
        let signed = format!("{V1_PREFIX}{}", id.as_str());
        let tag = URL_SAFE_NO_PAD.encode(self.keys.sign(signed.as_bytes()));
        format!("{signed}.{tag}")
    }
}

/// The first cookie named `name` that `codec` accepts, across every `Cookie` header.
///
/// Duplicates happen (a stale cookie on a narrower path, a cookie tossed from a sibling
/// subdomain): the first one that verifies wins, so a garbage duplicate cannot log a user
/// out. The header is read as bytes, because browsers send other cookies' values in raw
/// UTF-8 and some servers worse: nothing outside our own cookie's value has to be valid
/// for it to be found. The work is one pass over the bytes and at most [`MAX_CANDIDATES`]
/// signature checks, however large the header.
pub fn find_session(headers: &HeaderMap, name: &str, codec: &dyn CookieCodec) -> Option<VerifiedSessionId> {
    session_cookies(headers, name)
        .filter(|value| value.len() <= codec.max_value_bytes())
        .take(MAX_CANDIDATES)
        .find_map(|value| std::str::from_utf8(value).ok().and_then(|v| codec.decode(v)))
}

/// The session in the first cookie named `name` only, as frameworks read their own cookie
/// (express's and Werkzeug's parsers keep the first of duplicates): the gateway must see
/// the session the app will see, or the identity it forwards and the app's session differ.
pub fn find_first_session(headers: &HeaderMap, name: &str, codec: &dyn CookieCodec) -> Option<VerifiedSessionId> {
    session_cookies(headers, name)
        .next()
        .filter(|value| value.len() <= codec.max_value_bytes())
        .and_then(|value| std::str::from_utf8(value).ok().and_then(|v| codec.decode(v)))
}

/// The session in `$_COOKIE[name]` as PHP builds it (PHP and Laravel read their cookie from
/// there): names trimmed of leading whitespace only, `.` and ` ` taken for `_`, `name[...]`
/// making `$_COOKIE[name]` an array (whatever came before or after it), an unmatched `[`
/// taken for `_`, the first plain value kept, the value neither trimmed nor unquoted. Read
/// any other way, a planted `my.sess=...` or `my_sess[x]=...` beside the app's `my_sess`
/// would give the app one session and the gateway another.
pub fn find_php_session(headers: &HeaderMap, name: &str, codec: &dyn CookieCodec) -> Option<VerifiedSessionId> {
    let value = php_session_value(headers, name).filter(|value| value.len() <= codec.max_value_bytes())?;
    std::str::from_utf8(value).ok().and_then(|v| codec.decode(v))
}

fn php_session_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    let mut first = None;
    for pair in headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|h| h.as_bytes().split(|&b| b == b';'))
    {
        let pair = &pair[pair.iter().position(|b| !is_php_space(*b)).unwrap_or(pair.len())..];
        let (raw_name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &b""[..]),
        };
        let (mangled, is_array) = php_variable_name(raw_name);
        if mangled != name.as_bytes() {
            continue;
        }
        if is_array {
            // PHP's session module ignores an array: no session, whatever else is there.
            return None;
        }
        first.get_or_insert(value);
    }
    first
}

/// Which of the request's cookies named like the session's one an app reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The first that verifies: [`find_session`].
    AnyThatVerifies,
    /// The first only: [`find_first_session`].
    First,
    /// `$_COOKIE[name]`: [`find_php_session`].
    AsPhp,
}

impl Pick {
    /// Whether there is a value to verify at all: without one, nothing that verifies a
    /// cookie (keys included) needs reading.
    pub fn finds_a_value(self, headers: &HeaderMap, name: &str) -> bool {
        match self {
            Self::AnyThatVerifies | Self::First => session_cookies(headers, name).next().is_some(),
            Self::AsPhp => php_session_value(headers, name).is_some(),
        }
    }

    pub fn find(self, headers: &HeaderMap, name: &str, codec: &dyn CookieCodec) -> Option<VerifiedSessionId> {
        match self {
            Self::AnyThatVerifies => find_session(headers, name, codec),
            Self::First => find_first_session(headers, name, codec),
            Self::AsPhp => find_php_session(headers, name, codec),
        }
    }
}

/// C's `isspace`, which PHP trims cookie names with.
fn is_php_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A variable name as `php_register_variable_ex` makes it (PHP 8), and whether it is an
/// array's (`name[...]`).
fn php_variable_name(raw: &[u8]) -> (Vec<u8>, bool) {
    let mut name = Vec::with_capacity(raw.len());
    for (i, &b) in raw.iter().enumerate() {
        match b {
            b' ' | b'.' => name.push(b'_'),
            b'[' if raw[i + 1..].contains(&b']') => return (name, true),
            b'[' => {
                name.push(b'_');
                name.extend(
                    raw[i + 1..]
                        .iter()
                        .map(|&b| if matches!(b, b' ' | b'.' | b'[') { b'_' } else { b }),
                );
                return (name, false);
            }
            other => name.push(other),
        }
    }
    (name, false)
}

fn session_cookies<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(move |header| cookie_values(header.as_bytes(), name.as_bytes()))
}

/// The values of the cookies named `name` in one `Cookie` header (RFC 6265 §4.2.1, read
/// leniently: pairs split on `;`, spaces and tabs trimmed, a value in double quotes unquoted).
pub fn cookie_values<'a>(header: &'a [u8], name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    header.split(|&b| b == b';').filter_map(move |pair| {
        let pair = trim(pair);
        let eq = pair.iter().position(|&b| b == b'=')?;
        (trim(&pair[..eq]) == name).then(|| unquote(trim(&pair[eq + 1..])))
    })
}

fn trim(bytes: &[u8]) -> &[u8] {
    let is_space = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_space(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !is_space(b)).map_or(start, |i| i + 1);
    &bytes[start..end]
}

fn unquote(value: &[u8]) -> &[u8] {
    match value {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    }
}
