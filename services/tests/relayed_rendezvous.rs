//! RelayedRendezvous through the rendezvous service: a channel through a
//! relay that only ever forwards sealed bodies; a relay without capacity or
//! for another context, and a responder that does not know the initiator,
//! each of which refuses and so cancels the exchange for all three at once;
//! and a hostile Relay that tampers with, reflects, misroutes, relabels or
//! replays an envelope, or forges or reflects a confirmation, which the endpoint refuses
//! with a typed check, recording no channel; a hostile Responder whose
//! body names another slot, which the Relay refuses; and a hostile
//! Responder that seals an ephemeral key it does not hold, or one of low
//! order, which the Initiator refuses.

mod common;

use choreo_relayed_rendezvous::msg;
use choreo_runtime::Peer;
use choreo_services::crypto::{self, Digest, EphemeralKey, SealPublic, SecretKey};
use choreo_services::error::Check;
use choreo_services::journal::facts;
use choreo_services::rendezvous::relayed_rendezvous::{
    run_initiator, run_relay, run_responder, PeerState, RelayFact, RelayOutcome, RelayPolicy,
    RelayState, RelayedChannel, RelayedTypes, Route,
};
use choreo_services::rendezvous::{RelayEnvelope, RelayRequest, SealedHandshake};
use choreo_services::ServiceError;
use common::{assert_cancelled, assert_stopped_by, Harness, TIMEOUT};
use tokio::time::Instant;

const CAPS: &[(&str, &[&str])] = &[
    ("Initiator", &["rendezvous:relay"]),
    ("Relay", &["relay:forward"]),
];
const INITIATOR: Peer = Peer::role("Initiator");
const RELAY: Peer = Peer::role("Relay");
const RESPONDER: Peer = Peer::role("Responder");

fn id(name: &str) -> Digest {
    crypto::digest("peer", &[name.as_bytes()])
}

fn context() -> Digest {
    crypto::digest("context", &[b"alice+bob"])
}

fn peer(name: &str, knows: &[&str]) -> PeerState {
    let pairwise = knows
        .iter()
        .map(|other| {
            let mut pair = [name, other];
            pair.sort();
            let key = SecretKey::derive("pairwise", &[pair[0].as_bytes(), pair[1].as_bytes()]);
            (id(other), key)
        })
        .collect();
    PeerState {
        peer_id: id(name),
        pairwise,
        seen_slots: Vec::new(),
        channels: Vec::new(),
    }
}

fn relay(contexts: Vec<Digest>, max_slots: usize, busy: usize) -> RelayState {
    RelayState {
        policy: RelayPolicy {
            contexts,
            max_slots,
        },
        active_slots: (0..busy as u8).map(|i| [i; 16]).collect(),
        forwarded_bytes: 0,
    }
}

fn relay_facts(h: &Harness, peer: Peer) -> Vec<RelayFact> {
    facts(h.node(peer).journal()).expect("facts decode")
}

/// Whether `peer` recorded no channel: neither its domain fact nor the
/// protocol's `journal_facts` annotation.
fn no_channel(h: &Harness, peer: Peer) -> bool {
    let established = |f: &RelayFact| matches!(f, RelayFact::ChannelEstablished(_));
    let guard = h.node(peer).journal();
    !relay_facts(h, peer).iter().any(established)
        && guard
            .count("RendezvousFact::RelayedChannelEstablished")
            .unwrap()
            == 0
}

struct Run {
    initiator: (Result<RelayedChannel, ServiceError>, PeerState),
    relay: (Result<RelayOutcome, ServiceError>, RelayState),
    responder: (Result<RelayedChannel, ServiceError>, PeerState),
    harness: Harness,
}

