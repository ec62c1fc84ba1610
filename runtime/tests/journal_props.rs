//! Property tests: merges converge whatever their order, duplication and
//! interleaving; random supersession histories over several nodes never form
//! a cycle, never let a superseded ceremony commit, and converge once every
//! node has every fact.

use std::collections::{BTreeMap, BTreeSet};

use choreo_runtime::journal::ceremony::CeremonyStatus;
use choreo_runtime::journal::{
    CeremonyError, CeremonyId, CeremonyTracker, Fact, Journal, PrestateHash,
};
use choreo_runtime::transport::contract::{NodeId, SessionId};
use proptest::prelude::*;

const ORIGINS: [&str; 3] = ["b", "c", "d"];

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt")
}

fn fact(origin: usize, seq: u64) -> Fact {
    Fact {
        origin: NodeId::new(ORIGINS[origin]),
        seq,
        session: SessionId([origin as u8; 16]),
        kind: format!("K::{}", seq % 3),
        body: format!("{}-{seq}", ORIGINS[origin]).into_bytes(),
    }
}

type Shipment = Vec<(usize, u64)>;

fn shipments() -> impl Strategy<Value = (Vec<Shipment>, Vec<Shipment>)> {
    prop::collection::vec(prop::collection::vec((0..3usize, 1..=6u64), 0..8), 1..10)
        .prop_flat_map(|s| (Just(s.clone()), Just(s).prop_shuffle()))
}

/// Everything a journal holds, origin by origin.
fn contents(j: &Journal) -> (Vec<(NodeId, u64)>, Vec<Fact>) {
    let heads = j.heads().expect("heads");
    let mut facts = Vec::new();
    for (origin, _) in &heads {
        facts.extend(j.since(origin, 0, usize::MAX).expect("since"));
    }
    (heads, facts)
}

async fn deliver(j: &Journal, shipments: &[Shipment]) -> usize {
    let mut new = 0;
    for s in shipments {
        let batch = s.iter().map(|&(o, q)| fact(o, q)).collect();
        new += j.merge(batch).await.expect("honest merge");
    }
    new
}

