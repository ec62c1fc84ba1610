//! Helpers shared by the integration tests: a network of roles on the in-memory transport.
#![allow(dead_code)]

use std::time::Duration;

use choreo_runtime::{
    Adapter, ChoreographicEffects, Effects, ErrorKind, InMemoryNetwork, MemoryEndpoint, Peer,
    RoleContext, Roster,
};

/// An adapter on the in-memory transport.
pub type Role = Adapter<Effects<MemoryEndpoint>>;

/// The receive timeout used by the tests (virtual time: tests run with a paused clock).
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// The protocol name used by the tests.
pub const PROTOCOL: &str = "TestProtocol";

/// `Initiator` plus the family `Guardian` of `n` members.
pub fn ceremony(n: u32) -> Roster {
    Roster::new()
        .with_role("Initiator")
        .with_family("Guardian", n)
}

/// `Guardian[i]`.
pub fn guardian(i: u32) -> Peer {
    Peer::member("Guardian", i)
}

/// `Initiator`.
pub fn initiator() -> Peer {
    Peer::role("Initiator")
}

/// A started adapter for `peer` on `net`.
pub fn role(net: &InMemoryNetwork, roster: &Roster, peer: Peer, ctx: RoleContext) -> Role {
    let endpoint = net.endpoint(peer).expect("fresh peer");
    let effects = Effects::new(endpoint, roster.clone()).with_timeout(TIMEOUT);
    let mut adapter = Adapter::new(PROTOCOL, effects, ctx);
    adapter.start().expect("session starts");
    adapter
}

/// Messages the role's transport accepted in the current session.
pub fn sent(role: &Role) -> u64 {
    role.effects()
        .metrics()
        .expect("active session")
        .messages_sent
}

/// Asserts that nothing from `from` reaches `role` (its receive times out).
pub async fn receives_nothing(role: &mut Role, from: &Peer) {
    let err = role
        .recv::<Vec<u8>>(from, "Any")
        .await
        .expect_err("nothing was sent");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Receive(choreo_runtime::EffectError::Timeout { .. })
        ),
        "{err}"
    );
}
