//! CeremonyTracker: supersession on start, refusals, chains, candidates,
//! persistence and peers' facts.

use choreo_runtime::journal::ceremony::{kinds, CeremonyStatus};
use choreo_runtime::journal::{
    CeremonyError, CeremonyId, CeremonyTracker, Fact, Journal, PrestateHash, NO_SESSION,
};
use choreo_runtime::transport::contract::NodeId;

const ROTATION: &str = "guardian-rotation";

fn id(n: u8) -> CeremonyId {
    CeremonyId([n; 32])
}

fn prestate(n: u8) -> PrestateHash {
    PrestateHash([n; 32])
}

fn tracker(name: &str) -> CeremonyTracker {
    CeremonyTracker::new(Journal::in_memory(NodeId::new(name)))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt")
}

#[test]
fn starting_on_the_same_prestate_supersedes_the_open_ceremony() {
    let t = tracker("initiator");
    rt().block_on(async {
        assert!(t
            .start(id(1), prestate(7), ROTATION)
            .await
            .expect("start")
            .is_empty());
        let replaced = t.start(id(2), prestate(7), ROTATION).await.expect("start");
        assert_eq!(replaced.len(), 1);
        assert_eq!((replaced[0].old, replaced[0].new), (id(1), id(2)));
        assert_eq!(replaced[0].reason, "same prestate");
        assert!(t.is_superseded(&id(1)).expect("superseded"));
        assert!(!t.is_superseded(&id(2)).expect("superseded"));
        assert_eq!(
            t.can_commit(&id(1)),
            Err(CeremonyError::Superseded {
                id: id(1),
                by: id(2)
            })
        );
        let refused = t
            .record_commit(&id(1))
            .await
            .expect_err("superseded commit");
        assert_eq!(
            refused,
            CeremonyError::Superseded {
                id: id(1),
                by: id(2)
            }
        );
        assert_eq!(
            t.journal().count(kinds::COMMITTED).expect("count"),
            0,
            "nothing recorded"
        );
        t.record_commit(&id(2)).await.expect("commit");
        assert_eq!(
            t.status(&id(2)).expect("status"),
            Some(CeremonyStatus::Committed)
        );
        assert_eq!(t.journal().count(kinds::SUPERSEDED).expect("count"), 1);
        // The older one can still end with an abort; it stays superseded.
        t.record_abort(&id(1), "superseded").await.expect("abort");
        assert!(t.is_superseded(&id(1)).expect("superseded"));
        // Other op types are left alone.
        t.start(id(3), prestate(7), "ota").await.expect("start");
        assert!(t
            .start(id(4), prestate(7), ROTATION)
            .await
            .expect("start")
            .is_empty());
        assert_eq!(t.open_ceremonies("ota").expect("open"), vec![id(3)]);
    });
}

#[test]
fn a_changed_prestate_makes_open_ceremonies_candidates() {
    let t = tracker("initiator");
    rt().block_on(async {
        t.start(id(1), prestate(1), ROTATION).await.expect("start");
        assert!(t
            .check_supersession_candidates(&prestate(1), ROTATION)
            .expect("c")
            .is_empty());
        assert_eq!(
            t.check_supersession_candidates(&prestate(2), ROTATION)
                .expect("c"),
            vec![id(1)]
        );
        assert!(t
            .check_supersession_candidates(&prestate(2), "ota")
            .expect("c")
            .is_empty());
        let replaced = t.start(id(2), prestate(2), ROTATION).await.expect("start");
        assert_eq!(replaced[0].reason, "prestate changed");
        assert!(t
            .check_supersession_candidates(&prestate(2), ROTATION)
            .expect("c")
            .is_empty());
    });
}

#[test]
fn supersede_refuses_cycles_self_and_closed_ceremonies() {
    let t = tracker("n");
    rt().block_on(async {
        // Each start supersedes the previous ceremony (its prestate changed).
        for n in 1..=3 {
            t.start(id(n), prestate(n), "op-a").await.expect("start");
        }
        assert_eq!(t.get_supersession_chain(&id(1)).expect("chain").len(), 2);
        let chain: Vec<_> = t
            .get_supersession_chain(&id(1))
            .expect("chain")
            .iter()
            .map(|s| (s.old, s.new))
            .collect();
        assert_eq!(chain, vec![(id(1), id(2)), (id(2), id(3))]);
        assert_eq!(t.superseded_by_it(&id(3)).expect("by"), vec![id(2)]);
        assert_eq!(
            t.supersede(id(3), id(3), "r").await,
            Err(CeremonyError::SelfSupersession(id(3)))
        );
        // 3 -> 1 would close 1 -> 2 -> 3 -> 1; 1 is superseded, refused first.
        assert_eq!(
            t.supersede(id(3), id(1), "r").await,
            Err(CeremonyError::Superseded {
                id: id(1),
                by: id(2)
            })
        );
        assert_eq!(
            t.supersede(id(2), id(3), "r").await,
            Err(CeremonyError::Superseded {
                id: id(2),
                by: id(3)
            })
        );
        assert_eq!(
            t.supersede(id(9), id(3), "r").await,
            Err(CeremonyError::Unknown(id(9)))
        );
        t.start(id(5), prestate(5), "op-b").await.expect("start");
        assert!(matches!(
            t.supersede(id(3), id(5), "r").await,
            Err(CeremonyError::OpTypeMismatch { .. })
        ));
        t.record_commit(&id(3)).await.expect("commit");
        t.start(id(6), prestate(6), "op-b").await.expect("start");
        assert_eq!(
            t.record_commit(&id(3)).await,
            Err(CeremonyError::Committed(id(3)))
        );
        assert_eq!(
            t.start(id(3), prestate(3), "op-a").await,
            Err(CeremonyError::AlreadyStarted(id(3)))
        );
        // 5 was superseded by 6 (same op type), explicitly superseding 6 by 5 is refused.
        assert_eq!(
            t.supersede(id(6), id(5), "r").await,
            Err(CeremonyError::Superseded {
                id: id(5),
                by: id(6)
            })
        );
        assert_eq!(t.journal().count(kinds::SUPERSEDED).expect("count"), 3);
    });
}

