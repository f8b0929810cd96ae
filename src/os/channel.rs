//! Message channels between an executor and its task processes: the two
//! ends of a `SOCK_SEQPACKET` socket pair. Each `send` is one message that
//! arrives whole or not at all, in order; the child inherits its end as a
//! numbered fd (see `SpawnOptions::channel`).
//!
//! The executor sends without blocking (a task that stops reading loses
//! messages instead of stalling its executor: `ChannelError::Full`); a task
//! may block on send (its executor drains promptly).

use crate::base::cvt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Largest message a channel carries, in bytes.
pub const MAX_MESSAGE: usize = 128 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("the other end is gone")]
    Closed,
    #[error("the channel is full (the reader is not keeping up)")]
    Full,
    #[error("message of {0} bytes is over the channel's limit of {MAX_MESSAGE} bytes")]
    TooBig(usize),
    #[error("empty messages are not allowed")]
    Empty,
    #[error("received a message over the limit of {MAX_MESSAGE} bytes")]
    Truncated,
    #[error("fd {0} is not a message channel")]
    NotAChannel(RawFd),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// One end of a channel.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

impl Channel {
    /// A connected pair, both ends close-on-exec.
    pub fn pair() -> io::Result<(Channel, Channel)> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors socketpair writes.
        cvt(unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        })?;
        // SAFETY: socketpair succeeded, so both fds are open and ours.
        let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let (a, b) = (Channel { fd: a }, Channel { fd: b });
        // Room for a few full-size messages in flight each way.
        a.grow_buffers();
        b.grow_buffers();
        Ok((a, b))
    }

    /// Adopts an inherited fd (in a child: the one the parent passed),
    /// after checking that it is a SOCK_SEQPACKET socket.
    pub fn from_fd(fd: RawFd) -> Result<Channel, ChannelError> {
        let mut ty: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `ty`.
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_TYPE,
                (&mut ty as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if r != 0 || ty != libc::SOCK_SEQPACKET {
            return Err(ChannelError::NotAChannel(fd));
        }
        // SAFETY: the fd is an open socket that nothing else in this process
        // owns (it was inherited for this purpose); it is ours from here on.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // Keep it from leaking into processes this one starts.
        // SAFETY: F_SETFD on an fd we own.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
        Ok(Channel { fd })
    }

    fn grow_buffers(&self) {
        let size: libc::c_int = 4 * MAX_MESSAGE as libc::c_int;
        for opt in [libc::SO_SNDBUF, libc::SO_RCVBUF] {
            // SAFETY: setsockopt reads one c_int. Failure only leaves the
            // default buffer size.
            unsafe {
                libc::setsockopt(
                    self.fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    (&size as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
        }
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Sends one message; with `block` false a full channel is
    /// `ChannelError::Full` and nothing is sent.
    pub fn send(&self, msg: &[u8], block: bool) -> Result<(), ChannelError> {
        if msg.is_empty() {
            return Err(ChannelError::Empty);
        }
        if msg.len() > MAX_MESSAGE {
            return Err(ChannelError::TooBig(msg.len()));
        }
        let flags = libc::MSG_NOSIGNAL | if block { 0 } else { libc::MSG_DONTWAIT };
        loop {
            // SAFETY: `msg` is valid for `msg.len()` bytes.
            let n = unsafe { libc::send(self.fd(), msg.as_ptr().cast(), msg.len(), flags) };
            if n >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => return Err(ChannelError::Full),
                Some(libc::EPIPE) | Some(libc::ECONNRESET) => return Err(ChannelError::Closed),
                Some(libc::EMSGSIZE) => return Err(ChannelError::TooBig(msg.len())),
                _ => return Err(e.into()),
            }
        }
    }

    /// The next message, waiting up to `timeout` (`None`: forever, zero: not
    /// at all). `Ok(None)` when none came in time.
    pub fn recv(&self, timeout: Option<Duration>) -> Result<Option<Vec<u8>>, ChannelError> {
        if crate::os::process::wait_readable(&[self.fd()], timeout)?.is_empty() {
            return Ok(None);
        }
        let mut buf = vec![0u8; MAX_MESSAGE + 1];
        loop {
            // SAFETY: `buf` is valid for `buf.len()` bytes.
            let n = unsafe {
                libc::recv(
                    self.fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            if n > 0 {
                let n = n as usize;
                if n > MAX_MESSAGE {
                    return Err(ChannelError::Truncated);
                }
                buf.truncate(n);
                return Ok(Some(buf));
            }
            if n == 0 {
                return Err(ChannelError::Closed);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => return Ok(None),
                Some(libc::ECONNRESET) => return Err(ChannelError::Closed),
                _ => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_their_boundaries_and_order() {
        let (a, b) = Channel::pair().unwrap();
        a.send(b"one", false).unwrap();
        a.send(&vec![7u8; MAX_MESSAGE], false).unwrap();
        a.send(b"three", true).unwrap();
        assert_eq!(b.recv(Some(Duration::ZERO)).unwrap().unwrap(), b"one");
        assert_eq!(b.recv(None).unwrap().unwrap().len(), MAX_MESSAGE);
        assert_eq!(b.recv(None).unwrap().unwrap(), b"three");
        assert!(b.recv(Some(Duration::ZERO)).unwrap().is_none());
    }

    #[test]
    fn limits_and_closing_are_errors() {
        let (a, b) = Channel::pair().unwrap();
        assert!(matches!(a.send(b"", false), Err(ChannelError::Empty)));
        assert!(matches!(
            a.send(&vec![0; MAX_MESSAGE + 1], false),
            Err(ChannelError::TooBig(_))
        ));
        drop(b);
        assert!(matches!(a.send(b"x", false), Err(ChannelError::Closed)));
        assert!(matches!(a.recv(None), Err(ChannelError::Closed)));
    }

    #[test]
    fn a_reader_that_stops_reading_fills_the_channel_without_blocking() {
        let (a, b) = Channel::pair().unwrap();
        let msg = vec![1u8; 16 * 1024];
        let mut sent = 0;
        let full = loop {
            match a.send(&msg, false) {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
            assert!(sent < 100_000, "never filled");
        };
        assert!(matches!(full, ChannelError::Full), "{full}");
        for _ in 0..sent {
            assert_eq!(
                b.recv(Some(Duration::ZERO)).unwrap().unwrap().len(),
                msg.len()
            );
        }
    }

    #[test]
    fn only_seqpacket_sockets_are_adopted() {
        let (r, _w) = std::io::pipe().unwrap();
        let fd = r.as_raw_fd();
        assert!(matches!(
            Channel::from_fd(fd),
            Err(ChannelError::NotAChannel(_))
        ));
    }
}
