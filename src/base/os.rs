//! System-call helpers shared by the modules that talk to the kernel
//! directly (zygote, channel). Imports nothing from the crate.

use std::io;

/// A libc return value as a result: negative means `errno` says why.
pub fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}
