//! SessionCoordinationChoreography end to end: every participant chooses on
//! its own (a family chooser), the coordinator learns each choice from that
//! member's first message, then reports success or failure. Every
//! combination of accept/reject for 1 and 5 participants, both outcomes.

use choreo_e2e::{local_type, predict, Event};
use choreo_runtime::{Adapter, Effects, InMemoryNetwork, Peer, RoleContext, Roster};
use choreo_session_coordination_choreography as sc;
use sc::choice::{AcceptOrReject, FailureOrSuccess};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

struct Types;
impl sc::Types for Types {
    type SessionRequest = String;
    type SessionResponse = u32;
    type SessionHandle = u64;
}

type Trace = Arc<Mutex<Vec<Event>>>;

/// Every role holds the capabilities the protocol's sends require, and more
/// flow budget than any run spends.
fn context() -> RoleContext {
    RoleContext::new()
        .with_capabilities(["session:create", "session:join"])
        .with_default_budget(100)
}

fn log(trace: &Trace, e: String) {
    trace.lock().expect("trace").push(e);
}

struct Coordinator {
    trace: Trace,
    accepted: Vec<u32>,
}

impl sc::Coordinator<Types> for Coordinator {
    fn session_invite(&mut self, to: &Peer) -> String {
        log(&self.trace, format!("!{to}.SessionInvite"));
        "join".into()
    }
    fn on_session_accept(&mut self, from: &Peer, msg: u32) {
        assert_eq!(Some(msg), from.index());
        self.accepted.push(msg);
        log(&self.trace, format!("?{from}.SessionAccept"));
    }
    fn on_session_reject(&mut self, from: &Peer, _msg: sc::msg::SessionReject) {
        log(&self.trace, format!("?{from}.SessionReject"));
    }
    fn choose_failure_or_success(&mut self) -> FailureOrSuccess {
        // Success when at least one participant accepted.
        if self.accepted.is_empty() {
            FailureOrSuccess::Failure
        } else {
            FailureOrSuccess::Success
        }
    }
    fn session_aborted(&mut self, to: &Peer) -> sc::msg::SessionAborted {
        log(&self.trace, format!("!{to}.SessionAborted"));
        sc::msg::SessionAborted {
            reason: "nobody came".into(),
        }
    }
    fn session_established(&mut self, to: &Peer) -> u64 {
        log(&self.trace, format!("!{to}.SessionEstablished"));
        42
    }
    fn on_outcome_ack(&mut self, from: &Peer, _msg: sc::msg::OutcomeAck) {
        log(&self.trace, format!("?{from}.OutcomeAck"));
    }
}

struct Participant {
    trace: Trace,
    accept: bool,
}

impl sc::Participants<Types> for Participant {
    fn on_session_invite(&mut self, from: &Peer, _msg: String) {
        log(&self.trace, format!("?{from}.SessionInvite"));
    }
    fn choose_accept_or_reject(&mut self) -> AcceptOrReject {
        if self.accept {
            AcceptOrReject::Accept
        } else {
            AcceptOrReject::Reject
        }
    }
    fn session_accept(&mut self, to: &Peer) -> u32 {
        log(&self.trace, format!("!{to}.SessionAccept"));
        0
    }
    fn session_reject(&mut self, to: &Peer) -> sc::msg::SessionReject {
        log(&self.trace, format!("!{to}.SessionReject"));
        sc::msg::SessionReject {
            reason: "busy".into(),
        }
    }
    fn on_session_aborted(&mut self, from: &Peer, _msg: sc::msg::SessionAborted) {
        log(&self.trace, format!("?{from}.SessionAborted"));
    }
    fn on_session_established(&mut self, from: &Peer, msg: u64) {
        assert_eq!(msg, 42);
        log(&self.trace, format!("?{from}.SessionEstablished"));
    }
    fn outcome_ack(&mut self, to: &Peer) -> sc::msg::OutcomeAck {
        log(&self.trace, format!("!{to}.OutcomeAck"));
        sc::msg::OutcomeAck {
            session_id: [0; 16],
        }
    }
}

