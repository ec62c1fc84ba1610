//! GuardianInvitation through the invitation service: with 1 and 5 current
//! guardians, an accepting contact becomes a guardian everywhere; a stranger,
//! a contact without room, or terms outside its policy make the invitee
//! decline, which cancels the invitation for every party and binds nobody.
//! Hostile peers (an Invitee that replays or misbinds, an Inviter that forges
//! the join notice or the completion, a guardian acknowledging as another)
//! are refused with the check they fail, and nothing of that step is kept.

mod common;

use choreo_guardian_invitation::msg;
use choreo_runtime::Peer;
use choreo_services::crypto::{self, Digest, SigningKey};
use choreo_services::error::Check;
use choreo_services::invitation::guardian_invitation::{
    guardian_id as id_of, run_guardian, run_invitee, run_inviter, GuardianBindingSignature,
    GuardianInvitationFact as Fact, GuardianInvitationTypes, GuardianInvite,
    GuardianInviteResponse, GuardianJoinNotice, GuardianRelationship, GuardianState, InviteePolicy,
    InviteeState, InviterState,
};
use choreo_services::journal::facts;
use choreo_services::ServiceError;
use common::{assert_cancelled, assert_stopped_by, Harness, TIMEOUT};
use futures_util::future::join_all;
use tokio::time::Instant;

const CAPS: &[(&str, &[&str])] = &[
    ("Inviter", &["invitation:guardian"]),
    ("Invitee", &["guardian:accept"]),
];
const INVITER: Peer = Peer::role("Inviter");
const INVITEE: Peer = Peer::role("Invitee");

fn id(name: &str) -> Digest {
    crypto::digest("id", &[name.as_bytes()])
}

fn guardian_id(k: u32) -> Digest {
    crypto::digest("guardian", &[&k.to_le_bytes()])
}

fn carol_key() -> SigningKey {
    SigningKey::from_seed(&crypto::digest("carol key", &[]))
}

fn carol() -> Digest {
    id_of(&carol_key().verifying_key())
}

fn invitee(contacts: Vec<Digest>, max_guardianships: usize, min_threshold: u16) -> InviteeState {
    InviteeState {
        signing_key: carol_key(),
        policy: InviteePolicy {
            contacts,
            max_guardianships,
            min_threshold,
        },
        now: 10,
        guardianships: Vec::new(),
    }
}

fn guardians(n: u32) -> Vec<GuardianState> {
    (0..n)
        .map(|k| GuardianState {
            guardian_id: guardian_id(k),
            account_id: id("alice"),
            co_guardians: (0..n).filter(|j| *j != k).map(guardian_id).collect(),
            threshold: 1,
        })
        .collect()
}

fn inviter(n: u32, threshold: u16, invite_ttl: u64) -> InviterState {
    InviterState {
        account_id: id("alice"),
        guardians: (0..n).map(guardian_id).collect(),
        threshold,
        policy_digest: crypto::digest("guardian policy v2", &[]),
        now: 10,
        invite_ttl,
    }
}

fn harness(n: u32) -> Harness {
    Harness::new(
        &choreo_guardian_invitation::PROTOCOL,
        &[("Guardian", n)],
        CAPS,
    )
}

fn facts_of(h: &Harness, peer: Peer) -> Vec<Fact> {
    facts(h.node(peer).journal()).expect("facts decode")
}

fn bound(facts: &[Fact]) -> usize {
    facts.iter().filter(|f| matches!(f, Fact::Bound(_))).count()
}

type Ended<T, S> = (Result<T, ServiceError>, S);

struct Outcomes {
    inviter: Ended<GuardianRelationship, InviterState>,
    invitee: Ended<GuardianRelationship, InviteeState>,
    guardians: Vec<Ended<Digest, GuardianState>>,
    h: Harness,
}

