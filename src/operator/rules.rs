//! The operator client's rules, sans-IO: what an HTTP answer to an operator
//! call means (a body, accepted, a redirect, try another master, a
//! failure), how many redirects are followed, and the reconnection backoff
//! of the event stream. Random draws come in as arguments.
//!
//! May import: `net::endpoint` (redirect locations), `net::http` (status
//! reasons), nothing else of the crate.

use std::time::Duration;

use crate::net::endpoint::{Endpoint, resolve_location};
use crate::net::http::reason;

/// What one HTTP answer to an operator call means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A Response message in the body.
    Body,
    /// Done, nothing to read (202, or 200 without a body).
    Accepted,
    /// Go to this endpoint and path (a 307 from a master that does not lead).
    Redirect(Endpoint, String),
    /// This master cannot answer now (503: not leading yet, recovering):
    /// it did not act on the call, so another master may be asked.
    TryAnother(String),
    /// A failure to report: the status, its reason phrase and Mesos's message.
    Failed { status: u16, message: String },
}

/// Reads an answer: `status`, its `Location` header, whether a body came,
/// the body as text (Mesos's message for errors), and the endpoint asked.
pub fn classify(
    from: &Endpoint,
    status: u16,
    location: Option<&str>,
    has_body: bool,
    text: &str,
) -> Answer {
    match status {
        200 if has_body => Answer::Body,
        200 | 202 | 204 => Answer::Accepted,
        301 | 302 | 303 | 307 | 308 => match location.and_then(|l| resolve_location(from, l)) {
            Some((e, p)) => Answer::Redirect(e, p),
            None => Answer::Failed {
                status,
                message: format!(
                    "redirect without a usable Location ({})",
                    location.unwrap_or("none")
                ),
            },
        },
        503 => Answer::TryAnother(describe(status, text)),
        _ => Answer::Failed {
            status,
            message: text.trim().to_string(),
        },
    }
}

/// `HTTP 400 Bad Request: <Mesos's message>`.
pub fn describe(status: u16, message: &str) -> String {
    let message = message.trim();
    if message.is_empty() {
        format!("HTTP {status} {}", reason(status))
    } else {
        format!("HTTP {status} {}: {message}", reason(status))
    }
}

/// Whether a stream answered with this status is worth subscribing again
/// (false: credentials refused, the call itself is wrong).
pub fn retry_stream(status: u16) -> bool {
    !matches!(status, 400 | 401 | 403 | 404 | 405 | 415 | 501)
}

/// Counts redirects followed for one call.
#[derive(Debug, Clone)]
pub struct Redirects {
    left: usize,
}

impl Redirects {
    pub fn new(max: usize) -> Self {
        Redirects { left: max }
    }

    /// Whether one more may be followed (counting it).
    pub fn take(&mut self) -> bool {
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        true
    }
}

/// Reconnection delays: doubling from `min` to `max`, each drawn in the
/// upper half of the current cap, reset after a subscription succeeds.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    cap: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        Backoff { min, max, cap: min }
    }

    /// The next delay; `draw` is a random number in [0, 1).
    pub fn next(&mut self, draw: f64) -> Duration {
        let cap = self.cap;
        self.cap = (self.cap * 2).min(self.max);
        cap.mul_f64(0.5 + 0.5 * draw.clamp(0.0, 1.0))
    }

    pub fn reset(&mut self) {
        self.cap = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep() -> Endpoint {
        Endpoint::tcp("m1", 5050, false)
    }

    #[test]
    fn answers() {
        assert_eq!(classify(&ep(), 200, None, true, "x"), Answer::Body);
        assert_eq!(classify(&ep(), 200, None, false, ""), Answer::Accepted);
        assert_eq!(classify(&ep(), 202, None, false, ""), Answer::Accepted);
        assert_eq!(
            classify(&ep(), 307, Some("//m2:5051/master/api/v1"), false, ""),
            Answer::Redirect(Endpoint::tcp("m2", 5051, false), "/master/api/v1".into())
        );
        assert!(matches!(
            classify(&ep(), 307, None, false, ""),
            Answer::Failed { status: 307, .. }
        ));
        assert_eq!(
            classify(&ep(), 503, None, true, "Not the leading master\n"),
            Answer::TryAnother("HTTP 503 Service Unavailable: Not the leading master".into())
        );
        assert_eq!(
            classify(&ep(), 400, None, true, " Failed to validate\n"),
            Answer::Failed {
                status: 400,
                message: "Failed to validate".into()
            }
        );
    }

    #[test]
    fn descriptions_name_the_status_and_the_message() {
        assert_eq!(describe(404, ""), "HTTP 404 Not Found");
        assert_eq!(
            describe(400, "bad call\n"),
            "HTTP 400 Bad Request: bad call"
        );
    }

    #[test]
    fn streams_retry_only_what_may_pass_later() {
        assert!(retry_stream(503));
        assert!(retry_stream(500));
        assert!(!retry_stream(401));
        assert!(!retry_stream(403));
        assert!(!retry_stream(400));
    }

    #[test]
    fn redirects_are_bounded() {
        let mut r = Redirects::new(2);
        assert!(r.take());
        assert!(r.take());
        assert!(!r.take());
    }

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let s = Duration::from_secs;
        let mut b = Backoff::new(s(1), s(4));
        assert_eq!(b.next(1.0), s(1));
        assert_eq!(b.next(1.0), s(2));
        assert_eq!(b.next(0.0), s(2));
        assert_eq!(b.next(1.0), s(4));
        assert_eq!(b.next(1.0), s(4));
        b.reset();
        assert_eq!(b.next(0.0), Duration::from_millis(500));
    }
}
