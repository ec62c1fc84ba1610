//! The journal's contract, on the in-memory store and on the redb file:
//! appends, merges, heads, kinds, data writes, bounds and reopening.

use std::path::Path;

use choreo_runtime::journal::{
    DataWrite, Durability, Fact, Journal, JournalError, NewFact, MAX_BODY, MAX_KIND,
};
use choreo_runtime::transport::contract::{NodeId, SessionId};

const S: SessionId = SessionId([7; 16]);

fn node(name: &str) -> NodeId {
    NodeId::new(name)
}

fn new_fact(kind: &str, body: &[u8]) -> NewFact {
    NewFact::new(S, kind, body.to_vec())
}

fn peer_fact(origin: &str, seq: u64, kind: &str) -> Fact {
    Fact {
        origin: node(origin),
        seq,
        session: S,
        kind: kind.to_owned(),
        body: format!("{origin}/{seq}").into_bytes(),
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// Runs `check` against a fresh in-memory journal and a fresh journal file.
fn on_both(check: impl Fn(Journal)) {
    check(Journal::in_memory(node("a")));
    let dir = tempfile::tempdir().expect("tempdir");
    check(Journal::open(&dir.path().join("a.journal"), node("a")).expect("open"));
}

#[test]
fn appends_number_facts_from_one_contiguously_per_group() {
    on_both(|j| {
        rt().block_on(async {
            assert_eq!(j.head(j.origin()).expect("head"), 0);
            let one = j
                .append(vec![new_fact("K::One", b"1")])
                .await
                .expect("append");
            assert_eq!(one, vec![1]);
            let group = (0..5).map(|i| new_fact("K::Many", &[i])).collect();
            assert_eq!(j.append(group).await.expect("group"), vec![2, 3, 4, 5, 6]);
            assert_eq!(
                j.append(Vec::new()).await.expect("empty"),
                Vec::<u64>::new()
            );
            assert_eq!(j.head(&node("a")).expect("head"), 6);
            assert_eq!(j.len().expect("len"), 6);
            assert_eq!(j.count("K::Many").expect("count"), 5);
            assert_eq!(j.count("K::None").expect("count"), 0);
            let since = j.since(&node("a"), 2, 2).expect("since");
            let seqs: Vec<u64> = since.iter().map(|f| f.seq).collect();
            assert_eq!(seqs, vec![3, 4]);
            assert_eq!(since[0].body, vec![1]);
            assert_eq!(since[0].session, S);
            assert!(j.since(&node("a"), 6, 10).expect("since").is_empty());
            assert!(j.since(&node("a"), u64::MAX, 10).expect("since").is_empty());
            let many = j.by_kind("K::Many").expect("by kind");
            assert_eq!(
                many.iter().map(|f| f.seq).collect::<Vec<_>>(),
                vec![2, 3, 4, 5, 6]
            );
            let page = j
                .by_kind_after("K::Many", Some((&node("a"), 3)), 2)
                .expect("page");
            assert_eq!(page.iter().map(|f| f.seq).collect::<Vec<_>>(), vec![4, 5]);
        })
    });
}

#[test]
fn merge_is_idempotent_and_counts_only_new_facts() {
    on_both(|j| {
        rt().block_on(async {
            let batch = vec![
                peer_fact("b", 1, "K"),
                peer_fact("b", 2, "K"),
                peer_fact("c", 1, "K"),
            ];
            assert_eq!(j.merge(batch.clone()).await.expect("merge"), 3);
            assert_eq!(j.merge(batch.clone()).await.expect("again"), 0);
            let mut doubled = batch.clone();
            doubled.extend(batch);
            doubled.push(peer_fact("b", 3, "K"));
            assert_eq!(j.merge(doubled).await.expect("dup"), 1);
            assert_eq!(j.head(&node("b")).expect("head"), 3);
            assert_eq!(j.head(&node("c")).expect("head"), 1);
            assert_eq!(
                j.heads().expect("heads"),
                vec![(node("b"), 3), (node("c"), 1)]
            );
            assert_eq!(
                j.fact(&node("b"), 2).expect("fact"),
                Some(peer_fact("b", 2, "K"))
            );
        })
    });
}

#[test]
fn head_counts_merged_facts_only_once_the_gap_before_them_is_filled() {
    on_both(|j| {
        rt().block_on(async {
            j.merge(vec![peer_fact("b", 3, "K"), peer_fact("b", 5, "K")])
                .await
                .expect("merge");
            assert_eq!(j.head(&node("b")).expect("head"), 0);
            assert_eq!(j.heads().expect("heads"), vec![(node("b"), 0)]);
            j.merge(vec![peer_fact("b", 1, "K")]).await.expect("merge");
            assert_eq!(j.head(&node("b")).expect("head"), 1);
            j.merge(vec![peer_fact("b", 2, "K")]).await.expect("merge");
            assert_eq!(j.head(&node("b")).expect("head"), 3);
            // What a peer at head 3 still needs: 5 (4 is missing here too).
            let rest = j.since(&node("b"), 3, 100).expect("since");
            assert_eq!(rest.iter().map(|f| f.seq).collect::<Vec<_>>(), vec![5]);
        })
    });
}

#[test]
fn equivocation_refuses_the_whole_batch() {
    on_both(|j| {
        rt().block_on(async {
            j.merge(vec![peer_fact("b", 1, "K")]).await.expect("merge");
            let mut forged = peer_fact("b", 1, "K");
            forged.body = b"something else".to_vec();
            let batch = vec![
                peer_fact("c", 1, "K"),
                forged.clone(),
                peer_fact("b", 2, "K"),
            ];
            let err = j.merge(batch).await.expect_err("equivocation");
            assert_eq!(
                err,
                JournalError::Equivocation {
                    origin: node("b"),
                    seq: 1
                }
            );
            assert_eq!(j.len().expect("len"), 1, "nothing of the batch was merged");
            // Two contents for one key inside a batch.
            let inner = vec![peer_fact("c", 1, "K"), {
                let mut f = peer_fact("c", 1, "K");
                f.session = SessionId([9; 16]);
                f
            }];
            let err = j.merge(inner).await.expect_err("inner equivocation");
            assert_eq!(
                err,
                JournalError::Equivocation {
                    origin: node("c"),
                    seq: 1
                }
            );
            assert_eq!(j.len().expect("len"), 1);
        })
    });
}

#[test]
fn own_facts_merge_back_only_when_known() {
    on_both(|j| {
        rt().block_on(async {
            j.append(vec![new_fact("K", b"x")]).await.expect("append");
            let mine = j.since(&node("a"), 0, 10).expect("since");
            assert_eq!(j.merge(mine).await.expect("echo"), 0);
            let forged = Fact {
                origin: node("a"),
                seq: 2,
                session: S,
                kind: "K".into(),
                body: Vec::new(),
            };
            let err = j.merge(vec![forged]).await.expect_err("forged");
            assert_eq!(
                err,
                JournalError::ForgedOwnFact {
                    origin: node("a"),
                    seq: 2
                }
            );
            assert_eq!(
                j.append(vec![new_fact("K", b"y")]).await.expect("append"),
                vec![2]
            );
        })
    });
}

#[test]
fn malformed_facts_are_typed_errors() {
    on_both(|j| {
        rt().block_on(async {
            let empty = j
                .append(vec![new_fact("", b"")])
                .await
                .expect_err("empty kind");
            assert!(matches!(empty, JournalError::InvalidFact { .. }), "{empty}");
            let long = "k".repeat(MAX_KIND + 1);
            assert!(j.append(vec![new_fact(&long, b"")]).await.is_err());
            let big = vec![0u8; MAX_BODY + 1];
            let group = vec![new_fact("K", b"ok"), NewFact::new(S, "K", big)];
            assert!(j.append(group).await.is_err());
            let zero = peer_fact("b", 0, "K");
            assert!(matches!(
                j.merge(vec![zero]).await,
                Err(JournalError::InvalidFact { seq: 0, .. })
            ));
            assert_eq!(j.len().expect("len"), 0, "no refused fact was recorded");
        })
    });
}

#[test]
fn data_writes_commit_with_their_facts_or_not_at_all() {
    on_both(|j| {
        rt().block_on(async {
            let put = |k: &str, v: &str| DataWrite::Put {
                key: k.as_bytes().to_vec(),
                value: v.as_bytes().to_vec(),
            };
            let seqs = j
                .commit(
                    vec![new_fact("K", b"")],
                    vec![put("x/1", "one"), put("x/2", "two"), put("y", "why")],
                )
                .await
                .expect("commit");
            assert_eq!(seqs, vec![1]);
            assert_eq!(j.data(b"x/1").expect("data"), Some(b"one".to_vec()));
            let xs = j.data_with_prefix(b"x/").expect("prefix");
            assert_eq!(xs.len(), 2);
            // A refused group (a malformed fact) applies none of its writes.
            let bad = j
                .commit(vec![new_fact("", b"")], vec![put("x/3", "three")])
                .await;
            assert!(bad.is_err());
            assert_eq!(j.data(b"x/3").expect("data"), None);
            let delete = DataWrite::Delete {
                key: b"x/1".to_vec(),
            };
            j.commit(Vec::new(), vec![delete]).await.expect("delete");
            assert_eq!(j.data(b"x/1").expect("data"), None);
            assert_eq!(j.len().expect("len"), 1);
        })
    });
}

#[test]
fn a_full_memory_journal_refuses_whole_groups() {
    let j = Journal::in_memory_with_capacity(node("a"), 4);
    assert_eq!(j.durability(), Durability::Volatile);
    rt().block_on(async {
        let three = (0..3).map(|_| new_fact("K", b"")).collect();
        j.append(three).await.expect("fits");
        let two = (0..2).map(|_| new_fact("K", b"")).collect();
        assert_eq!(
            j.append(two).await.expect_err("full"),
            JournalError::Full { capacity: 4 }
        );
        assert_eq!(j.len().expect("len"), 3);
        let merge = vec![peer_fact("b", 1, "K"), peer_fact("b", 2, "K")];
        assert!(matches!(
            j.merge(merge).await,
            Err(JournalError::Full { .. })
        ));
        assert_eq!(
            j.append(vec![new_fact("K", b"")]).await.expect("last"),
            vec![4]
        );
    });
}

fn reopen(path: &Path) -> Journal {
    Journal::open(path, node("a")).expect("reopen")
}

#[test]
fn a_journal_file_keeps_everything_across_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.journal");
    rt().block_on(async {
        let j = Journal::open(&path, node("a")).expect("open");
        assert_eq!(j.durability(), Durability::Immediate);
        j.append(vec![new_fact("K::A", b"1"), new_fact("K::B", b"2")])
            .await
            .expect("append");
        j.merge(vec![peer_fact("b", 1, "K::B"), peer_fact("b", 3, "K::B")])
            .await
            .expect("merge");
        j.commit(
            Vec::new(),
            vec![DataWrite::Put {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
            }],
        )
        .await
        .expect("data");
    });
    let j = reopen(&path);
    assert_eq!(j.head(&node("a")).expect("head"), 2);
    assert_eq!(j.head(&node("b")).expect("head"), 1);
    assert_eq!(j.count("K::B").expect("count"), 3);
    assert_eq!(
        j.fact(&node("b"), 3).expect("fact"),
        Some(peer_fact("b", 3, "K::B"))
    );
    assert_eq!(j.data(b"k").expect("data"), Some(b"v".to_vec()));
    let next = rt()
        .block_on(j.append(vec![new_fact("K::A", b"3")]))
        .expect("append");
    assert_eq!(next, vec![3]);
}

#[test]
fn a_journal_file_is_one_nodes_and_opened_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.journal");
    let j = Journal::open(&path, node("a")).expect("open");
    let again = Journal::open(&path, node("a")).expect_err("locked");
    assert_eq!(again, JournalError::Locked { path: path.clone() });
    drop(j);
    let other = Journal::open(&path, node("b")).expect_err("origin");
    assert!(
        matches!(other, JournalError::OriginMismatch { .. }),
        "{other}"
    );
    assert!(other.to_string().contains("a.journal"), "{other}");
    let empty = dir.path().join("empty.journal");
    std::fs::write(&empty, b"").expect("write");
    let err = Journal::open(&empty, node("a")).expect_err("empty");
    assert!(matches!(err, JournalError::Corrupted { .. }), "{err}");
    assert_eq!(
        std::fs::metadata(&empty).expect("meta").len(),
        0,
        "left as found"
    );
}

#[test]
fn concurrent_appends_get_distinct_contiguous_seqs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.journal");
    let j = Journal::open(&path, node("a")).expect("open");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let mut seqs: Vec<u64> = runtime.block_on(async {
        let tasks: Vec<_> = (0..32u8)
            .map(|t| {
                let j = j.clone();
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    for i in 0..4u8 {
                        let group = vec![new_fact("K", &[t, i, 0]), new_fact("K", &[t, i, 1])];
                        let got = j.append(group).await.expect("append");
                        assert_eq!(got.len(), 2);
                        assert_eq!(got[1], got[0] + 1, "a group's seqs are adjacent");
                        mine.extend(got);
                    }
                    mine
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("task"));
        }
        all
    });
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=256).collect::<Vec<u64>>());
    assert_eq!(j.head(&node("a")).expect("head"), 256);
}

#[test]
fn facts_serialise_with_their_origin_by_name() {
    let fact = peer_fact("node-b", 4, "K::X");
    let bytes = postcard::to_stdvec(&fact).expect("encode");
    assert!(bytes.windows(6).any(|w| w == b"node-b"));
    let back: Fact = postcard::from_bytes(&bytes).expect("decode");
    assert_eq!(back, fact);
}
