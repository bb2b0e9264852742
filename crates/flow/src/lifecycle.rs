//! Carrying out the origin's session hooks: login, logout, update, rotate, revoke-user.
//! Each step is one Redis round trip (a script from `redis_layout`), done before the
//! response leaves, so the client never holds a cookie for a session that is not written.

use crate::log;
use crate::platform::Platform;
use crate::store::{Replaced, SessionStore, StoreError};
use session_gateway_core::config::{Codec, ConfigError, Sessions};
use session_gateway_core::cookie_codec::{CookieCodec, SessionId, VerifiedSessionId};
use session_gateway_core::expiry::Expiry;
use session_gateway_core::hooks::{self, Hooks};
use session_gateway_core::redis_layout;
use session_gateway_core::session::{GatewayRecordDecoder, SessionDecoder, SessionRecordV1};
use session_gateway_core::set_cookie::CookieSettings;

/// The request's current session, as loaded.
pub struct Current {
    pub id: VerifiedSessionId,
    pub record: SessionRecordV1,
    /// The record's bytes as loaded: what an update compares against before it writes.
    pub bytes: Vec<u8>,
}

pub enum LifecycleError {
    /// The origin asked for something invalid (a user id that is not header-safe, data too large).
    Invalid(String),
    Store(StoreError),
    /// A section of the configuration the hook needs is invalid (the message names the variable).
    Misconfigured(String),
}

impl From<StoreError> for LifecycleError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// What carrying out hooks reads of the configuration: the sections a request without
/// hooks never reads.
pub struct Writes<'a> {
    pub sessions: &'a Sessions,
    pub codec: &'a Codec,
    pub expiry: &'a Expiry,
    /// Read after the origin has answered: when it is invalid, what needs no cookie (a
    /// revocation, a logout, an update) is still carried out, so the app's intent holds in
    /// Redis, and what would need one (a login, a rotation) writes nothing.
    pub cookie: Result<&'a CookieSettings, &'a ConfigError>,
}

impl Writes<'_> {
    fn cookie(&self) -> Result<&CookieSettings, LifecycleError> {
        self.cookie
            .map_err(|error| LifecycleError::Misconfigured(error.to_string()))
    }

    fn session_key(&self, id: &SessionId) -> String {
        self.sessions.session_key(id)
    }

    fn user_index_key(&self, user_id: &str) -> String {
        self.sessions.user_index_key(user_id)
    }
}

/// How many times an update merges again into a record that changed under it.
const UPDATE_ATTEMPTS: usize = 8;

/// Carries out `hooks` in the documented order (revoke-user, login or logout, update,
/// rotate); returns the `Set-Cookie` values for the response.
pub async fn apply(
    platform: &impl Platform,
    config: &Writes<'_>,
    store: &impl SessionStore,
    hooks: Hooks,
    mut current: Option<Current>,
    now: u64,
) -> Result<Vec<String>, LifecycleError> {
    let mut set_cookies = Vec::new();
    if let Some(user) = &hooks.revoke_user {
        let revoked = store
            .script(
                redis_layout::REVOKE_USER,
                &[&config.user_index_key(user)],
                &[redis_layout::user_sessions_prefix(&config.sessions.key_prefix, user).as_bytes()],
            )
            .await?;
        log::info(platform, format_args!("revoked {revoked} session(s) of a user"));
        if current.as_ref().is_some_and(|c| &c.record.user_id == user) {
            current = None;
            if hooks.login.is_none() {
                set_cookies.push(config.cookie()?.expire());
            }
        }
    }
    if let Some(mut login) = hooks.login {
        // Login, then update: the update lands in the new session's data. Rotate needs
        // nothing more, since the new session already has a fresh id.
        if let Some(update) = hooks.update {
            hooks::merge(&mut login.data, update);
        }
        set_cookies.push(self::login(platform, config, store, login, current.take(), now).await?);
        return Ok(set_cookies);
    }
    let Some(mut current) = current else {
        if hooks.logout {
            set_cookies.push(config.cookie()?.expire());
        } else if hooks.update.is_some() || hooks.rotate {
            log::info(
                platform,
                format_args!("update or rotate hook without a session: ignored"),
            );
        }
        return Ok(set_cookies);
    };
    let key = config.session_key(&current.id);
    let index = config.user_index_key(&current.record.user_id);
    if hooks.logout {
        logout(store, &key, &index, &current.id).await?;
        set_cookies.push(config.cookie()?.expire());
        if hooks.update.is_some() || hooks.rotate {
            log::info(
                platform,
                format_args!("update or rotate hook after a logout: nothing left to change"),
            );
        }
        return Ok(set_cookies);
    }
    // A session that ended or moved to a new id (a concurrent rotate) while this request
    // ran cannot take the update: say so (503) rather than drop it, since it may have been
    // a downgrade the session must not keep.
    if let Some(update) = hooks.update
        && !self::update(store, &key, &mut current, update, now).await?
    {
        return Err(LifecycleError::Store(StoreError::Unavailable(format!(
            "session #{} ended or changed id before its update was written",
            current.id.fingerprint()
        ))));
    }
    if hooks.rotate {
        let cookie = config.cookie()?;
        let id = new_id(platform, &current.record.user_id)?;
        let new_key = config.session_key(&id);
        let expires = current.record.expires_at.to_string();
        let args: [&[u8]; 3] = [
            current.id.as_str().as_bytes(),
            id.as_str().as_bytes(),
            expires.as_bytes(),
        ];
        if store
            .script(redis_layout::ROTATE, &[&key, &new_key, &index], &args)
            .await?
            == 1
        {
            set_cookies.push(cookie.issue(config.codec.encode(&id), current.record.expires_at.saturating_sub(now)));
        }
    }
    Ok(set_cookies)
}

