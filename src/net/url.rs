//! The one URL parser. Every URL or address string the crate reads is split
//! here: master strings and redirect `Location`s (`endpoint`), `zk://`
//! groups, `nats://` servers, the local fetcher's URIs, HTTP request
//! targets, and the `host:port` of pids and agent addresses.
//!
//! It follows RFC 3986's generic syntax, `scheme://userinfo@host:port/path
//! ?query#fragment`, without normalising anything (hosts keep their case,
//! nothing is resolved or re-encoded), and knows no scheme: default ports,
//! which schemes a caller takes and whether credentials are decoded are the
//! caller's. Where the RFC is not enough for Mesos:
//!
//! - A scheme counts only when `://` follows it, so `host:port`, `m1:5050`
//!   and `master@10.0.0.1:5050` are never read as a scheme; how a string
//!   without one is read is the caller's [`Form`].
//! - An authority may hold several hosts separated by commas (a ZooKeeper
//!   ensemble, `zk://user:pass@h1:2181,h2:2181/mesos`): [`Url::hosts`] gives
//!   them as written, [`host_list`] reads them, [`Url::host_port`] takes
//!   exactly one.
//! - An IPv6 host goes in brackets (`[::1]:5050`); without brackets one
//!   is taken only when the text before the last `:` is an IPv6 address
//!   (`::1:5050` is `::1`, port 5050).
//! - The userinfo is what comes before the last `@` of the authority, which
//!   ends at the first `/`, `?` or `#`: a password holding one of those is
//!   written `%2F`, `%3F` or `%23` (NATS and the fetcher decode it; the
//!   ZooKeeper credential is passed on as written, as Mesos does).
//!
//! Percent-decoding is `crate::base::percent_decode`. May import: `base`.

use std::fmt;
use std::net::Ipv6Addr;

use thiserror::Error;

use crate::base::{Escapes, percent_decode};

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum UrlError {
    #[error("no host")]
    NoHost,
    #[error("unclosed '[' in the host")]
    UnclosedBracket,
    #[error("expected ':' after ']'")]
    AfterBracket,
    #[error("bad host {0:?} (an IPv6 address goes in brackets)")]
    BadHost(String),
    #[error("bad port {0:?}")]
    BadPort(String),
    #[error("bad %-escape in the credentials")]
    BadEscape,
    #[error("credentials are not UTF-8")]
    NotUtf8,
}

/// How a string with neither `scheme://` nor `//` in front is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// It starts with the authority: `[user@]host[:port][/path]` (master
    /// strings, NATS servers, pids).
    Authority,
    /// A URI reference: such a string is a path; `//host/...` starts with an
    /// authority (`Location` headers, fetcher URIs).
    Reference,
    /// An HTTP request's origin-form target: a path and a query only, even
    /// when it starts with `//` or holds `://`.
    Origin,
}

/// A URL split into its parts; every part borrows from the parsed text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Url<'a> {
    text: &'a str,
    /// `text[..i]` is the scheme, followed by `://`.
    scheme_end: Option<usize>,
    /// The authority's byte range.
    authority: Option<(usize, usize)>,
    /// Where the path begins (the rest is path, query and fragment).
    tail: usize,
}

