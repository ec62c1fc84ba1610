//! Cancellation through generated runners, for every protocol: when one
//! role's code fails mid-protocol, that role's `execute_as` returns its error
//! and every other role ends at once, either finished or cancelled by the
//! failing role with its reason. The clock is paused, so a wait for a
//! receive timeout would show as virtual time passing: none does.

use choreo_e2e::{compile, decisions_of, peer_in, roster_of};
use choreo_runtime::{ErrorKind, MemoryNetwork, NodeOptions, RoleContext, RunError};
use choreoc::simulate::{simulate, Config};
use futures_util::future::join_all;
use std::time::Duration;
use tokio::time::Instant;

const TIMEOUT: Duration = Duration::from_secs(30);

macro_rules! cancellation {
    ($test:ident, $k:ident, $file:literal) => {
        #[tokio::test(start_paused = true)]
        async fn $test() {
            use $k::scripted::{self, Script, ScriptError};
            let (protocol, projection) = compile(concat!("protocols/", $file));
            let config = Config {
                default_family_size: 3,
                max_paths: 4,
                ..Config::default()
            };
            let report = simulate(&protocol, &projection, &config);
            let path = &report.paths[0];
            let roster = roster_of(&report.processes);
            let mut cancelled_peers = 0;
            for (failing, name) in report.processes.iter().enumerate() {
                for fail_at in [0, 1, 3] {
                    let net = MemoryNetwork::new();
                    let options = || NodeOptions {
                        timeout: TIMEOUT,
                        ..NodeOptions::default()
                    };
                    let nodes: Vec<_> = report
                        .processes
                        .iter()
                        .map(|p| net.node_with(p, options()).expect("node"))
                        .collect();
                    let id = nodes[0].new_session_id();
                    let mut ctxs: Vec<RoleContext> = nodes
                        .iter()
                        .map(|_| {
                            RoleContext::new()
                                .with_capabilities(scripted::CAPABILITIES.iter().copied())
                        })
                        .collect();
                    let mut scripts: Vec<Script> = report
                        .processes
                        .iter()
                        .map(|p| Script::new(decisions_of(&path.decisions, p)))
                        .collect();
                    scripts[failing].fail_at = Some(fail_at);
                    let params = scripted::params(2);
                    let started = Instant::now();
                    let mut runs = Vec::new();
                    for (((p, node), ctx), script) in report
                        .processes
                        .iter()
                        .zip(&nodes)
                        .zip(&mut ctxs)
                        .zip(&mut scripts)
                    {
                        let peer = peer_in(&$k::PROTOCOL, p);
                        let role = $k::Role::ALL
                            .into_iter()
                            .find(|r| r.name() == peer.name())
                            .expect("a role of the protocol");
                        let session = node
                            .session(&$k::PROTOCOL, id, &roster, peer, ctx)
                            .expect("session");
                        runs.push($k::execute_as(script.play(role), session, &params));
                    }
                    let outcomes = join_all(runs).await;
                    assert!(
                        started.elapsed() < TIMEOUT,
                        "{name} at {fail_at}: a timeout elapsed"
                    );
                    let failed = matches!(&outcomes[failing], Err(RunError::Role(ScriptError(_))));
                    for (i, outcome) in outcomes.iter().enumerate() {
                        let who = &report.processes[i];
                        match outcome {
                            Ok(_) => {}
                            Err(RunError::Role(e)) => {
                                assert_eq!(i, failing, "{who} failed by itself: {e}")
                            }
                            Err(RunError::Session(e)) => match e.kind() {
                                ErrorKind::Cancelled { by, reason } => {
                                    assert!(failed, "{who}: cancelled with nobody failing: {e}");
                                    assert_eq!(by.to_string(), *name, "{who}: {e}");
                                    assert!(reason.contains("scripted failure"), "{e}");
                                }
                                _ => panic!("{who} ended with {e} when {name} failed at {fail_at}"),
                            },
                        }
                    }
                    cancelled_peers += outcomes
                        .iter()
                        .filter(|o| matches!(o, Err(RunError::Session(_))))
                        .count();
                }
            }
            assert!(cancelled_peers > 0, "some failure cancelled some peer");
        }
    };
}

