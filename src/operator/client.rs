//! Operator calls, one at a time: encodes nothing itself (the caller hands
//! the encoded `mesos.v1.master.Call` or `mesos.v1.agent.Call`), POSTs it
//! to `/api/v1` on a keep-alive connection, follows redirects to the
//! leading master, walks a list of masters or follows a ZooKeeper group,
//! and reads the answer by `operator::rules`. A call is sent at most once
//! per master that may have acted on it: only connection failures and 503s
//! (the master did not act) move on to the next candidate.
//!
//! May import: `operator::rules`, the network layer (transport, http, zk,
//! credentials), `wire::codec` (encodings), `base`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use super::OPERATOR_PATH;
use super::rules::{Answer, Redirects, classify, describe};
use crate::net::credentials::Credential;
use crate::net::http::Headers;
use crate::net::http::tls::TlsClient;
use crate::net::transport::{CallConn, Endpoint};
use crate::net::zk::{Detector, Leader, ZkUrl};
use crate::wire::codec::Encoding;

/// Where the operator API is and how to talk to it.
#[derive(Debug, Clone)]
pub struct Options {
    /// Candidates tried in order (a master list, or the one agent).
    pub endpoints: Vec<Endpoint>,
    /// A `zk://` group whose leader is asked instead; `zk_tls`: https.
    pub zk: Option<ZkUrl>,
    pub zk_tls: bool,
    /// The API's path: `/api/v1`, or `/<id>/api/v1` for an agent named by
    /// its pid (`slave(1)@host:port`, as when it shares a process).
    pub path: String,
    /// Talking to an agent (`mesos.v1.agent.*` messages, "agent" in errors).
    pub agent: bool,
    pub encoding: Encoding,
    pub credential: Option<Credential>,
    pub ca_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// Bound on the answer to one call (and on a SUBSCRIBE's first answer).
    pub call_timeout: Duration,
    pub max_redirects: usize,
    /// The event stream: reconnection backoff, silence that counts as a
    /// lost connection, the queue's capacity, the largest record.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub heartbeat_timeout: Duration,
    pub queue_size: usize,
    pub max_record: usize,
}

impl Options {
    pub fn new(endpoints: Vec<Endpoint>) -> Self {
        Options {
            endpoints,
            zk: None,
            zk_tls: false,
            path: OPERATOR_PATH.to_string(),
            agent: false,
            encoding: Encoding::Protobuf,
            credential: None,
            ca_file: None,
            connect_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(60),
            max_redirects: 10,
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
            heartbeat_timeout: Duration::from_secs(60),
            queue_size: 1024,
            max_record: crate::wire::recordio::DEFAULT_MAX_RECORD,
        }
    }

    pub(crate) fn peer(&self) -> &'static str {
        if self.agent { "agent" } else { "master" }
    }

    /// The request headers of a call or a SUBSCRIBE.
    pub(crate) fn headers(&self) -> Headers {
        let enc = self.encoding.content_type();
        let h = Headers::default()
            .with("Content-Type", enc)
            .with("Accept", enc);
        match &self.credential {
            Some(c) => h.with("Authorization", c.basic_header()),
            None => h,
        }
    }
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum OperatorError {
    /// No candidate could be reached (each one's failure, joined).
    #[error("cannot reach the {peer}: {why}")]
    Unreachable { peer: &'static str, why: String },
    /// The call failed with this status; the text names it and Mesos's message.
    #[error("{call} failed: {}", describe(*status, message))]
    Http {
        call: String,
        status: u16,
        message: String,
    },
    /// The call may have reached the server, its outcome is unknown.
    #[error("{0}")]
    Transport(String),
    #[error("{call}: more than {max} redirects")]
    Redirects { call: String, max: usize },
    #[error("no leading master in ZooKeeper: {0}")]
    NoLeader(String),
}

/// What answered a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The Response message, in the encoding its Content-Type names.
    Body(Vec<u8>, Encoding),
    /// Accepted without a body.
    Accepted,
}

/// Where the candidates come from: the given list, or ZooKeeper's leader.
pub(crate) struct Place {
    pub opts: Options,
    pub tls: TlsClient,
    detector: Option<Detector>,
}

impl Place {
    pub fn new(opts: Options) -> std::io::Result<Place> {
        let detector = match &opts.zk {
            Some(z) => Some(Detector::start(z.clone(), opts.zk_tls)?),
            None => None,
        };
        Ok(Place {
            tls: TlsClient::new(opts.ca_file.clone()),
            opts,
            detector,
        })
    }

