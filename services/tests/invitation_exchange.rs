//! InvitationExchange through the invitation service: a matching code makes
//! both users each other's contact in the same relational context; a wrong
//! code, an expired invitation or a blocked sender makes the Receiver
//! decline, which cancels the exchange and leaves both without a contact.

mod common;

use choreo_runtime::Peer;
use choreo_services::crypto;
use choreo_services::invitation::invitation_exchange::{
    run_receiver, run_sender, Contact, ContactDescriptor, InvitationFact, IssuedInvitation,
    UserState,
};
use choreo_services::ServiceError;
use common::{assert_cancelled, assert_refused, Harness, BUDGET, TIMEOUT};
use tokio::time::Instant;

const CAPS: &[(&str, &[&str])] = &[
    ("Sender", &["invitation:send"]),
    ("Receiver", &["invitation:respond"]),
];
const SENDER: Peer = Peer::role("Sender");
const RECEIVER: Peer = Peer::role("Receiver");

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

type Side = (Result<Contact, ServiceError>, UserState);

async fn exchange(
    mut alice: UserState,
    mut bob: UserState,
    issued: IssuedInvitation,
) -> (Side, Side, Harness) {
    let mut h = Harness::new(&choreo_invitation_exchange::PROTOCOL, &[], CAPS);
    let mut sessions = h.join();
    let (a, b) = (sessions.take(SENDER), sessions.take(RECEIVER));
    sessions.done();
    let (sent, received) =
        tokio::join!(run_sender(a, &mut alice, issued), run_receiver(b, &mut bob));
    ((sent, alice), (received, bob), h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matching_code_makes_both_users_contacts_in_one_context() {
    let ((a, alice), (b, bob), h) = exchange(
        user("alice", &[]),
        user("bob", &["WOLF-7-APPLE"]),
        invitation(200),
    )
    .await;
    let (Ok(for_alice), Ok(for_bob)) = (a, b) else {
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
    let journal = h.node(SENDER).journal();
    assert_eq!(
        journal
            .count("InvitationFact::RelationshipEstablished")
            .unwrap(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_declined_invitation_cancels_the_exchange_and_records_no_contact() {
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
        let started = Instant::now();
        let ((a, alice), (b, bob), h) = exchange(user("alice", &[]), bob, issued).await;
        assert_cancelled(&a, RECEIVER, why);
        assert_refused(&b, why);
        assert!(
            alice.contacts.is_empty() && bob.contacts.is_empty(),
            "{why}"
        );
        let declined =
            |f: &InvitationFact| matches!(f, InvitationFact::Answered(_, Err(r)) if r == why);
        assert_eq!(bob.journal.count(declined), 1, "{why}");
        assert_eq!(alice.journal.count(declined), 1, "the sender learns why");
        // Neither descriptor nor the relationship was sent.
        let journal = h.node(SENDER).journal();
        assert_eq!(
            journal
                .count("InvitationFact::RelationshipEstablished")
                .unwrap(),
            0
        );
        let spent = BUDGET - h.context(SENDER).remaining_budget(&RECEIVER);
        assert_eq!(spent, 1, "only the offer was charged");
        assert!(started.elapsed() < TIMEOUT, "{why}: a timeout elapsed");
    }
}
