//! GuardianMembershipChange through the recovery service: adding a guardian
//! with 1 and 5 voters, approvals on both sides of the threshold, an
//! unwilling candidate, and removing a guardian; every party must end with
//! the same roster in force, and a change that is not approved (by the
//! guardians or the candidate) is cancelled for everyone at once.

mod common;

use choreo_runtime::Peer;
use choreo_services::crypto::{self, Digest};
use choreo_services::recovery::guardian_membership::{
    run_account, run_candidate, run_guardian, AccountState, CandidateState, GuardianState,
    MembershipChange, MembershipFact, RosterView, VotePolicy,
};
use choreo_services::ServiceError;
use common::{assert_stopped_by, Harness, TIMEOUT};
use futures_util::future::join_all;
use tokio::time::Instant;

const CAPS: &[(&str, &[&str])] = &[
    ("Account", &["guardian:membership:propose"]),
    ("Guardian", &["guardian:membership:vote"]),
];
const ACCOUNT: Peer = Peer::role("Account");
const CANDIDATE: Peer = Peer::role("Candidate");

fn guardian_id(k: u32) -> Digest {
    crypto::digest("guardian", &[&k.to_le_bytes()])
}

fn candidate_id() -> Digest {
    crypto::digest("candidate", &[])
}

type Ended<S> = (Result<RosterView, ServiceError>, S);

struct Outcomes {
    account: Ended<AccountState>,
    guardians: Vec<Ended<GuardianState>>,
    candidate: Ended<CandidateState>,
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
    let mut h = Harness::new(
        &choreo_guardian_membership_change::PROTOCOL,
        &[("Guardian", n)],
        CAPS,
    );
    let mut guardians: Vec<GuardianState> = (0..n)
        .map(|k| GuardianState {
            guardian_id: guardian_id(k),
            share_seed: crypto::digest("share seed", &[&k.to_le_bytes()]),
            roster: roster.clone(),
            policy: VotePolicy {
                vouched: if sceptics.contains(&k) {
                    vec![]
                } else {
                    vec![candidate_id()]
                },
                min_guardians,
            },
            journal: Default::default(),
        })
        .collect();
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
    let mut account = AccountState {
        roster,
        journal: Default::default(),
    };
    let mut sessions = h.join();
    let (a, c) = (sessions.take(ACCOUNT), sessions.take(CANDIDATE));
    let members = sessions.members("Guardian", n);
    sessions.done();
    let (proposed, voted, confirmed) = tokio::join!(
        run_account(a, &mut account, change),
        join_all(
            members
                .into_iter()
                .zip(guardians.iter_mut())
                .map(|(s, g)| run_guardian(s, g))
        ),
        run_candidate(c, &mut candidate),
    );
    Outcomes {
        account: (proposed, account),
        guardians: voted.into_iter().zip(guardians).collect(),
        candidate: (confirmed, candidate),
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
        let expected = RosterView {
            epoch: 2,
            ..roster(n, threshold, &[candidate_id()])
        };
        assert_eq!(out.account.0, Ok(expected.clone()), "{n}");
        assert_eq!(out.account.1.roster, expected);
        for (k, (outcome, state)) in out.guardians.iter().enumerate() {
            assert_eq!(outcome, &Ok(expected.clone()), "Guardian[{k}]");
            assert_eq!(state.roster, expected);
        }
        assert_eq!(out.candidate.0, Ok(expected.clone()));
        assert_eq!(
            out.candidate.1.roster,
            Some(expected),
            "the candidate is a guardian now"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_rejected_addition_is_cancelled_and_leaves_the_roster_as_it_was() {
    let cases = [
        (1, 1, vec![0], true, ACCOUNT, "0 approvals, 1 needed"),
        (5, 3, vec![0, 2, 4], true, ACCOUNT, "2 approvals, 3 needed"),
        (5, 3, vec![], false, CANDIDATE, "declines to serve"),
    ];
    for (n, threshold, sceptics, willing, refuser, why) in cases {
        let started = Instant::now();
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
        assert_stopped_by(&out.account.0, ACCOUNT, refuser, why);
        assert_stopped_by(&out.candidate.0, CANDIDATE, refuser, why);
        for (k, (outcome, state)) in out.guardians.iter().enumerate() {
            assert_stopped_by(outcome, Peer::member("Guardian", k as u32), refuser, why);
            assert_eq!(state.roster, before, "Guardian[{k}]");
        }
        assert_eq!(out.account.1.roster, before);
        assert!(out
            .account
            .1
            .journal
            .contains(&MembershipFact::Rejected(why.into())));
        assert_eq!(out.candidate.1.roster, None, "the candidate did not join");
        assert!(started.elapsed() < TIMEOUT, "{why}: a timeout elapsed");
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
    assert_eq!(out.account.0, Ok(after.clone()));
    assert!(out.guardians.iter().all(|(o, _)| *o == Ok(after.clone())));
    assert_eq!(out.candidate.0, Ok(after));
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
    assert_stopped_by(&out.account.0, ACCOUNT, ACCOUNT, "0 approvals, 3 needed");
    assert_stopped_by(
        &out.candidate.0,
        CANDIDATE,
        ACCOUNT,
        "0 approvals, 3 needed",
    );
    assert_eq!(out.account.1.roster, before);
    assert_eq!(out.candidate.1.roster, Some(before));
}
