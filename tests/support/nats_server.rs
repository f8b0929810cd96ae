//! A real NATS server (Debian's `nats-server`) for the tests: it listens on
//! a loopback port of its own choosing (`-p -1`), which it writes to a
//! ports file; `start` returns once that port answers with INFO. Stopped
//! (SIGKILL to its PID) on drop.

use std::io::Read;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

/// True once the server at `port` greets a new connection with INFO.
fn says_info(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut b = [0u8; 5];
    s.read_exact(&mut b).is_ok() && &b == b"INFO "
}

impl NatsServer {
    pub fn start() -> NatsServer {
        Self::start_with(&[], None)
    }

    /// With extra command-line `args` (`--user`, `--auth`, ...) and the
    /// text of a configuration file (`max_payload: 1024`, ...).
    pub fn start_with(args: &[&str], config: Option<&str>) -> NatsServer {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lua-mesos-nats-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut cmd = Command::new("nats-server");
        cmd.args(["-a", "127.0.0.1", "-p", "-1", "--ports_file_dir"])
            .arg(&dir)
            .args(args);
        if let Some(c) = config {
            let f = dir.join("nats.conf");
            std::fs::write(&f, c).expect("config");
            cmd.arg("-c").arg(f);
        }
        let log = std::fs::File::create(dir.join("nats.log")).expect("log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("nats-server (Debian's package nats-server) is needed for this test");
        let ports = dir.join(format!("nats-server_{}.ports", child.id()));
        let mut s = NatsServer {
            child: Some(child),
            port: 0,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let port = std::fs::read_to_string(&ports).ok().and_then(|t| {
                let v: serde_json::Value = serde_json::from_str(&t).ok()?;
                let url = v["nats"][0].as_str()?;
                url.rsplit(':').next()?.parse::<u16>().ok()
            });
            if let Some(p) = port.filter(|p| says_info(*p)) {
                s.port = p;
                return s;
            }
            if let Some(c) = s.child.as_mut()
                && matches!(c.try_wait(), Ok(Some(_)))
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("nats-server did not start: {}", s.log());
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("nats.log")).unwrap_or_default()
    }

    /// Sends `sig` to the server (SIGSTOP to freeze it, SIGCONT to thaw it).
    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's PID.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// Stops the server (SIGSTOP) and returns once it is stopped: its
    /// sockets stay open, but it answers nothing.
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
        let stat = format!("/proc/{}/stat", self.pid());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            // The state follows the parenthesised command name.
            let state = std::fs::read_to_string(&stat)
                .ok()
                .and_then(|s| s.rsplit_once(") ")?.1.chars().next());
            if state == Some('T') {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("nats-server did not stop");
    }

    /// Lets a frozen server go on.
    pub fn thaw(&self) {
        self.signal(libc::SIGCONT);
    }

    /// Kills the server (SIGKILL to its PID) and reaps it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