fn is_scheme(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

impl<'a> Url<'a> {
    /// Splits `text` (as it is: callers trim). Never fails: a part that
    /// cannot be read is refused when it is asked for ([`Url::host_port`],
    /// [`Url::credentials`]).
    pub fn parse(text: &'a str, form: Form) -> Url<'a> {
        let scheme_end = match form {
            Form::Origin => None,
            _ => text.find("://").filter(|&i| is_scheme(&text[..i])),
        };
        let authority_start = match (scheme_end, form) {
            (Some(i), _) => Some(i + 3),
            (None, Form::Origin) => None,
            (None, _) if text.starts_with("//") => Some(2),
            (None, Form::Authority) => Some(0),
            (None, _) => None,
        };
        let (authority, tail) = match authority_start {
            Some(start) => {
                let end = text[start..]
                    .find(['/', '?', '#'])
                    .map_or(text.len(), |j| start + j);
                (Some((start, end)), end)
            }
            None => (None, 0),
        };
        Url {
            text,
            scheme_end,
            authority,
            tail,
        }
    }

    /// The whole text, as parsed.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// The scheme as written, without `://`.
    pub fn scheme(&self) -> Option<&'a str> {
        self.scheme_end.map(|i| &self.text[..i])
    }

    /// Whether the scheme is `name` (schemes are case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        self.scheme().is_some_and(|s| s.eq_ignore_ascii_case(name))
    }

    /// Everything after `scheme://` (all of it without a scheme): what
    /// Mesos takes as the path of a `file://` URI, `file://rel/x` included.
    pub fn after_scheme(&self) -> &'a str {
        self.scheme_end.map_or(self.text, |i| &self.text[i + 3..])
    }

    /// `[userinfo@]host[:port]` as written (empty after `scheme:///`).
    pub fn authority(&self) -> Option<&'a str> {
        self.authority.map(|(a, b)| &self.text[a..b])
    }

    fn split_authority(&self) -> Option<(Option<&'a str>, &'a str)> {
        let a = self.authority()?;
        Some(match a.rsplit_once('@') {
            Some((user, hosts)) => (Some(user), hosts),
            None => (None, a),
        })
    }

    /// What comes before the last `@` of the authority, undecoded.
    pub fn userinfo(&self) -> Option<&'a str> {
        self.split_authority().and_then(|(u, _)| u)
    }

    /// The authority's host part as written: `host[:port]`, or a
    /// comma-separated list of them (see [`host_list`]).
    pub fn hosts(&self) -> Option<&'a str> {
        self.split_authority().map(|(_, h)| h)
    }

    /// The one `host[:port]` of the authority.
    pub fn host_port(&self) -> Result<HostPort<'a>, UrlError> {
        HostPort::parse(self.hosts().ok_or(UrlError::NoHost)?)
    }

    /// Path, query and fragment as written (empty when there are none).
    pub fn tail(&self) -> &'a str {
        &self.text[self.tail..]
    }

    /// The tail without its fragment: what a request line names.
    pub fn path_and_query(&self) -> &'a str {
        let t = self.tail();
        t.find('#').map_or(t, |i| &t[..i])
    }

    /// The path and query as an HTTP request names them: with a leading
    /// `/` (`http://h` and `http://h?q` name `/` and `/?q`).
    pub fn request_target(&self) -> String {
        let t = self.path_and_query();
        if t.starts_with('/') {
            t.to_string()
        } else {
            format!("/{t}")
        }
    }

    /// The path (may be empty, or relative when there is no authority).
    pub fn path(&self) -> &'a str {
        let t = self.path_and_query();
        t.find('?').map_or(t, |i| &t[..i])
    }

    /// The query, after `?`.
    pub fn query(&self) -> Option<&'a str> {
        let t = self.path_and_query();
        t.find('?').map(|i| &t[i + 1..])
    }

    /// The fragment, after `#`.
    pub fn fragment(&self) -> Option<&'a str> {
        let t = self.tail();
        t.find('#').map(|i| &t[i + 1..])
    }

    /// The userinfo as `user[:password]`, percent-decoded: `Strict` refuses
    /// a bad escape or bytes that are not UTF-8, `Lenient` keeps a bad
    /// escape as it is and replaces bytes that are not UTF-8.
    pub fn credentials(&self, escapes: Escapes) -> Result<Option<Credentials>, UrlError> {
        let Some(info) = self.userinfo() else {
            return Ok(None);
        };
        let decode = |s: &str| -> Result<String, UrlError> {
            let bytes = percent_decode(s, escapes).map_err(|_| UrlError::BadEscape)?;
            match escapes {
                Escapes::Strict => String::from_utf8(bytes).map_err(|_| UrlError::NotUtf8),
                Escapes::Lenient => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            }
        };
        let (user, password) = match info.split_once(':') {
            Some((u, p)) => (decode(u)?, Some(decode(p)?)),
            None => (decode(info)?, None),
        };
        Ok(Some(Credentials { user, password }))
    }

    /// The text with the password of a `user:password@` part replaced by
    /// `xxxxx`, for messages.
    pub fn redacted(&self) -> String {
        let (Some((start, _)), Some(info)) = (self.authority, self.userinfo()) else {
            return self.text.to_string();
        };
        match info.find(':') {
            Some(colon) => format!(
                "{}:xxxxx{}",
                &self.text[..start + colon],
                &self.text[start + info.len()..]
            ),
            None => self.text.to_string(),
        }
    }
}

