//! The master's agents: registering them when the cluster starts (each
//! with its own fetcher and sandbox root), and the master's side of agent
//! restarts: a stopped agent is deactivated (its
//! offers rescinded, nothing offered, calls for it dropped or kept); once
//! it is back and has recovered it re-registers (`Master::reconcileKnownSlave`):
//! the tasks it no longer knows are reconciled through it, the executors it
//! no longer knows are removed, kills made while it was away are retried,
//! and frameworks removed meanwhile are shut down on it.

//!
//! May import: `model`, `agent`, and the cluster's leaf modules.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::agent_admin::Removal;
use super::model::{Master, master_capabilities};
use crate::local::agent::{Agent, AgentFlags};
use crate::local::fetcher::{Fetcher, FetcherConfig};
use crate::local::protocol::{VERSION, agent_id, now_secs};
use crate::wire::pb;

impl Master {
    /// Called once the servers listen: fixes the addresses, registers the
    /// agents (one per address in `agent_addrs`).
    pub fn start(&mut self, addr: SocketAddr, agent_addrs: &[SocketAddr]) {
        let ip = match addr.ip() {
            std::net::IpAddr::V4(v4) if !v4.is_unspecified() => v4,
            _ => std::net::Ipv4Addr::LOCALHOST,
        };
        let host = self.cfg.hostname.clone();
        let port = addr.port();
        self.addr = Some(addr);
        self.info = pb::MasterInfo {
            id: self.id.clone(),
            // The IPv4 address in network byte order, read as a host integer.
            ip: u32::from_ne_bytes(ip.octets()),
            port: u32::from(port),
            pid: Some(format!("master@{ip}:{port}")),
            hostname: Some(host.clone()),
            version: Some(VERSION.into()),
            address: Some(pb::Address {
                hostname: Some(host.clone()),
                ip: Some(ip.to_string()),
                port: i32::from(port),
            }),
            capabilities: master_capabilities(),
            ..Default::default()
        };
        for agent_addr in agent_addrs {
            self.register_agent(*agent_addr);
        }
        self.next_allocation = Instant::now();
        self.started = true;
    }

    /// The id the next agent to register gets.
    pub fn next_agent_id(&self) -> String {
        agent_id(&self.id, self.settings.agent_registrations as usize)
    }

    /// Registers the next agent, listening at `agent_addr`; its id.
    pub fn register_agent(&mut self, agent_addr: SocketAddr) -> String {
        let n = self.settings.agent_registrations as usize;
        self.settings.agent_registrations += 1;
        let ip = self
            .info
            .address
            .as_ref()
            .and_then(|a| a.ip.clone())
            .unwrap_or_else(|| "127.0.0.1".into());
        let host = self.cfg.hostname.clone();
        let agent_id = agent_id(&self.id, n);
        let agent_port = agent_addr.port();
        let info = pb::AgentInfo {
            hostname: host,
            port: Some(i32::from(agent_port)),
            resources: self.agent_total.to_proto(false, None),
            id: Some(pb::AgentId {
                value: agent_id.clone(),
            }),
            ..Default::default()
        };
        let dir = self.work_dir.join("agents").join(&agent_id);
        let fetcher = Fetcher::new(FetcherConfig {
            cache_dir: self
                .cfg
                .fetcher_cache_dir
                .clone()
                .unwrap_or_else(|| self.work_dir.join("fetch"))
                .join(format!("agent-{n}")),
            cache_size: self.cfg.fetcher_cache_size,
            stall_timeout: self.cfg.fetcher_stall_timeout,
            ca_file: self.cfg.tls_ca_file.clone(),
        });
        self.agents.insert(
            agent_id.clone(),
            Agent::new(
                agent_id.clone(),
                format!("{ip}:{agent_port}"),
                info,
                self.agent_total.clone(),
                dir,
                AgentFlags::from_config(&self.cfg),
                Arc::new(fetcher),
            ),
        );
        self.agent_registered.insert(agent_id.clone(), now_secs());
        self.op_agent_added(&agent_id);
        self.allocate_soon();
        agent_id
    }

    /// The agent shut down for good and unregistered (`Master::unregisterSlave`).
    pub fn unregister_agent(&mut self, agent_id: &str) {
        if self.agents.contains_key(agent_id) {
            self.settings.agent_removals += 1;
            self.remove_agent(agent_id, Removal::Unregistered);
            self.pump();
        }
    }

    /// The agent's process died.
    pub fn stop_agent(&mut self, agent_id: &str) {
        let Some(a) = self.agents.get_mut(agent_id) else {
            return;
        };
        if !a.running {
            return;
        }
        a.stop();
        let offers: Vec<String> = self
            .offers
            .iter()
            .filter(|(_, o)| o.agent_id == agent_id)
            .map(|(id, _)| id.clone())
            .collect();
        for id in offers {
            self.remove_offer(&id, true);
        }
        self.wake();
    }

    /// The agent process is back; it re-registers once it has recovered
    /// (see [`Master::reregister_ready_agents`]).
    pub fn start_agent(&mut self, agent_id: &str) {
        let Some(a) = self.agents.get_mut(agent_id) else {
            return;
        };
        if a.running {
            return;
        }
        a.recover(Instant::now());
        self.pump();
        self.wake();
    }

    /// Re-registers the agents that have finished recovering
    /// (`Master::reregisterSlave` + `reconcileKnownSlave`).
    pub(super) fn reregister_ready_agents(&mut self) {
        let ready: Vec<String> = self
            .agents
            .values()
            .filter(|a| !a.registered && a.recovered())
            .map(|a| a.id.clone())
            .collect();
        for agent_id in ready {
            self.reregister(&agent_id);
        }
    }

    fn reregister(&mut self, agent_id: &str) {
        let Some(a) = self.agents.get_mut(agent_id) else {
            return;
        };
        a.reregistered(Instant::now());
        self.agent_reregistered
            .insert(agent_id.to_string(), now_secs());
        // A drain ordered while the agent was away reaches it now.
        if let Some(d) = self
            .admin
            .get(agent_id)
            .and_then(|x| x.drain.as_ref())
            .filter(|d| !d.drained)
        {
            a.drain(&d.config);
        }
        for fw in self.frameworks.values_mut() {
            let tasks: Vec<String> = fw
                .tasks
                .values()
                .filter(|t| t.task.agent_id.value == agent_id)
                .map(|t| t.task.task_id.value.clone())
                .collect();
            if !tasks.is_empty() {
                a.reconcile_tasks(&fw.info, &tasks);
            }
            // Executors the agent forgot: their resources are free again.
            fw.executors
                .retain(|(agent, exec), _| agent != agent_id || a.knows_executor(&fw.id, exec));
        }
        for (fw_id, task_id) in self.pending_kills.remove(agent_id).unwrap_or_default() {
            a.kill_task(&fw_id, &task_id, None);
        }
        for fw_id in a.framework_ids() {
            if !self.frameworks.contains_key(&fw_id) {
                a.shutdown_framework(&fw_id);
            }
        }
        self.allocate_soon();
    }
}
