//! What the scheduler's connection logic needs from an event, read on the
//! I/O thread: only SUBSCRIBED and ERROR are decoded, into a plain tree
//! (`wire::direct::tree`), without the descriptor pool. The machine's input.
//!
//! May import: the wire layer, `driver::Event`, the machine's `Seen`.

use super::machine::Seen;
use crate::driver::Event;

/// Extracts what the connection logic needs from an event: only
/// SUBSCRIBED and ERROR events are decoded for it (on this thread), into a
/// plain tree (`wire::direct::tree`), without the descriptor pool.
pub fn summarize(event: &Event) -> Seen {
    use crate::wire::direct::{self, tree};
    let ty = event.type_name();
    if !matches!(ty, Some("SUBSCRIBED" | "ERROR")) {
        return Seen::Other;
    }
    let root = match event.raw_bytes() {
        Some((bytes, enc, m)) => {
            let mut t = tree::TreeSink::default();
            match direct::decode(&mut t, m, bytes, enc) {
                Ok(()) => t.result(),
                Err(direct::Fallback) => Some(tree::from_message(event.message())),
            }
        }
        None => Some(tree::from_message(event.message())),
    };
    let Some(root) = root else {
        return Seen::Other;
    };
    let string = |n: Option<&tree::Node>| match n {
        Some(tree::Node::Str(s)) => String::from_utf8_lossy(s).into_owned(),
        _ => String::new(),
    };
    if ty == Some("SUBSCRIBED") {
        let Some(sub) = root.get("subscribed") else {
            return Seen::Other;
        };
        Seen::Subscribed {
            framework_id: string(sub.get("framework_id").and_then(|f| f.get("value"))),
            heartbeat_interval: match sub.get("heartbeat_interval_seconds") {
                Some(tree::Node::Num(x)) => Some(*x),
                _ => None,
            },
        }
    } else {
        Seen::Error(string(root.get("error").and_then(|e| e.get("message"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::codec::{self, Encoding};
    use crate::wire::pb::FrameworkId;
    use crate::wire::pb::scheduler::{Event as PbEvent, event};

    fn events(ev: &PbEvent) -> Vec<Event> {
        let schema = crate::wire::schema::message("mesos.v1.scheduler.Event").unwrap();
        let ty = ev
            .r#type
            .and_then(|t| event::Type::try_from(t).ok())
            .map(|t| t.as_str_name());
        let mut out = vec![];
        for enc in [Encoding::Protobuf, Encoding::Json] {
            out.push(Event::raw(codec::encode(ev, enc), enc, schema, ty));
        }
        out.push(Event::decoded(codec::to_dynamic(ev).unwrap()));
        out
    }

    #[test]
    fn summarize_reads_subscribed_and_error_in_every_form_without_the_pool_path() {
        let sub = PbEvent {
            r#type: Some(event::Type::Subscribed as i32),
            subscribed: Some(event::Subscribed {
                framework_id: FrameworkId {
                    value: "fw-1".into(),
                },
                heartbeat_interval_seconds: Some(15.0),
                ..Default::default()
            }),
            ..Default::default()
        };
        for e in events(&sub) {
            assert_eq!(
                summarize(&e),
                Seen::Subscribed {
                    framework_id: "fw-1".into(),
                    heartbeat_interval: Some(15.0)
                },
                "{e:?}"
            );
        }
        let err = PbEvent {
            r#type: Some(event::Type::Error as i32),
            error: Some(event::Error {
                message: "go away".into(),
            }),
            ..Default::default()
        };
        for e in events(&err) {
            assert_eq!(summarize(&e), Seen::Error("go away".into()), "{e:?}");
        }
        let hb = PbEvent {
            r#type: Some(event::Type::Heartbeat as i32),
            ..Default::default()
        };
        for e in events(&hb) {
            assert_eq!(summarize(&e), Seen::Other);
        }
    }
}
