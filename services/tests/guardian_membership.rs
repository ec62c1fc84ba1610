//! GuardianMembershipChange through the recovery service: adding a guardian
//! with 1 and 5 voters, approvals on both sides of the threshold, an
//! unwilling candidate, and removing a guardian; every party must end with
//! the same roster in force.

mod common;

use choreo_runtime::{Peer, Roster};
use choreo_services::crypto::{self, Digest};
use choreo_services::recovery::guardian_membership::{
    run_account, run_candidate, run_guardian, AccountState, CandidateState, GuardianState,
    MembershipChange, MembershipOutcome, RosterView, VotePolicy,
};
use common::{session, take};

fn guardian_id(k: u32) -> Digest {
    crypto::digest("guardian", &[&k.to_le_bytes()])
}

fn candidate_id() -> Digest {
    crypto::digest("candidate", &[])
}

struct Outcomes {
    account: (MembershipOutcome, AccountState),
    guardians: Vec<(MembershipOutcome, GuardianState)>,
    candidate: (MembershipOutcome, CandidateState),
}

/// Runs `change` with `n` voting guardians over `roster`; guardians listed
/// in `sceptics` do not vouch for the candidate.
async fn change(
    roster: RosterView,
    n: u32,
    change: MembershipChange,
    sceptics: &[u32],
    min_guardians: usize,
    willing: bool,
) -> Outcomes {
    let peers = Roster::new()
        .with_role("Account")
        .with_family("Guardian", n)
        .with_role("Candidate");
    let caps: [(&str, &[&str]); 2] = [
        ("Account", &["guardian:membership:propose"]),
        ("Guardian", &["guardian:membership:vote"]),
    ];
    let mut adapters = session(choreo_guardian_membership_change::PROTOCOL, &peers, &caps);
    let mut tasks = Vec::new();
    for k in 0..n {
        let mut adapter = take(&mut adapters, &Peer::member("Guardian", k));
        let vouched = if sceptics.contains(&k) {
            vec![]
        } else {
            vec![candidate_id()]
        };
        let mut state = GuardianState {
            guardian_id: guardian_id(k),
            share_seed: crypto::digest("share seed", &[&k.to_le_bytes()]),
            roster: roster.clone(),
            policy: VotePolicy {
                vouched,
                min_guardians,
            },
            journal: Default::default(),
        };
        tasks.push(tokio::spawn(async move {
            let outcome = run_guardian(&mut adapter, &mut state)
                .await
                .expect("guardian runs");
            (outcome, state)
        }));
    }
    let mut candidate = CandidateState {
        candidate_id: candidate_id(),
        signing_key: crypto::digest("candidate key", &[]),
        willing,
        roster: roster
            .members
            .contains(&candidate_id())
            .then(|| roster.clone()),
        journal: Default::default(),
    };
    let mut c = take(&mut adapters, &Peer::role("Candidate"));
    let candidate_task = tokio::spawn(async move {
        let outcome = run_candidate(&mut c, &mut candidate)
            .await
            .expect("candidate runs");
        (outcome, candidate)
    });
    let mut account = AccountState {
        roster,
        journal: Default::default(),
    };
    let mut a = take(&mut adapters, &Peer::role("Account"));
    let outcome = run_account(&mut a, &mut account, change)
        .await
        .expect("account runs");
    let mut guardians = Vec::new();
    for task in tasks {
        guardians.push(task.await.expect("no guardian panics"));
    }
    Outcomes {
        account: (outcome, account),
        guardians,
        candidate: candidate_task.await.expect("no candidate panic"),
    }
}

fn roster(n: u32, threshold: u16, extra: &[Digest]) -> RosterView {
    let mut members: Vec<Digest> = (0..n).map(guardian_id).collect();
    members.extend_from_slice(extra);
    RosterView {
        members,
        threshold,
        epoch: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_addition_is_in_force_everywhere() {
    for (n, threshold, sceptics) in [(1, 1, vec![]), (5, 3, vec![]), (5, 3, vec![0, 4])] {
        let out = change(
            roster(n, threshold, &[]),
            n,
            MembershipChange::Add(candidate_id()),
            &sceptics,
            1,
            true,
        )
        .await;
        let expected = roster(n, threshold, &[candidate_id()]);
        let expected = RosterView {
            epoch: 2,
            ..expected
        };
        assert_eq!(
            out.account.0,
            MembershipOutcome {
                roster: expected.clone(),
                rejected: None
            },
            "{n}"
        );
        assert_eq!(out.account.1.roster, expected);
        for (k, (outcome, state)) in out.guardians.iter().enumerate() {
            assert_eq!(outcome.roster, expected, "Guardian[{k}]");
            assert_eq!(state.roster, expected);
        }
        assert_eq!(out.candidate.0.roster, expected);
        assert_eq!(
            out.candidate.1.roster,
            Some(expected),
            "the candidate is a guardian now"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_addition_leaves_the_roster_as_it_was() {
    let cases = [
        (1, 1, vec![0], true, "0 approvals, 1 needed".to_string()),
        (5, 3, vec![0, 2, 4], true, "2 approvals, 3 needed".into()),
        (5, 3, vec![], false, "candidate: declines to serve".into()),
    ];
    for (n, threshold, sceptics, willing, why) in cases {
        let before = roster(n, threshold, &[]);
        let out = change(
            before.clone(),
            n,
            MembershipChange::Add(candidate_id()),
            &sceptics,
            1,
            willing,
        )
        .await;
        assert_eq!(
            out.account.0,
            MembershipOutcome {
                roster: before.clone(),
                rejected: Some(why)
            }
        );
        assert_eq!(out.account.1.roster, before);
        assert!(out
            .guardians
            .iter()
            .all(|(o, s)| o.roster == before && s.roster == before));
        assert_eq!(out.candidate.1.roster, None, "the candidate did not join");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_releases_the_departing_guardian() {
    // Five remaining guardians vote; the departing one plays Candidate.
    let before = roster(5, 3, &[candidate_id()]);
    let out = change(
        before.clone(),
        5,
        MembershipChange::Remove(candidate_id()),
        &[],
        3,
        true,
    )
    .await;
    let after = RosterView {
        epoch: 2,
        ..roster(5, 3, &[])
    };
    assert_eq!(out.account.0.roster, after);
    assert!(out.guardians.iter().all(|(o, _)| o.roster == after));
    assert_eq!(out.candidate.0.roster, after);
    assert_eq!(out.candidate.1.roster, None, "released");
    // A removal the guardians' policy forbids keeps the departing guardian in.
    let out = change(
        before.clone(),
        5,
        MembershipChange::Remove(candidate_id()),
        &[],
        6,
        true,
    )
    .await;
    assert_eq!(out.account.0.rejected, Some("0 approvals, 3 needed".into()));
    assert_eq!(out.candidate.1.roster, Some(before));
}
