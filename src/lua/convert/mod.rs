//! How Lua values and Mesos messages become each other. The general path
//! walks the descriptors (`tables`); the fast paths read and write Lua
//! tables with the raw C API: decoding into tables (`fast`), encoding from
//! them (`encode`), lazy views (`views`, `view_header`), reconcile lists
//! (`reconcile`) and event batches for views (`event_batch`). Every `unsafe`
//! of the binding that touches the Lua C API lives in this folder.
//! May import: the wire layer and the driver's outputs; nothing else of the
//! binding but `crate::lua::full_name`.

pub(crate) mod encode;
pub(crate) mod event_batch;
pub(crate) mod fast;
pub(crate) mod reconcile;
mod tables;
pub(crate) mod view_header;
pub(crate) mod views;

use mlua::prelude::*;

pub use tables::*;

/// A Lua table as a generated message, straight through protobuf bytes
/// (`encode::encode_pb`), when the direct encoder takes it.
pub(crate) fn direct<M: prost::Message + Default>(
    lua: &Lua,
    name: &str,
    v: &LuaValue,
) -> LuaResult<Option<M>> {
    let Some(m) = crate::wire::schema::message(name) else {
        return Ok(None);
    };
    Ok(encode::encode_pb(lua, m, v)?.and_then(|b| M::decode(b.as_slice()).ok()))
}
