//! The gateway's variables, read section by section as a request's path needs them.
//!
//! Under Spin each variable lookup served by the environment provider (`SPIN_VARIABLE_*`,
//! or a default) pays a `block_in_place`, and a wasi:http 0.2 instance lives for one
//! request. So a request reads only the sections its path uses: a request without a cookie
//! reads which cookie to look for and the routing; a valid session adds the keys, the
//! store and the lifetimes; every forward reads the forwarding section; a hook adds the
//! cookie settings. Sections read well are kept for the instance's life (Spin main reuses
//! a wasi:http 0.3 instance for up to 128 requests); an invalid one is read again on the
//! next request that needs it, so a fixed value takes effect without a restart.

use crate::platform::Platform;
use session_gateway_core::config::{
    Codec, ConfigError, Forwarding, Lifetimes, Routing, SessionCookie, Sessions, VARIABLES, Variables, setting,
};
use session_gateway_core::set_cookie::CookieSettings;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// The sections this instance has read well.
#[derive(Default)]
struct Kept {
    session_cookie: Option<Rc<SessionCookie>>,
    routing: Option<Rc<Routing>>,
    codec: Option<Rc<Codec>>,
    sessions: Option<Rc<Sessions>>,
    lifetimes: Option<Rc<Lifetimes>>,
    forwarding: Option<Rc<Forwarding>>,
    cookie: Option<Rc<CookieSettings>>,
}

thread_local! {
    static KEPT: RefCell<Kept> = RefCell::new(Kept::default());
}

/// One request's view of the configuration.
pub struct Settings<'p, P: Platform> {
    platform: &'p P,
    /// The variables this request has looked up, so none is looked up twice.
    read: RefCell<HashMap<&'static str, Option<String>>>,
}

impl<'p, P: Platform> Settings<'p, P> {
    pub fn new(platform: &'p P) -> Self {
        Self {
            platform,
            read: RefCell::new(HashMap::new()),
        }
    }

    pub async fn session_cookie(&self) -> Result<Rc<SessionCookie>, ConfigError> {
        self.section(|k| &mut k.session_cookie, SessionCookie::parse).await
    }

    pub async fn routing(&self) -> Result<Rc<Routing>, ConfigError> {
        self.section(|k| &mut k.routing, Routing::parse).await
    }

    pub async fn codec(&self) -> Result<Rc<Codec>, ConfigError> {
        let cookie = self.session_cookie().await?;
        self.section(|k| &mut k.codec, |get| Codec::parse(get, &cookie)).await
    }

    pub async fn sessions(&self) -> Result<Rc<Sessions>, ConfigError> {
        let format = self.session_cookie().await?.format;
        self.section(
            |k| &mut k.sessions,
            |get| Sessions::parse(get, format, P::BOUNDS_HOST_CALLS),
        )
        .await
    }

    pub async fn lifetimes(&self) -> Result<Rc<Lifetimes>, ConfigError> {
        let format = self.session_cookie().await?.format;
        self.section(|k| &mut k.lifetimes, |get| Lifetimes::parse(get, format))
            .await
    }

    pub async fn forwarding(&self) -> Result<Rc<Forwarding>, ConfigError> {
        self.section(|k| &mut k.forwarding, Forwarding::parse).await
    }

    pub async fn cookie(&self) -> Result<Rc<CookieSettings>, ConfigError> {
        let cookie = self.session_cookie().await?;
        self.section(|k| &mut k.cookie, |get| CookieSettings::parse(get, &cookie))
            .await
    }

    /// The section `slot` holds, or parsed now. A section's parser asks for variables by
    /// name, synchronously: it runs on what has been looked up, and when it asked for some
    /// that have not, those are looked up and the parser runs again. So only the variables
    /// it consults are looked up, one after the other (measured in the host, 20 sequential
    /// reads cost ~41 µs against ~65 µs issued concurrently), and what repeats is parsing,
    /// a few microseconds.
    async fn section<T>(
        &self,
        slot: fn(&mut Kept) -> &mut Option<Rc<T>>,
        parse: impl Fn(Variables<'_>) -> Result<T, ConfigError>,
    ) -> Result<Rc<T>, ConfigError> {
        if let Some(kept) = KEPT.with_borrow_mut(|kept| slot(kept).clone()) {
            return Ok(kept);
        }
        loop {
            let missing = RefCell::new(Vec::new());
            let undeclared = RefCell::new(None);
            let parsed = {
                let read = self.read.borrow();
                parse(&|name: &str| match read.get(name) {
                    Some(value) => value.clone(),
                    None => {
                        match VARIABLES.iter().find(|declared| **declared == name) {
                            Some(name) if !missing.borrow().contains(name) => missing.borrow_mut().push(*name),
                            Some(_) => {}
                            None => *undeclared.borrow_mut() = Some(name.to_owned()),
                        }
                        None
                    }
                })
            };
            if let Some(name) = undeclared.into_inner() {
                // A parser's mistake, not the user's: said as plainly, never a trap.
                return Err(ConfigError {
                    variable: "(none)",
                    problem: format!("the gateway asked for `{name}`, which it does not declare"),
                });
            }
            let missing = missing.into_inner();
            if missing.is_empty() {
                let parsed = Rc::new(parsed?);
                // The first request to parse a section keeps it; a concurrent one uses that.
                let kept = KEPT.with_borrow_mut(|kept| slot(kept).get_or_insert(parsed).clone());
                return Ok(kept);
            }
            for name in missing {
                let value = self.platform.variable(name).await.map_err(|error| ConfigError {
                    variable: name,
                    problem: format!("could not be read: {error}"),
                })?;
                self.read.borrow_mut().insert(name, setting(value));
            }
        }
    }
}
