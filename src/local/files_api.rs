//! The `/files/*` endpoints over the agents' sandboxes, with the answers a
//! Mesos 1.11 agent gives (checked against the real one by
//! test/differential): `/files/browse?path=` (a JSON list of entries),
//! `/files/read?path=&offset=&length=` (`{"data", "offset"}`; no offset or
//! `-1` gives the size), `/files/download?path=` (the file, as an
//! attachment). The master serves every agent's sandboxes (as a
//! `mesos-local` master shares one files process with its agents), each
//! agent its own. With `--credentials`, these and the web UI need the same
//! HTTP Basic credentials as the scheduler API.
//!
//! May import: `sandbox_files`, `master` (the agents' directories),
//! `base` (percent-decoding), `net` (HTTP types, credentials). `api` and
//! `agent_api` route to it; it imports neither.

use std::io::Read;
use std::path::PathBuf;

use serde_json::{Value as Json, json};

use super::master::Master;
use super::sandbox_files::{SandboxError, Sandboxes};
use crate::base::{Escapes, percent_decode};
use crate::net::credentials::{self, Credential};
use crate::net::http::Headers;
use crate::net::http::server::{Reply, Request};

/// The realm of the master's read-only endpoints (files, web UI).
pub(crate) const MASTER_REALM: &str = "mesos-master-readonly";
/// The realm of an agent's read-only endpoints (files).
pub(crate) const AGENT_REALM: &str = "mesos-agent-readonly";

/// Files at most this big are sent whole, with a Content-Length; bigger
/// ones are streamed in chunks.
const WHOLE_DOWNLOAD: u64 = 8 << 20;

/// What a files endpoint answers: JSON for the caller to send (with its
/// `jsonp` rule), or a finished reply.
pub(crate) enum FilesAnswer {
    Json(Json),
    Reply(Reply),
}

/// The sandboxes the master serves: every agent's.
pub(crate) fn master_sandboxes(m: &Master) -> Sandboxes {
    Sandboxes::new(m.agents.keys().map(|id| agent_dir(m, id)))
}

/// The sandboxes one agent serves.
pub(crate) fn agent_sandboxes(m: &Master, agent_id: &str) -> Sandboxes {
    Sandboxes::new(
        m.agents
            .contains_key(agent_id)
            .then(|| agent_dir(m, agent_id)),
    )
}

/// Where an agent keeps its sandboxes (as `master::agents` lays it out).
fn agent_dir(m: &Master, agent_id: &str) -> PathBuf {
    m.work_dir.join("agents").join(agent_id)
}

/// HTTP Basic authentication of the read-only endpoints when the cluster
/// has framework credentials (`--credentials`); 401 with the realm's
/// challenge otherwise.
pub(crate) fn authenticate(
    known: Option<&[Credential]>,
    headers: &Headers,
    realm: &str,
) -> Result<(), Reply> {
    let Some(known) = known else {
        return Ok(());
    };
    match credentials::authenticate(headers.get("authorization"), known) {
        Some(_) => Ok(()),
        None => {
            Err(Reply::status(401)
                .with_header("WWW-Authenticate", &format!("Basic realm=\"{realm}\"")))
        }
    }
}

/// A query parameter as libprocess decodes it: `+` is a space, `%XX`
/// escapes are decoded, and the last of repeated keys wins.
pub(crate) fn query_param(query: &str, name: &str) -> Option<String> {
    let decode = |s: &str| {
        let bytes = percent_decode(&s.replace('+', " "), Escapes::Lenient).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    query.split('&').rev().find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (decode(k) == name).then(|| decode(v))
    })
}

/// A number as stout's `numify` reads one: decimal, or hexadecimal after
/// `0x`, with an optional minus sign; nothing else around it.
fn numify(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let value = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            i64::from_str_radix(hex, 16).ok()?
        }
        Some(_) => return None,
        None if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse::<i64>().ok()?
        }
        None => return None,
    };
    Some(if neg { -value } else { value })
}

fn bad_request(text: String) -> FilesAnswer {
    FilesAnswer::Reply(Reply::text(400, text))
}

