//! Shared set-up of the end-to-end tests: one in-memory network per session,
//! one adapter per peer with the capabilities its sends need.

#![allow(dead_code)]

use std::collections::BTreeMap;

use choreo_runtime::{
    Adapter, Effects, InMemoryNetwork, MemoryEndpoint, Peer, RoleContext, Roster,
};

/// An adapter over the in-memory transport.
pub type Local = Adapter<Effects<MemoryEndpoint>>;

/// Flow budget per peer: more than any session of the tests spends.
pub const BUDGET: u64 = 1_000;

/// A role context holding `capabilities` and [`BUDGET`] for every peer.
pub fn context(capabilities: &[&str]) -> RoleContext {
    RoleContext::new()
        .with_capabilities(capabilities.iter().copied())
        .with_default_budget(BUDGET)
}

/// One adapter per peer of `roster`, joined to a fresh network before any
/// runs; `capabilities` gives each peer's by role (or family) name.
pub fn session(
    protocol: &'static str,
    roster: &Roster,
    capabilities: &[(&str, &[&str])],
) -> BTreeMap<Peer, Local> {
    let network = InMemoryNetwork::new();
    let endpoints = network.endpoints(roster).expect("fresh network");
    endpoints
        .into_iter()
        .map(|(peer, endpoint)| {
            let caps = capabilities
                .iter()
                .find(|(name, _)| *name == peer.name())
                .map(|(_, caps)| *caps)
                .unwrap_or(&[]);
            let effects = Effects::new(endpoint, roster.clone());
            let adapter = Adapter::new(protocol, effects, context(caps));
            (peer, adapter)
        })
        .collect()
}

/// Takes the adapter of `peer` out of `adapters`.
pub fn take(adapters: &mut BTreeMap<Peer, Local>, peer: &Peer) -> Local {
    adapters.remove(peer).expect("peer in roster")
}
