//! Lists the Lua files under `lua/mesos/` for the native module to embed:
//! one `(module name, include_str!(path))` pair per file, the module name
//! being the path (`lua/mesos/tasks/jobs.lua` is `mesos.tasks.jobs`,
//! `lua/mesos/tasks/init.lua` is `mesos.tasks`). The
//! list is generated so that a new Lua file needs no Rust edit.

use std::path::{Path, PathBuf};

/// Every `.lua` file under `dir`, sorted.
fn lua_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            lua_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "lua") {
            out.push(path);
        }
    }
    Ok(())
}

/// The Rust source of the list for the files under `root/lua/mesos`.
pub fn generate(root: &Path) -> Result<String, Box<dyn std::error::Error>> {
    let lua = root.join("lua");
    let mut files = Vec::new();
    lua_files(&lua.join("mesos"), &mut files)?;
    files.sort();
    let mut src = String::from(
        "/// Every Lua file of `lua/mesos/`: (module name, source).\n\
         pub const FILES: &[(&str, &str)] = &[\n",
    );
    for path in &files {
        let rel = path.strip_prefix(&lua)?.with_extension("");
        let mut parts: Vec<&str> = rel
            .components()
            .map(|c| {
                c.as_os_str()
                    .to_str()
                    .ok_or("a Lua file name that is not UTF-8")
            })
            .collect::<Result<_, _>>()?;
        // `x/init.lua` is module `x`, as Lua's `?/init.lua` path finds it.
        if parts.len() > 2 && parts.last() == Some(&"init") {
            parts.pop();
        }
        src.push_str(&format!(
            "    ({:?}, include_str!({:?})),\n",
            parts.join("."),
            path.display().to_string()
        ));
    }
    src.push_str("];\n");
    Ok(src)
}
