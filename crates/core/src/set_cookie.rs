//! The `Set-Cookie` the gateway sends when it starts, rotates or ends a session.

use cookie::Cookie;
pub use cookie::SameSite;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieSettings {
    pub name: String,
    pub secure: bool,
    pub same_site: SameSite,
    pub domain: Option<String>,
    /// `Max-Age` set to the session's absolute lifetime; otherwise a browser-session cookie.
    pub persistent: bool,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CookieSettingsError {
    #[error("a `__Host-` cookie must be Secure")]
    HostNeedsSecure,
    #[error("a `__Host-` cookie must not have a Domain")]
    HostForbidsDomain,
    #[error("a `__Secure-` cookie must be Secure")]
    SecurePrefixNeedsSecure,
    #[error("SameSite=None requires Secure")]
    SameSiteNoneNeedsSecure,
}

impl CookieSettings {
    /// Checks the combination; each error says which rule is broken.
    pub fn validate(&self) -> Result<(), CookieSettingsError> {
        if self.name.starts_with("__Host-") {
            if !self.secure {
                return Err(CookieSettingsError::HostNeedsSecure);
            }
            if self.domain.is_some() {
                return Err(CookieSettingsError::HostForbidsDomain);
            }
        }
        if self.name.starts_with("__Secure-") && !self.secure {
            return Err(CookieSettingsError::SecurePrefixNeedsSecure);
        }
        if self.same_site == SameSite::None && !self.secure {
            return Err(CookieSettingsError::SameSiteNoneNeedsSecure);
        }
        Ok(())
    }

    fn build(&self, value: String) -> cookie::CookieBuilder<'static> {
        let mut builder = Cookie::build((self.name.clone(), value))
            .http_only(true)
            .secure(self.secure)
            .same_site(self.same_site)
            .path("/");
        if let Some(domain) = &self.domain {
            builder = builder.domain(domain.clone());
        }
        builder
    }

    /// The cookie for a session that lives at most `lifetime_secs` more.
    pub fn issue(&self, value: String, lifetime_secs: u64) -> String {
        let mut builder = self.build(value);
        if self.persistent {
            builder = builder.max_age(cookie::time::Duration::seconds(
                lifetime_secs.min(i64::MAX as u64) as i64
            ));
        }
        builder.build().to_string()
    }

    /// The cookie that removes the session cookie from the browser.
    pub fn expire(&self) -> String {
        self.build(String::new())
            .max_age(cookie::time::Duration::ZERO)
            .build()
            .to_string()
    }
}