/// Writes a new session; returns its `Set-Cookie`. A session the request already had is
/// deleted (no session fixation): in the same script when it shares the new session's hash
/// tag (the same user), otherwise in a second one, since Redis Cluster refuses a script
/// whose keys sit in two slots (CROSSSLOT).
async fn login(
    platform: &impl Platform,
    config: &Writes<'_>,
    store: &impl SessionStore,
    login: hooks::Login,
    old: Option<Current>,
    now: u64,
) -> Result<String, LifecycleError> {
    let cookie = config.cookie()?;
    let record = SessionRecordV1::new(login.user_id, login.data, now, config.expiry.absolute_secs);
    let bytes = checked(&record, now)?;
    let ttl = config.expiry.ttl_at(now, record.expires_at).unwrap_or(1);
    let id = new_id(platform, &record.user_id)?;
    let (key, index) = (config.session_key(&id), config.user_index_key(&record.user_id));
    let (expires, now_s, ttl_s) = (record.expires_at.to_string(), now.to_string(), ttl.to_string());
    let mut keys = vec![key.as_str(), index.as_str()];
    let mut args: Vec<&[u8]> = vec![
        &bytes,
        ttl_s.as_bytes(),
        id.as_str().as_bytes(),
        expires.as_bytes(),
        now_s.as_bytes(),
    ];
    let old = old.map(|c| {
        (
            config.session_key(&c.id),
            config.user_index_key(&c.record.user_id),
            c.id,
        )
    });
    let (together, apart) = match old {
        Some(old) if old.2.tag().is_some() && old.2.tag() == id.tag() => (Some(old), None),
        other => (None, other),
    };
    if let Some((old_key, old_index, old_id)) = &together {
        keys.extend([old_key.as_str(), old_index.as_str()]);
        args.push(old_id.as_str().as_bytes());
    }
    if store.script(redis_layout::LOGIN, &keys, &args).await? != 1 {
        return Err(LifecycleError::Invalid(
            "a freshly drawn session id already exists".into(),
        ));
    }
    // After the new session is written: if this fails the client keeps its old session and
    // gets no cookie (503), and the unused new record expires by its TTL.
    if let Some((old_key, old_index, old_id)) = &apart {
        logout(store, old_key, old_index, old_id).await?;
    }
    Ok(cookie.issue(config.codec.encode(&id), record.expires_at - now))
}

async fn logout(store: &impl SessionStore, key: &str, index: &str, id: &SessionId) -> Result<(), StoreError> {
    store
        .script(redis_layout::LOGOUT, &[key, index], &[id.as_str().as_bytes()])
        .await
        .map(drop)
}

/// Merges `update` into the session's data, compare-and-set: when another request changed
/// the record since it was loaded, the update is merged again into what Redis now holds, so
/// concurrent updates to different keys all survive. The absolute end and the TTL stay.
/// Returns false when the session is gone.
async fn update(
    store: &impl SessionStore,
    key: &str,
    current: &mut Current,
    update: hooks::DataUpdate,
    now: u64,
) -> Result<bool, LifecycleError> {
    for _ in 0..UPDATE_ATTEMPTS {
        let mut record = current.record.clone();
        hooks::merge(&mut record.data, update.clone());
        let bytes = checked(&record, now)?;
        match store.replace_if_unchanged(key, &current.bytes, &bytes).await? {
            Replaced::Done => {
                (current.record, current.bytes) = (record, bytes);
                return Ok(true);
            }
            Replaced::Gone => return Ok(false),
            Replaced::Changed(newer) => match GatewayRecordDecoder.decode_record(&newer, now) {
                Ok((_, record)) => (current.record, current.bytes) = (record, newer),
                Err(_) => return Ok(false),
            },
        }
    }
    Err(LifecycleError::Store(StoreError::Unavailable(format!(
        "session #{} changed under {UPDATE_ATTEMPTS} update attempts in a row",
        current.id.fingerprint()
    ))))
}

/// The record's bytes, once the gateway's own decoder accepts them: a session that could
/// never be read back is refused at the door.
fn checked(record: &SessionRecordV1, now: u64) -> Result<Vec<u8>, LifecycleError> {
    let bytes = record.to_json();
    GatewayRecordDecoder
        .decode(&bytes, now)
        .map_err(|e| LifecycleError::Invalid(e.to_string()))?;
    Ok(bytes)
}

/// 128 bits from the host's CSPRNG, tagged with the user's hash tag.
fn new_id(platform: &impl Platform, user_id: &str) -> Result<SessionId, LifecycleError> {
    let mut bytes = [0u8; 16];
    platform
        .fill_random(&mut bytes)
        .map_err(|e| LifecycleError::Store(StoreError::Unavailable(format!("no randomness: {e}"))))?;
    Ok(SessionId::for_user(bytes, user_id))
}