/// The `path` parameter, which every endpoint needs.
fn path_param(query: &str) -> Result<String, FilesAnswer> {
    query_param(query, "path")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| bad_request("Expecting 'path=value' in query.\n".into()))
}

/// A `/files/*` request, or None when the path is not one of them.
pub(crate) fn answer(sandboxes: &Sandboxes, req: &Request) -> Option<FilesAnswer> {
    let a = match req.path.as_str() {
        "/files/browse" => browse(sandboxes, &req.query),
        "/files/read" => read(sandboxes, &req.query),
        "/files/download" => download(sandboxes, &req.query),
        _ => return None,
    };
    Some(a.unwrap_or_else(|e| e))
}

fn error_answer(e: SandboxError, not_found: &str) -> FilesAnswer {
    match e {
        SandboxError::NotFound => FilesAnswer::Reply(Reply::text(404, not_found)),
        SandboxError::Inaccessible(_) => bad_request(format!("{e}.\n")),
        SandboxError::Directory => bad_request("Cannot read a directory.\n".into()),
        SandboxError::Io { .. } => FilesAnswer::Reply(Reply::text(500, format!("{e}.\n"))),
    }
}

fn browse(s: &Sandboxes, query: &str) -> Result<FilesAnswer, FilesAnswer> {
    let path = path_param(query)?;
    let entries = s.list(&path).map_err(|e| error_answer(e, ""))?;
    let list: Vec<Json> = entries
        .into_iter()
        .map(|e| {
            json!({
                "gid": e.gid,
                "mode": e.mode,
                // Mesos writes whole seconds as a floating-point number.
                "mtime": e.mtime as f64,
                "nlink": e.nlink,
                "path": e.path,
                "size": e.size,
                "uid": e.uid,
            })
        })
        .collect();
    Ok(FilesAnswer::Json(Json::Array(list)))
}

/// A numeric parameter: absent, or its value; 400 in Mesos's words when it
/// is not a number.
fn number_param(query: &str, name: &str) -> Result<Option<i64>, FilesAnswer> {
    match query_param(query, name) {
        None => Ok(None),
        Some(raw) => numify(&raw).map(Some).ok_or_else(|| {
            bad_request(format!(
                "Failed to parse {name}: Failed to convert '{raw}' to number.\n"
            ))
        }),
    }
}

fn read(s: &Sandboxes, query: &str) -> Result<FilesAnswer, FilesAnswer> {
    let path = path_param(query)?;
    let offset = number_param(query, "offset")?;
    if let Some(o) = offset.filter(|o| *o < -1) {
        return Err(bad_request(format!("Negative offset provided: {o}.\n")));
    }
    let length = number_param(query, "length")?;
    if let Some(l) = length.filter(|l| *l < -1) {
        return Err(bad_request(format!("Negative length provided: {l}.\n")));
    }
    let length = length.and_then(|l| u64::try_from(l).ok());
    match offset.and_then(|o| u64::try_from(o).ok()) {
        // No offset, or -1: the file's size.
        None => {
            let (size, _) = s.read(&path, 0, Some(0)).map_err(|e| error_answer(e, ""))?;
            Ok(FilesAnswer::Json(json!({"data": "", "offset": size})))
        }
        Some(offset) => {
            let (_, data) = s
                .read(&path, offset, length)
                .map_err(|e| error_answer(e, ""))?;
            Ok(FilesAnswer::Json(json!({
                "data": String::from_utf8_lossy(&data),
                "offset": offset,
            })))
        }
    }
}

/// The media type of a download, by extension (the types a Mesos agent
/// gives; any other is `application/octet-stream`).
fn media_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "txt" => "text/plain",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "xml" => "text/xml",
        "py" => "text/x-python",
        "js" => "application/x-javascript",
        "sh" => "application/x-sh",
        "tar" => "application/x-tar",
        "zip" => "application/zip",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        _ => "application/octet-stream",
    }
}

