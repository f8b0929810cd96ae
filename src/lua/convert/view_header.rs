//! The memory layout of a lazy view (`struct mesos_view`, a LuaJIT FFI
//! object: a small header, then one message's protobuf bytes) and reading
//! it from a Lua value. Shared by the view module and by the converters
//! that accept a view where a table is expected. Imports the schema only.

use std::os::raw::c_int;

use mlua::ffi;
use mlua::prelude::*;

use crate::wire::schema;

/// The first four bytes of every view (`"MVWL"`), so a cdata that is not a
/// view is never read as one.
pub const MAGIC: u32 = 0x4D56_574C;

/// LuaJIT's type tag for FFI cdata (absent from the Lua 5.1 headers).
const LUA_TCDATA: c_int = 10;

/// The fixed part of `struct mesos_view`; the bytes follow it.
#[repr(C)]
struct Header {
    magic: u32,
    msg: u16,
    flags: u16,
    len: u32,
}

/// The view at stack index `idx`: its message index and bytes, if the
/// value there is a view.
///
/// # Safety
/// `l` is a live Lua state and `idx` a valid index; the slice is valid while
/// the value stays on the stack.
pub unsafe fn at<'a>(l: *mut ffi::lua_State, idx: c_int) -> Option<(u16, &'a [u8])> {
    unsafe {
        if ffi::lua_type(l, idx) != LUA_TCDATA {
            return None;
        }
        header(ffi::lua_topointer(l, idx).cast())
    }
}

/// `at` for a value held by mlua.
pub fn of(v: &LuaValue) -> Option<(u16, &[u8])> {
    match v {
        // SAFETY: mlua keeps the referenced value alive as long as `v`,
        // and for a cdata `to_pointer` is LuaJIT's `lua_topointer`: the
        // address of its payload.
        LuaValue::Other(_) => unsafe { header(v.to_pointer().cast()) },
        _ => None,
    }
}

/// Reads a view's header at `p` (a cdata payload) and the bytes after it.
unsafe fn header<'a>(p: *const u8) -> Option<(u16, &'a [u8])> {
    if p.is_null() {
        return None;
    }
    unsafe {
        // Any cdata payload has at least 4 readable bytes in LuaJIT's
        // allocator (8-byte granules); only views carry the magic, and only
        // then is the rest of the header read.
        let magic = std::ptr::read_unaligned(p.cast::<u32>());
        if magic != MAGIC {
            return None;
        }
        let h = std::ptr::read_unaligned(p.cast::<Header>());
        if usize::from(h.msg) >= schema::MESSAGE_COUNT {
            return None;
        }
        let data = p.add(std::mem::size_of::<Header>());
        Some((h.msg, std::slice::from_raw_parts(data, h.len as usize)))
    }
}
