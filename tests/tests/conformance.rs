//! Trace conformance of every protocol in `protocols/`: all roles run through
//! their generated runners over the in-memory runtime, on every path that
//! `choreoc simulate` explores (every combination of choices and loop
//! decisions, up to two rounds), with families of 1 and 5 members. Each
//! role's trace of sent and received messages must be exactly the trace of
//! the same process in the simulation of the global protocol's projections.

use std::sync::Arc;

use choreo_e2e::{compile, decisions_of, peer_in, roster_of};
use choreo_runtime::{MemoryNetwork, RoleContext};
use choreoc::simulate::{simulate, Config, Outcome};
use tokio::sync::Barrier;

macro_rules! conformance {
    ($test:ident, $k:ident, $file:literal) => {
        conformance!($test, $k, $file, [1usize, 5]);
    };
    ($test:ident, $k:ident, $file:literal, $sizes:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            use $k::scripted::{self, Script};
            let (protocol, projection) = compile(concat!("protocols/", $file));
            for size in $sizes {
                let config = Config {
                    default_family_size: size,
                    max_paths: 64,
                    ..Config::default()
                };
                let report = simulate(&protocol, &projection, &config);
                assert!(!report.paths.is_empty());
                for path in &report.paths {
                    assert_eq!(path.outcome, Outcome::Finished, "{}", report);
                    let roster = roster_of(&report.processes);
                    let net = MemoryNetwork::new();
                    let id = net.node("ids").expect("node").new_session_id();
                    // Every role joins the session before any of them sends.
                    let joined = Arc::new(Barrier::new(report.processes.len()));
                    let mut tasks = Vec::new();
                    for name in &report.processes {
                        let peer = peer_in(&$k::PROTOCOL, name);
                        let role = $k::Role::ALL
                            .into_iter()
                            .find(|r| r.name() == peer.name())
                            .expect("a role of the protocol");
                        let decisions = decisions_of(&path.decisions, name);
                        let node = net.node(name).expect("node");
                        let (roster, joined) = (roster.clone(), joined.clone());
                        tasks.push(tokio::spawn(async move {
                            let mut ctx = RoleContext::new()
                                .with_capabilities(scripted::CAPABILITIES.iter().copied())
                                .with_default_budget(1 << 40);
                            let mut script = Script::new(decisions);
                            let session = node
                                .session(&$k::PROTOCOL, id, &roster, peer, &mut ctx)
                                .expect("session");
                            joined.wait().await;
                            let params = scripted::params(2);
                            $k::execute_as(script.play(role), session, &params)
                                .await
                                .map(|_| script.trace)
                        }));
                    }
                    for (i, task) in tasks.into_iter().enumerate() {
                        let trace = task.await.expect("no role panics").unwrap_or_else(|e| {
                            panic!("{} runs to the end: {e}", report.processes[i])
                        });
                        assert_eq!(
                            trace, path.traces[i],
                            "{}: {} on path {:?} with families of {size}",
                            $file, report.processes[i], path.decisions
                        );
                    }
                }
            }
        }
    };
}

conformance!(
    aura_consensus,
    choreo_aura_consensus,
    "consensus/choreography.choreo"
);
conformance!(
    amp_transport,
    choreo_amp_transport,
    "transport/choreography.choreo"
);
conformance!(
    rendezvous_exchange,
    choreo_rendezvous_exchange,
    "rendezvous/protocol.rendezvous_exchange.choreo"
);
conformance!(
    relayed_rendezvous,
    choreo_relayed_rendezvous,
    "rendezvous/protocol.relayed_rendezvous.choreo"
);
conformance!(
    guardian_auth_relational,
    choreo_guardian_auth_relational,
    "authentication/guardian_auth_relational.choreo"
);
conformance!(
    dkd_choreography,
    choreo_dkd_choreography,
    "authentication/dkd.choreo"
);
conformance!(
    recovery_protocol,
    choreo_recovery_protocol,
    "recovery/recovery_protocol.choreo"
);
conformance!(
    guardian_membership_change,
    choreo_guardian_membership_change,
    "recovery/guardian_membership.choreo"
);
conformance!(
    guardian_ceremony,
    choreo_guardian_ceremony,
    "recovery/guardian_ceremony.choreo"
);
conformance!(
    guardian_setup,
    choreo_guardian_setup,
    "recovery/guardian_setup.choreo"
);
conformance!(
    invitation_exchange,
    choreo_invitation_exchange,
    "invitation/protocol.invitation_exchange.choreo"
);
conformance!(
    guardian_invitation,
    choreo_guardian_invitation,
    "invitation/protocol.guardian_invitation.choreo"
);
conformance!(
    epoch_rotation_protocol,
    choreo_epoch_rotation_protocol,
    "sync/epochs.choreo"
);
conformance!(
    session_coordination_choreography,
    choreo_session_coordination_choreography,
    "demo/coordination.choreo"
);

// The fixture names members 0 to 2, so its family has at least 3.
conformance!(
    fixture,
    choreo_fixture,
    "../tests/fixtures/fixture.choreo",
    [3usize, 5]
);
