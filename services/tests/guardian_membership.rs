//! GuardianMembershipChange through the recovery service: adding a guardian
//! with 1 and 5 voters, approvals on both sides of the threshold, an
//! unwilling candidate, and removing a guardian; every party must end with
//! the same roster in force, and a change that is not approved (by the
//! guardians or the candidate) is cancelled for everyone at once. Hostile
//! guardians, candidates and Accounts (forged, replayed, duplicated or
//! misdirected values) are refused with the check they fail.

mod common;

use choreo_guardian_membership_change::{msg, As, Params};
use choreo_runtime::Peer;
use choreo_services::crypto::{self, SecretKey, SigningKey, VerifyingKey};
use choreo_services::error::Check;
use choreo_services::journal::facts;
use choreo_services::recovery::guardian_membership::{
    run_account, run_candidate, run_guardian, AccountState, CandidateConfirmation, CandidateState,
    GuardianState, MembershipChange, MembershipChangeProposal, MembershipFact, MembershipNotice,
    MembershipTypes, MembershipVote, ReshareCommitment, RosterView, VotePolicy,
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

fn key(name: &str, k: u32) -> SigningKey {
    SigningKey::from_seed(&crypto::digest(name, &[&k.to_le_bytes()]))
}

fn guardian_key(k: u32) -> SigningKey {
    key("guardian", k)
}

fn guardian_id(k: u32) -> VerifyingKey {
    guardian_key(k).verifying_key()
}

fn candidate_key() -> SigningKey {
    key("candidate", 0)
}

fn candidate_id() -> VerifyingKey {
    candidate_key().verifying_key()
}

/// A key of no party of the change.
fn stranger() -> SigningKey {
    key("stranger", 0)
}

fn member_facts(h: &Harness, peer: Peer) -> Vec<MembershipFact> {
    facts(h.node(peer).journal()).expect("facts decode")
}

fn guardian(k: u32, roster: &RosterView, vouches: bool, min_guardians: usize) -> GuardianState {
    GuardianState {
        identity: guardian_key(k),
        share_seed: SecretKey::derive("share seed", &[&k.to_le_bytes()]),
        roster: roster.clone(),
        policy: VotePolicy {
            vouched: if vouches {
                vec![candidate_id()]
            } else {
                vec![]
            },
            min_guardians,
        },
    }
}

fn candidate(roster: &RosterView, willing: bool) -> CandidateState {
    CandidateState {
        identity: candidate_key(),
        willing,
        roster: roster
            .members
            .contains(&candidate_id())
            .then(|| roster.clone()),
    }
}

fn new_harness(n: u32) -> Harness {
    Harness::new(
        &choreo_guardian_membership_change::PROTOCOL,
        &[("Guardian", n)],
        CAPS,
    )
}

type Ended<S> = (Result<RosterView, ServiceError>, S);

struct Outcomes {
    account: Ended<AccountState>,
    guardians: Vec<Ended<GuardianState>>,
    candidate: Ended<CandidateState>,
    h: Harness,
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
    let mut h = new_harness(n);
    let mut guardians: Vec<GuardianState> = (0..n)
        .map(|k| guardian(k, &roster, !sceptics.contains(&k), min_guardians))
        .collect();
    let mut candidate = candidate(&roster, willing);
    let mut account = AccountState { roster };
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
        h,
    }
}

fn roster(n: u32, threshold: u16, extra: &[VerifyingKey]) -> RosterView {
    let mut members: Vec<VerifyingKey> = (0..n).map(guardian_id).collect();
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
        let mine = member_facts(&out.h, ACCOUNT);
        assert!(mine.contains(&MembershipFact::Roster(expected.clone())));
        assert!(mine.contains(&MembershipFact::Confirmed(candidate_id())));
        let voted = mine
            .iter()
            .filter(|f| matches!(f, MembershipFact::Voted(..)))
            .count();
        assert_eq!(voted, n as usize, "one vote per guardian");
        for (k, (outcome, state)) in out.guardians.iter().enumerate() {
            assert_eq!(outcome, &Ok(expected.clone()), "Guardian[{k}]");
            assert_eq!(state.roster, expected);
            let theirs = member_facts(&out.h, Peer::member("Guardian", k as u32));
            assert!(theirs.contains(&MembershipFact::Roster(expected.clone())));
        }
        assert_eq!(out.candidate.0, Ok(expected.clone()));
        assert_eq!(
            out.candidate.1.roster,
            Some(expected.clone()),
            "the candidate is a guardian now"
        );
        let theirs = member_facts(&out.h, CANDIDATE);
        assert!(theirs.contains(&MembershipFact::Roster(expected)));
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
        let mine = member_facts(&out.h, ACCOUNT);
        assert!(mine.contains(&MembershipFact::Rejected(why.into())));
        assert!(!mine.iter().any(|f| matches!(f, MembershipFact::Roster(_))));
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

#[path = "guardian_membership/hostile.rs"]
mod hostile;
