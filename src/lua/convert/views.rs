//! The Rust side of lazy views (`lua/mesos/view.lua`): the schema as Lua
//! tables, one message type at a time; a view's bytes decoded into plain
//! tables; and reading a view that Lua code hands back in a call.
//!
//! A view is a LuaJIT FFI object, `struct mesos_view`, that holds a copy of
//! one message's protobuf bytes behind a small header (`view_header`). Its
//! layout is shared with the Lua module: the header and the `cdef` there
//! must agree.

use mlua::prelude::*;

pub use super::view_header::MAGIC;
use crate::wire::direct::find::{self, Found};
use crate::wire::schema::{self, Label, Ty};

/// Type codes of the Lua field descriptors (`view.lua` has the same).
fn ty_code(ty: Ty) -> (u8, Option<u16>) {
    match ty {
        Ty::Double => (1, None),
        Ty::Float => (2, None),
        Ty::Int32 => (3, None),
        Ty::Int64 => (4, None),
        Ty::Uint32 => (5, None),
        Ty::Uint64 => (6, None),
        Ty::Sint32 => (7, None),
        Ty::Sint64 => (8, None),
        Ty::Fixed32 => (9, None),
        Ty::Fixed64 => (10, None),
        Ty::Sfixed32 => (11, None),
        Ty::Sfixed64 => (12, None),
        Ty::Bool => (13, None),
        Ty::String => (14, None),
        Ty::Bytes => (15, None),
        Ty::Enum(e) => (16, Some(e)),
        Ty::Message(m) => (17, Some(m)),
    }
}

/// One message type's fields as Lua tables: `{name = full name, fields =
/// {[field name] = {number, type code, label, sub, index}}}` where `label`
/// is 1 (singular), 2 (repeated) or 3 (map), `sub` the enum or message
/// index (-1: none) and `index` the field's index in the message.
fn message_table(lua: &Lua, id: u16) -> LuaResult<LuaTable> {
    if usize::from(id) >= schema::MESSAGE_COUNT {
        return Err(LuaError::runtime(format!("no message type {id}")));
    }
    let m = schema::msg(id);
    let fields = lua.create_table_with_capacity(0, m.fields.len())?;
    for f in m.fields {
        let (code, sub) = ty_code(f.ty);
        let label = match f.label {
            Label::Optional | Label::Required => 1,
            Label::Repeated => 2,
            Label::Map => 3,
        };
        let d = lua.create_table_with_capacity(5, 0)?;
        d.raw_set(1, f.number)?;
        d.raw_set(2, code)?;
        d.raw_set(3, label)?;
        d.raw_set(4, sub.map_or(-1, i32::from))?;
        d.raw_set(5, m.index(f))?;
        fields.raw_set(f.name, d)?;
    }
    let t = lua.create_table()?;
    t.raw_set("name", m.name)?;
    t.raw_set("fields", fields)?;
    Ok(t)
}

/// An enum's values: `{[number] = name}`.
fn enum_table(lua: &Lua, id: u16) -> LuaResult<LuaTable> {
    if usize::from(id) >= schema::ENUMS.len() {
        return Err(LuaError::runtime(format!("no enum type {id}")));
    }
    let e = schema::enm(id);
    let t = lua.create_table_with_capacity(e.by_number.len(), 0)?;
    for (n, name) in e.by_number {
        t.raw_set(*n, name.text)?;
    }
    Ok(t)
}

/// Where a driver copies the events of one batch for Lua to make views
/// from (by address, without a Lua string per event). Fixed in place for
/// its owner's life; written only by its owner, between Lua's reads.
pub struct Staging {
    base: *mut u8,
    cap: usize,
}

impl Staging {
    /// Room for the events of one batch (a bigger event goes as a string).
    pub const CAPACITY: usize = 256 * 1024;

    pub fn new() -> Staging {
        let b: Box<[u8]> = vec![0u8; Self::CAPACITY].into_boxed_slice();
        let cap = b.len();
        Staging {
            base: Box::into_raw(b).cast::<u8>(),
            cap,
        }
    }

    /// The address Lua reads from.
    pub fn address(&self) -> *mut std::ffi::c_void {
        self.base.cast()
    }

    /// Copies `bytes` to offset `at` if they fit; the offset after them.
    pub fn put(&self, at: usize, bytes: &[u8]) -> Option<usize> {
        let end = at.checked_add(bytes.len())?;
        if end > self.cap {
            return None;
        }
        // SAFETY: `at..end` lies inside the allocation, and `bytes` (a
        // Rust slice from the driver) cannot overlap it.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.add(at), bytes.len()) };
        Some(end)
    }
}

impl Default for Staging {
    fn default() -> Self {
        Staging::new()
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // SAFETY: made by Box::into_raw in `new` with this length.
        unsafe {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.base, self.cap,
            )))
        };
    }
}

// The readers Lua calls through the FFI (function pointers handed over by
// `view_readers`). Each checks its arguments, never unwinds, and answers -1
// for anything it cannot read.

/// Reads singular field `fi` of message `m` from the `n` bytes at `p`.
unsafe extern "C" fn read_field(p: *const u8, n: u32, m: u16, fi: u16, out: *mut Found) -> i32 {
    if p.is_null() || out.is_null() {
        return -1;
    }
    // SAFETY: the Lua side passes a view's own bytes and length, and a
    // `struct mesos_found` it owns.
    let bytes = unsafe { std::slice::from_raw_parts(p, n as usize) };
    match std::panic::catch_unwind(|| find::field(m, usize::from(fi), bytes)) {
        Ok(Ok(f)) => {
            unsafe { out.write(f) };
            0
        }
        _ => -1,
    }
}

