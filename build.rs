//! Generates the Rust types for our `proto/` files with prost, compiling the
//! schema with protox so that no system `protoc` is needed. The encoded
//! descriptor set is kept too: the Mesos-JSON codec and the Lua converter walk
//! it at run time. Also lists the Lua files under `lua/mesos/` that the
//! module embeds.

use std::path::PathBuf;

#[path = "build/embedded_lua.rs"]
mod embedded_lua;
#[path = "build/schema.rs"]
mod schema;

const PROTOS: &[&str] = &[
    "proto/mesos/v1/mesos.proto",
    "proto/mesos/v1/scheduler/scheduler.proto",
    "proto/mesos/v1/executor/executor.proto",
    "proto/mesos/v1/allocator/allocator.proto",
    "proto/mesos/v1/maintenance/maintenance.proto",
    "proto/mesos/v1/quota/quota.proto",
    "proto/mesos/v1/master/master.proto",
    "proto/mesos/v1/agent/agent.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(PROTOS, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed=lua/mesos");
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    std::fs::write(out.join("embedded_lua.rs"), embedded_lua::generate(&root)?)?;
    // The embedded set needs no comments (source info): it is decoded at
    // run time, and smaller is faster.
    let mut stripped = fds.clone();
    for f in &mut stripped.file {
        f.source_code_info = None;
    }
    std::fs::write(
        out.join("descriptors.bin"),
        prost::Message::encode_to_vec(&stripped),
    )?;
    std::fs::write(out.join("schema.rs"), schema::generate(&fds))?;
    // `google.protobuf.Duration` (DRAIN_AGENT) is generated here too rather
    // than taken from prost-types.
    prost_build::Config::new()
        .enable_type_names()
        .compile_well_known_types()
        .compile_fds(fds)?;
    Ok(())
}