/// The expected journal: the union of every shipment; heads over the contiguous prefix.
fn union(shipments: &[Shipment]) -> (Vec<(NodeId, u64)>, Vec<Fact>) {
    let keys: BTreeSet<(usize, u64)> = shipments.iter().flatten().copied().collect();
    let mut heads = Vec::new();
    for (o, name) in ORIGINS.iter().enumerate() {
        if keys.iter().any(|&(k, _)| k == o) {
            let head = (1..).take_while(|q| keys.contains(&(o, *q))).count() as u64;
            heads.push((NodeId::new(*name), head));
        }
    }
    (heads, keys.into_iter().map(|(o, q)| fact(o, q)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn merges_converge_in_any_order((ordered, shuffled) in shipments()) {
        let rt = rt();
        let x = Journal::in_memory(NodeId::new("x"));
        let y = Journal::in_memory(NodeId::new("y"));
        let (new_x, new_y) = rt.block_on(async {
            let nx = deliver(&x, &ordered).await;
            let again = deliver(&x, &shuffled).await;
            assert_eq!(again, 0, "a second delivery adds nothing");
            (nx, deliver(&y, &shuffled).await)
        });
        let expected = union(&ordered);
        prop_assert_eq!(new_x, expected.1.len());
        prop_assert_eq!(new_y, expected.1.len());
        prop_assert_eq!(contents(&x), expected.clone());
        prop_assert_eq!(contents(&y), expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn a_journal_file_converges_like_memory((ordered, shuffled) in shipments()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let disk = Journal::open(&dir.path().join("x.journal"), NodeId::new("x")).expect("open");
        let memory = Journal::in_memory(NodeId::new("y"));
        rt().block_on(async {
            deliver(&disk, &shuffled).await;
            deliver(&memory, &ordered).await;
        });
        prop_assert_eq!(contents(&disk), contents(&memory));
    }
}

#[derive(Clone, Debug)]
enum Op {
    Start {
        node: usize,
        id: u8,
        prestate: u8,
        op: u8,
    },
    Supersede {
        node: usize,
        old: u8,
        new: u8,
    },
    Commit {
        node: usize,
        id: u8,
    },
    Abort {
        node: usize,
        id: u8,
    },
    Sync {
        from: usize,
        to: usize,
    },
}

const NODES: usize = 3;
const IDS: u8 = 6;

fn op() -> impl Strategy<Value = Op> {
    let node = 0..NODES;
    let id = 0..IDS;
    prop_oneof![
        3 => (node.clone(), id.clone(), 0..2u8, 0..2u8)
            .prop_map(|(node, id, prestate, op)| Op::Start { node, id, prestate, op }),
        2 => (node.clone(), id.clone(), id.clone()).prop_map(|(node, old, new)| Op::Supersede { node, old, new }),
        2 => (node.clone(), id.clone()).prop_map(|(node, id)| Op::Commit { node, id }),
        1 => (node.clone(), id).prop_map(|(node, id)| Op::Abort { node, id }),
        2 => (node.clone(), node).prop_map(|(from, to)| Op::Sync { from, to }),
    ]
}

fn cid(i: u8) -> CeremonyId {
    CeremonyId([i; 32])
}

fn op_type(i: u8) -> String {
    format!("op-{i}")
}

async fn sync(from: &CeremonyTracker, to: &CeremonyTracker) {
    let (source, target) = (from.journal(), to.journal());
    for (origin, _) in source.heads().expect("heads") {
        let facts = source.since(&origin, 0, usize::MAX).expect("since");
        target.merge(facts).await.expect("merge of honest facts");
    }
}

/// The invariants every node's view keeps after every step.
fn check_invariants(t: &CeremonyTracker) -> Result<(), TestCaseError> {
    for i in 0..IDS {
        let id = cid(i);
        let chain = t.get_supersession_chain(&id).expect("chain ends");
        let mut seen = BTreeSet::from([id]);
        for s in &chain {
            prop_assert!(seen.insert(s.new), "cycle through {:?}", s.new);
        }
        let status = t.status(&id).expect("status");
        let superseded = t.is_superseded(&id).expect("superseded");
        if status == Some(CeremonyStatus::Committed) {
            prop_assert!(!superseded, "{:?} is committed and superseded", id);
        }
        prop_assert_eq!(superseded, !chain.is_empty());
    }
    Ok(())
}

fn snapshot(t: &CeremonyTracker) -> BTreeMap<u8, (Option<CeremonyStatus>, usize)> {
    (0..IDS)
        .map(|i| {
            let id = cid(i);
            let status = t.status(&id).expect("status");
            (
                i,
                (status, t.get_supersession_chain(&id).expect("chain").len()),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn supersession_never_cycles_nor_lets_a_superseded_ceremony_commit(
        ops in prop::collection::vec(op(), 1..40)
    ) {
        let rt = rt();
        let trackers: Vec<CeremonyTracker> = (0..NODES)
            .map(|n| CeremonyTracker::new(Journal::in_memory(NodeId::new(format!("n{n}")))))
            .collect();
        rt.block_on(async {
            for op in &ops {
                match op.clone() {
                    Op::Start { node, id, prestate, op } => {
                        let _ = trackers[node]
                            .start(cid(id), PrestateHash([prestate; 32]), &op_type(op))
                            .await;
                    }
                    Op::Supersede { node, old, new } => {
                        let t = &trackers[node];
                        let result = t.supersede(cid(old), cid(new), "test").await;
                        if old == new {
                            prop_assert!(matches!(result, Err(CeremonyError::SelfSupersession(_))));
                        }
                    }
                    Op::Commit { node, id } => {
                        let t = &trackers[node];
                        let was = t.is_superseded(&cid(id)).expect("superseded");
                        let result = t.record_commit(&cid(id)).await;
                        if was {
                            prop_assert!(result.is_err(), "a superseded ceremony committed");
                        }
                        if result.is_ok() {
                            let status = t.status(&cid(id)).expect("status");
                            prop_assert_eq!(status, Some(CeremonyStatus::Committed));
                        }
                    }
                    Op::Abort { node, id } => {
                        let _ = trackers[node].record_abort(&cid(id), "test").await;
                    }
                    Op::Sync { from, to } => {
                        if from != to {
                            sync(&trackers[from], &trackers[to]).await;
                        }
                    }
                }
                for t in &trackers {
                    check_invariants(t)?;
                }
            }
            // Everyone gets everything: the views agree.
            for _ in 0..2 {
                for from in 0..NODES {
                    for to in 0..NODES {
                        if from != to {
                            sync(&trackers[from], &trackers[to]).await;
                        }
                    }
                }
            }
            let first = snapshot(&trackers[0]);
            for t in &trackers[1..] {
                check_invariants(t)?;
                prop_assert_eq!(&snapshot(t), &first);
            }
            Ok(())
        })?;
    }
}
