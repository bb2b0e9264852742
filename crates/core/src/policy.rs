//! Who may pass: public path prefixes, the login redirect, and the decision taken for
//! each request from what the session lookup found.

use crate::session::Session;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Path prefixes that pass without a session.
///
/// A prefix matches whole segments: `/public` matches `/public` and `/public/x`, not
/// `/publicity` (a prefix ending in `/` matches anything below it). A path with dot
/// segments, any `%` or `;`, backslashes or empty segments is never public: origins
/// normalise those differently, and `/public/../admin` must not pass as public.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicPaths(Vec<String>);

impl PublicPaths {
    /// Comma-separated prefixes, each starting with `/`.
    pub fn parse(list: &str) -> Result<Self, String> {
        let prefixes = list.split(',').map(str::trim).filter(|p| !p.is_empty());
        let mut out = Vec::new();
        for p in prefixes {
            if !p.starts_with('/') || !is_clean_path(p) {
                return Err(format!(
                    "prefix `{p}` must start with `/` and hold no dot segments, `%`, `;`, `\\` or `//`"
                ));
            }
            out.push(p.to_owned());
        }
        Ok(Self(out))
    }

    pub fn matches(&self, path: &str) -> bool {
        is_clean_path(path)
            && self.0.iter().any(|prefix| match path.strip_prefix(prefix.as_str()) {
                Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
                None => false,
            })
    }
}

/// No `%` at all: origins that decode twice turn `%252e` into `.`; no `;`: Tomcat and Jetty
/// drop `;params` from segments, so `/static/..;/admin` reaches `/admin`; and nothing but
/// ASCII: origins that normalise Unicode read a fullwidth `．．` as `..`.
fn is_clean_path(path: &str) -> bool {
    let suspicious = !path.is_ascii() || path.contains(['%', ';', '\\']) || path.contains("//");
    !suspicious && path.split('/').all(|seg| seg != "." && seg != "..")
}

/// Where anonymous browser navigations are sent, with their own path and query in a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRedirect {
    url: String,
    param: String,
}

/// Everything but unreserved characters is encoded, so the value cannot end the parameter.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

impl LoginRedirect {
    /// `url` is a same-site path (`/login`) or an absolute http(s) URL (a central login site).
    pub fn new(url: &str, param: String) -> Result<Self, String> {
        let is_path = url.starts_with('/') && !url.starts_with("//") && !url.contains('\\');
        let is_absolute = (url.starts_with("https://") || url.starts_with("http://"))
            && url
                .parse::<http::Uri>()
                .is_ok_and(|u| u.host().is_some_and(|h| !h.is_empty()));
        if !(is_path || is_absolute) || url.contains('#') || url.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err("must be a path starting with `/` or an absolute http(s) URL, without a fragment".into());
        }
        Ok(Self {
            url: url.to_owned(),
            param,
        })
    }

    /// The `Location` for a request to `path_and_query`.
    ///
    /// The `next` value is always a same-site path: anything that a login page could
    /// mistake for another site (`//evil`, `/\evil`) becomes `/`.
    pub fn location(&self, path_and_query: &str) -> String {
        let next = if path_and_query.starts_with('/')
            && !path_and_query.starts_with("//")
            && !path_and_query.starts_with("/\\")
            && !path_and_query.bytes().any(|b| b.is_ascii_control())
        {
            path_and_query
        } else {
            "/"
        };
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!(
            "{}{sep}{}={}",
            self.url,
            self.param,
            utf8_percent_encode(next, QUERY_VALUE)
        )
    }
}

/// What looking up the request's session found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionLookup {
    Found(Session),
    /// No cookie, a cookie that does not verify, no record, or a dead or unreadable record.
    Missing,
    /// The store could not be asked: the request cannot be authenticated now.
    StoreUnavailable,
}

/// How a forwarded request reaches the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Authenticated(Session),
    Anonymous,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Forward(Access),
    Unauthorized,
    RedirectToLogin(String),
    Unavailable,
}

/// The request facts the decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub path: &'a str,
    pub path_and_query: &'a str,
    /// A GET or HEAD whose `Accept` names `text/html`: a browser navigation.
    pub is_navigation: bool,
}

pub fn decide(
    lookup: SessionLookup,
    request: RequestFacts<'_>,
    public: &PublicPaths,
    login: Option<&LoginRedirect>,
) -> Decision {
    match lookup {
        SessionLookup::Found(session) => Decision::Forward(Access::Authenticated(session)),
        _ if public.matches(request.path) => Decision::Forward(Access::Anonymous),
        // Fail closed, and do not send a possibly logged-in user to the login page.
        SessionLookup::StoreUnavailable => Decision::Unavailable,
        SessionLookup::Missing => match login {
            Some(login) if request.is_navigation => Decision::RedirectToLogin(login.location(request.path_and_query)),
            _ => Decision::Unauthorized,
        },
    }
}

/// Whether an `Accept` header value asks for HTML.
pub fn accepts_html(accept: &str) -> bool {
    accept.split(',').any(|item| {
        item.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/html"))
    })
}
