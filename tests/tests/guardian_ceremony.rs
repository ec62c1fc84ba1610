//! GuardianCeremony end to end: the Initiator and every Guardian run their
//! generated runners over the in-memory runtime, for both branches and for
//! families of 1 and 5; each role's trace must be what its local type
//! predicts (trace conformance), and the guard chain must have charged and
//! recorded what the annotations say.

use choreo_e2e::{local_type, predict, Event};
use choreo_guardian_ceremony as gc;
use choreo_runtime::{Adapter, Effects, InMemoryNetwork, Peer, RoleContext, Roster};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Payload types of the test: simple values.
struct Types;
impl gc::Types for Types {
    type CeremonyProposal = String;
    type CeremonyResponse = bool;
    type CeremonyCommit = u64;
    type EncryptedKeyShare = Vec<u8>;
    type CeremonyAbort = String;
}

type Trace = Arc<Mutex<Vec<Event>>>;

struct Initiator {
    trace: Trace,
    decision: gc::choice::AbortOrCommit,
}

fn log(trace: &Trace, e: String) {
    trace.lock().expect("trace").push(e);
}

impl gc::Initiator<Types> for Initiator {
    fn propose_rotation(&mut self, to: &Peer) -> String {
        log(&self.trace, format!("!{to}.ProposeRotation"));
        "rotate".into()
    }
    fn on_ceremony_response(&mut self, from: &Peer, msg: bool) {
        assert!(msg);
        log(&self.trace, format!("?{from}.CeremonyResponse"));
    }
    fn choose_abort_or_commit(&mut self) -> gc::choice::AbortOrCommit {
        self.decision
    }
    fn abort_ceremony(&mut self, to: &Peer) -> String {
        log(&self.trace, format!("!{to}.AbortCeremony"));
        "changed my mind".into()
    }
    fn commit_ceremony(&mut self, to: &Peer) -> u64 {
        log(&self.trace, format!("!{to}.CommitCeremony"));
        7
    }
    fn key_share_delivery(&mut self, to: &Peer) -> Vec<u8> {
        log(&self.trace, format!("!{to}.KeyShareDelivery"));
        vec![to.index().unwrap_or(0) as u8; 4]
    }
    fn on_share_installed(&mut self, from: &Peer, msg: gc::msg::ShareInstalled) {
        assert_eq!(msg.share_index, from.index().unwrap_or(0) as u16);
        log(&self.trace, format!("?{from}.ShareInstalled"));
    }
}

struct Guardian {
    trace: Trace,
    share: Option<Vec<u8>>,
}

impl gc::Guardian<Types> for Guardian {
    fn on_propose_rotation(&mut self, from: &Peer, msg: String) {
        assert_eq!(msg, "rotate");
        log(&self.trace, format!("?{from}.ProposeRotation"));
    }
    fn ceremony_response(&mut self, to: &Peer) -> bool {
        log(&self.trace, format!("!{to}.CeremonyResponse"));
        true
    }
    fn on_abort_ceremony(&mut self, from: &Peer, _msg: String) {
        log(&self.trace, format!("?{from}.AbortCeremony"));
    }
    fn on_commit_ceremony(&mut self, from: &Peer, msg: u64) {
        assert_eq!(msg, 7);
        log(&self.trace, format!("?{from}.CommitCeremony"));
    }
    fn on_key_share_delivery(&mut self, from: &Peer, msg: Vec<u8>) {
        log(&self.trace, format!("?{from}.KeyShareDelivery"));
        self.share = Some(msg);
    }
    fn share_installed(&mut self, to: &Peer) -> gc::msg::ShareInstalled {
        log(&self.trace, format!("!{to}.ShareInstalled"));
        let index = self
            .share
            .as_ref()
            .and_then(|s| s.first())
            .copied()
            .unwrap_or(0);
        gc::msg::ShareInstalled {
            ceremony_id: [1; 32],
            share_index: u16::from(index),
        }
    }
}

const CAPS: [&str; 4] = [
    "ceremony:propose",
    "ceremony:commit",
    "ceremony:abort",
    "ceremony:respond",
];

