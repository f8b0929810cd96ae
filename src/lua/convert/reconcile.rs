//! `driver:reconcile(tasks)` read straight from the Lua list with the raw C
//! API: no table per task, no encoding and decoding on the way.

use mlua::prelude::*;

use crate::wire::pb::scheduler::Call;

/// The RECONCILE call for `driver:reconcile(tasks)`, read straight from the
/// Lua list (no table per task, no encoding and decoding on the way): each
/// item a task id (a string, `{value = ...}` or a TaskID view) or
/// `{task_id = id, agent_id = id}`. `None` for anything else, which the
/// general path then takes (and words the error for).
pub(crate) fn reconcile_call(lua: &Lua, list: &LuaTable) -> LuaResult<Option<Call>> {
    use crate::wire::pb::scheduler::call::{self, reconcile};
    let mut tasks: Vec<reconcile::Task> = Vec::new();
    let mut ok = false;
    // SAFETY: reads only (raw gets, no metamethods) of the list at index 1
    // and what it holds; `tasks` lives outside the protected call.
    unsafe {
        lua.exec_raw::<()>(list, |l| {
            ok = reconcile_tasks(l, &mut tasks).is_some();
            mlua::ffi::lua_settop(l, 0);
        })?;
    }
    if !ok {
        return Ok(None);
    }
    Ok(Some(Call {
        r#type: Some(call::Type::Reconcile as i32),
        reconcile: Some(call::Reconcile { tasks }),
        ..Default::default()
    }))
}

/// The id at `idx`: a string, a table whose `value` is a string, or a view
/// of message `view_type`.
unsafe fn id_at(l: *mut mlua::ffi::lua_State, idx: i32, view_type: &str) -> Option<String> {
    use mlua::ffi;
    unsafe {
        let text = |i: i32| -> Option<String> {
            let mut len = 0usize;
            let p = ffi::lua_tolstring(l, i, &mut len);
            if p.is_null() {
                return None;
            }
            String::from_utf8(std::slice::from_raw_parts(p.cast::<u8>(), len).to_vec()).ok()
        };
        match ffi::lua_type(l, idx) {
            ffi::LUA_TSTRING => text(idx),
            ffi::LUA_TTABLE => {
                ffi::lua_pushstring(l, c"value".as_ptr());
                ffi::lua_rawget(l, idx);
                let v = if ffi::lua_type(l, -1) == ffi::LUA_TSTRING {
                    text(-1)
                } else {
                    None
                };
                ffi::lua_settop(l, -2);
                v
            }
            _ => {
                let (m, bytes) = super::view_header::at(l, idx)?;
                if crate::wire::schema::msg(m).name != view_type {
                    return None;
                }
                let id = <crate::wire::pb::TaskId as prost::Message>::decode(bytes).ok()?;
                Some(id.value)
            }
        }
    }
}

/// The tasks of the list at index 1, or None at the first item the fast
/// path does not take.
unsafe fn reconcile_tasks(
    l: *mut mlua::ffi::lua_State,
    tasks: &mut Vec<crate::wire::pb::scheduler::call::reconcile::Task>,
) -> Option<()> {
    use crate::wire::pb::{AgentId, TaskId, scheduler::call::reconcile::Task};
    use mlua::ffi;
    unsafe {
        if ffi::lua_checkstack(l, 4) == 0 {
            return None;
        }
        let n = ffi::lua_rawlen(l, 1);
        tasks.reserve(n);
        for i in 1..=n {
            ffi::lua_rawgeti(l, 1, i as ffi::lua_Integer);
            let item = ffi::lua_gettop(l);
            let task = match id_at(l, item, "mesos.v1.TaskID") {
                Some(value) => Task {
                    task_id: TaskId { value },
                    agent_id: None,
                },
                None if ffi::lua_type(l, item) == ffi::LUA_TTABLE => {
                    ffi::lua_pushstring(l, c"task_id".as_ptr());
                    ffi::lua_rawget(l, item);
                    let task_id = id_at(l, item + 1, "mesos.v1.TaskID");
                    ffi::lua_pushstring(l, c"agent_id".as_ptr());
                    ffi::lua_rawget(l, item);
                    let agent_id = match ffi::lua_type(l, item + 2) {
                        ffi::LUA_TNIL => Some(None),
                        _ => id_at(l, item + 2, "mesos.v1.AgentID")
                            .map(|value| Some(AgentId { value })),
                    };
                    Task {
                        task_id: TaskId { value: task_id? },
                        agent_id: agent_id?,
                    }
                }
                None => return None,
            };
            tasks.push(task);
            ffi::lua_settop(l, item - 1);
        }
        Some(())
    }
}
