//! Hostile parties of a membership change: each plays one role through the
//! generated trait and gets one value wrong; the honest role that checks it
//! refuses with the check it fails, the others are cancelled, and nothing of
//! the refused step is on record.

use super::*;

/// Three guardians (threshold 2) add the candidate.
fn before() -> RosterView {
    roster(3, 2, &[])
}

fn addition() -> MembershipChange {
    MembershipChange::Add(candidate_id())
}

/// Asserts that `outcome` is a refusal for failing `check`.
#[track_caller]
fn assert_unverified<T: std::fmt::Debug>(outcome: &Result<T, ServiceError>, check: Check) {
    match outcome {
        Err(e) => assert_eq!(e.failed_check(), Some(check), "{e}"),
        Ok(v) => panic!("expected a refusal ({check}), got {v:?}"),
    }
}

/// Asserts that `outcome` is a refusal for `check`, or a cancellation by
/// another peer that refused first; returns whether it refused.
#[track_caller]
fn refused_or_cancelled<T: std::fmt::Debug>(
    outcome: &Result<T, ServiceError>,
    check: Check,
) -> bool {
    match outcome {
        Err(ServiceError::Cancelled { .. }) => false,
        other => {
            assert_unverified(other, check);
            true
        }
    }
}

#[track_caller]
fn assert_cancelled_by<T: std::fmt::Debug>(outcome: &Result<T, ServiceError>, by: Peer) {
    match outcome {
        Err(e) => assert_eq!(e.cancelled_by(), Some(by), "{e}"),
        Ok(v) => panic!("expected a cancellation by {by}, got {v:?}"),
    }
}

fn no_roster(facts: &[MembershipFact]) -> bool {
    !facts.iter().any(|f| matches!(f, MembershipFact::Roster(_)))
}

// ---------------------------------------------------------------- guardians

/// What a hostile Guardian[1] gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GuardianLie {
    /// Votes with a key that is no guardian's.
    StrangerVote,
    /// Votes a second time as Guardian[0] (a valid signature of its key).
    DuplicateVote,
    /// Votes as itself, signed with another key.
    ForgedVote,
    /// Sends its own genuine vote on another change.
    ReplayedVote,
    /// Commits to a reshare with a key that is no guardian's.
    StrangerReshare,
    /// Commits to a second reshare as Guardian[0].
    DuplicateReshare,
    /// Commits to its reshare, signed with another key.
    ForgedReshare,
}

struct HostileGuardian {
    lie: GuardianLie,
    proposal: Option<MembershipChangeProposal>,
}

impl HostileGuardian {
    fn digest(&self) -> crypto::Digest {
        self.proposal.as_ref().expect("a proposal").digest()
    }
}

impl choreo_guardian_membership_change::Guardian for HostileGuardian {
    type Types = MembershipTypes;
    type Error = ServiceError;

    async fn on_membership_proposal(
        &mut self,
        _: Peer,
        msg: MembershipChangeProposal,
    ) -> Result<(), ServiceError> {
        self.proposal = Some(msg);
        Ok(())
    }

    async fn membership_vote(&mut self, _: Peer) -> Result<MembershipVote, ServiceError> {
        let digest = self.digest();
        Ok(match self.lie {
            GuardianLie::StrangerVote => MembershipVote::signed(&stranger(), &digest, Ok(())),
            GuardianLie::DuplicateVote => MembershipVote::signed(&guardian_key(0), &digest, Ok(())),
            GuardianLie::ForgedVote => MembershipVote {
                guardian: guardian_id(1),
                ..MembershipVote::signed(&stranger(), &digest, Ok(()))
            },
            GuardianLie::ReplayedVote => {
                let mut other = self.proposal.clone().expect("a proposal");
                other.change_id = crypto::digest("an earlier change", &[]);
                MembershipVote::signed(&guardian_key(1), &other.digest(), Ok(()))
            }
            _ => MembershipVote::signed(&guardian_key(1), &digest, Ok(())),
        })
    }

