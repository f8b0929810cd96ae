//! The cluster's web UI: one page (`GET /`) with its script and style
//! sheet (`/webui/app.js`, `/webui/app.css`), compiled into the library
//! from `src/local/webui/`. The page reads `/master/state`,
//! `/slave(N)/state` and `/files/*` from the master it came from; nothing
//! is loaded from anywhere else, and the Content-Security-Policy says so
//! to the browser (no inline script, no other origin).
//!
//! May import: `files_api` (the credentials rule), `net::http`.

use super::files_api::{self, MASTER_REALM};
use crate::net::credentials::Credential;
use crate::net::http::Headers;
use crate::net::http::server::{Reply, Request};

const INDEX_HTML: &str = include_str!("webui/index.html");
const APP_JS: &str = include_str!("webui/app.js");
const APP_CSS: &str = include_str!("webui/app.css");

/// What the browser may do with the page: scripts, styles and requests
/// from this origin only, no plugins, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// A web UI request, or None when the path is not one of the page's.
pub(crate) fn answer(credentials: Option<&[Credential]>, req: &Request) -> Option<Reply> {
    let (body, media) = match req.path.as_str() {
        "/" | "/webui" | "/webui/" | "/webui/index.html" => {
            (INDEX_HTML, "text/html; charset=utf-8")
        }
        "/webui/app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "/webui/app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => return None,
    };
    if let Err(r) = files_api::authenticate(credentials, &req.headers, MASTER_REALM) {
        return Some(r);
    }
    if req.method != "GET" && req.method != "HEAD" {
        return Some(
            Reply::text(405, format!("Method {} is not allowed here.\n", req.method))
                .with_header("Allow", "GET"),
        );
    }
    let body = if req.method == "HEAD" {
        vec![]
    } else {
        body.as_bytes().to_vec()
    };
    Some(Reply::Full {
        status: 200,
        headers: Headers::default()
            .with("Content-Type", media)
            .with("Cache-Control", "no-cache")
            .with("Content-Security-Policy", CSP)
            .with("X-Content-Type-Options", "nosniff")
            .with("Referrer-Policy", "no-referrer"),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Request {
        Request {
            method: "GET".into(),
            path: path.into(),
            query: String::new(),
            headers: Headers::default(),
            body: vec![],
            peer: ([127, 0, 0, 1], 1).into(),
        }
    }

    #[test]
    fn serves_the_page_and_its_assets_only() {
        for (path, media) in [
            ("/", "text/html"),
            ("/webui/app.js", "text/javascript"),
            ("/webui/app.css", "text/css"),
        ] {
            let Some(Reply::Full {
                status, headers, ..
            }) = answer(None, &get(path))
            else {
                panic!("{path}: a full reply");
            };
            assert_eq!(status, 200);
            assert!(
                headers
                    .get("content-type")
                    .is_some_and(|t| t.starts_with(media))
            );
            assert!(
                headers
                    .get("content-security-policy")
                    .is_some_and(|c| c.contains("script-src 'self'"))
            );
        }
        assert!(answer(None, &get("/webui/other.js")).is_none());
        assert!(answer(None, &get("/master/state")).is_none());
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for text in [INDEX_HTML, APP_JS, APP_CSS] {
            for banned in [
                "http://",
                "https://",
                "//cdn",
                "@import",
                "innerHTML",
                "eval(",
            ] {
                assert!(!text.contains(banned), "{banned} in an asset");
            }
        }
        // Scripts come from files of ours, never inline.
        assert!(INDEX_HTML.contains("<script src=\"/webui/app.js\""));
        assert_eq!(INDEX_HTML.matches("<script").count(), 1);
    }

    #[test]
    fn credentials_are_asked_for() {
        let known = [Credential::new("alice", "s3cret").unwrap()];
        let Some(Reply::Full { status, .. }) = answer(Some(&known), &get("/")) else {
            panic!("a full reply");
        };
        assert_eq!(status, 401);
    }
}