async fn run(mut relay_state: RelayState, mut responder: PeerState) -> Run {
    let mut h = Harness::new(&choreo_relayed_rendezvous::PROTOCOL, &[], CAPS);
    let mut sessions = h.join();
    let (a, r, b) = (
        sessions.take(INITIATOR),
        sessions.take(RELAY),
        sessions.take(RESPONDER),
    );
    sessions.done();
    let mut alice = peer("alice", &["bob"]);
    let (initiated, relayed, responded) = tokio::join!(
        run_initiator(a, &mut alice, context(), id("bob")),
        run_relay(r, &mut relay_state),
        run_responder(b, &mut responder),
    );
    Run {
        initiator: (initiated, alice),
        relay: (relayed, relay_state),
        responder: (responded, responder),
        harness: h,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_peers_connect_through_a_granted_slot_that_is_then_released() {
    let run = run(relay(vec![context()], 2, 1), peer("bob", &["alice"])).await;
    let (Ok(a), Ok(b)) = (&run.initiator.0, &run.responder.0) else {
        panic!(
            "both peers connect: {:?} / {:?}",
            run.initiator.0, run.responder.0
        );
    };
    assert_eq!(a.channel_id, b.channel_id);
    assert_eq!((a.peer_id, b.peer_id), (id("bob"), id("alice")));
    assert_eq!(a.slot_id, b.slot_id);
    assert_eq!(run.initiator.1.channels, vec![a.clone()]);
    assert_eq!(run.responder.1.channels, vec![b.clone()]);
    assert_eq!(run.responder.1.seen_slots, vec![a.slot_id]);
    let (outcome, relay) = &run.relay;
    assert_eq!(
        outcome,
        &Ok(RelayOutcome {
            slot_id: a.slot_id,
            released: true
        })
    );
    assert_eq!(
        relay.active_slots,
        vec![[0; 16]],
        "only the other slot is left"
    );
    let h = &run.harness;
    assert_eq!(
        relay_facts(h, RELAY),
        vec![
            RelayFact::SlotGranted(a.slot_id),
            RelayFact::SlotReleased(a.slot_id)
        ]
    );
    assert_eq!(
        relay_facts(h, INITIATOR),
        vec![RelayFact::ChannelEstablished(a.clone())]
    );
    assert_eq!(
        relay_facts(h, RESPONDER),
        vec![RelayFact::ChannelEstablished(b.clone())]
    );
    // Hello and reply, 32 bytes sealed with a 12-byte nonce and a 16-byte
    // tag, and two 32-byte confirmations: nothing the relay can read.
    assert_eq!(relay.forwarded_bytes, 2 * (12 + 32 + 16) + 2 * 32);
    assert_eq!(
        h.context(RELAY).audit_log().len(),
        2,
        "slot granted and released are audited"
    );
    let journal = h.node(INITIATOR).journal();
    assert_eq!(
        journal
            .count("RendezvousFact::RelayedChannelEstablished")
            .unwrap(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_slot_or_an_unknown_initiator_cancels_the_exchange_for_everyone() {
    let cases = [
        (
            relay(vec![context()], 1, 1),
            peer("bob", &["alice"]),
            RELAY,
            "no free slot",
        ),
        (
            relay(vec![], 4, 0),
            peer("bob", &["alice"]),
            RELAY,
            "context not relayed",
        ),
        (
            relay(vec![context()], 1, 0),
            peer("bob", &[]),
            RESPONDER,
            "unknown initiator",
        ),
    ];
    for (relay_state, responder, refuser, why) in cases {
        let started = Instant::now();
        let busy = relay_state.active_slots.clone();
        let run = run(relay_state, responder).await;
        assert_stopped_by(&run.initiator.0, INITIATOR, refuser, why);
        assert_stopped_by(&run.relay.0, RELAY, refuser, why);
        assert_stopped_by(&run.responder.0, RESPONDER, refuser, why);
        assert!(run.initiator.1.channels.is_empty() && run.responder.1.channels.is_empty());
        let relay = &run.relay.1;
        assert_eq!(relay.active_slots, busy, "no slot is left behind");
        let h = &run.harness;
        if refuser == RELAY {
            assert_eq!(relay.forwarded_bytes, 0, "a refused slot forwards nothing");
            let refused = |f: &RelayFact| matches!(f, RelayFact::SlotRefused(_, r) if r == why);
            let mine = relay_facts(h, RELAY);
            assert!(mine.len() == 1 && refused(&mine[0]), "{mine:?}");
        } else {
            // The granted slot is released when the exchange fails.
            let mine = relay_facts(h, RELAY);
            assert!(matches!(mine.as_slice(),
                [RelayFact::SlotGranted(g), RelayFact::SlotReleased(r)] if g == r));
        }
        for peer in [INITIATOR, RESPONDER] {
            assert!(no_channel(h, peer), "{why}");
        }
        assert!(started.elapsed() < TIMEOUT, "{why}: a timeout elapsed");
    }
}

/// What a hostile Relay gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RelayLie {
    /// Nothing (used to record a hello before replaying it).
    None,
    /// Flips a byte of the sealed hello.
    TamperHello,
    /// Sends the Initiator its own hello back as the reply.
    ReflectHello,
    /// Forwards the hello with another destination in the route.
    Misroute,
    /// Labels the reply with another slot.
    RelabelReply,
    /// Labels the Initiator's confirmation with another slot.
    RelabelConfirmation,
    /// Forwards a hello recorded in an earlier exchange instead.
    ReplayHello,
    /// Forwards a made-up confirmation to the Responder.
    ForgeConfirmation,
    /// Forwards a made-up confirmation to the Initiator.
    ForgeReply,
    /// Sends the Initiator its own confirmation back as the Responder's.
    ReflectConfirmation,
    /// Releases another slot at the Responder.
    RelabelRelease,
}

/// A Relay of the test's own: forwards what it gets, except for its lie.
struct HostileRelay {
    lie: RelayLie,
    request: Option<RelayRequest>,
    reply: Vec<u8>,
    confirmation: Vec<u8>,
    /// The hello it forwarded, kept to replay.
    recorded: Option<RelayEnvelope>,
}

impl HostileRelay {
    fn new(lie: RelayLie) -> Self {
        HostileRelay {
            lie,
            request: None,
            reply: Vec::new(),
            confirmation: Vec::new(),
            recorded: None,
        }
    }

    fn slot(&self) -> [u8; 16] {
        self.request.as_ref().map(|r| r.slot_id).unwrap_or_default()
    }

    fn other_slot(&self, when: RelayLie) -> [u8; 16] {
        let mut slot = self.slot();
        if self.lie == when {
            slot[0] ^= 1;
        }
        slot
    }
}

impl choreo_relayed_rendezvous::Relay for HostileRelay {
    type Types = RelayedTypes;
    type Error = ServiceError;

    async fn on_relay_request(&mut self, _: Peer, msg: RelayRequest) -> Result<(), ServiceError> {
        self.request = Some(msg);
        Ok(())
    }

    async fn relay_forward(&mut self, _: Peer) -> Result<RelayEnvelope, ServiceError> {
        let r = self.request.as_ref().expect("a request");
        let mut envelope = RelayEnvelope {
            slot_id: r.slot_id,
            route: r.route,
            sealed: r.sealed.clone(),
        };
        match self.lie {
            RelayLie::TamperHello => envelope.sealed[20] ^= 1,
            RelayLie::Misroute => envelope.route.destination = id("carol"),
            RelayLie::ReplayHello => {
                envelope = self.recorded.clone().expect("a hello recorded before")
            }
            _ => self.recorded = Some(envelope.clone()),
        }
        Ok(envelope)
    }

    async fn on_relay_response(&mut self, _: Peer, msg: RelayEnvelope) -> Result<(), ServiceError> {
        self.reply = msg.sealed;
        Ok(())
    }

    async fn relay_complete(&mut self, _: Peer) -> Result<RelayEnvelope, ServiceError> {
        let r = self.request.as_ref().expect("a request");
        let sealed = match self.lie {
            RelayLie::ReflectHello => r.sealed.clone(),
            _ => self.reply.clone(),
        };
        Ok(RelayEnvelope {
            slot_id: self.other_slot(RelayLie::RelabelReply),
            route: r.route,
            sealed,
        })
    }

    async fn on_sealed_handshake(
        &mut self,
        _: Peer,
        msg: SealedHandshake,
    ) -> Result<(), ServiceError> {
        self.confirmation = msg.sealed;
        Ok(())
    }

    async fn sealed_handshake(&mut self, _: Peer) -> Result<SealedHandshake, ServiceError> {
        let sealed = match self.lie {
            RelayLie::ForgeConfirmation => crypto::random::<32>().to_vec(),
            _ => self.confirmation.clone(),
        };
        Ok(SealedHandshake {
            slot_id: self.other_slot(RelayLie::RelabelConfirmation),
            sealed,
        })
    }

    async fn on_sealed_handshake_reply(
        &mut self,
        _: Peer,
        msg: SealedHandshake,
    ) -> Result<(), ServiceError> {
        if self.lie != RelayLie::ReflectConfirmation {
            self.confirmation = msg.sealed;
        }
        Ok(())
    }

    async fn sealed_handshake_reply(&mut self, _: Peer) -> Result<SealedHandshake, ServiceError> {
        let sealed = match self.lie {
            RelayLie::ForgeReply => crypto::random::<32>().to_vec(),
            _ => self.confirmation.clone(),
        };
        Ok(SealedHandshake {
            slot_id: self.slot(),
            sealed,
        })
    }

    async fn on_relay_release(
        &mut self,
        _: Peer,
        _: msg::RelayRelease,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn relay_release(&mut self, _: Peer) -> Result<msg::RelayRelease, ServiceError> {
        Ok(msg::RelayRelease {
            slot_id: self.other_slot(RelayLie::RelabelRelease),
        })
    }
}

/// The honest peers' ends of one exchange through `hostile`.
struct Ends {
    initiator: Result<RelayedChannel, ServiceError>,
    responder: Result<RelayedChannel, ServiceError>,
    harness: Harness,
}

async fn through(hostile: &mut HostileRelay, bob: &mut PeerState) -> Ends {
    let mut h = Harness::new(&choreo_relayed_rendezvous::PROTOCOL, &[], CAPS);
    let mut alice = peer("alice", &["bob"]);
    let params = choreo_relayed_rendezvous::Params::default();
    let mut sessions = h.join();
    let (a, r, b) = (
        sessions.take(INITIATOR),
        sessions.take(RELAY),
        sessions.take(RESPONDER),
    );
    sessions.done();
    let (initiator, _, responder) = tokio::join!(
        run_initiator(a, &mut alice, context(), id("bob")),
        choreo_relayed_rendezvous::execute_as(
            choreo_relayed_rendezvous::As::Relay(hostile),
            r,
            &params
        ),
        run_responder(b, bob),
    );
    Ends {
        initiator,
        responder,
        harness: h,
    }
}

#[tokio::test(start_paused = true)]
async fn the_endpoints_refuse_what_a_hostile_relay_tampers_with_swaps_or_replays() {
    for (lie, refuser, check) in [
        (RelayLie::TamperHello, RESPONDER, Check::Decryption),
        (RelayLie::Misroute, RESPONDER, Check::Decryption),
        (RelayLie::ReflectHello, INITIATOR, Check::Decryption),
        (RelayLie::RelabelReply, INITIATOR, Check::Binding),
        (RelayLie::RelabelConfirmation, RESPONDER, Check::Binding),
        (RelayLie::ReplayHello, RESPONDER, Check::Nonce),
        (RelayLie::ForgeConfirmation, RESPONDER, Check::Mac),
        (RelayLie::ForgeReply, INITIATOR, Check::Mac),
        (RelayLie::ReflectConfirmation, INITIATOR, Check::Mac),
        (RelayLie::RelabelRelease, RESPONDER, Check::Binding),
    ] {
        let started = Instant::now();
        let mut bob = peer("bob", &["alice"]);
        let mut hostile = HostileRelay::new(lie);
        if lie == RelayLie::ReplayHello {
            // An honest-looking first exchange, whose hello the relay keeps.
            let mut recorder = HostileRelay::new(RelayLie::None);
            let first = through(&mut recorder, &mut bob).await;
            assert!(first.initiator.is_ok() && first.responder.is_ok());
            hostile.recorded = recorder.recorded;
            bob.channels.clear();
        }
        let ends = through(&mut hostile, &mut bob).await;
        let (refused, other) = if refuser == INITIATOR {
            (&ends.initiator, &ends.responder)
        } else {
            (&ends.responder, &ends.initiator)
        };
        let e = refused.as_ref().expect_err("the endpoint refuses");
        assert_eq!(e.failed_check(), Some(check), "{lie:?}: {e}");
        // A release is the Initiator's last message: it may have ended.
        if lie != RelayLie::RelabelRelease {
            assert_cancelled(other, refuser, &e.to_string());
        }
        assert!(bob.channels.is_empty(), "{lie:?}");
        let h = &ends.harness;
        let failed = RelayFact::Failed(e.reason());
        assert_eq!(relay_facts(h, refuser), vec![failed], "{lie:?}");
        assert!(no_channel(h, refuser), "{lie:?}");
        if lie != RelayLie::RelabelRelease {
            let other_peer = if refuser == INITIATOR {
                RESPONDER
            } else {
                INITIATOR
            };
            assert!(no_channel(h, other_peer), "{lie:?}");
        }
        assert!(started.elapsed() < TIMEOUT, "{lie:?}: a timeout elapsed");
    }
}

/// A Responder of the test's own that answers with a body of another slot.
struct Relabeller;

impl choreo_relayed_rendezvous::Responder for Relabeller {
    type Types = RelayedTypes;
    type Error = ServiceError;

    async fn on_relay_forward(&mut self, _: Peer, _: RelayEnvelope) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn relay_response(&mut self, _: Peer) -> Result<RelayEnvelope, ServiceError> {
        Ok(RelayEnvelope {
            slot_id: [0xee; 16],
            route: choreo_services::rendezvous::relayed_rendezvous::Route {
                source: id("alice"),
                destination: id("bob"),
            },
            sealed: vec![0; 60],
        })
    }

    async fn on_sealed_handshake(
        &mut self,
        _: Peer,
        _: SealedHandshake,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn sealed_handshake_reply(&mut self, _: Peer) -> Result<SealedHandshake, ServiceError> {
        Err(ServiceError::Invalid("never reached".into()))
    }

    async fn on_relay_release(
        &mut self,
        _: Peer,
        _: msg::RelayRelease,
    ) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn the_relay_refuses_a_body_of_another_slot_and_releases_its_slot() {
    let mut h = Harness::new(&choreo_relayed_rendezvous::PROTOCOL, &[], CAPS);
    let mut alice = peer("alice", &["bob"]);
    let mut relay_state = relay(vec![context()], 2, 0);
    let params = choreo_relayed_rendezvous::Params::default();
    let mut hostile = Relabeller;
    let mut sessions = h.join();
    let (a, r, b) = (
        sessions.take(INITIATOR),
        sessions.take(RELAY),
        sessions.take(RESPONDER),
    );
    sessions.done();
    let (initiator, relayed, end) = tokio::join!(
        run_initiator(a, &mut alice, context(), id("bob")),
        run_relay(r, &mut relay_state),
        choreo_relayed_rendezvous::execute_as(
            choreo_relayed_rendezvous::As::Responder(&mut hostile),
            b,
            &params
        ),
    );
    let e = relayed.expect_err("the relay refuses");
    assert_eq!(e.failed_check(), Some(Check::Binding), "{e}");
    assert_cancelled(&initiator, RELAY, &e.to_string());
    assert_eq!(
        ServiceError::from(end.expect_err("cancelled")).cancelled_by(),
        Some(RELAY)
    );
    assert!(relay_state.active_slots.is_empty(), "the slot is released");
    assert_eq!(relay_state.forwarded_bytes, 60, "only the hello went out");
    let mine = relay_facts(&h, RELAY);
    assert!(
        matches!(mine.as_slice(), [RelayFact::SlotGranted(g), RelayFact::SlotReleased(r)] if g == r),
        "{mine:?}"
    );
    assert!(no_channel(&h, INITIATOR));
}

/// What a hostile Responder (bob, holding the pairwise key) seals in its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReplyLie {
    /// An ephemeral public key whose secret it does not hold, with the
    /// confirmation of the session key of its own ephemeral.
    UnheldEphemeral,
    /// A low-order ephemeral public key.
    LowOrderEphemeral,
}

/// A Responder of the test's own that opens the hello and seals a reply as
/// the service does (the same associated data), with an ephemeral of its
/// choice in it.
struct EphemeralSwapper {
    lie: ReplyLie,
    key: SecretKey,
    hello: Option<RelayEnvelope>,
    session: Option<SecretKey>,
}

/// The associated data the service seals a relayed body under.
fn sealed_context<'a>(part: &'a str, slot: &'a [u8; 16], route: &'a Route) -> [&'a [u8]; 4] {
    [part.as_bytes(), slot, &route.source, &route.destination]
}

impl choreo_relayed_rendezvous::Responder for EphemeralSwapper {
    type Types = RelayedTypes;
    type Error = ServiceError;

    async fn on_relay_forward(&mut self, _: Peer, msg: RelayEnvelope) -> Result<(), ServiceError> {
        self.hello = Some(msg);
        Ok(())
    }

    async fn relay_response(&mut self, _: Peer) -> Result<RelayEnvelope, ServiceError> {
        let hello = self.hello.clone().expect("the hello");
        let (slot, route) = (hello.slot_id, hello.route);
        let opened = crypto::open_with(
            self.key.expose(),
            &sealed_context("hello", &slot, &route),
            &hello.sealed,
        )
        .expect("the hello opens for bob");
        let theirs = SealPublic(opened.as_slice().try_into().expect("32 bytes"));
        let mine = EphemeralKey::generate();
        let context: [&[u8]; 4] = [self.key.expose(), &slot, &route.source, &route.destination];
        self.session = mine
            .agree(&theirs, "choreo-services/relayed/session/v1", &context)
            .ok();
        let sent = match self.lie {
            ReplyLie::UnheldEphemeral => EphemeralKey::generate().public(),
            ReplyLie::LowOrderEphemeral => SealPublic([0; 32]),
        };
        let context = sealed_context("reply", &slot, &route);
        Ok(RelayEnvelope {
            slot_id: slot,
            route,
            sealed: crypto::seal_with(self.key.expose(), &context, &sent.0),
        })
    }

    async fn on_sealed_handshake(
        &mut self,
        _: Peer,
        _: SealedHandshake,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn sealed_handshake_reply(&mut self, _: Peer) -> Result<SealedHandshake, ServiceError> {
        let session = self.session.as_ref().expect("a session key");
        let hello = self.hello.as_ref().expect("the hello");
        Ok(SealedHandshake {
            slot_id: hello.slot_id,
            sealed: crypto::mac(session.expose(), &[b"responder"]).to_vec(),
        })
    }

    async fn on_relay_release(
        &mut self,
        _: Peer,
        _: msg::RelayRelease,
    ) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn the_initiator_refuses_a_reply_with_an_ephemeral_the_responder_does_not_hold() {
    for (lie, check) in [
        (ReplyLie::UnheldEphemeral, Check::Mac),
        (ReplyLie::LowOrderEphemeral, Check::Decryption),
    ] {
        let started = Instant::now();
        let mut h = Harness::new(&choreo_relayed_rendezvous::PROTOCOL, &[], CAPS);
        let mut alice = peer("alice", &["bob"]);
        let bob = peer("bob", &["alice"]);
        let mut relay_state = relay(vec![context()], 2, 0);
        let params = choreo_relayed_rendezvous::Params::default();
        let mut hostile = EphemeralSwapper {
            lie,
            key: bob.pairwise[0].1.clone(),
            hello: None,
            session: None,
        };
        let mut sessions = h.join();
        let (a, r, b) = (
            sessions.take(INITIATOR),
            sessions.take(RELAY),
            sessions.take(RESPONDER),
        );
        sessions.done();
        let (initiator, relayed, end) = tokio::join!(
            run_initiator(a, &mut alice, context(), id("bob")),
            run_relay(r, &mut relay_state),
            choreo_relayed_rendezvous::execute_as(
                choreo_relayed_rendezvous::As::Responder(&mut hostile),
                b,
                &params
            ),
        );
        let e = initiator.expect_err("the initiator refuses");
        assert_eq!(e.failed_check(), Some(check), "{lie:?}: {e}");
        assert_cancelled(&relayed, INITIATOR, &e.to_string());
        let end = ServiceError::from(end.expect_err("the hostile responder is cancelled"));
        assert_eq!(end.cancelled_by(), Some(INITIATOR), "{lie:?}");
        assert!(alice.channels.is_empty(), "{lie:?}");
        let failed = vec![RelayFact::Failed(e.reason())];
        assert_eq!(relay_facts(&h, INITIATOR), failed, "{lie:?}");
        assert!(no_channel(&h, INITIATOR), "{lie:?}");
        assert!(relay_state.active_slots.is_empty(), "{lie:?}: released");
        assert!(started.elapsed() < TIMEOUT, "{lie:?}: a timeout elapsed");
    }
}
