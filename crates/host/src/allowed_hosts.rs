//! `allowed_outbound_hosts`, parsed and matched the way Spin does: `scheme://host[:port]`,
//! with `*` for any scheme, host or port, `*.domain` for subdomains, `a..b` port ranges,
//! and each scheme's well-known port when the port is left out. No path is allowed.

use anyhow::{Context, Result, bail};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Any,
    Subdomain(String),
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Port {
    Any,
    Range(u16, u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    scheme: Option<String>,
    host: Host,
    port: Port,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts(Vec<Allowed>);

fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl AllowedHosts {
    pub fn parse(entries: &[String]) -> Result<Self> {
        entries
            .iter()
            .map(|e| parse_entry(e).with_context(|| format!("allowed_outbound_hosts entry `{e}`")))
            .collect::<Result<_>>()
            .map(Self)
    }

    /// Whether a connection to `scheme://host[:port]` is allowed.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let Some(port) = port.or_else(|| well_known_port(scheme)) else {
            return false;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.0.iter().any(|a| {
            a.scheme.as_deref().is_none_or(|s| s == scheme)
                && match &a.host {
                    Host::Any => true,
                    Host::Subdomain(suffix) => host.ends_with(suffix.as_str()),
                    Host::Exact(h) => h.trim_start_matches('[').trim_end_matches(']') == host,
                }
                && match a.port {
                    Port::Any => true,
                    Port::Range(lo, hi) => (lo..=hi).contains(&port),
                }
        })
    }

    /// Whether the URL `address` (for example `redis://user:pw@host:6379/0`) is allowed.
    pub fn allows_url(&self, address: &str) -> bool {
        let Ok(uri) = address.parse::<http::Uri>() else {
            return false;
        };
        match (uri.scheme_str(), uri.host()) {
            (Some(scheme), Some(host)) => self.allows(scheme, host, uri.port_u16()),
            _ => false,
        }
    }
}

fn parse_entry(entry: &str) -> Result<Allowed> {
    let entry = entry.trim();
    let Some((scheme, rest)) = entry.split_once("://") else {
        bail!("does not contain a scheme (e.g. 'http://' or '*://')");
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p))
            if !h.ends_with(']')
                || p.chars()
                    .all(|c| c.is_ascii_digit() || c == '*' || c == '.' || c == '/') =>
        {
            (h, p)
        }
        _ => (rest, ""),
    };
    let port = match port.split_once('/') {
        Some((_, path)) if !path.is_empty() => bail!("has a path but is not allowed to"),
        Some((port, _)) => port,
        None => port,
    };
    let host = host.trim_end_matches('/');
    if host.contains('/') {
        bail!("hosts must not contain paths");
    }
    let scheme = match scheme {
        "*" => None,
        s if s.chars().all(|c| c.is_ascii_alphabetic()) => Some(s.to_owned()),
        s => bail!("scheme {s:?} contains non alphabetic character"),
    };
    let host = match host {
        "*" => Host::Any,
        h if h.starts_with("*.") => Host::Subdomain(h[1..].to_owned()),
        h if h.contains('*') => bail!("wildcards are allowed only as subdomain prefixes"),
        h => Host::Exact(h.to_owned()),
    };
    let port = match port {
        "" => {
            let known = scheme
                .as_deref()
                .and_then(well_known_port)
                .context("no port given and the scheme has no well-known port")?;
            Port::Range(known, known)
        }
        "*" => Port::Any,
        p => match p.split_once("..") {
            // Spin's ranges are half-open: `a..b` allows a up to b - 1.
            Some((lo, hi)) => Port::Range(
                lo.parse()?,
                hi.parse::<u16>()?.checked_sub(1).context("empty port range")?,
            ),
            None => {
                let p: u16 = p.parse().with_context(|| format!("port {p:?} is not a number"))?;
                Port::Range(p, p)
            }
        },
    };
    Ok(Allowed { scheme, host, port })
}
