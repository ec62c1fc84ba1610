//! InvitationExchange through the invitation service: a matching code makes
//! both users each other's contact in the same relational context; a wrong
//! code, an expired invitation or a blocked sender makes the Receiver stop
//! the exchange, which leaves both without a contact. Hostile peers (a
//! Sender whose descriptor or relationship does not match its offer, a
//! Receiver without the code, or whose descriptor or acknowledgement does
//! not match its answer) are refused with the check they fail, and nothing
//! of that step is kept.

mod common;

use choreo_invitation_exchange::msg;
use choreo_runtime::Peer;
use choreo_services::crypto::{self, Digest, SecretKey};
use choreo_services::error::Check;
use choreo_services::invitation::invitation_exchange::{
    code_key, descriptor_digest, offer_proof, response_proof, run_receiver, run_sender, Contact,
    ContactDescriptor, InvitationFact as Fact, InvitationOffer, InvitationResponse,
    InvitationTypes, IssuedInvitation, UserState,
};
use choreo_services::journal::facts;
use choreo_services::ServiceError;
use common::{assert_cancelled, assert_refused, Harness, BUDGET, TIMEOUT};
use tokio::time::Instant;

const CAPS: &[(&str, &[&str])] = &[
    ("Sender", &["invitation:send"]),
    ("Receiver", &["invitation:respond"]),
];
const SENDER: Peer = Peer::role("Sender");
const RECEIVER: Peer = Peer::role("Receiver");
const CODE: &str = "WOLF-7-APPLE";

fn profile(name: &str) -> ContactDescriptor {
    ContactDescriptor {
        id: crypto::digest("user", &[name.as_bytes()]),
        nickname: name.into(),
        public_key: crypto::digest("public key", &[name.as_bytes()]),
        hints: vec![format!("rendezvous://{name}")],
    }
}

fn user(name: &str, codes: &[&str]) -> UserState {
    UserState {
        profile: profile(name),
        now: 100,
        received_codes: codes.iter().map(|c| code_key(c)).collect(),
        blocked: Vec::new(),
        contacts: Vec::new(),
    }
}

fn invitation(expires_at: u64) -> IssuedInvitation {
    IssuedInvitation {
        code: CODE.into(),
        expires_at,
        epoch: 1,
    }
}

fn facts_of(h: &Harness, peer: Peer) -> Vec<Fact> {
    facts(h.node(peer).journal()).expect("facts decode")
}

fn established(facts: &[Fact]) -> usize {
    facts
        .iter()
        .filter(|f| matches!(f, Fact::Established(_)))
        .count()
}

fn harness() -> Harness {
    Harness::new(&choreo_invitation_exchange::PROTOCOL, &[], CAPS)
}

type Side = (Result<Contact, ServiceError>, UserState);