async fn invite(n: u32, threshold: u16, invite_ttl: u64, mut carol: InviteeState) -> Outcomes {
    let mut h = harness(n);
    let mut guardians = guardians(n);
    let mut inviter = inviter(n, threshold, invite_ttl);
    let key = carol.signing_key.verifying_key();
    let mut sessions = h.join();
    let (a, b) = (sessions.take(INVITER), sessions.take(INVITEE));
    let members = sessions.members("Guardian", n);
    sessions.done();
    let (invited, accepted, acked) = tokio::join!(
        run_inviter(a, &mut inviter, key),
        run_invitee(b, &mut carol),
        join_all(
            members
                .into_iter()
                .zip(guardians.iter_mut())
                .map(|(s, g)| run_guardian(s, g))
        ),
    );
    Outcomes {
        inviter: (invited, inviter),
        invitee: (accepted, carol),
        guardians: acked.into_iter().zip(guardians).collect(),
        h,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepting_contact_becomes_a_guardian_everywhere() {
    // A ttl of 0: the invite expires at the invitee's now, and still counts.
    for (n, threshold, ttl) in [(1, 2, 600), (5, 4, 0)] {
        let out = invite(n, threshold, ttl, invitee(vec![id("alice")], 3, 2)).await;
        let expected = GuardianRelationship {
            account_id: id("alice"),
            guardian_id: carol(),
            threshold,
            total: n as u16 + 1,
        };
        assert_eq!(out.inviter.0, Ok(expected.clone()), "{n} guardians");
        assert_eq!(out.invitee.0, Ok(expected.clone()));
        assert_eq!(out.inviter.1.guardians.last(), Some(&carol()));
        assert_eq!(out.invitee.1.guardianships, vec![expected.clone()]);
        for (k, (joined, state)) in out.guardians.iter().enumerate() {
            assert_eq!(joined, &Ok(carol()), "Guardian[{k}]");
            assert!(state.co_guardians.contains(&carol()));
            assert_eq!(state.threshold, threshold);
        }
        let answered = Fact::Answered(carol(), Ok(()));
        let done = Fact::Bound(expected);
        assert_eq!(
            facts_of(&out.h, INVITER),
            vec![answered.clone(), done.clone()]
        );
        assert_eq!(facts_of(&out.h, INVITEE), vec![answered, done]);
    }
}

#[tokio::test(start_paused = true)]
async fn a_declining_invitee_cancels_the_invitation_and_joins_nobody() {
    let cases = [
        (1, invitee(vec![], 3, 1), "the account is not a contact"),
        (
            5,
            invitee(vec![id("alice")], 0, 1),
            "guards as many accounts as its policy allows",
        ),
        (
            5,
            invitee(vec![id("alice")], 3, 4),
            "terms 2 of 6 are outside policy",
        ),
    ];
    for (n, carol_state, why) in cases {
        let started = Instant::now();
        let out = invite(n, 2, 600, carol_state).await;
        assert_stopped_by(&out.inviter.0, INVITER, INVITEE, why);
        assert_stopped_by(&out.invitee.0, INVITEE, INVITEE, why);
        assert_eq!(out.inviter.1.guardians.len(), n as usize, "{why}");
        assert!(out.invitee.1.guardianships.is_empty());
        for (k, (joined, state)) in out.guardians.iter().enumerate() {
            assert_stopped_by(joined, Peer::member("Guardian", k as u32), INVITEE, why);
            assert!(!state.co_guardians.contains(&carol()));
            assert_eq!(state.threshold, 1, "Guardian[{k}] learned no new terms");
        }
        assert_eq!(bound(&facts_of(&out.h, INVITER)), 0, "{why}");
        assert_eq!(bound(&facts_of(&out.h, INVITEE)), 0, "{why}");
        if !why.starts_with("terms") {
            // Declined on the invite: the inviter records why.
            let declined = Fact::Answered(carol(), Err(why.into()));
            assert_eq!(facts_of(&out.h, INVITER), vec![declined]);
        }
        assert!(started.elapsed() < TIMEOUT, "{why}: a timeout elapsed");
    }
}

#[tokio::test(start_paused = true)]
async fn a_guardian_set_that_is_not_the_family_is_refused_before_anything_is_sent() {
    let mut h = harness(2);
    let mut state = inviter(3, 2, 600);
    let mut sessions = h.join();
    let a = sessions.take(INVITER);
    let (b, members) = (sessions.take(INVITEE), sessions.members("Guardian", 2));
    sessions.done();
    drop((b, members));
    let e = run_inviter(a, &mut state, carol_key().verifying_key())
        .await
        .expect_err("refused");
    assert!(matches!(e, ServiceError::Invalid(_)), "{e}");
    assert!(facts_of(&h, INVITER).is_empty());
}

/// What the hostile Invitee gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InviteeLie {
    /// Replays its response to an earlier invitation.
    ReplayedResponse,
    /// Answers as another guardian.
    ResponseOfAnother,
    /// Signs the binding with a key that is not the one it names.
    ForgedSignature,
    /// Signs a binding for another invitation.
    OtherInvitation,
    /// Signs a binding for another account.
    OtherAccount,
    /// Binds another guardian's key, validly signed by it.
    OtherGuardian,
    /// Signs a binding to a lower threshold than offered.
    OtherTerms,
}

/// An Invitee of the test's own: accepts, then lies as `lie` says.
struct HostileInvitee {
    lie: InviteeLie,
    invite: Option<GuardianInvite>,
    terms: Option<msg::GuardianTerms>,
}

impl choreo_guardian_invitation::Invitee for HostileInvitee {
    type Types = GuardianInvitationTypes;
    type Error = ServiceError;

    async fn on_guardian_invite(
        &mut self,
        _: Peer,
        msg: GuardianInvite,
    ) -> Result<(), ServiceError> {
        self.invite = Some(msg);
        Ok(())
    }

    async fn guardian_invite_response(
        &mut self,
        _: Peer,
    ) -> Result<GuardianInviteResponse, ServiceError> {
        let mut response = GuardianInviteResponse {
            invitation_id: self.invite.as_ref().unwrap().invitation_id,
            guardian_id: carol(),
        };
        match self.lie {
            InviteeLie::ReplayedResponse => response.invitation_id = id("an earlier invitation"),
            InviteeLie::ResponseOfAnother => response.guardian_id = guardian_id(7),
            _ => {}
        }
        Ok(response)
    }

    async fn on_guardian_terms(
        &mut self,
        _: Peer,
        msg: msg::GuardianTerms,
    ) -> Result<(), ServiceError> {
        self.terms = Some(msg);
        Ok(())
    }

    async fn guardian_binding(
        &mut self,
        _: Peer,
    ) -> Result<GuardianBindingSignature, ServiceError> {
        let mut invite = self.invite.clone().unwrap();
        let mut terms = self.terms.clone().unwrap();
        let mut key = carol_key();
        match self.lie {
            InviteeLie::OtherInvitation => invite.invitation_id = id("another invitation"),
            InviteeLie::OtherAccount => invite.account_id = id("mallory"),
            InviteeLie::OtherGuardian => key = SigningKey::generate(),
            InviteeLie::OtherTerms => terms.threshold -= 1,
            _ => {}
        }
        let mut binding = GuardianBindingSignature::sign(&invite, &terms, &key);
        if self.lie == InviteeLie::ForgedSignature {
            let forged = GuardianBindingSignature::sign(&invite, &terms, &SigningKey::generate());
            binding.signature = forged.signature;
        }
        Ok(binding)
    }

    async fn on_invitation_complete(
        &mut self,
        _: Peer,
        _: GuardianRelationship,
    ) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn the_inviter_refuses_a_replayed_response_or_a_binding_that_does_not_check_out() {
    use InviteeLie::*;
    for (lie, check) in [
        (ReplayedResponse, Check::Nonce),
        (ResponseOfAnother, Check::Binding),
        (ForgedSignature, Check::Signature),
        (OtherInvitation, Check::Binding),
        (OtherAccount, Check::Binding),
        (OtherGuardian, Check::Binding),
        (OtherTerms, Check::Binding),
    ] {
        let started = Instant::now();
        let n = 2;
        let mut h = harness(n);
        let mut gs = guardians(n);
        let mut state = inviter(n, 2, 600);
        let mut hostile = HostileInvitee {
            lie,
            invite: None,
            terms: None,
        };
        let params = choreo_guardian_invitation::Params::default();
        let mut sessions = h.join();
        let (a, b) = (sessions.take(INVITER), sessions.take(INVITEE));
        let members = sessions.members("Guardian", n);
        sessions.done();
        let (invited, end, acked) = tokio::join!(
            run_inviter(a, &mut state, carol_key().verifying_key()),
            choreo_guardian_invitation::execute_as(
                choreo_guardian_invitation::As::Invitee(&mut hostile),
                b,
                &params
            ),
            join_all(
                members
                    .into_iter()
                    .zip(gs.iter_mut())
                    .map(|(s, g)| run_guardian(s, g))
            ),
        );
        let e = invited.expect_err("the inviter refuses");
        assert_eq!(e.failed_check(), Some(check), "{lie:?}: {e}");
        let end = ServiceError::from(end.expect_err("cancelled"));
        assert_eq!(end.cancelled_by(), Some(INVITER), "{lie:?}");
        for (k, outcome) in acked.iter().enumerate() {
            assert_cancelled(outcome, INVITER, &e.to_string());
            assert_eq!(gs[k].threshold, 1, "{lie:?}");
            assert!(!gs[k].co_guardians.contains(&carol()));
        }
        assert_eq!(state.guardians.len(), n as usize, "{lie:?}");
        let mine = facts_of(&h, INVITER);
        let answered = vec![Fact::Answered(carol(), Ok(()))];
        let expected = if matches!(lie, ReplayedResponse | ResponseOfAnother) {
            vec![]
        } else {
            answered
        };
        assert_eq!(mine, expected, "{lie:?}");
        assert!(started.elapsed() < TIMEOUT, "{lie:?}: a timeout elapsed");
    }
}

/// What the hostile Inviter gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InviterLie {
    /// Sends an invite that already expired.
    StaleInvite,
    /// Tells the guardians another threshold than the one signed.
    ForgedNotice,
    /// Tells the guardians of a binding for another account.
    NoticeForAnotherAccount,
    /// Completes a relationship with another account.
    CompleteOtherAccount,
    /// Completes a relationship of another guardian.
    CompleteOtherGuardian,
    /// Completes a relationship on another threshold.
    CompleteOtherThreshold,
    /// Completes a relationship on another total.
    CompleteOtherTotal,
}

/// An Inviter of the test's own, inviting carol among 1 guardian on 2 of 2.
struct HostileInviter {
    lie: InviterLie,
    binding: Option<GuardianBindingSignature>,
}

impl HostileInviter {
    fn terms() -> msg::GuardianTerms {
        msg::GuardianTerms {
            threshold: 2,
            total: 2,
            policy_digest: crypto::digest("guardian policy v2", &[]),
        }
    }
}

impl choreo_guardian_invitation::Inviter for HostileInviter {
    type Types = GuardianInvitationTypes;
    type Error = ServiceError;

    async fn guardian_invite(&mut self, _: Peer) -> Result<GuardianInvite, ServiceError> {
        // The honest invitee's clock reads 10.
        let expires_at = if self.lie == InviterLie::StaleInvite {
            9
        } else {
            100
        };
        Ok(GuardianInvite {
            invitation_id: id("invitation"),
            account_id: id("alice"),
            expires_at,
        })
    }

    async fn on_guardian_invite_response(
        &mut self,
        _: Peer,
        _: GuardianInviteResponse,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn guardian_terms(&mut self, _: Peer) -> Result<msg::GuardianTerms, ServiceError> {
        Ok(Self::terms())
    }

    async fn on_guardian_binding(
        &mut self,
        _: Peer,
        msg: GuardianBindingSignature,
    ) -> Result<(), ServiceError> {
        self.binding = Some(msg);
        Ok(())
    }

    async fn guardian_join_notice(&mut self, _: Peer) -> Result<GuardianJoinNotice, ServiceError> {
        let mut binding = self.binding.clone().unwrap();
        match self.lie {
            InviterLie::ForgedNotice => binding.threshold = 1,
            InviterLie::NoticeForAnotherAccount => binding.account_id = id("mallory"),
            _ => {}
        }
        Ok(GuardianJoinNotice { binding })
    }

    async fn on_join_notice_ack(
        &mut self,
        _: Peer,
        _: msg::JoinNoticeAck,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn invitation_complete(&mut self, _: Peer) -> Result<GuardianRelationship, ServiceError> {
        let mut done = GuardianRelationship {
            account_id: id("alice"),
            guardian_id: carol(),
            threshold: 2,
            total: 2,
        };
        match self.lie {
            InviterLie::CompleteOtherAccount => done.account_id = id("mallory"),
            InviterLie::CompleteOtherGuardian => done.guardian_id = guardian_id(7),
            InviterLie::CompleteOtherThreshold => done.threshold = 1,
            InviterLie::CompleteOtherTotal => done.total = 3,
            _ => {}
        }
        Ok(done)
    }
}

#[tokio::test(start_paused = true)]
async fn invitee_and_guardians_refuse_a_hostile_inviters_invite_notice_or_completion() {
    use InviterLie::*;
    for (lie, refuser, check) in [
        (StaleInvite, INVITEE, Check::Epoch),
        (ForgedNotice, Peer::member("Guardian", 0), Check::Signature),
        (
            NoticeForAnotherAccount,
            Peer::member("Guardian", 0),
            Check::Binding,
        ),
        (CompleteOtherAccount, INVITEE, Check::Binding),
        (CompleteOtherGuardian, INVITEE, Check::Binding),
        (CompleteOtherThreshold, INVITEE, Check::Binding),
        (CompleteOtherTotal, INVITEE, Check::Binding),
    ] {
        let started = Instant::now();
        let mut h = harness(1);
        let mut gs = guardians(1);
        let mut carol_state = invitee(vec![id("alice")], 3, 2);
        let mut hostile = HostileInviter { lie, binding: None };
        let params = choreo_guardian_invitation::Params::default();
        let mut sessions = h.join();
        let (a, b) = (sessions.take(INVITER), sessions.take(INVITEE));
        let mut members = sessions.members("Guardian", 1);
        sessions.done();
        let g = members.pop().unwrap();
        drop(members);
        let (end, accepted, acked) = tokio::join!(
            choreo_guardian_invitation::execute_as(
                choreo_guardian_invitation::As::Inviter(&mut hostile),
                a,
                &params
            ),
            run_invitee(b, &mut carol_state),
            run_guardian(g, &mut gs[0]),
        );
        let completion = refuser == INVITEE && lie != StaleInvite;
        if !completion {
            let end = ServiceError::from(end.expect_err("the hostile inviter is stopped"));
            assert_eq!(end.cancelled_by(), Some(refuser), "{lie:?}: {end}");
        }
        // Else the refused completion was the Inviter's last send: it is done.
        let e = if refuser == INVITEE {
            accepted.as_ref().expect_err("the invitee refuses")
        } else {
            acked.as_ref().expect_err("the guardian refuses")
        };
        assert_eq!(e.failed_check(), Some(check), "{lie:?}: {e}");
        assert!(carol_state.guardianships.is_empty(), "{lie:?}");
        assert_eq!(bound(&facts_of(&h, INVITEE)), 0, "{lie:?}");
        if completion {
            // The guardian acknowledged before the completion was sent.
            assert_eq!(acked, Ok(carol()), "{lie:?}");
        } else {
            let (other, me) = if refuser == INVITEE {
                (&acked.clone().map(|_| ()), Peer::member("Guardian", 0))
            } else {
                (&accepted.clone().map(|_| ()), INVITEE)
            };
            assert_stopped_by(other, me, refuser, &e.to_string());
            assert!(gs[0].co_guardians.is_empty(), "{lie:?}");
            assert_eq!(gs[0].threshold, 1, "{lie:?}");
        }
        if lie == StaleInvite {
            assert!(
                facts_of(&h, INVITEE).is_empty(),
                "the stale invite is not answered"
            );
        }
        assert!(started.elapsed() < TIMEOUT, "{lie:?}: a timeout elapsed");
    }
}

/// A current guardian of the test's own that acknowledges as Guardian[0].
struct Impersonator;

impl choreo_guardian_invitation::Guardian for Impersonator {
    type Types = GuardianInvitationTypes;
    type Error = ServiceError;

    async fn on_guardian_join_notice(
        &mut self,
        _: Peer,
        _: GuardianJoinNotice,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn join_notice_ack(&mut self, _: Peer) -> Result<msg::JoinNoticeAck, ServiceError> {
        Ok(msg::JoinNoticeAck {
            guardian_id: guardian_id(0),
        })
    }
}

#[tokio::test(start_paused = true)]
async fn the_inviter_refuses_an_acknowledgement_in_another_guardians_name() {
    let started = Instant::now();
    let mut h = harness(2);
    let mut gs = guardians(2);
    let mut state = inviter(2, 2, 600);
    let mut carol_state = invitee(vec![id("alice")], 3, 2);
    let params = choreo_guardian_invitation::Params::default();
    let mut sessions = h.join();
    let (a, b) = (sessions.take(INVITER), sessions.take(INVITEE));
    let mut members = sessions.members("Guardian", 2);
    sessions.done();
    let second = members.pop().unwrap();
    let first = members.pop().unwrap();
    drop(members);
    let mut impersonator = Impersonator;
    let (invited, accepted, honest, end) = tokio::join!(
        run_inviter(a, &mut state, carol_key().verifying_key()),
        run_invitee(b, &mut carol_state),
        run_guardian(first, &mut gs[0]),
        choreo_guardian_invitation::execute_as(
            choreo_guardian_invitation::As::Guardian(&mut impersonator),
            second,
            &params
        ),
    );
    let e = invited.expect_err("the inviter refuses");
    assert_eq!(e.failed_check(), Some(Check::Binding), "{e}");
    assert_cancelled(&accepted, INVITER, &e.to_string());
    // Guardian[0] and the impersonator were done once they acknowledged.
    assert_eq!(honest, Ok(carol()));
    assert!(end.is_ok(), "{end:?}");
    assert_eq!(state.guardians.len(), 2);
    assert!(carol_state.guardianships.is_empty());
    assert_eq!(bound(&facts_of(&h, INVITER)), 0);
    assert_eq!(bound(&facts_of(&h, INVITEE)), 0);
    assert!(started.elapsed() < TIMEOUT, "a timeout elapsed");
}
