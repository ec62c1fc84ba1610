//! InvitationExchange through the invitation service: a matching code makes
//! both users each other's contact in the same relational context; a wrong
//! code, an expired invitation or a blocked sender leaves both without one.

mod common;

use choreo_runtime::{Peer, Roster};
use choreo_services::crypto;
use choreo_services::invitation::invitation_exchange::{
    run_receiver, run_sender, ContactDescriptor, InvitationFact, InvitationOutcome,
    IssuedInvitation, UserState,
};
use common::{session, take};

fn user(name: &str, codes: &[&str]) -> UserState {
    UserState {
        profile: ContactDescriptor {
            id: crypto::digest("user", &[name.as_bytes()]),
            nickname: name.into(),
            public_key: crypto::digest("public key", &[name.as_bytes()]),
            hints: vec![format!("rendezvous://{name}")],
        },
        now: 100,
        received_codes: codes.iter().map(|c| c.to_string()).collect(),
        blocked: Vec::new(),
        contacts: Vec::new(),
        journal: Default::default(),
    }
}

fn invitation(expires_at: u64) -> IssuedInvitation {
    IssuedInvitation {
        code: "WOLF-7-APPLE".into(),
        expires_at,
        epoch: 1,
    }
}

async fn exchange(
    mut alice: UserState,
    mut bob: UserState,
    issued: IssuedInvitation,
) -> (InvitationOutcome, UserState, InvitationOutcome, UserState) {
    let roster = Roster::new().with_role("Sender").with_role("Receiver");
    let caps: [(&str, &[&str]); 2] = [
        ("Sender", &["invitation:send"]),
        ("Receiver", &["invitation:respond"]),
    ];
    let mut adapters = session(choreo_invitation_exchange::PROTOCOL, &roster, &caps);
    let mut b = take(&mut adapters, &Peer::role("Receiver"));
    let task = tokio::spawn(async move {
        let outcome = run_receiver(&mut b, &mut bob).await.expect("receiver runs");
        (outcome, bob)
    });
    let mut a = take(&mut adapters, &Peer::role("Sender"));
    let outcome = run_sender(&mut a, &mut alice, issued)
        .await
        .expect("sender runs");
    let (answered, bob) = task.await.expect("no receiver panic");
    (outcome, alice, answered, bob)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matching_code_makes_both_users_contacts_in_one_context() {
    let (a, alice, b, bob) = exchange(
        user("alice", &[]),
        user("bob", &["WOLF-7-APPLE"]),
        invitation(200),
    )
    .await;
    let (InvitationOutcome::Established(for_alice), InvitationOutcome::Established(for_bob)) =
        (a, b)
    else {
        panic!("both establish the relationship");
    };
    assert_eq!(for_alice.context_id, for_bob.context_id);
    assert_ne!(for_alice.context_id, [0; 32]);
    assert_eq!(
        for_alice.descriptor, bob.profile,
        "alice holds bob's descriptor"
    );
    assert_eq!(
        for_bob.descriptor, alice.profile,
        "bob holds alice's descriptor"
    );
    assert_eq!(alice.contacts, vec![for_alice.clone()]);
    assert_eq!(bob.contacts, vec![for_bob]);
    assert!(alice
        .journal
        .contains(&InvitationFact::Established(for_alice)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_invitation_records_no_contact_on_either_side() {
    let mut blocking = user("bob", &["WOLF-7-APPLE"]);
    blocking.blocked.push(crypto::digest("user", &[b"alice"]));
    let cases = [
        (
            user("bob", &["WOLF-7-PEAR"]),
            invitation(200),
            "invitation code does not match",
        ),
        (
            user("bob", &["WOLF-7-APPLE"]),
            invitation(50),
            "invitation expired",
        ),
        (blocking, invitation(200), "sender is blocked"),
    ];
    for (bob, issued, why) in cases {
        let (a, alice, b, bob) = exchange(user("alice", &[]), bob, issued).await;
        assert_eq!(a, InvitationOutcome::Declined(why.into()));
        assert_eq!(b, InvitationOutcome::Declined(why.into()));
        assert!(
            alice.contacts.is_empty() && bob.contacts.is_empty(),
            "{why}"
        );
        assert_eq!(
            bob.journal
                .count(|f| matches!(f, InvitationFact::Answered(_, Err(_)))),
            1
        );
    }
}
