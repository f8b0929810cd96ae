//! `nats://[user:pass@|token@]host[:port]` server addresses.

use std::fmt;

use super::error::NatsError;

pub const DEFAULT_PORT: u16 = 4222;

/// How the client proves who it is (sent in CONNECT).
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    UserPass { user: String, pass: String },
    Token(String),
}

// Never print the secrets.
impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::UserPass { user, .. } => write!(f, "UserPass({user:?}, <redacted>)"),
            Auth::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    pub host: String,
    pub port: u16,
    pub auth: Auth,
}

impl fmt::Display for ServerUrl {
    /// `host:port` (IPv6 in brackets), without credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

fn bad(why: impl Into<String>) -> NatsError {
    NatsError::BadUrl(why.into())
}

/// Decodes `%XX` escapes (credentials may hold `@`, `:` or `/`).
fn percent_decode(s: &str) -> Result<String, NatsError> {
    let bytes = crate::base::percent_decode(s, crate::base::Escapes::Strict)
        .map_err(|_| bad("bad %-escape in the credentials"))?;
    String::from_utf8(bytes).map_err(|_| bad("credentials are not UTF-8"))
}

/// Parses `nats://[user:pass@|token@]host[:port]` (the scheme may be left
/// out; the port defaults to 4222). `tls://` is refused: no TLS here.
pub fn parse_url(url: &str) -> Result<ServerUrl, NatsError> {
    let url = url.trim();
    let rest = match url.split_once("://") {
        Some(("nats", r)) => r,
        Some(("tls", _)) => return Err(bad("tls:// is not supported (no TLS in this client)")),
        Some((s, _)) => return Err(bad(format!("unknown scheme {s:?}, expected nats://"))),
        None => url,
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') || rest.contains('?') {
        return Err(bad("a NATS URL has no path or query"));
    }
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let auth = match userinfo {
        None => Auth::None,
        Some(u) => match u.split_once(':') {
            Some((user, pass)) => Auth::UserPass {
                user: percent_decode(user)?,
                pass: percent_decode(pass)?,
            },
            None if u.is_empty() => return Err(bad("empty credentials before '@'")),
            None => Auth::Token(percent_decode(u)?),
        },
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unclosed '[' in the host"))?;
        match after {
            "" => (h, None),
            p => (
                h,
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| bad("expected ':' after ']'"))?,
                ),
            ),
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad(format!("bad port {p:?}")))?,
    };
    Ok(ServerUrl {
        host: host.to_string(),
        port,
        auth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let u = parse_url("nats://127.0.0.1:4333").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.auth),
            ("127.0.0.1", 4333, Auth::None)
        );
        assert_eq!(parse_url("localhost").unwrap().port, DEFAULT_PORT);
        assert_eq!(parse_url("nats://h/").unwrap().to_string(), "h:4222");
        let u = parse_url("nats://al%40ce:p%3Ass@h:1").unwrap();
        assert_eq!(
            u.auth,
            Auth::UserPass {
                user: "al@ce".into(),
                pass: "p:ss".into()
            }
        );
        assert_eq!(u.to_string(), "h:1", "no credentials in the display");
        assert_eq!(
            parse_url("nats://s3cr3t@h:2").unwrap().auth,
            Auth::Token("s3cr3t".into())
        );
        let u = parse_url("nats://[::1]:5").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 5));
        assert_eq!(u.to_string(), "[::1]:5");
        assert!(!format!("{:?}", parse_url("nats://u:pw@h").unwrap()).contains("pw"));
    }

    #[test]
    fn refusals() {
        for bad in [
            "",
            "nats://",
            "nats://h:0",
            "nats://h:99999",
            "nats://h:x",
            "http://h:1",
            "tls://h:1",
            "nats://h:1/path",
            "nats://@h",
            "nats://u:%zz@h",
            "nats://[::1",
        ] {
            assert!(parse_url(bad).is_err(), "{bad:?} accepted");
        }
    }
}