cancellation!(
    aura_consensus,
    choreo_aura_consensus,
    "consensus/choreography.choreo"
);
cancellation!(
    amp_transport,
    choreo_amp_transport,
    "transport/choreography.choreo"
);
cancellation!(
    rendezvous_exchange,
    choreo_rendezvous_exchange,
    "rendezvous/protocol.rendezvous_exchange.choreo"
);
cancellation!(
    relayed_rendezvous,
    choreo_relayed_rendezvous,
    "rendezvous/protocol.relayed_rendezvous.choreo"
);
cancellation!(
    guardian_auth_relational,
    choreo_guardian_auth_relational,
    "authentication/guardian_auth_relational.choreo"
);
cancellation!(
    dkd_choreography,
    choreo_dkd_choreography,
    "authentication/dkd.choreo"
);
cancellation!(
    recovery_protocol,
    choreo_recovery_protocol,
    "recovery/recovery_protocol.choreo"
);
cancellation!(
    guardian_membership_change,
    choreo_guardian_membership_change,
    "recovery/guardian_membership.choreo"
);
cancellation!(
    guardian_ceremony,
    choreo_guardian_ceremony,
    "recovery/guardian_ceremony.choreo"
);
cancellation!(
    guardian_setup,
    choreo_guardian_setup,
    "recovery/guardian_setup.choreo"
);
cancellation!(
    invitation_exchange,
    choreo_invitation_exchange,
    "invitation/protocol.invitation_exchange.choreo"
);
cancellation!(
    guardian_invitation,
    choreo_guardian_invitation,
    "invitation/protocol.guardian_invitation.choreo"
);
cancellation!(
    epoch_rotation_protocol,
    choreo_epoch_rotation_protocol,
    "sync/epochs.choreo"
);
cancellation!(
    session_coordination_choreography,
    choreo_session_coordination_choreography,
    "demo/coordination.choreo"
);

/// AmpTransport's Sender with a payload type the Receiver cannot decode.
struct WrongTypes;
impl choreo_amp_transport::Types for WrongTypes {
    type ChannelOpen = String;
    type ChannelAccept = u64;
    type AmpEnvelope = u64;
    type ChannelClose = u64;
}

struct Sender;
impl choreo_amp_transport::Sender for Sender {
    type Types = WrongTypes;
    type Error = String;
    async fn channel_open(&mut self, _to: choreo_runtime::Peer) -> Result<String, String> {
        Ok("not a number".into())
    }
    async fn on_channel_accept(&mut self, _: choreo_runtime::Peer, _: u64) -> Result<(), String> {
        Ok(())
    }
    async fn amp_message(&mut self, _: choreo_runtime::Peer) -> Result<u64, String> {
        Ok(0)
    }
    async fn on_amp_receipt(
        &mut self,
        _: choreo_runtime::Peer,
        _: choreo_amp_transport::msg::AmpReceipt,
    ) -> Result<(), String> {
        Ok(())
    }
    async fn ratchet_checkpoint(
        &mut self,
        _: choreo_runtime::Peer,
    ) -> Result<choreo_amp_transport::msg::RatchetCheckpoint, String> {
        Err("unreachable: the receiver stops first".into())
    }
    async fn on_checkpoint_ack(
        &mut self,
        _: choreo_runtime::Peer,
        _: choreo_amp_transport::msg::CheckpointAck,
    ) -> Result<(), String> {
        Ok(())
    }
    async fn channel_close(&mut self, _: choreo_runtime::Peer) -> Result<u64, String> {
        Ok(0)
    }
}

#[tokio::test(start_paused = true)]
async fn an_undecodable_payload_stops_both_sides_at_once() {
    use choreo_amp_transport as amp;
    let net = MemoryNetwork::new();
    let (s, r) = (net.node("Sender").unwrap(), net.node("Receiver").unwrap());
    let roster = choreo_runtime::Roster::new()
        .with_role("Sender")
        .with_role("Receiver");
    let id = s.new_session_id();
    let caps = amp::scripted::CAPABILITIES.iter().copied();
    let (mut a, mut b) = (
        RoleContext::new().with_capabilities(caps),
        RoleContext::new(),
    );
    let sender = s
        .session(
            &amp::PROTOCOL,
            id,
            &roster,
            choreo_runtime::Peer::role("Sender"),
            &mut a,
        )
        .unwrap();
    let receiver = r
        .session(
            &amp::PROTOCOL,
            id,
            &roster,
            choreo_runtime::Peer::role("Receiver"),
            &mut b,
        )
        .unwrap();
    let mut script = amp::scripted::Script::default();
    let mut code = Sender;
    let params = amp::scripted::params(1);
    let started = Instant::now();
    let (sent, received) = tokio::join!(
        amp::execute_as(amp::As::Sender(&mut code), sender, &params),
        amp::execute_as(script.play(amp::Role::Receiver), receiver, &params),
    );
    let decode = received.unwrap_err();
    assert!(
        matches!(
            decode.session().map(|e| e.kind()),
            Some(ErrorKind::Decode { .. })
        ),
        "{decode}"
    );
    match sent.unwrap_err() {
        RunError::Session(e) => match e.kind() {
            ErrorKind::Cancelled { by, reason } => {
                assert_eq!(by.to_string(), "Receiver");
                assert!(reason.contains("undecodable"), "{reason}");
            }
            _ => panic!("expected a cancellation, got {e}"),
        },
        other => panic!("expected a cancellation, got {other}"),
    }
    assert!(started.elapsed() < TIMEOUT);
}
