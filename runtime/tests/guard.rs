//! The guard chain: refused sends have no effect at all; accepted sends apply
//! each effect exactly once before the transport.

mod common;

use choreo_runtime::{
    EffectError, ErrorKind, InMemoryNetwork, ObserverClass, Refusal, RoleContext, SendGuard,
};
use common::{ceremony, guardian, initiator, receives_nothing, role, sent, Role};

/// Every annotation at once; the initiator holds only `ceremony:propose`.
const FULL: SendGuard = SendGuard {
    capabilities: &["ceremony:propose"],
    flow_cost: 5,
    journal_fact: Some("CeremonyFact::Proposed"),
    journal_merge: false,
    audit_log: Some("ceremony.proposed"),
    leak: Some("Group"),
    leakage_budget: Some([0, 0, 1]),
};

/// An initiator (budget 100 per guardian, 10 for Guardian[2]) and three guardians.
fn setup() -> (Role, Vec<Role>) {
    let net = InMemoryNetwork::new();
    let roster = ceremony(3);
    let ctx = RoleContext::new()
        .with_capabilities(["ceremony:propose"])
        .with_default_budget(100)
        .with_budget(guardian(2), 10);
    let init = role(&net, &roster, initiator(), ctx);
    let guardians = (0..3)
        .map(|i| role(&net, &roster, guardian(i), RoleContext::new()))
        .collect();
    (init, guardians)
}

/// Asserts the initiator's context and transport are as `setup` left them.
async fn assert_untouched(init: &Role, guardians: &mut [Role]) {
    let ctx = init.context();
    assert_eq!(ctx.remaining_budget(&guardian(0)), 100);
    assert_eq!(ctx.remaining_budget(&guardian(1)), 100);
    assert_eq!(ctx.remaining_budget(&guardian(2)), 10);
    assert!(ctx.journal().is_empty());
    assert!(ctx.audit_log().is_empty());
    assert!(ctx.ledger().records().is_empty());
    assert_eq!(ctx.ledger().total(ObserverClass::Group), 0);
    assert_eq!(sent(init), 0);
    for g in guardians {
        receives_nothing(g, &initiator()).await;
    }
}

#[tokio::test(start_paused = true)]
async fn missing_capability_refuses_with_no_effect() {
    let (mut init, mut guardians) = setup();
    let guard = SendGuard {
        capabilities: &["ceremony:propose", "ceremony:commit"],
        ..FULL
    };
    let err = init
        .send(&guardian(0), "Commit", &guard, &1u8)
        .await
        .unwrap_err();
    let refusal = Refusal::MissingCapability {
        capability: "ceremony:commit",
    };
    assert_eq!(*err.kind(), ErrorKind::Refused(refusal));
    assert_eq!(err.peer(), Some(&guardian(0)));
    assert!(
        err.to_string()
            .contains("CapGuard: missing capability `ceremony:commit`"),
        "{err}"
    );
    assert_untouched(&init, &mut guardians).await;
}

#[tokio::test(start_paused = true)]
async fn exhausted_flow_budget_refuses_the_whole_fan_out() {
    let (mut init, mut guardians) = setup();
    let guard = SendGuard {
        flow_cost: 50,
        ..FULL
    };
    let messages: Vec<_> = (0..3).map(|i| (guardian(i), i)).collect();
    let err = init
        .fan_out("Propose", &guard, true, &messages)
        .await
        .unwrap_err();
    let refusal = Refusal::FlowBudget {
        peer: guardian(2),
        remaining: 10,
        cost: 50,
    };
    assert_eq!(*err.kind(), ErrorKind::Refused(refusal));
    assert!(
        err.to_string()
            .contains("flow budget for Guardian[2] has 10 left, send costs 50"),
        "{err}"
    );
    assert_untouched(&init, &mut guardians).await;
}

#[tokio::test(start_paused = true)]
async fn flow_budget_may_be_spent_exactly_then_refuses() {
    let (mut init, mut guardians) = setup();
    let guard = SendGuard {
        flow_cost: 10,
        ..SendGuard::NONE
    };
    init.send(&guardian(2), "Share", &guard, &()).await.unwrap();
    assert_eq!(init.context().remaining_budget(&guardian(2)), 0);
    let err = init
        .send(&guardian(2), "Share", &guard, &())
        .await
        .unwrap_err();
    assert!(matches!(
        *err.kind(),
        ErrorKind::Refused(Refusal::FlowBudget {
            remaining: 0,
            cost: 10,
            ..
        })
    ));
    assert_eq!(sent(&init), 1);
    guardians[2]
        .recv::<()>(&initiator(), "Share")
        .await
        .unwrap();
    receives_nothing(&mut guardians[2], &initiator()).await;
}

#[tokio::test(start_paused = true)]
async fn exceeded_leakage_budget_refuses_with_no_effect() {
    let (mut init, mut guardians) = setup();
    let guard = SendGuard {
        leak: Some("neighbor:3"),
        leakage_budget: Some([0, 2, 0]),
        ..FULL
    };
    let err = init
        .send(&guardian(1), "Reveal", &guard, &0u64)
        .await
        .unwrap_err();
    let refusal = Refusal::Leakage {
        class: ObserverClass::Neighbor,
        amount: 3,
        budget: 2,
    };
    assert_eq!(*err.kind(), ErrorKind::Refused(refusal));
    assert!(
        err.to_string()
            .contains("LeakageGuard: leakage to Neighbor would reach 3, budget 2"),
        "{err}"
    );
    assert_untouched(&init, &mut guardians).await;
}

