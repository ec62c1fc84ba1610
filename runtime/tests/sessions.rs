//! Sessions on the wire: frames go only to the session they name, many
//! sessions of several protocols run at once between the same peers, and
//! frames of unknown, ended or differently built sessions are dropped and
//! counted.

mod common;

use std::collections::BTreeSet;

use choreo_runtime::{
    Digest, ErrorKind, NodeStats, Peer, Protocol, RoleContext, RoleDecl, Roster, SendGuard,
};
use common::*;
use futures_util::future::join_all;

#[tokio::test(start_paused = true)]
async fn a_frame_left_over_from_an_ended_session_never_reaches_the_next() {
    let net = Net::new(1);
    let (mut a, mut b) = (RoleContext::new(), RoleContext::new());
    let first = net.id();
    {
        let mut init = net.initiator(first, &mut a);
        let mut g = net.guardian(0, first, &mut b);
        init.send(guardian(0), G_PLAIN, &"first, read")
            .await
            .unwrap();
        assert_eq!(
            g.recv::<String>(INITIATOR, PROPOSE).await.unwrap(),
            "first, read"
        );
        // The guardian gives up early, with a message still in flight.
        init.send(guardian(0), G_ABORT, &"first, never read")
            .await
            .unwrap();
        g.cancel("gave up early");
        init.finish();
    }
    let second = net.id();
    assert_ne!(first, second);
    let mut init = net.initiator(second, &mut a);
    let mut g = net.guardian(0, second, &mut b);
    init.send(guardian(0), G_PLAIN, &"second").await.unwrap();
    let got = g.recv_choice(INITIATOR, &[PROPOSE, ABORT]).await.unwrap();
    assert_eq!(got.label(), PROPOSE);
    assert_eq!(got.decode::<String>().unwrap(), "second");
    receives_nothing(&mut g, INITIATOR).await;
    init.finish();
    g.finish();
}

#[tokio::test(start_paused = true)]
async fn frames_of_ended_unknown_or_foreign_sessions_are_dropped_and_counted() {
    let net = Net::new(1);
    let (mut a, mut b) = (RoleContext::new(), RoleContext::new());
    let id = net.id();
    let mut init = net.initiator(id, &mut a);
    let g = net.guardian(0, id, &mut b);
    g.finish();
    init.send(guardian(0), G_PLAIN, &1u8).await.unwrap();
    init.finish();
    // A session the guardian never joined.
    let unknown = net.id();
    let mut c = RoleContext::new();
    let mut init = net.initiator(unknown, &mut c);
    init.send(guardian(0), G_PLAIN, &2u8).await.unwrap();
    init.finish();
    // The guardian runs another build of the protocol under the same id.
    let foreign = net.id();
    let (mut d, mut e) = (RoleContext::new(), RoleContext::new());
    let mut init = net.initiator(foreign, &mut d);
    let mut g = net.guardians[0]
        .session(&CEREMONY_V2, foreign, &net.roster, guardian(0), &mut e)
        .unwrap();
    init.send(guardian(0), G_PLAIN, &3u8).await.unwrap();
    receives_nothing(&mut g, INITIATOR).await;
    let stats = net.guardians[0].stats();
    assert_eq!(
        stats,
        NodeStats {
            ended_session: 1,
            unknown_session: 1,
            protocol_mismatch: 1,
            ..NodeStats::default()
        }
    );
    init.finish();
    g.finish();
}