    async fn on_reshare_request(
        &mut self,
        _: Peer,
        _: msg::ReshareRequest,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn reshare_commitment(&mut self, _: Peer) -> Result<ReshareCommitment, ServiceError> {
        let (digest, c) = (self.digest(), crypto::digest("a commitment", &[]));
        Ok(match self.lie {
            GuardianLie::StrangerReshare => ReshareCommitment::signed(&stranger(), &digest, c),
            GuardianLie::DuplicateReshare => {
                ReshareCommitment::signed(&guardian_key(0), &digest, c)
            }
            GuardianLie::ForgedReshare => ReshareCommitment {
                guardian: guardian_id(1),
                ..ReshareCommitment::signed(&stranger(), &digest, c)
            },
            _ => ReshareCommitment::signed(&guardian_key(1), &digest, c),
        })
    }

    async fn on_membership_committed(
        &mut self,
        _: Peer,
        _: msg::MembershipCommitted,
    ) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_refuses_a_hostile_guardians_vote_or_reshare() {
    use GuardianLie::*;
    let cases = [
        (StrangerVote, Check::Signature),
        (DuplicateVote, Check::Threshold),
        (ForgedVote, Check::Signature),
        (ReplayedVote, Check::Signature),
        (StrangerReshare, Check::Signature),
        (DuplicateReshare, Check::Threshold),
        (ForgedReshare, Check::Signature),
    ];
    for (lie, check) in cases {
        let mut h = new_harness(3);
        let mut account = AccountState { roster: before() };
        let (mut g0, mut g2) = (
            guardian(0, &before(), true, 1),
            guardian(2, &before(), true, 1),
        );
        let mut cand = candidate(&before(), true);
        let mut hostile = HostileGuardian {
            lie,
            proposal: None,
        };
        let params = Params::default();
        let mut sessions = h.join();
        let (a, c) = (sessions.take(ACCOUNT), sessions.take(CANDIDATE));
        let mut members = sessions.members("Guardian", 3).into_iter();
        let (s0, s1, s2) = (
            members.next().unwrap(),
            members.next().unwrap(),
            members.next().unwrap(),
        );
        drop(members);
        sessions.done();
        let (outcome, o0, _, o2, oc) = tokio::join!(
            run_account(a, &mut account, addition()),
            run_guardian(s0, &mut g0),
            choreo_guardian_membership_change::execute_as(As::Guardian(&mut hostile), s1, &params),
            run_guardian(s2, &mut g2),
            run_candidate(c, &mut cand),
        );
        assert_unverified(&outcome, check);
        for other in [&o0, &o2, &oc] {
            assert_cancelled_by(other, ACCOUNT);
        }
        assert_eq!(account.roster, before(), "{lie:?}");
        assert_eq!((g0.roster.clone(), g2.roster.clone()), (before(), before()));
        let mine = member_facts(&h, ACCOUNT);
        assert!(no_roster(&mine), "{lie:?}: {mine:?}");
        let votes: Vec<_> = mine
            .iter()
            .filter_map(|f| match f {
                MembershipFact::Voted(who, _) => Some(*who),
                _ => None,
            })
            .collect();
        if matches!(
            lie,
            StrangerVote | DuplicateVote | ForgedVote | ReplayedVote
        ) {
            assert_eq!(
                votes,
                vec![guardian_id(0)],
                "{lie:?}: only Guardian[0]'s vote"
            );
        } else {
            assert_eq!(votes.len(), 3, "{lie:?}: every vote counted");
        }
    }
}

// ---------------------------------------------------------------- candidate

/// What a hostile Candidate gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CandidateLie {
    /// Confirms as the candidate, signed with another key.
    ForgedConfirmation,
    /// Sends a stranger's genuine confirmation.
    OtherParty,
    /// Sends its own genuine confirmation of another change.
    Replayed,
}

struct HostileCandidate {
    lie: CandidateLie,
    notice: Option<MembershipNotice>,
}

impl choreo_guardian_membership_change::Candidate for HostileCandidate {
    type Types = MembershipTypes;
    type Error = ServiceError;

    async fn on_membership_notice(
        &mut self,
        _: Peer,
        msg: MembershipNotice,
    ) -> Result<(), ServiceError> {
        self.notice = Some(msg);
        Ok(())
    }

    async fn candidate_confirmation(
        &mut self,
        _: Peer,
    ) -> Result<CandidateConfirmation, ServiceError> {
        let notice = self.notice.as_ref().expect("a notice");
        let by_stranger = CandidateConfirmation::signed(&stranger(), notice);
        Ok(match self.lie {
            CandidateLie::ForgedConfirmation => CandidateConfirmation {
                candidate: candidate_id(),
                ..by_stranger
            },
            CandidateLie::OtherParty => by_stranger,
            CandidateLie::Replayed => {
                let mut other = notice.clone();
                other.change_id = crypto::digest("an earlier change", &[]);
                CandidateConfirmation::signed(&candidate_key(), &other)
            }
        })
    }