#[test]
fn supersession_survives_reopening_the_journal_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("initiator.journal");
    let origin = NodeId::new("initiator");
    rt().block_on(async {
        let t = CeremonyTracker::new(Journal::open(&path, origin.clone()).expect("open"));
        t.start(id(1), prestate(1), ROTATION).await.expect("start");
        t.start(id(2), prestate(1), ROTATION).await.expect("start");
    });
    let t = CeremonyTracker::new(Journal::open(&path, origin).expect("reopen"));
    assert!(t.is_superseded(&id(1)).expect("superseded"));
    assert!(t.can_commit(&id(1)).is_err());
    assert!(t.can_commit(&id(2)).is_ok());
}

#[test]
fn a_guardian_refuses_the_commit_of_a_ceremony_its_initiator_superseded() {
    let initiator = tracker("initiator");
    let guardian = tracker("guardian-0");
    rt().block_on(async {
        initiator
            .start(id(1), prestate(1), ROTATION)
            .await
            .expect("start");
        ship(&initiator, &guardian).await;
        assert!(guardian.can_commit(&id(1)).is_ok());
        initiator
            .start(id(2), prestate(1), ROTATION)
            .await
            .expect("start");
        ship(&initiator, &guardian).await;
        assert_eq!(
            guardian.can_commit(&id(1)),
            Err(CeremonyError::Superseded {
                id: id(1),
                by: id(2)
            })
        );
    });
}

#[test]
fn a_remote_commit_wins_over_a_concurrent_local_supersession() {
    let a = tracker("a");
    let b = tracker("b");
    rt().block_on(async {
        a.start(id(1), prestate(1), ROTATION).await.expect("start");
        ship(&a, &b).await;
        // Concurrently: a commits 1, b starts 2 (superseding 1 in b's view).
        a.record_commit(&id(1)).await.expect("commit");
        b.start(id(2), prestate(1), ROTATION).await.expect("start");
        assert!(b.is_superseded(&id(1)).expect("superseded"));
        ship(&a, &b).await;
        ship(&b, &a).await;
        for t in [&a, &b] {
            assert_eq!(
                t.status(&id(1)).expect("status"),
                Some(CeremonyStatus::Committed)
            );
            assert!(!t.is_superseded(&id(1)).expect("superseded"));
            let void = t.void_supersessions().expect("void");
            assert_eq!(void.len(), 1);
            assert_eq!((void[0].old, void[0].new), (id(1), id(2)));
        }
    });
}

#[test]
fn malformed_ceremony_facts_from_a_peer_are_counted_not_trusted() {
    let t = tracker("n");
    rt().block_on(async {
        let garbage = Fact {
            origin: NodeId::new("peer"),
            seq: 1,
            session: NO_SESSION,
            kind: kinds::SUPERSEDED.to_owned(),
            body: vec![0xff; 3],
        };
        t.journal().merge(vec![garbage]).await.expect("merge");
        assert_eq!(t.malformed_facts().expect("malformed"), 1);
        t.start(id(1), prestate(1), ROTATION).await.expect("start");
        assert!(t.can_commit(&id(1)).is_ok());
    });
}

#[test]
fn a_commit_racing_a_supersession_never_both_succeed() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("rt");
    for round in 0..20u8 {
        let t = tracker("n");
        runtime.block_on(async {
            let (old, new) = (id(2 * round), id(2 * round + 1));
            t.start(old, prestate(1), ROTATION).await.expect("start");
            t.start(new, prestate(2), "other").await.expect("start");
            let commit = tokio::spawn({
                let t = t.clone();
                async move { t.record_commit(&old).await }
            });
            let replace = tokio::spawn({
                let t = t.clone();
                async move { t.start(id(200), prestate(1), ROTATION).await }
            });
            let committed = commit.await.expect("task").is_ok();
            let superseded = !replace.await.expect("task").expect("start").is_empty();
            assert!(
                committed != superseded,
                "round {round}: commit {committed}, superseded {superseded}"
            );
        });
    }
}

async fn ship(from: &CeremonyTracker, to: &CeremonyTracker) {
    for (origin, _) in from.journal().heads().expect("heads") {
        let facts = from.journal().since(&origin, 0, usize::MAX).expect("since");
        to.journal().merge(facts).await.expect("merge");
    }
}
