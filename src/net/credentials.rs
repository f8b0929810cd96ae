//! Framework credentials for HTTP Basic authentication, and the files that
//! hold them, in the formats Mesos reads:
//!
//! - JSON, as the master's `--credentials`:
//!   `{"credentials": [{"principal": "p", "secret": "s"}, ...]}`;
//! - JSON, one credential, as a scheduler's `--credential`:
//!   `{"principal": "p", "secret": "s"}`;
//! - text, one `principal secret` pair per line (blank lines and `#`
//!   comments ignored).
//!
//! A secret never appears in `Debug` output or in an error message.

use std::fmt;
use std::path::Path;

use base64::Engine;
use thiserror::Error;

#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub principal: String,
    secret: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("principal", &self.principal)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Error, PartialEq)]
pub enum CredentialError {
    #[error("cannot read credentials file {0}: {1}")]
    Read(String, String),
    #[error("credentials {0}: {1}")]
    Format(String, String),
    #[error("{0}: a principal must be a non-empty string without ':'")]
    BadPrincipal(String),
}

impl Credential {
    pub fn new(principal: &str, secret: &str) -> Result<Credential, CredentialError> {
        // Basic authentication splits user and password at the first ':'.
        if principal.is_empty() || principal.contains(':') {
            return Err(CredentialError::BadPrincipal("credential".into()));
        }
        Ok(Credential {
            principal: principal.to_string(),
            secret: secret.to_string(),
        })
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The `Authorization` header value.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.principal, self.secret);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// Parses a credentials file's text (any of the formats above). `what`
/// names the source in errors.
pub fn parse(text: &str, what: &str) -> Result<Vec<Credential>, CredentialError> {
    let bad = |why: &str| CredentialError::Format(what.to_string(), why.to_string());
    let trimmed = text.trim_start();
    let list = if trimmed.starts_with('{') {
        // Never echo serde's message: it may quote the secret.
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|_| bad("is not valid JSON"))?;
        let items = match v.get("credentials") {
            Some(serde_json::Value::Array(items)) => items.clone(),
            Some(_) => return Err(bad("\"credentials\" must be an array")),
            None => vec![v],
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let principal = item.get("principal").and_then(|p| p.as_str());
            let secret = item.get("secret").and_then(|s| s.as_str());
            match (principal, secret) {
                (Some(p), Some(s)) => out.push(Credential::new(p, s).map_err(|_| {
                    CredentialError::BadPrincipal(format!("{what}, entry {}", i + 1))
                })?),
                _ => {
                    return Err(bad(&format!(
                        "entry {} needs string \"principal\" and \"secret\"",
                        i + 1
                    )));
                }
            }
        }
        out
    } else {
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(p), Some(s), None) => out.push(Credential::new(p, s).map_err(|_| {
                    CredentialError::BadPrincipal(format!("{what}, line {}", n + 1))
                })?),
                _ => {
                    return Err(bad(&format!(
                        "line {}: expected \"principal secret\"",
                        n + 1
                    )));
                }
            }
        }
        out
    };
    if list.is_empty() {
        return Err(bad("holds no credential"));
    }
    Ok(list)
}

/// Reads and parses a credentials file.
pub fn read_file(path: &Path) -> Result<Vec<Credential>, CredentialError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| CredentialError::Read(name.clone(), e.to_string()))?;
    parse(&text, &format!("file {name}"))
}

/// Compares in time independent of where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// Checks an `Authorization` header against the known credentials:
/// the authenticated principal, or `None`.
pub fn authenticate(header: Option<&str>, known: &[Credential]) -> Option<String> {
    let h = header?.trim();
    let (scheme, value) = h.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (principal, secret) = text.split_once(':')?;
    let mut found = None;
    for c in known {
        // Every entry is compared, so timing does not tell which matched.
        let ok = same(c.principal.as_bytes(), principal.as_bytes())
            & same(c.secret.as_bytes(), secret.as_bytes());
        if ok && found.is_none() {
            found = Some(c.principal.clone());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_formats() {
        let a = parse(
            r#"{"credentials":[{"principal":"a","secret":"x"},{"principal":"b","secret":"y"}]}"#,
            "t",
        )
        .unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!((a[1].principal.as_str(), a[1].secret()), ("b", "y"));
        let b = parse(r#"{"principal":"p","secret":"s"}"#, "t").unwrap();
        assert_eq!(b[0].principal, "p");
        let c = parse("# comment\n\np1 s1\n  p2   s2  \n", "t").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].secret(), "s2");
    }

    #[test]
    fn errors_never_quote_the_secret() {
        let cases = [
            r#"{"credentials":[{"principal":"a","secret":"hunter2""#,
            r#"{"credentials":{"principal":"a","secret":"hunter2"}}"#,
            r#"{"credentials":[{"principal":"a","secret":7, "x":"hunter2"}]}"#,
            "alice hunter2 extra",
            "alice:x hunter2",
            "",
        ];
        for text in cases {
            let e = parse(text, "file f").unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{e}");
            assert!(e.contains("file f") || e.contains("credential"), "{e}");
        }
        let c = Credential::new("alice", "hunter2").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn authenticates_basic_headers() {
        let known = parse("alice s3cret\nbob other", "t").unwrap();
        let h = known[0].basic_header();
        assert_eq!(h, "Basic YWxpY2U6czNjcmV0");
        assert_eq!(authenticate(Some(&h), &known), Some("alice".into()));
        let wrong = Credential::new("alice", "s3cre").unwrap().basic_header();
        assert_eq!(authenticate(Some(&wrong), &known), None);
        let swapped = Credential::new("bob", "s3cret").unwrap().basic_header();
        assert_eq!(authenticate(Some(&swapped), &known), None);
        assert_eq!(authenticate(None, &known), None);
        assert_eq!(authenticate(Some("Bearer abc"), &known), None);
        assert_eq!(authenticate(Some("Basic !!!"), &known), None);
        assert_eq!(authenticate(Some("Basic"), &known), None);
        // A secret may contain ':'; the principal may not.
        let colon = vec![Credential::new("carol", "a:b").unwrap()];
        assert_eq!(
            authenticate(Some(&colon[0].basic_header()), &colon),
            Some("carol".into())
        );
        assert!(Credential::new("x:y", "s").is_err());
    }
}