impl fmt::Debug for Url<'_> {
    /// The text with any password masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Url({:?})", self.redacted())
    }
}

/// A userinfo's `user[:password]`, decoded. The password is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pass = if self.password.is_some() {
            ", <password>"
        } else {
            ""
        };
        write!(f, "Credentials({:?}{pass})", self.user)
    }
}

/// One `host[:port]`; an IPv6 host without its brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostPort<'a> {
    pub host: &'a str,
    /// `None` when the text names none: the caller's default applies.
    pub port: Option<u16>,
}

impl<'a> HostPort<'a> {
    /// Reads `host`, `host:port`, `[v6]` or `[v6]:port`. The port is
    /// decimal digits up to 65535 (0 included: callers that cannot use it
    /// refuse it); a host holds no whitespace.
    pub fn parse(s: &'a str) -> Result<HostPort<'a>, UrlError> {
        let (host, port) = if let Some(v6) = s.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or(UrlError::UnclosedBracket)?;
            match after {
                "" => (h, None),
                p => (h, Some(p.strip_prefix(':').ok_or(UrlError::AfterBracket)?)),
            }
        } else {
            match s.rsplit_once(':') {
                Some((h, _)) if h.contains(':') && h.parse::<Ipv6Addr>().is_err() => {
                    return Err(UrlError::BadHost(h.to_string()));
                }
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            }
        };
        if host.is_empty() {
            return Err(UrlError::NoHost);
        }
        if host.contains(char::is_whitespace) {
            return Err(UrlError::BadHost(host.to_string()));
        }
        let port = match port {
            None => None,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                Some(p.parse().map_err(|_| UrlError::BadPort(p.to_string()))?)
            }
            Some(p) => return Err(UrlError::BadPort(p.to_string())),
        };
        Ok(HostPort { host, port })
    }
}

/// Reads a comma-separated list of `host[:port]` (a multi-host authority);
/// empty entries are refused.
pub fn host_list(s: &str) -> Result<Vec<HostPort<'_>>, UrlError> {
    s.split(',').map(HostPort::parse).collect()
}

