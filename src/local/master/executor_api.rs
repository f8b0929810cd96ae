//! The executor API as the master relays it to the agent an endpoint
//! belongs to (the master owns the agents; the HTTP endpoint is
//! `local::agent_api`), then processes what the agent queued.
//!
//! May import: `model`, `agent`, and the cluster's leaf modules.

use crossbeam_channel::Receiver;

use super::model::Master;
use crate::local::agent::HttpError;
use crate::wire::codec::Encoding;
use crate::wire::pb;
use crate::wire::pb::executor as executor_pb;

impl Master {
    /// The executor an authentication token belongs to, on an agent.
    pub fn token_claims(&self, agent_id: &str, token: &str) -> Option<(String, String, String)> {
        self.agents.get(agent_id)?.token_claims(token)
    }

    pub fn executor_lookup(
        &self,
        agent_id: &str,
        fw_id: &str,
        exec_id: &str,
        claims: Option<&(String, String, String)>,
    ) -> Result<bool, HttpError> {
        match self.agents.get(agent_id) {
            Some(a) if !a.running => Err((503, "Agent has not finished recovery".into())),
            Some(a) => a.executor_lookup(fw_id, exec_id, claims),
            None => Err((400, "Framework cannot be found".into())),
        }
    }

    pub fn executor_subscribe(
        &mut self,
        agent_id: &str,
        fw_id: &str,
        exec_id: &str,
        sub: executor_pb::call::Subscribe,
        enc: Encoding,
    ) -> Option<(Receiver<Vec<u8>>, u64)> {
        let a = self.agents.get_mut(agent_id)?;
        let r = a.executor_subscribe(fw_id, exec_id, sub, enc);
        self.pump();
        self.wake();
        Some(r)
    }

    pub fn executor_update(
        &mut self,
        agent_id: &str,
        fw_id: &str,
        exec_id: &str,
        status: pb::TaskStatus,
    ) {
        if let Some(a) = self.agents.get_mut(agent_id) {
            a.executor_update(fw_id, exec_id, status);
        }
        self.pump();
        self.wake();
    }

    pub fn executor_message(&mut self, agent_id: &str, fw_id: &str, exec_id: &str, data: Vec<u8>) {
        if let Some(a) = self.agents.get_mut(agent_id) {
            a.executor_message(fw_id, exec_id, data);
        }
        self.pump();
    }

    pub fn executor_stream_closed(
        &mut self,
        agent_id: &str,
        fw_id: &str,
        exec_id: &str,
        conn_id: u64,
    ) {
        if let Some(a) = self.agents.get_mut(agent_id) {
            a.executor_stream_closed(fw_id, exec_id, conn_id);
        }
    }
}