#[tokio::test(start_paused = true)]
async fn guards_refuse_in_chain_order() {
    let (mut init, _guardians) = setup();
    let all_fail = SendGuard {
        capabilities: &["nope"],
        flow_cost: 1_000,
        leak: Some("External"),
        leakage_budget: Some([0, 0, 0]),
        ..SendGuard::NONE
    };
    let err = init
        .send(&guardian(0), "M", &all_fail, &())
        .await
        .unwrap_err();
    assert!(matches!(
        *err.kind(),
        ErrorKind::Refused(Refusal::MissingCapability { .. })
    ));
    let flow_and_leak = SendGuard {
        capabilities: &[],
        ..all_fail
    };
    let err = init
        .send(&guardian(0), "M", &flow_and_leak, &())
        .await
        .unwrap_err();
    assert!(matches!(
        *err.kind(),
        ErrorKind::Refused(Refusal::FlowBudget { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn successful_send_records_each_effect_once() {
    let (mut init, mut guardians) = setup();
    init.send(&guardian(0), "Propose", &FULL, "rotate")
        .await
        .unwrap();
    let ctx = init.context();
    assert_eq!(ctx.remaining_budget(&guardian(0)), 95);
    assert_eq!(ctx.remaining_budget(&guardian(1)), 100);
    assert_eq!(ctx.journal().len(), 1);
    assert_eq!(ctx.journal().count("CeremonyFact::Proposed"), 1);
    let fact = ctx.journal().entries().next().unwrap();
    assert_eq!((&fact.origin, &fact.peer), (&initiator(), &guardian(0)));
    assert_eq!(ctx.audit_log().len(), 1);
    assert_eq!(ctx.audit_log()[0].entry, "ceremony.proposed");
    assert_eq!(ctx.ledger().total(ObserverClass::Group), 1);
    assert_eq!(ctx.ledger().records().len(), 1);
    assert_eq!(sent(&init), 1);
    let got: String = guardians[0].recv(&initiator(), "Propose").await.unwrap();
    assert_eq!(got, "rotate");
    receives_nothing(&mut guardians[0], &initiator()).await;
}

#[tokio::test(start_paused = true)]
async fn fan_out_applies_each_members_effects_once() {
    let (mut init, mut guardians) = setup();
    let guard = SendGuard {
        flow_cost: 10,
        ..FULL
    };
    let messages: Vec<_> = (0..3).map(|i| (guardian(i), i * 7)).collect();
    init.fan_out("Propose", &guard, false, &messages)
        .await
        .unwrap();
    let ctx = init.context();
    assert_eq!(ctx.remaining_budget(&guardian(0)), 90);
    assert_eq!(ctx.remaining_budget(&guardian(2)), 0);
    let peers: Vec<_> = ctx.journal().entries().map(|e| e.peer.clone()).collect();
    assert_eq!(peers, [guardian(0), guardian(1), guardian(2)]);
    assert_eq!(ctx.audit_log().len(), 3);
    assert_eq!(ctx.ledger().total(ObserverClass::Group), 3);
    for (i, g) in guardians.iter_mut().enumerate() {
        assert_eq!(
            g.recv::<u32>(&initiator(), "Propose").await.unwrap(),
            i as u32 * 7
        );
    }
}

#[tokio::test(start_paused = true)]
async fn transport_failure_after_guards_keeps_the_effects() {
    let (mut init, mut guardians) = setup();
    drop(guardians.remove(1));
    let err = init
        .send(&guardian(1), "Propose", &FULL, &())
        .await
        .unwrap_err();
    assert_eq!(
        *err.kind(),
        ErrorKind::Send(EffectError::PeerGone { peer: guardian(1) })
    );
    assert!(
        err.to_string()
            .contains("after its guard effects were applied"),
        "{err}"
    );
    let ctx = init.context();
    assert_eq!(ctx.remaining_budget(&guardian(1)), 95);
    assert_eq!(ctx.journal().count("CeremonyFact::Proposed"), 1);
    assert_eq!(ctx.audit_log().len(), 1);
    assert_eq!(ctx.ledger().records().len(), 1);
    assert_eq!(sent(&init), 0);
}

#[tokio::test(start_paused = true)]
async fn journal_merge_carries_the_senders_facts() {
    let (mut init, mut guardians) = setup();
    let ack = SendGuard {
        journal_fact: Some("CeremonyFact::ShareInstalled"),
        journal_merge: true,
        ..SendGuard::NONE
    };
    guardians[1]
        .send(&initiator(), "Installed", &ack, &())
        .await
        .unwrap();
    init.recv::<()>(&guardian(1), "Installed").await.unwrap();
    let journal = init.context().journal();
    assert_eq!(journal.count("CeremonyFact::ShareInstalled"), 1);
    let entry = journal.entries().next().unwrap();
    assert_eq!((&entry.origin, &entry.peer), (&guardian(1), &initiator()));
    // A plain message carries no journal.
    let plain = SendGuard {
        journal_merge: false,
        ..ack
    };
    guardians[0]
        .send(&initiator(), "Installed", &plain, &())
        .await
        .unwrap();
    init.recv::<()>(&guardian(0), "Installed").await.unwrap();
    assert_eq!(init.context().journal().len(), 1);
}
