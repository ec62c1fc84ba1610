//! GuardianInvitation through the invitation service: with 1 and 5 current
//! guardians, an accepting contact becomes a guardian everywhere; a stranger,
//! a contact without room, or terms outside its policy bind nobody.

mod common;

use choreo_runtime::{Peer, Roster};
use choreo_services::crypto::{self, Digest};
use choreo_services::invitation::guardian_invitation::{
    run_guardian, run_invitee, run_inviter, GuardianRelationship, GuardianState, InvitationOutcome,
    InviteePolicy, InviteeState, InviterState,
};
use common::{session, take};

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

struct Outcomes {
    inviter: (InvitationOutcome, InviterState),
    invitee: (InvitationOutcome, InviteeState),
    guardians: Vec<(Option<Digest>, GuardianState)>,
}

async fn invite(n: u32, threshold: u16, mut carol: InviteeState) -> Outcomes {
    let roster = Roster::new()
        .with_role("Inviter")
        .with_role("Invitee")
        .with_family("Guardian", n);
    let caps: [(&str, &[&str]); 2] = [
        ("Inviter", &["invitation:guardian"]),
        ("Invitee", &["guardian:accept"]),
    ];
    let mut adapters = session(choreo_guardian_invitation::PROTOCOL, &roster, &caps);
    let mut tasks = Vec::new();
    for k in 0..n {
        let mut adapter = take(&mut adapters, &Peer::member("Guardian", k));
        let mut state = GuardianState {
            guardian_id: guardian_id(k),
            account_id: id("alice"),
            co_guardians: (0..n).filter(|j| *j != k).map(guardian_id).collect(),
            threshold: 1,
        };
        tasks.push(tokio::spawn(async move {
            let joined = run_guardian(&mut adapter, &mut state)
                .await
                .expect("guardian runs");
            (joined, state)
        }));
    }
    let mut b = take(&mut adapters, &Peer::role("Invitee"));
    let invitee_task = tokio::spawn(async move {
        let outcome = run_invitee(&mut b, &mut carol).await.expect("invitee runs");
        (outcome, carol)
    });
    let mut inviter = InviterState {
        account_id: id("alice"),
        guardians: (0..n).map(guardian_id).collect(),
        threshold,
        policy_digest: crypto::digest("guardian policy v2", &[]),
        now: 10,
        invite_ttl: 600,
        journal: Default::default(),
    };
    let mut a = take(&mut adapters, &Peer::role("Inviter"));
    let outcome = run_inviter(&mut a, &mut inviter, id("carol"))
        .await
        .expect("inviter runs");
    let mut guardians = Vec::new();
    for task in tasks {
        guardians.push(task.await.expect("no guardian panics"));
    }
    Outcomes {
        inviter: (outcome, inviter),
        invitee: invitee_task.await.expect("no invitee panic"),
        guardians,
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
        assert_eq!(
            out.inviter.0,
            InvitationOutcome::Bound(expected.clone()),
            "{n} guardians"
        );
        assert_eq!(out.invitee.0, InvitationOutcome::Bound(expected.clone()));
        assert_eq!(out.inviter.1.guardians.last(), Some(&id("carol")));
        assert_eq!(out.invitee.1.guardianships, vec![expected]);
        for (k, (joined, state)) in out.guardians.iter().enumerate() {
            assert_eq!(joined, &Some(id("carol")), "Guardian[{k}]");
            assert!(state.co_guardians.contains(&id("carol")));
            assert_eq!(state.threshold, threshold);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declining_or_unbound_invitee_joins_nobody() {
    let cases = [
        (
            1,
            invitee(vec![], 3, 1),
            "the account is not a contact".to_string(),
        ),
        (
            5,
            invitee(vec![id("alice")], 0, 1),
            "guards as many accounts as its policy allows".into(),
        ),
        (
            5,
            invitee(vec![id("alice")], 3, 4),
            "terms 2 of 6 are outside policy".into(),
        ),
    ];
    for (n, carol, why) in cases {
        let out = invite(n, 2, carol).await;
        assert_eq!(out.inviter.0, InvitationOutcome::Declined(why.clone()));
        assert_eq!(out.invitee.0, InvitationOutcome::Declined(why.clone()));
        assert_eq!(out.inviter.1.guardians.len(), n as usize, "{why}");
        assert!(out.invitee.1.guardianships.is_empty());
        for (joined, state) in &out.guardians {
            assert_eq!(joined, &None);
            assert!(!state.co_guardians.contains(&id("carol")));
        }
    }
}