async fn run(
    n: u32,
    decision: gc::choice::AbortOrCommit,
) -> (Vec<Event>, Vec<Vec<Event>>, RoleContext) {
    let roster = Roster::new()
        .with_role("Initiator")
        .with_family("Guardian", n);
    let net = InMemoryNetwork::new();
    // Every party joins before any runs.
    let mut endpoints = net.endpoints(&roster).expect("endpoints");
    let mut tasks = Vec::new();
    for k in 0..n {
        let me = Peer::member("Guardian", k);
        let effects = Effects::new(endpoints.remove(&me).expect("endpoint"), roster.clone());
        let ctx = RoleContext::new()
            .with_capabilities(CAPS)
            .with_default_budget(1000);
        tasks.push(tokio::spawn(async move {
            let trace: Trace = Arc::default();
            let mut adapter = Adapter::new(gc::PROTOCOL, effects, ctx);
            let mut role = Guardian {
                trace: trace.clone(),
                share: None,
            };
            gc::execute_as::<Types, _>(
                gc::As::Guardian(&mut role),
                &mut adapter,
                &gc::Params::default(),
            )
            .await
            .expect("guardian runs to the end");
            let events = trace.lock().expect("trace").clone();
            events
        }));
    }
    let effects = Effects::new(
        endpoints
            .remove(&Peer::role("Initiator"))
            .expect("endpoint"),
        roster.clone(),
    );
    let ctx = RoleContext::new()
        .with_capabilities(CAPS)
        .with_default_budget(1000);
    let mut adapter = Adapter::new(gc::PROTOCOL, effects, ctx);
    let trace: Trace = Arc::default();
    let mut role = Initiator {
        trace: trace.clone(),
        decision,
    };
    let metrics = gc::execute_as::<Types, _>(
        gc::As::Initiator(&mut role),
        &mut adapter,
        &gc::Params::default(),
    )
    .await
    .expect("initiator runs to the end");
    let commit = decision == gc::choice::AbortOrCommit::Commit;
    // Proposal and decision to each guardian, plus one share each on Commit.
    assert_eq!(
        metrics.messages_sent,
        u64::from(n) * if commit { 3 } else { 2 }
    );
    let mut guardians = Vec::new();
    for t in tasks {
        guardians.push(t.await.expect("no guardian panics"));
    }
    let initiator = trace.lock().expect("trace").clone();
    (initiator, guardians, adapter.into_parts().1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_branch_conforms_with_families_of_1_and_5() {
    use gc::choice::AbortOrCommit::{Abort, Commit};
    for n in [1, 5] {
        for (decision, label) in [(Commit, "Commit"), (Abort, "Abort")] {
            let (initiator, guardians, ctx) = run(n, decision).await;
            let sizes = BTreeMap::from([("Guardian", n)]);
            let (protocol, local) = local_type("recovery/guardian_ceremony.choreo", "Initiator");
            let expected = predict(&protocol, &local, &sizes, &mut vec![label], &initiator);
            assert_eq!(initiator, expected, "Initiator, {n} guardians, {label}");
            let (_, local) = local_type("recovery/guardian_ceremony.choreo", "Guardian");
            for (k, trace) in guardians.iter().enumerate() {
                // A guardian's own round: the `for g` variable is the guardian.
                let expected = predict(&protocol, &local, &sizes, &mut vec![], trace);
                assert_eq!(trace, &expected, "Guardian[{k}], {label}");
            }
            // The guard chain: the proposal costs 100 per guardian, then the
            // commit 50 and the share 50, or the abort 10.
            let spent = if decision == Commit { 200 } else { 110 };
            assert_eq!(
                ctx.remaining_budget(&Peer::member("Guardian", 0)),
                1000 - spent
            );
            let fact = if decision == Commit {
                "CeremonyFact::Committed"
            } else {
                "CeremonyFact::Aborted"
            };
            assert_eq!(ctx.journal().count(fact), n as usize);
            assert_eq!(ctx.journal().count("CeremonyFact::Proposed"), n as usize);
        }
    }
}

#[tokio::test]
async fn a_missing_capability_stops_the_initiator_before_anything_is_sent() {
    let roster = Roster::new()
        .with_role("Initiator")
        .with_family("Guardian", 2);
    let net = InMemoryNetwork::new();
    let _guardians: Vec<_> = (0..2)
        .map(|k| net.endpoint(Peer::member("Guardian", k)).expect("endpoint"))
        .collect();
    let effects = Effects::new(
        net.endpoint(Peer::role("Initiator")).expect("endpoint"),
        roster,
    );
    let mut adapter = Adapter::new(gc::PROTOCOL, effects, RoleContext::new());
    let mut role = Initiator {
        trace: Arc::default(),
        decision: gc::choice::AbortOrCommit::Commit,
    };
    let err = gc::execute_as::<Types, _>(
        gc::As::Initiator(&mut role),
        &mut adapter,
        &gc::Params::default(),
    )
    .await
    .expect_err("refused");
    assert!(err.to_string().contains("ceremony:propose"), "{err}");
    assert_eq!(adapter.context().journal().len(), 0);
}
