//! GuardianInvitation through the invitation service: with 1 and 5 current
//! guardians, an accepting contact becomes a guardian everywhere; a stranger,
//! a contact without room, or terms outside its policy make the invitee
//! decline, which cancels the invitation for every party and binds nobody.

mod common;

use choreo_runtime::Peer;
use choreo_services::crypto::{self, Digest};
use choreo_services::invitation::guardian_invitation::{
    run_guardian, run_invitee, run_inviter, GuardianInvitationFact, GuardianRelationship,
    GuardianState, InviteePolicy, InviteeState, InviterState,
};
use choreo_services::ServiceError;
use common::{assert_stopped_by, Harness, TIMEOUT};
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

fn invitee(contacts: Vec<Digest>, max_guardianships: usize, min_threshold: u16) -> InviteeState {
    InviteeState {
        guardian_id: id("carol"),
        signing_key: crypto::digest("carol key", &[]),
        policy: InviteePolicy {
            contacts,
            max_guardianships,
            min_threshold,
        },
        now: 10,
        guardianships: Vec::new(),
        journal: Default::default(),
    }
}

type Ended<T, S> = (Result<T, ServiceError>, S);

struct Outcomes {
    inviter: Ended<GuardianRelationship, InviterState>,
    invitee: Ended<GuardianRelationship, InviteeState>,
    guardians: Vec<Ended<Digest, GuardianState>>,
}

async fn invite(n: u32, threshold: u16, mut carol: InviteeState) -> Outcomes {
    let mut h = Harness::new(
        &choreo_guardian_invitation::PROTOCOL,
        &[("Guardian", n)],
        CAPS,
    );
    let mut guardians: Vec<GuardianState> = (0..n)
        .map(|k| GuardianState {
            guardian_id: guardian_id(k),
            account_id: id("alice"),
            co_guardians: (0..n).filter(|j| *j != k).map(guardian_id).collect(),
            threshold: 1,
        })
        .collect();
    let mut inviter = InviterState {
        account_id: id("alice"),
        guardians: (0..n).map(guardian_id).collect(),
        threshold,
        policy_digest: crypto::digest("guardian policy v2", &[]),
        now: 10,
        invite_ttl: 600,
        journal: Default::default(),
    };
    let mut sessions = h.join();
    let (a, b) = (sessions.take(INVITER), sessions.take(INVITEE));
    let members = sessions.members("Guardian", n);
    sessions.done();
    let (invited, accepted, acked) = tokio::join!(
        run_inviter(a, &mut inviter, id("carol")),
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
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepting_contact_becomes_a_guardian_everywhere() {
    for (n, threshold) in [(1, 2), (5, 4)] {
        let out = invite(n, threshold, invitee(vec![id("alice")], 3, 2)).await;
        let expected = GuardianRelationship {
            account_id: id("alice"),
            guardian_id: id("carol"),
            threshold,
            total: n as u16 + 1,
        };
        assert_eq!(out.inviter.0, Ok(expected.clone()), "{n} guardians");
        assert_eq!(out.invitee.0, Ok(expected.clone()));
        assert_eq!(out.inviter.1.guardians.last(), Some(&id("carol")));
        assert_eq!(out.invitee.1.guardianships, vec![expected]);
        for (k, (joined, state)) in out.guardians.iter().enumerate() {
            assert_eq!(joined, &Ok(id("carol")), "Guardian[{k}]");
            assert!(state.co_guardians.contains(&id("carol")));
            assert_eq!(state.threshold, threshold);
        }
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
    for (n, carol, why) in cases {
        let started = Instant::now();
        let out = invite(n, 2, carol).await;
        assert_stopped_by(&out.inviter.0, INVITER, INVITEE, why);
        assert_stopped_by(&out.invitee.0, INVITEE, INVITEE, why);
        assert_eq!(out.inviter.1.guardians.len(), n as usize, "{why}");
        assert!(out.invitee.1.guardianships.is_empty());
        for (k, (joined, state)) in out.guardians.iter().enumerate() {
            assert_stopped_by(joined, Peer::member("Guardian", k as u32), INVITEE, why);
            assert!(!state.co_guardians.contains(&id("carol")));
            assert_eq!(state.threshold, 1, "Guardian[{k}] learned no new terms");
        }
        let bound = |f: &GuardianInvitationFact| matches!(f, GuardianInvitationFact::Bound(_));
        assert_eq!(out.inviter.1.journal.count(bound), 0, "{why}");
        assert!(started.elapsed() < TIMEOUT, "{why}: a timeout elapsed");
    }
}
