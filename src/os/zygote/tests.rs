//! Tests of the zygote: its protocol, a real zygote serving children.

use std::os::fd::AsRawFd;

use super::fd_passing::*;
use super::request::*;

#[test]
fn requests_round_trip_and_bad_headers_are_refused() {
    let r = Request {
        memory_limit: Some(64 << 20),
        channel: true,
        stdin: b"hello".to_vec(),
    };
    let b = encode_request(&r).unwrap();
    assert_eq!(
        decode_header(&b[..HEADER]).unwrap(),
        (Some(64 << 20), true, 5)
    );
    assert_eq!(&b[HEADER..], b"hello");
    let plain = encode_request(&Request {
        memory_limit: None,
        channel: false,
        stdin: vec![],
    })
    .unwrap();
    assert_eq!(decode_header(&plain).unwrap(), (None, false, 0));
    let mut bad = b.clone();
    bad[0] = b'X';
    assert!(
        decode_header(&bad)
            .unwrap_err()
            .to_string()
            .contains("bad magic")
    );
    let mut flags = b.clone();
    flags[8] = 0x80;
    assert!(
        decode_header(&flags)
            .unwrap_err()
            .to_string()
            .contains("unknown flags")
    );
    let mut long = b.clone();
    long[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(
        decode_header(&long)
            .unwrap_err()
            .to_string()
            .contains("too long")
    );
    assert!(decode_header(&b[..5]).is_err());
}

#[test]
fn wait_statuses_read_as_code_or_signal() {
    assert_eq!(wait_status(3 << 8), (Some(3), None));
    assert_eq!(wait_status(libc::SIGKILL), (None, Some(libc::SIGKILL)));
}

#[test]
fn fds_travel_with_the_first_byte() {
    let (a, b) = socketpair(libc::SOCK_STREAM).unwrap();
    let (r, w) = pipe().unwrap();
    send_with_fds(a.as_raw_fd(), b"abc", &[w.as_raw_fd()]).unwrap();
    drop(w);
    let mut buf = [0u8; 3];
    let (n, fds) = recv_with_fds(b.as_raw_fd(), &mut buf).unwrap();
    assert_eq!((n, &buf[..n], fds.len()), (3, &b"abc"[..], 1));
    // The received end is the pipe's write end: what goes in comes out.
    // SAFETY: a write of a local buffer to the received fd.
    assert_eq!(
        unsafe { libc::write(fds[0].as_raw_fd(), b"x".as_ptr().cast(), 1) },
        1
    );
    let mut got = [0u8; 1];
    // SAFETY: a read into a local buffer.
    assert_eq!(
        unsafe { libc::read(r.as_raw_fd(), got.as_mut_ptr().cast(), 1) },
        1
    );
    assert_eq!(&got, b"x");
}
