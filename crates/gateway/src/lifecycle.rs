//! Carrying out the origin's session hooks: login, logout, update, rotate, revoke-user.
//! Each step is one Redis round trip (a script from `redis_layout`), done before the
//! response leaves, so the client never holds a cookie for a session that is not written.

use crate::store::{SessionStore, StoreError};
use session_gateway_core::Config;
use session_gateway_core::cookie_codec::{CookieCodec, SessionId, VerifiedSessionId};
use session_gateway_core::hooks::{self, Hooks};
use session_gateway_core::redis_layout;
use session_gateway_core::session::{GatewayRecordDecoder, SessionDecoder, SessionRecordV1};

/// The request's current session, as loaded.
pub struct Current {
    pub id: VerifiedSessionId,
    pub record: SessionRecordV1,
}

pub enum LifecycleError {
    /// The origin asked for something invalid (a user id that is not header-safe, data too large).
    Invalid(String),
    Store(StoreError),
}

impl From<StoreError> for LifecycleError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Carries out `hooks`; returns the `Set-Cookie` values for the response.
pub async fn apply(
    config: &Config,
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
                &[redis_layout::user_sessions_prefix(&config.key_prefix, user).as_bytes()],
            )
            .await?;
        crate::log::info(format_args!("revoked {revoked} session(s) of a user"));
        if current.as_ref().is_some_and(|c| &c.record.user_id == user) {
            current = None;
            if hooks.login.is_none() {
                set_cookies.push(config.cookie.expire());
            }
        }
    }
    if let Some(login) = hooks.login {
        let record = SessionRecordV1::new(login.user_id, login.data, now, config.expiry.absolute_secs);
        let bytes = checked(&record, now)?;
        let ttl = config.expiry.ttl_at(now, record.expires_at).unwrap_or(1);
        let id = new_id(&record.user_id)?;
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
        // A session the request already had is deleted: no session fixation.
        let old = current.take().map(|c| {
            (
                config.session_key(&c.id),
                config.user_index_key(&c.record.user_id),
                c.id,
            )
        });
        if let Some((old_key, old_index, old_id)) = &old {
            keys.extend([old_key.as_str(), old_index.as_str()]);
            args.push(old_id.as_str().as_bytes());
        }
        if store.script(redis_layout::LOGIN, &keys, &args).await? != 1 {
            return Err(LifecycleError::Invalid(
                "a freshly drawn session id already exists".into(),
            ));
        }
        set_cookies.push(config.cookie.issue(config.codec.encode(&id), record.expires_at - now));
        return Ok(set_cookies);
    }
    let Some(mut current) = current else {
        if hooks.logout {
            set_cookies.push(config.cookie.expire());
        } else if hooks.update.is_some() || hooks.rotate {
            crate::log::info(format_args!("update or rotate hook without a session: ignored"));
        }
        return Ok(set_cookies);
    };
    let key = config.session_key(&current.id);
    let index = config.user_index_key(&current.record.user_id);
    if hooks.logout {
        store
            .script(redis_layout::LOGOUT, &[&key, &index], &[current.id.as_str().as_bytes()])
            .await?;
        set_cookies.push(config.cookie.expire());
        return Ok(set_cookies);
    }
    if let Some(update) = hooks.update {
        // Merged into the record as loaded: the absolute end stays, the TTL is kept.
        hooks::merge(&mut current.record.data, update);
        store.replace(&key, &checked(&current.record, now)?).await?;
    }
    if hooks.rotate {
        let id = new_id(&current.record.user_id)?;
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
            set_cookies.push(
                config
                    .cookie
                    .issue(config.codec.encode(&id), current.record.expires_at.saturating_sub(now)),
            );
        }
    }
    Ok(set_cookies)
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

/// 128 bits from the host's CSPRNG (wasi:random), tagged with the user's hash tag.
fn new_id(user_id: &str) -> Result<SessionId, LifecycleError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| LifecycleError::Store(StoreError::Unavailable(format!("no randomness: {e}"))))?;
    Ok(SessionId::for_user(bytes, user_id))
}
