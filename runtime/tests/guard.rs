//! The guard chain: a refused send has no effect at all; an accepted send
//! applies each effect exactly once, just before its own frame leaves; a
//! fan-out that fails midway leaves exactly the effects of the sends made.

mod common;

use choreo_runtime::{ErrorKind, ObserverClass, Refusal, RoleContext};
use common::*;

fn initiator_ctx() -> RoleContext {
    RoleContext::new()
        .with_capabilities(["ceremony:propose"])
        .with_default_budget(100)
        .with_budget(guardian(2), 10)
}

/// Asserts that nothing of a send is recorded anywhere.
fn assert_untouched(net: &Net, ctx: &RoleContext) {
    assert_eq!(ctx.remaining_budget(&guardian(0)), 100);
    assert_eq!(ctx.remaining_budget(&guardian(2)), 10);
    assert!(net.initiator.journal().is_empty().unwrap());
    assert_eq!(ctx.audit_log().len(), 0);
    assert_eq!(ctx.ledger().sends(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_missing_capability_refuses_with_no_effect() {
    let net = Net::new(3);
    let id = net.id();
    let mut ctx = initiator_ctx();
    let mut g0_ctx = RoleContext::new();
    let mut g0 = net.guardian(0, id, &mut g0_ctx);
    {
        let mut init = net.initiator(id, &mut ctx);
        let err = init.send(guardian(0), G_COMMIT, &1u8).await.unwrap_err();
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
        assert_eq!(init.metrics().messages_sent, 0);
        init.finish();
    }
    assert_untouched(&net, &ctx);
    receives_nothing(&mut g0, INITIATOR).await;
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_flow_budget_refuses_the_whole_fan_out() {
    let net = Net::new(3);
    let id = net.id();
    let mut ctx = initiator_ctx().with_budget(guardian(2), 4);
    let mut init = net.initiator(id, &mut ctx);
    let messages: Vec<_> = (0..3).map(|i| (guardian(i), 7u8)).collect();
    let err = init.fan_out(G_FULL, false, &messages).await.unwrap_err();
    let refusal = Refusal::FlowBudget {
        peer: guardian(2),
        remaining: 4,
        cost: 5,
    };
    assert_eq!(*err.kind(), ErrorKind::Refused(refusal));
    assert_eq!(init.metrics().messages_sent, 0);
    init.finish();
    assert_eq!(ctx.remaining_budget(&guardian(0)), 100);
    assert!(net.initiator.journal().is_empty().unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_leak_over_its_budget_refuses_with_no_effect() {
    let net = Net::new(1);
    let id = net.id();
    let mut ctx = initiator_ctx();
    let mut init = net.initiator(id, &mut ctx);
    let err = init.send(guardian(0), G_LEAKY, &()).await.unwrap_err();
    let refusal = Refusal::Leakage {
        class: ObserverClass::External,
        amount: 2,
        budget: 1,
    };
    assert_eq!(*err.kind(), ErrorKind::Refused(refusal));
    init.finish();
    assert_eq!(ctx.ledger().sends(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_accepted_send_records_each_effect_once() {
    let net = Net::new(1);
    let id = net.id();
    let (mut ctx, mut g_ctx) = (initiator_ctx(), RoleContext::new());
    let mut init = net.initiator(id, &mut ctx);
    let mut g = net.guardian(0, id, &mut g_ctx);
    init.send(guardian(0), G_FULL, &"rotate").await.unwrap();
    let got: String = g.recv(INITIATOR, PROPOSE).await.unwrap();
    assert_eq!(got, "rotate");
    assert_eq!(init.metrics().messages_sent, 1);
    init.finish();
    g.finish();
    assert_eq!(ctx.remaining_budget(&guardian(0)), 95);
    let journal = net.initiator.journal();
    assert_eq!(journal.count("CeremonyFact::Proposed").unwrap(), 1);
    assert_eq!(
        journal.since(journal.origin(), 0, 1).unwrap()[0].session,
        id
    );
    let audit: Vec<_> = ctx.audit_log().collect();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (audit[0].entry, audit[0].peer, audit[0].label),
        ("ceremony.proposed", guardian(0), "Propose")
    );
    assert_eq!(ctx.ledger().total(ObserverClass::Group), 1);
    assert_eq!(ctx.ledger().sends(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_fan_out_whose_third_send_fails_records_exactly_the_first_two() {
    let net = Net::new(4);
    let id = net.id();
    let mut ctx = initiator_ctx();
    let mut g_ctx: Vec<RoleContext> = (0..4).map(|_| RoleContext::new()).collect();
    let mut guardians: Vec<_> = g_ctx
        .iter_mut()
        .enumerate()
        .map(|(i, c)| net.guardian(i as u32, id, c))
        .collect();
    // Guardian[2]'s node vanishes: the transport cannot take its frame.
    net.net.cut(net.guardians[2].id());
    let mut init = net.initiator(id, &mut ctx);
    let messages: Vec<_> = (0..4).map(|i| (guardian(i), i as u8)).collect();
    let err = init.fan_out(G_FULL, false, &messages).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Send(_)), "{err}");
    assert_eq!(err.peer(), Some(&guardian(2)));
    assert_eq!(init.metrics().messages_sent, 2);
    init.finish();
    for (i, left) in [(0, 95), (1, 95), (2, 10), (3, 100)] {
        assert_eq!(ctx.remaining_budget(&guardian(i)), left, "Guardian[{i}]");
    }
    let journal = net.initiator.journal();
    let facts = journal.since(journal.origin(), 0, usize::MAX).unwrap();
    let receivers: Vec<(String, String)> = facts
        .iter()
        .map(|f| postcard::from_bytes(&f.body).unwrap())
        .collect();
    assert_eq!(
        receivers,
        [
            ("Propose".into(), "Guardian[0]".into()),
            ("Propose".into(), "Guardian[1]".into())
        ]
    );
    assert_eq!(ctx.audit_log().len(), 2);
    for (i, g) in guardians.iter_mut().take(2).enumerate() {
        let got: u8 = g.recv(INITIATOR, PROPOSE).await.unwrap();
        assert_eq!(got, i as u8);
    }
    receives_nothing(&mut guardians[3], INITIATOR).await;
}

#[tokio::test(start_paused = true)]
async fn a_role_refused_in_one_flow_epoch_sends_again_in_the_next() {
    let net = Net::new(1);
    let mut ctx = initiator_ctx().with_budget(guardian(0), 5);
    let mut g_ctx = RoleContext::new();
    let id = net.id();
    let mut init = net.initiator(id, &mut ctx);
    let mut g = net.guardian(0, id, &mut g_ctx);
    init.send(guardian(0), G_FULL, &1u8).await.unwrap();
    let err = init.send(guardian(0), G_FULL, &2u8).await.unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::Refused(Refusal::FlowBudget { .. })
    ));
    init.finish();
    assert_eq!(g.recv::<u8>(INITIATOR, PROPOSE).await.unwrap(), 1);
    g.finish();
    assert_eq!(ctx.epoch(), 1);
    assert_eq!(ctx.remaining_budget(&guardian(0)), 0);
    assert_eq!(ctx.advance_epoch(), 2);
    let (id, mut g_ctx) = (net.id(), RoleContext::new());
    let mut init = net.initiator(id, &mut ctx);
    let mut g = net.guardian(0, id, &mut g_ctx);
    init.send(guardian(0), G_FULL, &3u8).await.unwrap();
    assert_eq!(g.recv::<u8>(INITIATOR, PROPOSE).await.unwrap(), 3);
    init.finish();
    g.finish();
    assert_eq!(ctx.remaining_budget(&guardian(0)), 0);
}

#[tokio::test(start_paused = true)]
async fn journal_merge_ships_each_fact_once_and_only_the_senders_own() {
    let net = Net::new(1);
    let (mut init_ctx, mut g_ctx) = (RoleContext::new(), RoleContext::new());
    let id = net.id();
    let mut init = net.initiator(id, &mut init_ctx);
    let mut g = net.guardian(0, id, &mut g_ctx);
    // Each Respond records a fact and ships what the Initiator has not seen.
    for round in 1..=3u8 {
        g.send(INITIATOR, G_RESPOND, &round).await.unwrap();
        let got: u8 = init.recv(guardian(0), RESPOND).await.unwrap();
        assert_eq!(got, round);
        let journal = net.initiator.journal();
        assert_eq!(
            journal.count("CeremonyFact::Responded").unwrap(),
            u64::from(round)
        );
    }
    let shipped = g.metrics().bytes_sent;
    init.finish();
    g.finish();
    // Three frames, each carrying one new fact, not the whole journal again.
    let g_journal = net.guardians[0].journal();
    let one_fact = g_journal.since(g_journal.origin(), 0, 1).unwrap()[0].clone();
    let fact_bytes = postcard::to_stdvec(&vec![one_fact]).unwrap().len() as u64;
    assert_eq!(shipped, 3 * (53 + 1 + fact_bytes));
    let origins: Vec<String> = net
        .initiator
        .journal()
        .by_kind("CeremonyFact::Responded")
        .unwrap()
        .iter()
        .map(|f| f.origin.to_string())
        .collect();
    assert_eq!(origins, ["Guardian[0]"; 3]);
}