/// Reads list field `fi`: up to `cap` items into `items`; how many it has.
unsafe extern "C" fn read_list(
    p: *const u8,
    n: u32,
    m: u16,
    fi: u16,
    items: *mut Found,
    cap: u32,
) -> i32 {
    if p.is_null() || items.is_null() {
        return -1;
    }
    // SAFETY: as read_field; `items` has room for `cap` entries.
    let bytes = unsafe { std::slice::from_raw_parts(p, n as usize) };
    let items = unsafe { std::slice::from_raw_parts_mut(items, cap as usize) };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        find::list(m, usize::from(fi), bytes, items)
    })) {
        Ok(Ok(k)) => i32::try_from(k).unwrap_or(-1),
        _ => -1,
    }
}

/// Writes the merged bodies of message field `fi` to `dst` (`cap` bytes).
unsafe extern "C" fn read_merged(
    p: *const u8,
    n: u32,
    m: u16,
    fi: u16,
    dst: *mut u8,
    cap: u32,
) -> i32 {
    if p.is_null() || dst.is_null() {
        return -1;
    }
    // SAFETY: as read_field; `dst` has room for `cap` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(p, n as usize) };
    let dst = unsafe { std::slice::from_raw_parts_mut(dst, cap as usize) };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        find::merged(m, usize::from(fi), bytes, dst)
    })) {
        Ok(Ok(k)) => i32::try_from(k).unwrap_or(-1),
        _ => -1,
    }
}

type FieldFn = unsafe extern "C" fn(*const u8, u32, u16, u16, *mut Found) -> i32;
type ListFn = unsafe extern "C" fn(*const u8, u32, u16, u16, *mut Found, u32) -> i32;
type MergedFn = unsafe extern "C" fn(*const u8, u32, u16, u16, *mut u8, u32) -> i32;

/// Adds the view primitives to the internal `core` table.
pub fn register(lua: &Lua, core: &LuaTable) -> LuaResult<()> {
    core.set("view_magic", MAGIC)?;
    // view_readers() -> the three readers, as light userdata for ffi.cast.
    core.set(
        "view_readers",
        lua.create_function(|_, ()| {
            let f: FieldFn = read_field;
            let l: ListFn = read_list;
            let g: MergedFn = read_merged;
            Ok((
                LuaLightUserData(f as *mut std::ffi::c_void),
                LuaLightUserData(l as *mut std::ffi::c_void),
                LuaLightUserData(g as *mut std::ffi::c_void),
            ))
        })?,
    )?;
    // schema_names() -> every field and enum value name, by id + 1.
    core.set(
        "schema_names",
        lua.create_function(|lua, ()| super::fast::names(lua))?,
    )?;
    core.set(
        "schema_message",
        lua.create_function(|lua, id: u16| message_table(lua, id))?,
    )?;
    core.set(
        "schema_enum",
        lua.create_function(|lua, id: u16| enum_table(lua, id))?,
    )?;
    core.set(
        "schema_index",
        lua.create_function(|_, name: String| Ok(schema::message(&crate::lua::full_name(&name))))?,
    )?;
    // view_check(message index, bytes) -> true | nil, err: bytes a view
    // can read (what the direct decoder validates).
    core.set(
        "view_check",
        lua.create_function(|_, (id, bytes): (u16, LuaString)| {
            if usize::from(id) >= schema::MESSAGE_COUNT {
                return Err(LuaError::runtime(format!("no message type {id}")));
            }
            let bytes = bytes.as_bytes();
            if crate::wire::direct::pb::check(id, &bytes).is_ok() {
                return Ok((Some(true), None));
            }
            let why = crate::wire::codec::descriptor(schema::msg(id).name)
                .map_err(|e| e.to_string())
                .and_then(|desc| {
                    crate::wire::codec::decode_dynamic(
                        &desc,
                        &bytes,
                        crate::wire::Encoding::Protobuf,
                        false,
                    )
                    .map_err(|e| e.to_string())
                });
            Ok((
                None,
                Some(match why {
                    Err(e) => e,
                    Ok(_) => {
                        "bytes a view cannot read (groups or odd wire types): use mesos.decode"
                            .to_string()
                    }
                }),
            ))
        })?,
    )?;
    // view_plain(message index, bytes) -> table: the eager decoding.
    core.set(
        "view_plain",
        lua.create_function(|lua, (id, bytes): (u16, LuaString)| {
            if usize::from(id) >= schema::MESSAGE_COUNT {
                return Err(LuaError::runtime(format!("no message type {id}")));
            }
            let bytes = bytes.as_bytes();
            if let Some(t) = super::fast::decode(lua, id, &bytes, crate::wire::Encoding::Protobuf)?
            {
                return Ok(t);
            }
            let desc =
                crate::wire::codec::descriptor(schema::msg(id).name).map_err(LuaError::external)?;
            let m = crate::wire::codec::decode_dynamic(
                &desc,
                &bytes,
                crate::wire::Encoding::Protobuf,
                false,
            )
            .map_err(|e| LuaError::runtime(format!("view: {e}")))?;
            super::tables::to_lua(lua, &m)
        })?,
    )?;
    Ok(())
}
