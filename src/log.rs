//! The one log sink of the Rust side.
//!
//! Every thread (driver I/O threads, the embedded master and agents) logs
//! through [`log!`](crate::log!). The level comes from `LUA_MESOS_LOG`
//! (`off`, `error`, `warn` (default), `info`, `debug`, `trace`) until
//! [`set_level`] changes it. Records go to stderr, or, once [`capture`] is
//! on, into a bounded queue that the Lua binding drains on the Lua thread
//! (Lua code is never called from a foreign thread). When the queue is
//! full the oldest records are dropped and counted.
//!
//! Nothing secret is ever formatted into a record: callers log endpoints,
//! ids and reasons, never headers, credentials or tokens.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Mutex;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

/// Severity, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }

    fn from_u8(v: u8) -> Option<Level> {
        Some(match v {
            1 => Level::Error,
            2 => Level::Warn,
            3 => Level::Info,
            4 => Level::Debug,
            5 => Level::Trace,
            _ => return None,
        })
    }
}

/// Parses a level name; `off` (or `none`) is `Ok(None)`.
pub fn parse_level(s: &str) -> Result<Option<Level>, String> {
    Ok(Some(match s.trim().to_ascii_lowercase().as_str() {
        "off" | "none" => return Ok(None),
        "error" => Level::Error,
        "warn" | "warning" => Level::Warn,
        "info" => Level::Info,
        "debug" => Level::Debug,
        "trace" => Level::Trace,
        other => {
            return Err(format!(
                "unknown log level {other:?} (off, error, warn, info, debug, trace)"
            ));
        }
    }))
}

/// The environment variable that sets the initial level.
pub const ENV: &str = "LUA_MESOS_LOG";
const DEFAULT: u8 = Level::Warn as u8;
/// Records kept for Lua at most; older ones are dropped first.
pub const QUEUE_CAP: usize = 10_000;

static LEVEL: AtomicU8 = AtomicU8::new(u8::MAX); // MAX: not read from the env yet
static CAPTURED: AtomicBool = AtomicBool::new(false);
static PENDING: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicUsize = AtomicUsize::new(0);

/// One log line.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub level: Level,
    /// What logged: "scheduler", "executor", "master", "agent", ...
    pub source: &'static str,
    pub message: String,
}

fn queue() -> &'static Mutex<VecDeque<Record>> {
    static Q: OnceLock<Mutex<VecDeque<Record>>> = OnceLock::new();
    Q.get_or_init(|| Mutex::new(VecDeque::new()))
}

fn level_now() -> u8 {
    let v = LEVEL.load(Ordering::Relaxed);
    if v != u8::MAX {
        return v;
    }
    let from_env = std::env::var(ENV)
        .ok()
        .and_then(|s| parse_level(&s).ok())
        .map(|l| l.map_or(0, |l| l as u8))
        .unwrap_or(DEFAULT);
    // Another thread may have set a level meanwhile; theirs wins.
    let _ = LEVEL.compare_exchange(u8::MAX, from_env, Ordering::Relaxed, Ordering::Relaxed);
    LEVEL.load(Ordering::Relaxed)
}

/// The current level (`None` when logging is off).
pub fn level() -> Option<Level> {
    Level::from_u8(level_now())
}

/// Sets the level (`None`: off).
pub fn set_level(l: Option<Level>) {
    LEVEL.store(l.map_or(0, |l| l as u8), Ordering::Relaxed);
}

/// Whether a record at `l` would be kept: cheap, checked before formatting.
#[inline]
pub fn enabled(l: Level) -> bool {
    (l as u8) <= level_now()
}

/// Routes records into the queue for [`drain`] (`true`) or to stderr.
pub fn capture(on: bool) {
    CAPTURED.store(on, Ordering::SeqCst);
    if !on {
        // Whatever was waiting for Lua goes to stderr rather than nowhere.
        for r in drain() {
            write_stderr(&r);
        }
    }
}

/// How many records wait in the queue (cheap).
pub fn pending() -> usize {
    PENDING.load(Ordering::Relaxed)
}

/// Takes the queued records, oldest first. A record saying how many were
/// dropped leads, if any were.
pub fn drain() -> Vec<Record> {
    if pending() == 0 && DROPPED.load(Ordering::Relaxed) == 0 {
        return Vec::new();
    }
    let mut q = crate::base::lock(queue());
    let mut out = Vec::with_capacity(q.len() + 1);
    let dropped = DROPPED.swap(0, Ordering::Relaxed);
    if dropped > 0 {
        out.push(Record {
            level: Level::Warn,
            source: "log",
            message: format!("{dropped} log records dropped (the queue holds {QUEUE_CAP})"),
        });
    }
    out.extend(q.drain(..));
    PENDING.store(0, Ordering::Relaxed);
    out
}

fn write_stderr(r: &Record) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "mesos[{}] {}: {}", r.source, r.level.name(), r.message);
}

/// Emits a record (use the [`log!`](crate::log!) macro, which checks the
/// level before formatting).
pub fn emit(level: Level, source: &'static str, message: String) {
    let r = Record {
        level,
        source,
        message,
    };
    if !CAPTURED.load(Ordering::SeqCst) {
        write_stderr(&r);
        return;
    }
    let mut q = crate::base::lock(queue());
    if q.len() >= QUEUE_CAP {
        q.pop_front();
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
    q.push_back(r);
    PENDING.store(q.len(), Ordering::Relaxed);
}

/// `log!(Level::Info, "scheduler", "subscribed as {}", id)`.
#[macro_export]
macro_rules! log {
    ($lvl:expr, $src:expr, $($arg:tt)+) => {
        if $crate::log::enabled($lvl) {
            $crate::log::emit($lvl, $src, format!($($arg)+));
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test: the sink is process-global.
    #[test]
    fn levels_capture_and_bounded_queue() {
        assert_eq!(parse_level("INFO"), Ok(Some(Level::Info)));
        assert_eq!(parse_level("off"), Ok(None));
        assert!(parse_level("loud").is_err());

        set_level(Some(Level::Info));
        assert!(enabled(Level::Warn) && enabled(Level::Info) && !enabled(Level::Debug));
        capture(true);
        crate::log!(Level::Debug, "test", "hidden {}", 1);
        crate::log!(Level::Info, "test", "shown {}", 2);
        let got = drain();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].message, "shown 2");
        assert_eq!(got[0].source, "test");

        for i in 0..QUEUE_CAP + 5 {
            emit(Level::Error, "test", format!("r{i}"));
        }
        let got = drain();
        assert_eq!(got.len(), QUEUE_CAP + 1);
        assert!(got[0].message.starts_with("5 log records dropped"));
        assert_eq!(got[1].message, "r5");
        assert_eq!(pending(), 0);

        set_level(None);
        assert!(!enabled(Level::Error));
        capture(false);
        set_level(Some(Level::Warn));
    }
}
