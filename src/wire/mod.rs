//! Wire formats: generated Mesos v1 types, RecordIO framing, and the two
//! encodings (protobuf and Mesos JSON). Nothing here touches a socket.

pub mod codec;
pub mod direct;
pub mod json;
pub mod limits;
pub mod recordio;
pub mod schema;

/// Types generated from `proto/` (Mesos v1 names and field numbers).
#[allow(clippy::all, missing_docs)]
pub mod pb {
    pub mod mesos {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/mesos.v1.rs"));
            pub mod scheduler {
                include!(concat!(env!("OUT_DIR"), "/mesos.v1.scheduler.rs"));
            }
            pub mod executor {
                include!(concat!(env!("OUT_DIR"), "/mesos.v1.executor.rs"));
            }
            pub mod allocator {
                include!(concat!(env!("OUT_DIR"), "/mesos.v1.allocator.rs"));
            }
            pub mod maintenance {
                include!(concat!(env!("OUT_DIR"), "/mesos.v1.maintenance.rs"));
            }
            pub mod quota {
                include!(concat!(env!("OUT_DIR"), "/mesos.v1.quota.rs"));
            }
            pub mod master {
                include!(concat!(env!("OUT_DIR"), "/mesos.v1.master.rs"));
            }
            pub mod agent {
                include!(concat!(env!("OUT_DIR"), "/mesos.v1.agent.rs"));
            }
        }
    }
    pub mod google {
        pub mod protobuf {
            include!(concat!(env!("OUT_DIR"), "/google.protobuf.rs"));
        }
    }
    pub use mesos::v1::*;
}

pub use codec::{CodecError, Encoding};