/// The first value of `name` in a query (`a=1&b=2`), as written.
pub fn query_value<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(host: &str, port: Option<u16>) -> HostPort<'_> {
        HostPort { host, port }
    }

    #[test]
    fn splits_every_part() {
        let u = Url::parse(
            "https://u:p%40ss@h:8443/a/b.tgz?x=1&y#frag",
            Form::Reference,
        );
        assert_eq!(u.scheme(), Some("https"));
        assert!(u.is("HTTPS") && !u.is("http"));
        assert_eq!(u.authority(), Some("u:p%40ss@h:8443"));
        assert_eq!(u.userinfo(), Some("u:p%40ss"));
        assert_eq!(u.host_port(), Ok(hp("h", Some(8443))));
        assert_eq!(u.path(), "/a/b.tgz");
        assert_eq!(u.query(), Some("x=1&y"));
        assert_eq!(u.fragment(), Some("frag"));
        assert_eq!(u.path_and_query(), "/a/b.tgz?x=1&y");
        assert_eq!(u.tail(), "/a/b.tgz?x=1&y#frag");
        assert_eq!(
            u.credentials(Escapes::Strict),
            Ok(Some(Credentials {
                user: "u".into(),
                password: Some("p@ss".into())
            }))
        );
    }

    #[test]
    fn ipv6_hosts_in_brackets_and_without() {
        let p = |s| Url::parse(s, Form::Authority).host_port();
        assert_eq!(p("[::1]:5050"), Ok(hp("::1", Some(5050))));
        assert_eq!(p("http://[::1]/x"), Ok(hp("::1", None)));
        assert_eq!(p("[fe80::1%eth0]:1"), Ok(hp("fe80::1%eth0", Some(1))));
        assert_eq!(p("::1:5050"), Ok(hp("::1", Some(5050))));
        assert_eq!(p("[::1"), Err(UrlError::UnclosedBracket));
        assert_eq!(p("[::1]5050"), Err(UrlError::AfterBracket));
        assert_eq!(p("[]:1"), Err(UrlError::NoHost));
        assert!(matches!(p("h:1:2"), Err(UrlError::BadHost(_))));
    }

    #[test]
    fn ports_are_digits_up_to_65535_or_absent() {
        let p = |s| HostPort::parse(s);
        assert_eq!(p("h"), Ok(hp("h", None)));
        assert_eq!(p("h:0"), Ok(hp("h", Some(0))));
        assert_eq!(p("h:65535"), Ok(hp("h", Some(65535))));
        for bad in ["h:", "h:65536", "h:x", "h:+1", "h:-1", "h: 1", "[::1]:"] {
            assert!(matches!(p(bad), Err(UrlError::BadPort(_))), "{bad}");
        }
        assert_eq!(p(""), Err(UrlError::NoHost));
        assert_eq!(p(":1"), Err(UrlError::NoHost));
        assert!(matches!(p("a b:1"), Err(UrlError::BadHost(_))));
    }

    #[test]
    fn a_scheme_needs_its_slashes() {
        for s in ["m1:5050", "master@10.0.0.1:5050", "h", "localhost:1/x"] {
            let u = Url::parse(s, Form::Authority);
            assert_eq!(u.scheme(), None, "{s}");
        }
        let u = Url::parse("master@10.0.0.1:5050", Form::Authority);
        assert_eq!(
            (u.userinfo(), u.host_port()),
            (Some("master"), Ok(hp("10.0.0.1", Some(5050))))
        );
        // What precedes :// must be a scheme: a path may hold one.
        let u = Url::parse("/tmp/a://b", Form::Reference);
        assert_eq!(
            (u.scheme(), u.authority(), u.path()),
            (None, None, "/tmp/a://b")
        );
        assert_eq!(Url::parse("1x://h", Form::Reference).scheme(), None);
        assert_eq!(
            Url::parse("s3a://b/x", Form::Reference).scheme(),
            Some("s3a")
        );
        assert_eq!(
            Url::parse("FILE:///x", Form::Reference).after_scheme(),
            "/x"
        );
        assert_eq!(
            Url::parse("file://rel/x", Form::Reference).after_scheme(),
            "rel/x"
        );
    }

    #[test]
    fn forms_read_bare_strings_differently() {
        let a = Url::parse("h:1/x?q", Form::Authority);
        assert_eq!(
            (a.authority(), a.path(), a.query()),
            (Some("h:1"), "/x", Some("q"))
        );
        let r = Url::parse("sub/f.bin", Form::Reference);
        assert_eq!((r.authority(), r.path()), (None, "sub/f.bin"));
        let r = Url::parse("//m2:5051/api", Form::Reference);
        assert_eq!(
            (r.scheme(), r.hosts(), r.path()),
            (None, Some("m2:5051"), "/api")
        );
        let o = Url::parse("//x/y?jsonp=cb#f", Form::Origin);
        assert_eq!(
            (o.authority(), o.path(), o.query()),
            (None, "//x/y", Some("jsonp=cb"))
        );
        let o = Url::parse("/files/http://x", Form::Origin);
        assert_eq!((o.scheme(), o.path()), (None, "/files/http://x"));
    }

    #[test]
    fn trailing_paths_and_empty_parts() {
        let u = Url::parse("http://h", Form::Reference);
        assert_eq!((u.path(), u.query(), u.fragment()), ("", None, None));
        assert_eq!(u.request_target(), "/");
        let u = Url::parse("http://h/", Form::Reference);
        assert_eq!(u.path(), "/");
        let u = Url::parse("http://h?x", Form::Reference);
        assert_eq!((u.hosts(), u.path(), u.query()), (Some("h"), "", Some("x")));
        assert_eq!(u.request_target(), "/?x");
        let u = Url::parse("http:///x", Form::Reference);
        assert_eq!(
            (u.authority(), u.host_port()),
            (Some(""), Err(UrlError::NoHost))
        );
        let u = Url::parse("zk://h:1/a/b/", Form::Reference);
        assert_eq!(u.tail(), "/a/b/");
    }

    #[test]
    fn userinfo_is_before_the_last_at_of_the_authority() {
        let u = Url::parse("zk://user:p@ss@h1:2181/a@b", Form::Reference);
        assert_eq!(u.userinfo(), Some("user:p@ss"));
        assert_eq!(u.hosts(), Some("h1:2181"));
        assert_eq!(u.path(), "/a@b");
        let u = Url::parse("https://alice@h/x", Form::Reference);
        assert_eq!(
            u.credentials(Escapes::Strict),
            Ok(Some(Credentials {
                user: "alice".into(),
                password: None
            }))
        );
        assert_eq!(
            Url::parse("nats://u:%zz@h", Form::Authority).credentials(Escapes::Strict),
            Err(UrlError::BadEscape)
        );
        assert_eq!(
            Url::parse("nats://u:%ff@h", Form::Authority).credentials(Escapes::Strict),
            Err(UrlError::NotUtf8)
        );
        let lenient = Url::parse("http://u:100%@h", Form::Reference)
            .credentials(Escapes::Lenient)
            .expect("lenient");
        assert_eq!(lenient.and_then(|c| c.password), Some("100%".into()));
        assert_eq!(
            Url::parse("http://h/x", Form::Reference).credentials(Escapes::Strict),
            Ok(None)
        );
    }

    #[test]
    fn multi_host_authorities() {
        let u = Url::parse("zk://u:p@h1:2181,[::1]:2182,h3/mesos", Form::Reference);
        assert_eq!(u.hosts(), Some("h1:2181,[::1]:2182,h3"));
        assert_eq!(
            host_list(u.hosts().unwrap_or_default()),
            Ok(vec![
                hp("h1", Some(2181)),
                hp("::1", Some(2182)),
                hp("h3", None)
            ])
        );
        assert!(u.host_port().is_err(), "one host only");
        assert_eq!(host_list("h1,,h2"), Err(UrlError::NoHost));
    }

    #[test]
    fn passwords_are_masked() {
        let r = |s| Url::parse(s, Form::Reference).redacted();
        assert_eq!(
            r("https://alice:s3cret@h:1/p@x"),
            "https://alice:xxxxx@h:1/p@x"
        );
        assert_eq!(r("hdfs://bob:hunter2@nn/x"), "hdfs://bob:xxxxx@nn/x");
        assert_eq!(r("https://alice@h/x"), "https://alice@h/x");
        assert_eq!(r("/tmp/a@b:c"), "/tmp/a@b:c");
        assert_eq!(r("zk://u:p@ss@h:1/m"), "zk://u:xxxxx@h:1/m");
        let u = Url::parse("nats://u:pw@h", Form::Authority);
        assert!(!format!("{u:?}").contains("pw"));
        let c = u.credentials(Escapes::Strict).expect("creds");
        assert!(!format!("{c:?}").contains("pw"));
    }

    #[test]
    fn query_values() {
        assert_eq!(query_value("a=1&jsonp=cb&jsonp=x", "jsonp"), Some("cb"));
        assert_eq!(query_value("jsonp", "jsonp"), None);
        assert_eq!(query_value("", "jsonp"), None);
    }
}
