//! Sans-IO encoding of what the client sends: CONNECT, PUB, SUB, UNSUB,
//! PING and PONG, with subjects and queue groups checked first (a space or
//! CRLF in one would put the stream out of step).

use serde_json::{Map, Value, json};

use super::error::NatsError;
use super::url::Auth;

pub const PING: &[u8] = b"PING\r\n";
pub const PONG: &[u8] = b"PONG\r\n";

/// Non-empty, no whitespace, no control characters.
pub fn check_token(what: &'static str, s: &str) -> Result<(), NatsError> {
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(NatsError::InvalidSubject {
            what,
            value: s.chars().take(64).collect(),
        });
    }
    Ok(())
}

/// `CONNECT {...}`: not verbose (no +OK after each operation), not
/// pedantic, echo on (a client receives what it publishes to its own
/// subscriptions, as tasks sharing a connection expect).
pub fn connect(auth: &Auth, name: Option<&str>) -> Vec<u8> {
    let mut o = Map::new();
    o.insert("verbose".into(), json!(false));
    o.insert("pedantic".into(), json!(false));
    o.insert("tls_required".into(), json!(false));
    o.insert("lang".into(), json!("lua"));
    o.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    o.insert("protocol".into(), json!(1));
    o.insert("echo".into(), json!(true));
    if let Some(n) = name {
        o.insert("name".into(), json!(n));
    }
    match auth {
        Auth::None => {}
        Auth::UserPass { user, pass } => {
            o.insert("user".into(), json!(user));
            o.insert("pass".into(), json!(pass));
        }
        Auth::Token(t) => {
            o.insert("auth_token".into(), json!(t));
        }
    }
    format!("CONNECT {}\r\n", Value::Object(o)).into_bytes()
}

/// `PUB subject [reply] size\r\npayload\r\n`.
pub fn publish(subject: &str, reply: Option<&str>, payload: &[u8]) -> Result<Vec<u8>, NatsError> {
    check_token("subject", subject)?;
    let head = match reply {
        Some(r) => {
            check_token("reply subject", r)?;
            format!("PUB {subject} {r} {}\r\n", payload.len())
        }
        None => format!("PUB {subject} {}\r\n", payload.len()),
    };
    let mut out = Vec::with_capacity(head.len() + payload.len() + 2);
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
    Ok(out)
}

/// `SUB subject [queue] sid`.
pub fn subscribe(subject: &str, queue: Option<&str>, sid: u64) -> Result<Vec<u8>, NatsError> {
    check_token("subject", subject)?;
    Ok(match queue {
        Some(q) => {
            check_token("queue group", q)?;
            format!("SUB {subject} {q} {sid}\r\n")
        }
        None => format!("SUB {subject} {sid}\r\n"),
    }
    .into_bytes())
}

/// `UNSUB sid [max]`.
pub fn unsubscribe(sid: u64, max: Option<u64>) -> Vec<u8> {
    match max {
        Some(m) => format!("UNSUB {sid} {m}\r\n"),
        None => format!("UNSUB {sid}\r\n"),
    }
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect_json(auth: &Auth, name: Option<&str>) -> Value {
        let b = connect(auth, name);
        let s = std::str::from_utf8(&b).unwrap();
        let body = s
            .strip_prefix("CONNECT ")
            .and_then(|s| s.strip_suffix("\r\n"))
            .unwrap();
        serde_json::from_str(body).unwrap()
    }

    #[test]
    fn connect_fields() {
        let v = connect_json(&Auth::None, Some("task 7"));
        assert_eq!(v["verbose"], false);
        assert_eq!(v["pedantic"], false);
        assert_eq!(v["echo"], true);
        assert_eq!(v["name"], "task 7");
        assert_eq!(v["lang"], "lua");
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
        assert!(v.get("user").is_none() && v.get("auth_token").is_none());
        let v = connect_json(
            &Auth::UserPass {
                user: "u\"1".into(),
                pass: "p".into(),
            },
            None,
        );
        assert_eq!(
            (v["user"].as_str(), v["pass"].as_str()),
            (Some("u\"1"), Some("p"))
        );
        assert!(v.get("name").is_none());
        let v = connect_json(&Auth::Token("t".into()), None);
        assert_eq!(v["auth_token"], "t");
    }

    #[test]
    fn operations() {
        assert_eq!(publish("a.b", None, b"hi").unwrap(), b"PUB a.b 2\r\nhi\r\n");
        assert_eq!(
            publish("a", Some("r.1"), b"\r\n").unwrap(),
            b"PUB a r.1 2\r\n\r\n\r\n"
        );
        assert_eq!(publish("a", None, b"").unwrap(), b"PUB a 0\r\n\r\n");
        assert_eq!(subscribe("a.*", None, 3).unwrap(), b"SUB a.* 3\r\n");
        assert_eq!(subscribe("a.>", Some("q"), 4).unwrap(), b"SUB a.> q 4\r\n");
        assert_eq!(unsubscribe(4, None), b"UNSUB 4\r\n");
        assert_eq!(unsubscribe(4, Some(2)), b"UNSUB 4 2\r\n");
    }

    #[test]
    fn bad_subjects_are_refused() {
        for bad in ["", "a b", "a\tb", "a\r\nPUB x 1", "a\u{0}", "a\u{a0}b"] {
            assert!(publish(bad, None, b"").is_err(), "{bad:?}");
            assert!(subscribe(bad, None, 1).is_err(), "{bad:?}");
            assert!(subscribe("ok", Some(bad), 1).is_err(), "queue {bad:?}");
            assert!(publish("ok", Some(bad), b"").is_err(), "reply {bad:?}");
        }
    }
}