/// `attachment; filename=NAME`: the name as it is when it is plain
/// printable ASCII (as Mesos writes it), else quoted with the unsafe
/// characters replaced, plus its UTF-8 form (RFC 6266).
fn disposition(name: &str) -> String {
    let plain = name
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' && b != b';');
    if plain {
        return format!("attachment; filename={name}");
    }
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

fn download(s: &Sandboxes, query: &str) -> Result<FilesAnswer, FilesAnswer> {
    let path = path_param(query)?;
    let real = s.file(&path).map_err(|e| match e {
        SandboxError::Directory => bad_request("Cannot download a directory.\n".into()),
        e => error_answer(e, "404 Not Found."),
    })?;
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let headers = Headers::default()
        .with("Content-Disposition", disposition(&name))
        .with("Content-Type", media_type(&name))
        // Never rendered or sniffed by a browser as anything else.
        .with("X-Content-Type-Options", "nosniff")
        .with("Content-Security-Policy", "sandbox");
    let io_error = |e: std::io::Error| {
        FilesAnswer::Reply(Reply::text(
            500,
            format!("Failed to open file at '{}': {e}.\n", real.display()),
        ))
    };
    let mut file = std::fs::File::open(&real).map_err(io_error)?;
    let size = file.metadata().map_err(io_error)?.len();
    if size <= WHOLE_DOWNLOAD {
        let mut body = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.read_to_end(&mut body).map_err(io_error)?;
        return Ok(FilesAnswer::Reply(Reply::Full {
            status: 200,
            headers,
            body,
        }));
    }
    // Big files go out in chunks as they are read, a few chunks ahead of
    // the client at most.
    let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(4);
    let reader = std::thread::Builder::new()
        .name("mesos-local-download".into())
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match file.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    if let Err(e) = reader {
        return Err(io_error(e));
    }
    Ok(FilesAnswer::Reply(Reply::Stream {
        headers,
        rx,
        on_close: Box::new(|| {}),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_decode_as_libprocess_does() {
        assert_eq!(
            query_param("path=%2Fa%2Fb&offset=1", "path").as_deref(),
            Some("/a/b")
        );
        assert_eq!(query_param("offset=+1", "offset").as_deref(), Some(" 1"));
        assert_eq!(
            query_param("path=/x&path=/y", "path").as_deref(),
            Some("/y")
        );
        assert_eq!(query_param("path", "path").as_deref(), Some(""));
        assert_eq!(query_param("a=1", "path"), None);
    }

    #[test]
    fn numbers_as_stout_reads_them() {
        assert_eq!(numify("10"), Some(10));
        assert_eq!(numify("010"), Some(10));
        assert_eq!(numify("-1"), Some(-1));
        assert_eq!(numify("0x10"), Some(16));
        assert_eq!(numify("9223372036854775807"), Some(i64::MAX));
        for bad in [
            "",
            "abc",
            "1.5",
            " 1",
            "1 ",
            "0x",
            "99999999999999999999",
            "+1",
        ] {
            assert_eq!(numify(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn downloads_name_their_file_safely() {
        assert_eq!(disposition("stdout"), "attachment; filename=stdout");
        assert_eq!(disposition("a b.txt"), "attachment; filename=a b.txt");
        let d = disposition("x\r\nSet-Cookie: a=\"1\";.txt");
        assert!(!d.contains('\r') && !d.contains('\n'), "{d}");
        assert!(d.starts_with("attachment; filename=\"x__Set-Cookie: a=_1_;.txt\""));
        assert_eq!(media_type("a.txt"), "text/plain");
        assert_eq!(media_type("a.json"), "application/octet-stream");
        assert_eq!(media_type("stdout"), "application/octet-stream");
    }

    #[test]
    fn credentials_guard_the_read_only_endpoints() {
        let known = [Credential::new("alice", "s3cret").unwrap()];
        let none = Headers::default();
        assert!(authenticate(None, &none, MASTER_REALM).is_ok());
        let Err(Reply::Full {
            status, headers, ..
        }) = authenticate(Some(&known), &none, MASTER_REALM)
        else {
            panic!("a 401 without credentials");
        };
        assert_eq!(status, 401);
        assert_eq!(
            headers.get("www-authenticate"),
            Some("Basic realm=\"mesos-master-readonly\"")
        );
        let good = Headers::default().with("Authorization", known[0].basic_header());
        assert!(authenticate(Some(&known), &good, MASTER_REALM).is_ok());
    }
}
