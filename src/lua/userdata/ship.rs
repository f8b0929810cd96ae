//! Shipping the module to agents that do not have it installed
//! (`mesos.module_path`, `mesos.file_server`, `mesos.local_address`): the
//! scheduler serves its own `mesos.so` over HTTP and the agents' fetcher
//! downloads it into each executor's sandbox (see `opts.ship` in
//! `mesos.jobs`). May import `crate::net::http`, `crate::net::transport` (master
//! strings) and `crate::lua::opts`.

use std::collections::HashMap;
use std::net::{IpAddr, UdpSocket};
use std::sync::Arc;

use mlua::prelude::*;

use crate::lua::opts::Opts;
use crate::net::http::Headers;
use crate::net::http::server::{Handler, Reply, Request, Server};
use crate::net::transport::{MasterSpec, parse_master_spec};

/// The path of the shared object this code was loaded from.
fn module_path() -> Option<String> {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let here = module_path as *const libc::c_void;
    // SAFETY: dladdr only reads the address and fills `info`, whose
    // `dli_fname` points into the loader's own (static) tables.
    if unsafe { libc::dladdr(here, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    let path = std::path::Path::new(name.to_str().ok()?);
    std::fs::canonicalize(path)
        .ok()
        .map(|p| p.display().to_string())
}

/// The address of this machine's interface that routes to `host:port` (a
/// UDP "connect" only picks the route; nothing is sent).
pub fn local_address_towards(host: &str, port: u16) -> std::io::Result<IpAddr> {
    let target = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{host}: no address")))?;
    let any = if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let sock = UdpSocket::bind(any)?;
    sock.connect(target)?;
    Ok(sock.local_addr()?.ip())
}

/// `host:port`, with an IPv6 host in brackets.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Where a master string (any form `mesos.scheduler` takes) points first:
/// its first candidate, or the first server of its ZooKeeper ensemble.
fn first_master(spec: &str) -> Result<(String, u16), String> {
    let first = match parse_master_spec(spec).map_err(|e| e.to_string())? {
        MasterSpec::Endpoints(list) => list.into_iter().next().map(|e| (e.host, e.port)),
        MasterSpec::ZooKeeper(zk) => zk.server_list().into_iter().next(),
    };
    first.ok_or_else(|| format!("master {spec:?} names no address"))
}

/// Serves a fixed set of files (read once, when the server starts) for
/// GET and HEAD; any other path is a 404.
fn file_handler(files: HashMap<String, Arc<Vec<u8>>>) -> Handler {
    Arc::new(move |req: Request| {
        if req.method != "GET" && req.method != "HEAD" {
            return Reply::text(405, "GET or HEAD only").with_header("Allow", "GET, HEAD");
        }
        match files.get(&req.path) {
            Some(body) => Reply::Full {
                status: 200,
                headers: Headers::default().with("Content-Type", "application/octet-stream"),
                body: if req.method == "HEAD" {
                    vec![]
                } else {
                    body.as_ref().clone()
                },
            },
            None => Reply::text(404, format!("no file at {}", req.path)),
        }
    })
}

/// `mesos.file_server(opts)`: a running file server; stopped by `close()`
/// or when collected.
struct FileServer {
    server: Option<Server>,
    host: String,
}

impl LuaUserData for FileServer {
    fn add_methods<M: LuaUserDataMethods<Self>>(m: &mut M) {
        m.add_method("port", |_, this, ()| {
            Ok(this.server.as_ref().map(|s| s.addr().port()))
        });
        // url([path]) -> http://host:port/path
        m.add_method("url", |_, this, path: Option<String>| {
            Ok(this.server.as_ref().map(|s| {
                format!(
                    "http://{}{}",
                    authority(&this.host, s.addr().port()),
                    path.unwrap_or_default()
                )
            }))
        });
        m.add_method_mut("close", |_, this, ()| {
            if let Some(mut s) = this.server.take() {
                s.stop();
            }
            Ok(())
        });
    }
}

fn file_server(_: &Lua, t: LuaTable) -> LuaResult<(Option<FileServer>, Option<String>)> {
    let o = Opts::new(&t, "mesos.file_server");
    let host = o.string("host")?.unwrap_or_else(|| "127.0.0.1".into());
    let port = o.integer("port")?.unwrap_or(0);
    let port = u16::try_from(port)
        .map_err(|_| LuaError::runtime("mesos.file_server: opts.port must be 0-65535"))?;
    let list: LuaTable = t.get::<Option<LuaTable>>("files")?.ok_or_else(|| {
        LuaError::runtime("mesos.file_server: opts.files must be a table {path = file}")
    })?;
    let mut files = HashMap::new();
    for pair in list.pairs::<String, String>() {
        let (url_path, file) = pair.map_err(|e| {
            LuaError::runtime(format!(
                "mesos.file_server: opts.files must map URL paths to file names ({e})"
            ))
        })?;
        if !url_path.starts_with('/') {
            return Err(LuaError::runtime(format!(
                "mesos.file_server: URL path {url_path:?} must start with /"
            )));
        }
        match std::fs::read(&file) {
            Ok(bytes) => files.insert(url_path, Arc::new(bytes)),
            Err(e) => return Ok((None, Some(format!("cannot read {file}: {e}")))),
        };
    }
    let bind = authority(&host, port);
    match Server::bind(&bind, file_handler(files)) {
        Ok(server) => Ok((
            Some(FileServer {
                server: Some(server),
                host,
            }),
            None,
        )),
        Err(e) => Ok((None, Some(format!("cannot serve files on {bind}: {e}")))),
    }
}

pub fn register(lua: &Lua, m: &LuaTable) -> LuaResult<()> {
    // mesos.module_path() -> the path of the loaded mesos.so, or nil
    m.set(
        "module_path",
        lua.create_function(|_, ()| Ok(module_path()))?,
    )?;
    // mesos.local_address(host, port | master) -> the address of the
    // interface that routes to host:port (or to where a master string
    // points first) | nil, err
    m.set(
        "local_address",
        lua.create_function(|_, (host, port): (String, Option<u16>)| {
            let (host, port) = match port {
                Some(p) => (host, p),
                None => match first_master(&host) {
                    Ok(hp) => hp,
                    Err(e) => return Ok((None, Some(e))),
                },
            };
            match local_address_towards(&host, port) {
                Ok(ip) => Ok((Some(ip.to_string()), None)),
                Err(e) => Ok((None, Some(format!("no route to {host}:{port}: {e}")))),
            }
        })?,
    )?;
    // mesos.file_server{files = {["/x"] = path}, host =, port =} -> server | nil, err
    m.set("file_server", lua.create_function(file_server)?)?;
    Ok(())
}
