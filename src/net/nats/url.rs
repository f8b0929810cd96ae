//! `nats://[user:pass@|token@]host[:port]` server addresses: what the
//! parts that `crate::net::url` splits mean to a NATS client.
//!
//! May import: `base`, `net::url`, and `error` of this module.

use std::fmt;

use super::error::NatsError;
use crate::base::Escapes;
use crate::net::url::{Credentials, Form, Url, UrlError};

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

/// Parses `nats://[user:pass@|token@]host[:port]` (the scheme may be left
/// out; the port defaults to 4222) with [`crate::net::url`]; credentials
/// are percent-decoded strictly (they may hold `@`, `:` or `/`). `tls://`
/// is refused: no TLS here.
pub fn parse_url(url: &str) -> Result<ServerUrl, NatsError> {
    let u = Url::parse(url.trim(), Form::Authority);
    match u.scheme() {
        None => {}
        Some(_) if u.is("nats") => {}
        Some(_) if u.is("tls") => {
            return Err(bad("tls:// is not supported (no TLS in this client)"));
        }
        Some(s) => return Err(bad(format!("unknown scheme {s:?}, expected nats://"))),
    }
    if !matches!(u.path(), "" | "/") || u.query().is_some() || u.fragment().is_some() {
        return Err(bad("a NATS URL has no path or query"));
    }
    let err = |e: UrlError| bad(e.to_string());
    let auth = match u.credentials(Escapes::Strict).map_err(err)? {
        None => Auth::None,
        Some(Credentials {
            user,
            password: Some(pass),
        }) => Auth::UserPass { user, pass },
        Some(Credentials { user, .. }) if user.is_empty() => {
            return Err(bad("empty credentials before '@'"));
        }
        Some(Credentials { user, .. }) => Auth::Token(user),
    };
    let hp = u.host_port().map_err(err)?;
    let port = match hp.port {
        None => DEFAULT_PORT,
        Some(0) => return Err(bad("bad port \"0\"")),
        Some(p) => p,
    };
    Ok(ServerUrl {
        host: hp.host.to_string(),
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
        assert_eq!(parse_url("NATS://h").unwrap().to_string(), "h:4222");
        assert_eq!(
            parse_url("u:p@h:7").unwrap().auth,
            Auth::UserPass {
                user: "u".into(),
                pass: "p".into()
            }
        );
        assert_eq!(
            parse_url("nats://:@h").unwrap().auth,
            Auth::UserPass {
                user: String::new(),
                pass: String::new()
            }
        );
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
            "nats://[::1]x",
            "nats://h:1:2",
            "nats://h#x",
            "nats://h?x",
            "nats://h//",
        ] {
            assert!(parse_url(bad).is_err(), "{bad:?} accepted");
        }
        let why = |u: &str| parse_url(u).map(|_| ()).unwrap_err().to_string();
        assert_eq!(why("nats://[::1"), "bad NATS URL: unclosed '[' in the host");
        assert_eq!(why("nats://h:x"), "bad NATS URL: bad port \"x\"");
        assert_eq!(why("nats://h:0"), "bad NATS URL: bad port \"0\"");
        assert_eq!(
            why("nats://@h"),
            "bad NATS URL: empty credentials before '@'"
        );
        assert_eq!(why("nats://"), "bad NATS URL: no host");
        assert_eq!(
            why("tls://h"),
            "bad NATS URL: tls:// is not supported (no TLS in this client)"
        );
        assert_eq!(
            why("http://h:1"),
            "bad NATS URL: unknown scheme \"http\", expected nats://"
        );
    }
}