    async fn on_membership_committed(
        &mut self,
        _: Peer,
        _: msg::MembershipCommitted,
    ) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_refuses_a_hostile_candidates_confirmation() {
    for (lie, check) in [
        (CandidateLie::ForgedConfirmation, Check::Signature),
        (CandidateLie::OtherParty, Check::Binding),
        (CandidateLie::Replayed, Check::Signature),
    ] {
        let mut h = new_harness(3);
        let mut account = AccountState { roster: before() };
        let mut guardians: Vec<_> = (0..3).map(|k| guardian(k, &before(), true, 1)).collect();
        let mut hostile = HostileCandidate { lie, notice: None };
        let params = Params::default();
        let mut sessions = h.join();
        let (a, c) = (sessions.take(ACCOUNT), sessions.take(CANDIDATE));
        let members = sessions.members("Guardian", 3);
        sessions.done();
        let (outcome, ends, _) = tokio::join!(
            run_account(a, &mut account, addition()),
            join_all(
                members
                    .into_iter()
                    .zip(guardians.iter_mut())
                    .map(|(s, g)| run_guardian(s, g))
            ),
            choreo_guardian_membership_change::execute_as(As::Candidate(&mut hostile), c, &params),
        );
        assert_unverified(&outcome, check);
        for end in &ends {
            assert_cancelled_by(end, ACCOUNT);
        }
        assert!(guardians.iter().all(|g| g.roster == before()));
        let mine = member_facts(&h, ACCOUNT);
        assert!(no_roster(&mine), "{lie:?}");
        assert!(
            !mine
                .iter()
                .any(|f| matches!(f, MembershipFact::Confirmed(_))),
            "{lie:?}: {mine:?}"
        );
    }
}

// ---------------------------------------------------------------- account

/// What a hostile Account gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AccountLie {
    /// Proposes a roster that adds a second, unproposed guardian.
    RosterNotApplied,
    /// Proposes a roster of the next epoch but one.
    RosterSkipsEpoch,
    /// Tells the candidate of a change of another guardian.
    NoticeForOther,
    /// Tells the candidate it joins a roster that leaves it out.
    NoticeWithoutCandidate,
    /// Asks for reshares for another epoch.
    ReshareEpoch,
    /// Asks for reshares for another roster.
    ReshareRoster,
    /// Asks for reshares under another threshold.
    ReshareThreshold,
    /// Commits another epoch to the guardians.
    CommitEpoch,
    /// Commits another roster to the guardians.
    CommitRoster,
    /// Commits another epoch to the candidate only.
    CandidateCommitEpoch,
    /// Commits another roster to the candidate only.
    CandidateCommitRoster,
}

struct HostileAccount {
    lie: AccountLie,
    proposal: MembershipChangeProposal,
}

impl HostileAccount {
    fn new(lie: AccountLie) -> Self {
        let mut proposed = before().after(&addition());
        match lie {
            AccountLie::RosterNotApplied => proposed.members.push(stranger().verifying_key()),
            AccountLie::RosterSkipsEpoch => proposed.epoch += 1,
            _ => {}
        }
        let proposal = MembershipChangeProposal {
            change_id: crypto::random(),
            change: addition(),
            current: before().digest(),
            proposed,
        };
        HostileAccount { lie, proposal }
    }
}

impl choreo_guardian_membership_change::Account for HostileAccount {
    type Types = MembershipTypes;
    type Error = ServiceError;

    async fn membership_proposal(
        &mut self,
        _: Peer,
    ) -> Result<MembershipChangeProposal, ServiceError> {
        Ok(self.proposal.clone())
    }

    async fn on_membership_vote(&mut self, _: Peer, _: MembershipVote) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn membership_notice(&mut self, _: Peer) -> Result<MembershipNotice, ServiceError> {
        let mut notice = self.proposal.notice();
        match self.lie {
            AccountLie::NoticeForOther => {
                notice.change = MembershipChange::Add(stranger().verifying_key())
            }
            AccountLie::NoticeWithoutCandidate => notice.proposed = before(),
            _ => {}
        }
        Ok(notice)
    }