/// Participant `k` answers with its own index, so the coordinator can check
/// that each answer came from the member it says it came from.
struct Indexed(Participant, u32);

impl sc::Participants<Types> for Indexed {
    fn on_session_invite(&mut self, from: &Peer, msg: String) {
        self.0.on_session_invite(from, msg)
    }
    fn choose_accept_or_reject(&mut self) -> AcceptOrReject {
        self.0.choose_accept_or_reject()
    }
    fn session_accept(&mut self, to: &Peer) -> u32 {
        self.0.session_accept(to);
        self.1
    }
    fn session_reject(&mut self, to: &Peer) -> sc::msg::SessionReject {
        self.0.session_reject(to)
    }
    fn on_session_aborted(&mut self, from: &Peer, msg: sc::msg::SessionAborted) {
        self.0.on_session_aborted(from, msg)
    }
    fn on_session_established(&mut self, from: &Peer, msg: u64) {
        self.0.on_session_established(from, msg)
    }
    fn outcome_ack(&mut self, to: &Peer) -> sc::msg::OutcomeAck {
        self.0.outcome_ack(to)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_combination_of_choices_conforms() {
    const FILE: &str = "demo/coordination.choreo";
    for n in [1u32, 5] {
        for mask in 0..(1u32 << n) {
            let accepts: Vec<bool> = (0..n).map(|k| mask & (1 << k) != 0).collect();
            if n == 5 && ![0, 0b10110, 0b11111].contains(&mask) {
                continue; // three representative mixes for 5 members
            }
            let roster = Roster::new()
                .with_role("Coordinator")
                .with_family("Participants", n);
            let net = InMemoryNetwork::new();
            let mut endpoints = net.endpoints(&roster).expect("endpoints");
            let mut tasks = Vec::new();
            for k in 0..n {
                let me = Peer::member("Participants", k);
                let effects =
                    Effects::new(endpoints.remove(&me).expect("endpoint"), roster.clone());
                let accept = accepts[k as usize];
                tasks.push(tokio::spawn(async move {
                    let trace: Trace = Arc::default();
                    let mut adapter = Adapter::new(sc::PROTOCOL, effects, context());
                    let mut role = Indexed(
                        Participant {
                            trace: trace.clone(),
                            accept,
                        },
                        k,
                    );
                    sc::execute_as::<Types, _>(
                        sc::As::Participants(&mut role),
                        &mut adapter,
                        &sc::Params::default(),
                    )
                    .await
                    .expect("participant runs to the end");
                    let events = trace.lock().expect("trace").clone();
                    (events, accept)
                }));
            }
            let effects = Effects::new(
                endpoints
                    .remove(&Peer::role("Coordinator"))
                    .expect("endpoint"),
                roster,
            );
            let mut adapter = Adapter::new(sc::PROTOCOL, effects, context());
            let trace: Trace = Arc::default();
            let mut role = Coordinator {
                trace: trace.clone(),
                accepted: Vec::new(),
            };
            sc::execute_as::<Types, _>(
                sc::As::Coordinator(&mut role),
                &mut adapter,
                &sc::Params::default(),
            )
            .await
            .expect("coordinator runs to the end");
            let outcome = if accepts.iter().any(|a| *a) {
                "success"
            } else {
                "failure"
            };
            let sizes = BTreeMap::from([("Participants", n)]);
            let coordinator = trace.lock().expect("trace").clone();
            let (protocol, local) = local_type(FILE, "Coordinator");
            let expected = predict(&protocol, &local, &sizes, &mut vec![outcome], &coordinator);
            assert_eq!(coordinator, expected, "coordinator, {accepts:?}");
            let (_, local) = local_type(FILE, "Participants");
            for t in tasks {
                let (events, accept) = t.await.expect("no participant panics");
                let choice = if accept { "accept" } else { "reject" };
                let expected = predict(&protocol, &local, &sizes, &mut vec![choice], &events);
                assert_eq!(events, expected, "participant, {accepts:?}");
            }
        }
    }
}