async fn exchange(
    mut alice: UserState,
    mut bob: UserState,
    issued: IssuedInvitation,
) -> (Side, Side, Harness) {
    let mut h = harness();
    let mut sessions = h.join();
    let (a, b) = (sessions.take(SENDER), sessions.take(RECEIVER));
    sessions.done();
    let (sent, received) =
        tokio::join!(run_sender(a, &mut alice, issued), run_receiver(b, &mut bob));
    ((sent, alice), (received, bob), h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matching_code_makes_both_users_contacts_in_one_context() {
    // Expiring at the receiver's now still counts.
    for expires_at in [200, 100] {
        let ((a, alice), (b, bob), h) = exchange(
            user("alice", &[]),
            user("bob", &["WOLF-7-PEAR", CODE]),
            invitation(expires_at),
        )
        .await;
        let (Ok(for_alice), Ok(for_bob)) = (a, b) else {
            panic!("both establish the relationship");
        };
        assert_eq!(for_alice.context_id, for_bob.context_id);
        assert_ne!(for_alice.context_id, [0; 32]);
        assert_eq!((for_alice.epoch, for_bob.epoch), (1, 1));
        assert_eq!(for_alice.descriptor, bob.profile, "alice holds bob's");
        assert_eq!(for_bob.descriptor, alice.profile, "bob holds alice's");
        assert_eq!(alice.contacts, vec![for_alice.clone()]);
        assert_eq!(bob.contacts, vec![for_bob.clone()]);
        let (mine, theirs) = (facts_of(&h, SENDER), facts_of(&h, RECEIVER));
        assert_eq!(mine.len(), 2, "{mine:?}");
        assert!(matches!(mine[0], Fact::Answered(_, Ok(()))));
        assert_eq!(mine[1], Fact::Established(for_alice));
        assert_eq!(theirs[0], mine[0], "both record the same answer");
        assert_eq!(theirs[1], Fact::Established(for_bob));
        let journal = h.node(SENDER).journal();
        let annotated = journal.count("InvitationFact::RelationshipEstablished");
        assert_eq!(annotated.unwrap(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn a_wrong_code_an_expired_offer_or_a_blocked_sender_stops_the_exchange() {
    let mut blocking = user("bob", &[CODE]);
    blocking.blocked.push(profile("alice").id);
    let cases = [
        (
            user("bob", &["WOLF-7-PEAR"]),
            invitation(200),
            Some(Check::Mac),
        ),
        (user("bob", &[]), invitation(200), Some(Check::Mac)),
        (user("bob", &[CODE]), invitation(99), Some(Check::Epoch)),
        (blocking, invitation(200), None),
    ];
    for (bob, issued, check) in cases {
        let started = Instant::now();
        let ((a, alice), (b, bob), h) = exchange(user("alice", &[]), bob, issued).await;
        let why = match check {
            Some(check) => {
                let e = b.as_ref().expect_err("the receiver refuses");
                assert_eq!(e.failed_check(), Some(check), "{e}");
                assert!(facts_of(&h, RECEIVER).is_empty(), "{check:?}: nothing kept");
                e.to_string()
            }
            None => {
                assert_refused(&b, "sender is blocked");
                let declined = &facts_of(&h, RECEIVER)[..];
                assert!(
                    matches!(declined, [Fact::Answered(_, Err(r))] if r == "sender is blocked")
                );
                "sender is blocked".into()
            }
        };
        assert_cancelled(&a, RECEIVER, &why);
        assert!(
            alice.contacts.is_empty() && bob.contacts.is_empty(),
            "{why}"
        );
        let told = &facts_of(&h, SENDER)[..];
        assert!(
            matches!(told, [Fact::Answered(_, Err(r))] if *r == why),
            "the sender learns why: {told:?}"
        );
        // Neither descriptor nor the relationship was sent.
        let journal = h.node(SENDER).journal();
        let annotated = journal.count("InvitationFact::RelationshipEstablished");
        assert_eq!(annotated.unwrap(), 0);
        let spent = BUDGET - h.context(SENDER).remaining_budget(&RECEIVER);
        assert_eq!(spent, 1, "only the offer was charged");
        assert!(started.elapsed() < TIMEOUT, "{why}: a timeout elapsed");
    }
}

/// The offer alice makes for `descriptor` under `key`, proof included.
fn offer(key: &SecretKey, descriptor: &ContactDescriptor, sender_id: Digest) -> InvitationOffer {
    let mut offer = InvitationOffer {
        invitation_id: crypto::random(),
        sender_id,
        descriptor: descriptor_digest(descriptor),
        epoch: 1,
        expires_at: 200,
        proof: [0; 32],
    };
    offer.proof = offer_proof(key, &offer);
    offer
}

/// The context an honest side derives (as the service does).
fn context(offer: &InvitationOffer, receiver: &Digest) -> Digest {
    crypto::digest(
        "choreo-services/invitation/context",
        &[
            &offer.invitation_id,
            &offer.descriptor,
            receiver,
            &offer.epoch.to_le_bytes(),
        ],
    )
}

/// What the hostile Sender gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SenderLie {
    /// Changes the epoch after the proof was made.
    TamperedOffer,
    /// Commits to, and sends, another user's descriptor.
    DescriptorOfAnother,
    /// Sends another descriptor than it committed to (another key).
    UncommittedDescriptor,
    /// Establishes the relationship at another epoch.
    OtherEpoch,
    /// Establishes another context.
    OtherContext,
}

/// A Sender of the test's own, with the right code.
struct HostileSender {
    lie: SenderLie,
    offer: InvitationOffer,
    sent: ContactDescriptor,
    answer: Option<Digest>,
}

impl HostileSender {
    fn new(lie: SenderLie) -> Self {
        let key = code_key(CODE);
        let mut committed = profile("alice");
        if lie == SenderLie::DescriptorOfAnother {
            committed = profile("mallory");
        }
        let mut offer = offer(&key, &committed, profile("alice").id);
        let mut sent = committed;
        match lie {
            SenderLie::TamperedOffer => offer.epoch = 2,
            SenderLie::UncommittedDescriptor => sent.public_key = crypto::digest("mallory", &[]),
            _ => {}
        }
        HostileSender {
            lie,
            offer,
            sent,
            answer: None,
        }
    }
}

impl choreo_invitation_exchange::Sender for HostileSender {
    type Types = InvitationTypes;
    type Error = ServiceError;

    async fn invitation_offer(&mut self, _: Peer) -> Result<InvitationOffer, ServiceError> {
        Ok(self.offer.clone())
    }

    async fn on_invitation_response(
        &mut self,
        _: Peer,
        msg: InvitationResponse,
    ) -> Result<(), ServiceError> {
        self.answer = Some(msg.descriptor);
        Ok(())
    }

    async fn contact_descriptor(&mut self, _: Peer) -> Result<ContactDescriptor, ServiceError> {
        Ok(self.sent.clone())
    }

    async fn on_contact_descriptor_reply(
        &mut self,
        _: Peer,
        _: ContactDescriptor,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn relationship_established(
        &mut self,
        _: Peer,
    ) -> Result<msg::RelationshipEstablished, ServiceError> {
        let mut context_id = context(&self.offer, &self.answer.unwrap());
        let mut epoch = 1;
        match self.lie {
            SenderLie::OtherEpoch => epoch = 2,
            SenderLie::OtherContext => context_id = crypto::digest("another context", &[]),
            _ => {}
        }
        Ok(msg::RelationshipEstablished { context_id, epoch })
    }

    async fn on_invitation_ack(
        &mut self,
        _: Peer,
        _: msg::InvitationAck,
    ) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn the_receiver_refuses_a_hostile_senders_offer_descriptor_or_relationship() {
    use SenderLie::*;
    for (lie, check) in [
        (TamperedOffer, Check::Mac),
        (DescriptorOfAnother, Check::Binding),
        (UncommittedDescriptor, Check::Commitment),
        (OtherEpoch, Check::Epoch),
        (OtherContext, Check::Transcript),
    ] {
        let started = Instant::now();
        let mut h = harness();
        let mut bob = user("bob", &[CODE]);
        let mut hostile = HostileSender::new(lie);
        let params = choreo_invitation_exchange::Params::default();
        let mut sessions = h.join();
        let (a, b) = (sessions.take(SENDER), sessions.take(RECEIVER));
        sessions.done();
        let (end, received) = tokio::join!(
            choreo_invitation_exchange::execute_as(
                choreo_invitation_exchange::As::Sender(&mut hostile),
                a,
                &params
            ),
            run_receiver(b, &mut bob),
        );
        let e = received.expect_err("the receiver refuses");
        assert_eq!(e.failed_check(), Some(check), "{lie:?}: {e}");
        let end = ServiceError::from(end.expect_err("cancelled"));
        assert_eq!(end.cancelled_by(), Some(RECEIVER), "{lie:?}");
        assert!(bob.contacts.is_empty(), "{lie:?}");
        let kept = facts_of(&h, RECEIVER);
        if lie == TamperedOffer {
            assert!(kept.is_empty(), "{lie:?}: {kept:?}");
        } else {
            assert!(
                matches!(kept[..], [Fact::Answered(_, Ok(()))]),
                "{lie:?}: {kept:?}"
            );
        }
        assert!(started.elapsed() < TIMEOUT, "{lie:?}: a timeout elapsed");
    }
}

/// What the hostile Receiver gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReceiverLie {
    /// Answers another invitation.
    OtherInvitation,
    /// Answers without the code (a proof under a guessed one).
    GuessedCode,
    /// Sends another descriptor than it committed to.
    UncommittedReply,
    /// Acknowledges another context.
    OtherContextAck,
}

/// A Receiver of the test's own.
struct HostileReceiver {
    lie: ReceiverLie,
    offer: Option<InvitationOffer>,
}

impl choreo_invitation_exchange::Receiver for HostileReceiver {
    type Types = InvitationTypes;
    type Error = ServiceError;

    async fn on_invitation_offer(
        &mut self,
        _: Peer,
        msg: InvitationOffer,
    ) -> Result<(), ServiceError> {
        self.offer = Some(msg);
        Ok(())
    }

    async fn invitation_response(&mut self, _: Peer) -> Result<InvitationResponse, ServiceError> {
        let mut offer = self.offer.clone().unwrap();
        let key = match self.lie {
            ReceiverLie::GuessedCode => code_key("WOLF-7-PEAR"),
            _ => code_key(CODE),
        };
        let descriptor = descriptor_digest(&profile("bob"));
        let proof = response_proof(&key, &offer, &descriptor);
        if self.lie == ReceiverLie::OtherInvitation {
            offer.invitation_id = crypto::digest("another invitation", &[]);
        }
        Ok(InvitationResponse {
            invitation_id: offer.invitation_id,
            descriptor,
            proof,
        })
    }

    async fn on_contact_descriptor(
        &mut self,
        _: Peer,
        _: ContactDescriptor,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn contact_descriptor_reply(
        &mut self,
        _: Peer,
    ) -> Result<ContactDescriptor, ServiceError> {
        let mut reply = profile("bob");
        if self.lie == ReceiverLie::UncommittedReply {
            reply.hints = vec!["rendezvous://mallory".into()];
        }
        Ok(reply)
    }

    async fn on_relationship_established(
        &mut self,
        _: Peer,
        _: msg::RelationshipEstablished,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn invitation_ack(&mut self, _: Peer) -> Result<msg::InvitationAck, ServiceError> {
        let offer = self.offer.as_ref().unwrap();
        let mut context_id = context(offer, &descriptor_digest(&profile("bob")));
        if self.lie == ReceiverLie::OtherContextAck {
            context_id = crypto::digest("another context", &[]);
        }
        Ok(msg::InvitationAck { context_id })
    }
}

#[tokio::test(start_paused = true)]
async fn the_sender_refuses_a_hostile_receivers_answer_descriptor_or_acknowledgement() {
    use ReceiverLie::*;
    for (lie, check) in [
        (OtherInvitation, Check::Binding),
        (GuessedCode, Check::Mac),
        (UncommittedReply, Check::Commitment),
        (OtherContextAck, Check::Transcript),
    ] {
        let started = Instant::now();
        let mut h = harness();
        let mut alice = user("alice", &[]);
        let mut hostile = HostileReceiver { lie, offer: None };
        let params = choreo_invitation_exchange::Params::default();
        let mut sessions = h.join();
        let (a, b) = (sessions.take(SENDER), sessions.take(RECEIVER));
        sessions.done();
        let (sent, end) = tokio::join!(
            run_sender(a, &mut alice, invitation(200)),
            choreo_invitation_exchange::execute_as(
                choreo_invitation_exchange::As::Receiver(&mut hostile),
                b,
                &params
            ),
        );
        let e = sent.expect_err("the sender refuses");
        assert_eq!(e.failed_check(), Some(check), "{lie:?}: {e}");
        if lie == OtherContextAck {
            // The refused acknowledgement was the Receiver's last send.
            assert!(end.is_ok(), "{lie:?}: {end:?}");
        } else {
            let end = ServiceError::from(end.expect_err("cancelled"));
            assert_eq!(end.cancelled_by(), Some(SENDER), "{lie:?}");
        }
        assert!(alice.contacts.is_empty(), "{lie:?}");
        let kept = facts_of(&h, SENDER);
        assert_eq!(established(&kept), 0, "{lie:?}");
        if matches!(lie, OtherInvitation | GuessedCode) {
            assert!(kept.is_empty(), "{lie:?}: {kept:?}");
        } else {
            assert!(
                matches!(kept[..], [Fact::Answered(_, Ok(()))]),
                "{lie:?}: {kept:?}"
            );
        }
        assert!(started.elapsed() < TIMEOUT, "{lie:?}: a timeout elapsed");
    }
}