/// A second protocol between the same two kinds of peers.
static ECHO: Protocol = Protocol {
    name: "Echo",
    digest: Digest([0xEC; 16]),
    roles: &[
        RoleDecl {
            name: "Initiator",
            family: false,
        },
        RoleDecl {
            name: "Guardian",
            family: true,
        },
    ],
    labels: &["Ping", "Pong"],
    capabilities: &[],
    facts: &[],
    guards: &[SendGuard::plain(0), SendGuard::plain(1)],
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_sessions_of_two_protocols_keep_their_own_traces() {
    let net = Net::new(1);
    let sessions: Vec<(bool, choreo_runtime::SessionId)> =
        (0..100).map(|i| (i % 2 == 0, net.id())).collect();
    let mut init_ctx: Vec<RoleContext> = (0..100).map(|_| RoleContext::new()).collect();
    let mut g_ctx: Vec<RoleContext> = (0..100).map(|_| RoleContext::new()).collect();
    let mut runs = Vec::new();
    for ((&(echo, id), a), b) in sessions.iter().zip(&mut init_ctx).zip(&mut g_ctx) {
        let protocol: &'static Protocol = if echo { &ECHO } else { &CEREMONY };
        let mut init = net
            .initiator
            .session(protocol, id, &net.roster, INITIATOR, a)
            .unwrap();
        let mut g = net.guardians[0]
            .session(protocol, id, &net.roster, guardian(0), b)
            .unwrap();
        runs.push(async move {
            let tag = format!("{id}");
            // Interleave: every session sends three messages, then reads its replies.
            let (send, recv) = if echo { (0, 1) } else { (G_PLAIN, G_ABORT) };
            for k in 0..3 {
                init.send(guardian(0), send, &format!("{tag}/{k}")).await?;
                tokio::task::yield_now().await;
            }
            let mut trace = Vec::new();
            for _ in 0..3 {
                let got: String = g.recv(INITIATOR, CEREMONY.guards[0].label).await?;
                g.send(INITIATOR, recv, &got).await?;
                trace.push(got);
            }
            for k in 0..3 {
                let label = if echo { 1 } else { ABORT };
                let back: String = init.recv(guardian(0), label).await?;
                assert_eq!(back, format!("{tag}/{k}"));
            }
            init.finish();
            g.finish();
            Ok::<_, choreo_runtime::Error>((tag, trace))
        });
    }
    let results = join_all(runs).await;
    let mut seen = BTreeSet::new();
    for result in results {
        let (tag, trace) = result.expect("every session completes");
        let expected: Vec<String> = (0..3).map(|k| format!("{tag}/{k}")).collect();
        assert_eq!(trace, expected);
        assert!(seen.insert(tag));
    }
    assert_eq!(seen.len(), 100);
    assert_eq!(net.guardians[0].stats(), NodeStats::default());
    assert_eq!(net.initiator.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_listener_opens_sessions_that_peers_start() {
    let net = Net::new(1);
    let mut listener = net.guardians[0]
        .listen(&CEREMONY, &net.roster, guardian(0), 4)
        .unwrap();
    let mut a = RoleContext::new();
    for round in 0..2u8 {
        let id = net.id();
        let mut init = net.initiator(id, &mut a);
        init.send(guardian(0), G_PLAIN, &round).await.unwrap();
        let mut b = RoleContext::new();
        let mut g = listener.accept(&mut b).await.expect("a session opened");
        assert_eq!(g.id(), id);
        assert_eq!(g.recv::<u8>(INITIATOR, PROPOSE).await.unwrap(), round);
        g.send(INITIATOR, G_ABORT, &()).await.unwrap();
        init.recv::<()>(guardian(0), ABORT).await.unwrap();
        init.finish();
        g.finish();
    }
}

#[tokio::test(start_paused = true)]
async fn session_ids_are_unique_across_nodes_and_a_joined_id_cannot_be_reused() {
    let net = Net::new(2);
    let mut ids = BTreeSet::new();
    for node in std::iter::once(&net.initiator).chain(&net.guardians) {
        for _ in 0..100 {
            assert!(ids.insert(node.new_session_id()));
        }
    }
    let id = net.id();
    let (mut a, mut b) = (RoleContext::new(), RoleContext::new());
    let first = net.initiator(id, &mut a);
    let again = net
        .initiator
        .session(&CEREMONY, id, &net.roster, INITIATOR, &mut b);
    assert!(matches!(
        again.map(|_| ()).unwrap_err().kind(),
        ErrorKind::Setup { .. }
    ));
    first.finish();
    let after = net
        .initiator
        .session(&CEREMONY, id, &net.roster, INITIATOR, &mut b);
    assert!(after.is_err(), "an ended session id is not reused");
}

#[tokio::test(start_paused = true)]
async fn a_roster_that_does_not_fit_is_a_typed_error() {
    let net = Net::new(1);
    let mut ctx = RoleContext::new();
    let id = net.id();
    let cases = [
        Roster::new().with_role("Initiator"),
        Roster::new().with_role("Initiator").with_role("Guardian"),
        ceremony(1).bind("Initiator", None, net.guardians[0].id().clone()),
    ];
    for roster in cases {
        let err = net
            .initiator
            .session(&CEREMONY, id, &roster, INITIATOR, &mut ctx)
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Roster(_)), "{err}");
    }
    let err = net
        .initiator
        .session(
            &CEREMONY,
            id,
            &ceremony(1),
            Peer::member("Guardian", 5),
            &mut ctx,
        )
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Roster(_)), "{err}");
}