    /// The endpoints to try, in order, `first` (the last leader) ahead.
    pub fn candidates(&self, first: Option<&Endpoint>) -> Result<Vec<Endpoint>, OperatorError> {
        let mut out: Vec<Endpoint> = first.into_iter().cloned().collect();
        match &self.detector {
            Some(d) => match d.wait_leader(self.opts.connect_timeout).0 {
                Leader::Known(e) => out.push(e),
                Leader::None(why) => return Err(OperatorError::NoLeader(why)),
                Leader::Unknown => {
                    return Err(OperatorError::NoLeader(
                        "no answer from ZooKeeper in time".into(),
                    ));
                }
            },
            None => out.extend(self.opts.endpoints.iter().cloned()),
        }
        let mut seen = Vec::with_capacity(out.len());
        out.retain(|e| {
            let new = !seen.contains(e);
            seen.push(e.clone());
            new
        });
        Ok(out)
    }

    /// The current ZooKeeper leader, when following a group.
    pub fn zk_leader(&self) -> Option<Endpoint> {
        match self.detector.as_ref()?.leader().0 {
            Leader::Known(e) => Some(e),
            _ => None,
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Some(d) = &self.detector {
            d.stop();
        }
    }
}

/// Sends operator calls.
pub struct Client {
    place: Arc<Place>,
    conn: CallConn,
    /// The master that answered last (asked first next time).
    leader: Option<Endpoint>,
}

impl Client {
    pub fn new(opts: Options) -> std::io::Result<Client> {
        let place = Arc::new(Place::new(opts)?);
        let o = &place.opts;
        let conn = CallConn::new(o.connect_timeout, o.call_timeout, place.tls.clone());
        Ok(Client {
            place,
            conn,
            leader: None,
        })
    }

    pub fn options(&self) -> &Options {
        &self.place.opts
    }

    /// Another client for the same place (its own connection).
    pub fn sibling(&self) -> Client {
        let o = &self.place.opts;
        Client {
            place: self.place.clone(),
            conn: CallConn::new(o.connect_timeout, o.call_timeout, self.place.tls.clone()),
            leader: self.leader.clone(),
        }
    }

    pub(crate) fn place(&self) -> Arc<Place> {
        self.place.clone()
    }

    /// Where the last call was answered.
    pub fn leader(&self) -> Option<&Endpoint> {
        self.leader.as_ref()
    }

    /// Sends one encoded call of type `call` (for messages) and reads the answer.
    pub fn call(&mut self, call: &str, body: &[u8]) -> Result<Reply, OperatorError> {
        let place = self.place.clone();
        let opts = &place.opts;
        let hdrs = opts.headers();
        let mut failures = Vec::new();
        let first = if place.detector.is_some() {
            None
        } else {
            self.leader.clone()
        };
        for start in place.candidates(first.as_ref())? {
            let mut target = start;
            let mut path = opts.path.clone();
            let mut redirects = Redirects::new(opts.max_redirects);
            loop {
                let r = match self.conn.post(&target, &path, &hdrs, body) {
                    Ok(r) => r,
                    // Nothing was sent: the next candidate may be asked.
                    Err(e) if e.starts_with("cannot connect") => {
                        failures.push(e);
                        break;
                    }
                    Err(e) => return Err(OperatorError::Transport(format!("{call}: {e}"))),
                };
                let text = String::from_utf8_lossy(&r.body);
                match classify(
                    &target,
                    r.status,
                    r.headers.get("location"),
                    !r.body.is_empty(),
                    &text,
                ) {
                    Answer::Body => {
                        let enc = r
                            .headers
                            .get("content-type")
                            .and_then(Encoding::from_content_type)
                            .unwrap_or(opts.encoding);
                        self.leader = Some(target);
                        return Ok(Reply::Body(r.body, enc));
                    }
                    Answer::Accepted => {
                        self.leader = Some(target);
                        return Ok(Reply::Accepted);
                    }
                    Answer::Redirect(e, p) => {
                        if !redirects.take() {
                            return Err(OperatorError::Redirects {
                                call: call.to_string(),
                                max: opts.max_redirects,
                            });
                        }
                        crate::log!(
                            crate::log::Level::Debug,
                            "operator",
                            "{target} redirects to {e}"
                        );
                        target = e;
                        path = p;
                    }
                    Answer::TryAnother(why) => {
                        failures.push(format!("{target}: {why}"));
                        break;
                    }
                    Answer::Failed { status, message } => {
                        return Err(OperatorError::Http {
                            call: call.to_string(),
                            status,
                            message,
                        });
                    }
                }
            }
        }
        self.leader = None;
        Err(OperatorError::Unreachable {
            peer: opts.peer(),
            why: failures.join("; "),
        })
    }
}