    async fn on_candidate_confirmation(
        &mut self,
        _: Peer,
        _: CandidateConfirmation,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn reshare_request(&mut self, _: Peer) -> Result<msg::ReshareRequest, ServiceError> {
        let p = &self.proposal.proposed;
        let mut request = msg::ReshareRequest {
            roster_digest: p.digest(),
            threshold: p.threshold,
            epoch: p.epoch,
        };
        match self.lie {
            AccountLie::ReshareEpoch => request.epoch += 1,
            AccountLie::ReshareRoster => request.roster_digest = before().digest(),
            AccountLie::ReshareThreshold => request.threshold += 1,
            _ => {}
        }
        Ok(request)
    }

    async fn on_reshare_commitment(
        &mut self,
        _: Peer,
        _: ReshareCommitment,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn membership_committed(
        &mut self,
        to: Peer,
    ) -> Result<msg::MembershipCommitted, ServiceError> {
        let p = &self.proposal.proposed;
        let mut commit = msg::MembershipCommitted {
            epoch: p.epoch,
            roster_digest: p.digest(),
        };
        let to_candidate = to == CANDIDATE;
        match self.lie {
            AccountLie::CommitEpoch if !to_candidate => commit.epoch += 1,
            AccountLie::CommitRoster if !to_candidate => commit.roster_digest = before().digest(),
            AccountLie::CandidateCommitEpoch if to_candidate => commit.epoch -= 1,
            AccountLie::CandidateCommitRoster if to_candidate => {
                commit.roster_digest = before().digest()
            }
            _ => {}
        }
        Ok(commit)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardians_and_the_candidate_refuse_a_hostile_accounts_values() {
    use AccountLie::*;
    let cases = [
        (RosterNotApplied, Check::Binding, false),
        (RosterSkipsEpoch, Check::Binding, false),
        (NoticeForOther, Check::Binding, true),
        (NoticeWithoutCandidate, Check::Binding, true),
        (ReshareEpoch, Check::Epoch, false),
        (ReshareRoster, Check::Binding, false),
        (ReshareThreshold, Check::Binding, false),
        (CommitEpoch, Check::Epoch, false),
        (CommitRoster, Check::Binding, false),
        (CandidateCommitEpoch, Check::Epoch, true),
        (CandidateCommitRoster, Check::Binding, true),
    ];
    for (lie, check, candidate_refuses) in cases {
        let mut h = new_harness(3);
        let mut hostile = HostileAccount::new(lie);
        let mut guardians: Vec<_> = (0..3).map(|k| guardian(k, &before(), true, 1)).collect();
        let mut cand = candidate(&before(), true);
        let params = Params::default();
        let mut sessions = h.join();
        let (a, c) = (sessions.take(ACCOUNT), sessions.take(CANDIDATE));
        let members = sessions.members("Guardian", 3);
        sessions.done();
        let (_, ends, outcome) = tokio::join!(
            choreo_guardian_membership_change::execute_as(As::Account(&mut hostile), a, &params),
            join_all(
                members
                    .into_iter()
                    .zip(guardians.iter_mut())
                    .map(|(s, g)| run_guardian(s, g))
            ),
            run_candidate(c, &mut cand),
        );
        if candidate_refuses {
            assert_unverified(&outcome, check);
            for end in &ends {
                // The candidate's commit is the Account's last send.
                if !matches!(lie, CandidateCommitEpoch | CandidateCommitRoster) {
                    assert_cancelled_by(end, CANDIDATE);
                }
            }
        } else {
            let refused = ends
                .iter()
                .filter(|e| refused_or_cancelled(e, check))
                .count();
            assert!(refused > 0, "{lie:?}: no guardian refused: {ends:?}");
            assert!(
                refused == 3 || ends.iter().all(|e| e.is_err()),
                "{lie:?}: {ends:?}"
            );
            assert!(
                outcome.is_err(),
                "{lie:?}: the candidate ends without a roster"
            );
        }
        for (k, g) in guardians.iter().enumerate() {
            let theirs = member_facts(&h, Peer::member("Guardian", k as u32));
            if !candidate_refuses || matches!(lie, NoticeForOther | NoticeWithoutCandidate) {
                assert!(no_roster(&theirs), "{lie:?}: Guardian[{k}]: {theirs:?}");
                assert_eq!(g.roster, before(), "{lie:?}: Guardian[{k}]");
            }
            if matches!(lie, RosterNotApplied | RosterSkipsEpoch) {
                assert!(theirs.is_empty(), "{lie:?}: Guardian[{k}] did not vote");
            }
        }
        let theirs = member_facts(&h, CANDIDATE);
        assert!(no_roster(&theirs), "{lie:?}: {theirs:?}");
        assert_eq!(cand.roster, None, "{lie:?}: the candidate did not join");
        if matches!(lie, NoticeForOther | NoticeWithoutCandidate) {
            assert!(
                theirs.is_empty(),
                "{lie:?}: the candidate confirmed nothing"
            );
        }
    }
}
