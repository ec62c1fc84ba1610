//! RendezvousExchange through the rendezvous service: a negotiated channel
//! that both peers record identically in their node's journal; incompatible
//! versions, which end the exchange on the protocol's `Incompatible` branch
//! with no channel; each check that makes a side refuse (an expired
//! descriptor, an unexpected peer, no common transport), which cancels the
//! exchange for both at once; and hostile peers (a forged, stale or
//! misdirected descriptor, a forged transcript, a replayed nonce, a wrong
//! channel confirmation, an ephemeral key substituted, not held or of low
//! order) that the honest side refuses with a typed check, recording no
//! channel.

mod common;

use choreo_rendezvous_exchange::{choice::CompatibleOrIncompatible, msg};
use choreo_runtime::Peer;
use choreo_services::crypto::{self, Digest, EphemeralKey, SealPublic, SecretKey};
use choreo_services::error::Check;
use choreo_services::journal::facts;
use choreo_services::rendezvous::rendezvous_exchange::{
    channel_id, responder_confirmation, run_initiator, run_responder, RendezvousFact,
    RendezvousOutcome, RendezvousState, RendezvousTypes, Transcript, VersionInfo,
};
use choreo_services::rendezvous::{NegotiatedVersion, NoiseHandshake, TransportDescriptor};
use choreo_services::ServiceError;
use common::{assert_cancelled, assert_refused, Harness, TIMEOUT};
use tokio::time::Instant;

const CAPS: &[(&str, &[&str])] = &[
    ("Initiator", &["rendezvous:connect"]),
    ("Responder", &["rendezvous:respond"]),
];
const INITIATOR: Peer = Peer::role("Initiator");
const RESPONDER: Peer = Peer::role("Responder");

fn id(name: &str) -> Digest {
    crypto::digest("peer", &[name.as_bytes()])
}

fn context_key() -> SecretKey {
    SecretKey::derive("rendezvous context", &[b"alice+bob"])
}

fn peer(
    name: &str,
    version: u32,
    min_version: u32,
    capabilities: &[&str],
    addresses: &[&str],
) -> RendezvousState {
    RendezvousState {
        peer_id: id(name),
        addresses: addresses.iter().map(|a| a.to_string()).collect(),
        versions: VersionInfo {
            version,
            min_version,
            capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
        },
        context_key: context_key(),
        epoch: 9,
        descriptor_ttl: 300,
        now: 1_000,
        seen_nonces: Vec::new(),
        channels: Vec::new(),
    }
}

fn alice() -> RendezvousState {
    let caps = ["ceremony_supersession", "fact_journal", "version_handshake"];
    peer(
        "alice",
        3,
        1,
        &caps,
        &["quic://10.0.0.1:4433", "tcp://10.0.0.1:8000"],
    )
}

fn bob() -> RendezvousState {
    peer(
        "bob",
        2,
        1,
        &["version_handshake", "fact_journal"],
        &["tcp://bob.example:9000", "quic://bob.example:4433"],
    )
}

fn rendezvous_facts(h: &Harness, peer: Peer) -> Vec<RendezvousFact> {
    facts(h.node(peer).journal()).expect("facts decode")
}

/// Whether `peer` recorded no channel: neither its domain fact nor the
/// protocol's `journal_facts` annotation.
fn no_channel(h: &Harness, peer: Peer) -> bool {
    let established = |f: &RendezvousFact| matches!(f, RendezvousFact::ChannelEstablished(_));
    let guard = h.node(peer).journal();
    !rendezvous_facts(h, peer).iter().any(established)
        && guard.count("RendezvousFact::ChannelEstablished").unwrap() == 0
}

type Side = (Result<RendezvousOutcome, ServiceError>, RendezvousState);

/// Runs one exchange between the two states, both roles at once.
async fn exchange(
    mut initiator: RendezvousState,
    mut responder: RendezvousState,
    target: Digest,
) -> (Side, Side, Harness) {
    let mut h = Harness::new(&choreo_rendezvous_exchange::PROTOCOL, &[], CAPS);
    let mut sessions = h.join();
    let (a, b) = (sessions.take(INITIATOR), sessions.take(RESPONDER));
    sessions.done();
    let (initiated, responded) = tokio::join!(
        run_initiator(a, &mut initiator, target),
        run_responder(b, &mut responder),
    );
    ((initiated, initiator), (responded, responder), h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compatible_peers_record_the_same_channel() {
    // Bob's clock is at the last moment alice's descriptor is valid.
    let mut late_bob = bob();
    late_bob.now = 1_300;
    let mut narrow = alice();
    narrow.versions.version = 2;
    narrow.versions.min_version = 2;
    for initiator in [alice(), narrow] {
        let ((a, alice), (b, bob), h) = exchange(initiator, late_bob.clone(), id("bob")).await;
        let (Ok(RendezvousOutcome::Established(ca)), Ok(RendezvousOutcome::Established(cb))) =
            (a, b)
        else {
            panic!("both sides establish the channel");
        };
        assert_eq!(ca.channel_id, cb.channel_id);
        assert_ne!(ca.channel_id, [0; 32]);
        assert_eq!((ca.peer_id, cb.peer_id), (id("bob"), id("alice")));
        // Version 2 is the minimum of both; bob prefers tcp and alice offers it.
        assert_eq!(
            (ca.version, ca.address.as_str()),
            (2, "tcp://bob.example:9000")
        );
        assert_eq!(
            (cb.version, cb.address.as_str(), cb.epoch),
            (2, "tcp://bob.example:9000", 9)
        );
        assert_eq!(alice.channels, vec![ca.clone()]);
        assert_eq!(bob.channels, vec![cb.clone()]);
        assert_eq!(bob.seen_nonces.len(), 1);
        assert_eq!(
            rendezvous_facts(&h, INITIATOR),
            vec![RendezvousFact::ChannelEstablished(ca)]
        );
        assert_eq!(
            rendezvous_facts(&h, RESPONDER),
            vec![RendezvousFact::ChannelEstablished(cb)]
        );
        let journal = h.node(INITIATOR).journal();
        assert_eq!(
            journal.count("RendezvousFact::ChannelEstablished").unwrap(),
            1
        );
    }
}

#[tokio::test(start_paused = true)]
async fn incompatible_versions_end_the_exchange_before_any_descriptor() {
    let started = Instant::now();
    let mut strict = alice();
    strict.versions.min_version = 3;
    let ((a, alice), (b, bob), h) = exchange(strict, bob(), id("bob")).await;
    let why = "no common version: peer speaks 1..=2";
    let expected = RendezvousOutcome::Incompatible {
        reason: why.into(),
        version: 2,
        min_version: 1,
    };
    assert_eq!(a, Ok(expected.clone()), "the initiator learns why");
    assert_eq!(b, Ok(expected));
    assert!(alice.channels.is_empty() && bob.channels.is_empty());
    for peer in [INITIATOR, RESPONDER] {
        let incompatible = vec![RendezvousFact::Incompatible(why.into())];
        assert_eq!(rendezvous_facts(&h, peer), incompatible);
        assert!(no_channel(&h, peer));
    }
    // Nothing after the version answer was sent: no descriptor leaked.
    let leaked = h.context(INITIATOR).ledger().sends();
    assert_eq!(leaked, 0, "the initiator's descriptor never went out");
    assert!(started.elapsed() < TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn a_refusing_side_cancels_the_exchange_for_both_at_once() {
    let mut late = bob();
    late.now = 1_301;
    let mut udp_only = bob();
    udp_only.addresses = vec!["udp://bob.example:7000".into()];
    let mut outsider = bob();
    outsider.context_key = SecretKey::derive("rendezvous context", &[b"mallory"]);
    let cases = [
        (late, id("bob"), RESPONDER, Some(Check::Epoch)),
        (bob(), id("carol"), INITIATOR, Some(Check::Binding)),
        (outsider, id("bob"), RESPONDER, Some(Check::Mac)),
        (udp_only, id("bob"), RESPONDER, None),
    ];
    for (responder, target, refuser, check) in cases {
        let started = Instant::now();
        let ((a, alice), (b, bob), h) = exchange(alice(), responder, target).await;
        let refused = if refuser == INITIATOR { &a } else { &b };
        let e = refused.as_ref().expect_err("the refuser fails");
        assert_eq!(e.failed_check(), check, "{e}");
        let why = e.to_string();
        let other = if refuser == INITIATOR { &b } else { &a };
        assert_cancelled(other, refuser, &why);
        if check.is_none() {
            assert_refused(&b, "no common transport");
        }
        assert!(alice.channels.is_empty() && bob.channels.is_empty());
        for peer in [INITIATOR, RESPONDER] {
            let failed = RendezvousFact::Failed(e.reason());
            assert_eq!(rendezvous_facts(&h, peer), vec![failed], "{why}");
            assert!(no_channel(&h, peer), "{why}");
        }
        assert!(started.elapsed() < TIMEOUT, "{why}: a timeout elapsed");
    }
}

/// What a hostile Responder gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ResponderLie {
    /// Changes its address after MACing its descriptor.
    ForgedDescriptor,
    /// Sends a descriptor that expired before the Initiator's now.
    StaleDescriptor,
    /// MACs a transcript with another negotiated version than it sent.
    ForgedTranscript,
    /// Answers a version outside the Initiator's range.
    OutsideVersion,
    /// Replies with a transport the Initiator did not offer.
    ForeignTransport,
    /// Agrees its key with an ephemeral of its own in place of the
    /// Initiator's (as a man in the middle would).
    SubstitutedEphemeral,
    /// Sends an ephemeral public key whose secret it does not hold.
    UnheldEphemeral,
    /// Sends a low-order ephemeral public key.
    LowOrderEphemeral,
}

/// A Responder of the test's own, otherwise honest (bob's state).
struct HostileResponder {
    lie: ResponderLie,
    state: RendezvousState,
    transcript: Transcript,
}

impl choreo_rendezvous_exchange::Responder for HostileResponder {
    type Types = RendezvousTypes;
    type Error = ServiceError;

    async fn on_version_handshake_request(
        &mut self,
        _: Peer,
        msg: msg::VersionHandshakeRequest,
    ) -> Result<(), ServiceError> {
        self.transcript.request = Some(msg);
        Ok(())
    }

    async fn choose_compatible_or_incompatible(
        &mut self,
    ) -> Result<CompatibleOrIncompatible, ServiceError> {
        Ok(CompatibleOrIncompatible::Compatible)
    }

    async fn version_handshake_response(
        &mut self,
        _: Peer,
    ) -> Result<NegotiatedVersion, ServiceError> {
        let version = if self.lie == ResponderLie::OutsideVersion {
            7
        } else {
            2
        };
        let negotiated = NegotiatedVersion {
            negotiated_version: version,
            capabilities: vec!["fact_journal".into()],
        };
        self.transcript.negotiated = Some(negotiated.clone());
        Ok(negotiated)
    }

    async fn on_rendezvous_descriptor(
        &mut self,
        _: Peer,
        msg: TransportDescriptor,
    ) -> Result<(), ServiceError> {
        self.transcript.initiator = Some(msg);
        Ok(())
    }

    async fn descriptor_reply(&mut self, _: Peer) -> Result<TransportDescriptor, ServiceError> {
        let (key, me) = (&self.state.context_key, self.state.peer_id);
        let address = match self.lie {
            ResponderLie::ForeignTransport => "udp://bob.example:7000",
            _ => "tcp://bob.example:9000",
        };
        let expires = match self.lie {
            ResponderLie::StaleDescriptor => 999,
            _ => 1_300,
        };
        let mut d = TransportDescriptor::signed(key, me, vec![address.into()], expires);
        if self.lie == ResponderLie::ForgedDescriptor {
            d.addresses = vec!["tcp://mallory.example:9000".into()];
        }
        self.transcript.responder = Some(d.clone());
        Ok(d)
    }

    async fn on_handshake_init(
        &mut self,
        _: Peer,
        msg: NoiseHandshake,
    ) -> Result<(), ServiceError> {
        self.transcript.initiator_ephemeral = Some(msg.ephemeral);
        Ok(())
    }

    async fn handshake_complete(&mut self, _: Peer) -> Result<NoiseHandshake, ServiceError> {
        let mut seen = self.transcript.clone();
        if self.lie == ResponderLie::ForgedTranscript {
            if let Some(n) = seen.negotiated.as_mut() {
                n.negotiated_version = 1;
            }
        }
        if self.lie == ResponderLie::SubstitutedEphemeral {
            seen.initiator_ephemeral = Some(EphemeralKey::generate().public());
        }
        let mine = EphemeralKey::generate();
        let ephemeral = mine.public();
        seen.responder_ephemeral = Some(ephemeral);
        let theirs = seen.initiator_ephemeral.expect("the initiator's ephemeral");
        let key = seen.channel_key(&self.state.context_key, mine, &theirs)?;
        let ephemeral = match self.lie {
            ResponderLie::UnheldEphemeral => EphemeralKey::generate().public(),
            ResponderLie::LowOrderEphemeral => SealPublic([0; 32]),
            _ => ephemeral,
        };
        Ok(NoiseHandshake {
            ephemeral,
            transcript: responder_confirmation(&key),
        })
    }

    async fn on_channel_established(
        &mut self,
        _: Peer,
        _: msg::ChannelEstablished,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn version_incompatible(
        &mut self,
        _: Peer,
    ) -> Result<msg::VersionIncompatible, ServiceError> {
        Err(ServiceError::Invalid("never incompatible".into()))
    }
}

#[tokio::test(start_paused = true)]
async fn the_initiator_refuses_a_hostile_responders_descriptor_transcript_or_version() {
    for (lie, check, why) in [
        (ResponderLie::ForgedDescriptor, Some(Check::Mac), ""),
        (ResponderLie::StaleDescriptor, Some(Check::Epoch), ""),
        (ResponderLie::ForgedTranscript, Some(Check::Transcript), ""),
        (
            ResponderLie::OutsideVersion,
            None,
            "negotiated version 7 is outside 1..=3",
        ),
        (ResponderLie::ForeignTransport, None, "no common transport"),
        (
            ResponderLie::SubstitutedEphemeral,
            Some(Check::Transcript),
            "",
        ),
        (ResponderLie::UnheldEphemeral, Some(Check::Transcript), ""),
        (ResponderLie::LowOrderEphemeral, Some(Check::Decryption), ""),
    ] {
        let started = Instant::now();
        let mut h = Harness::new(&choreo_rendezvous_exchange::PROTOCOL, &[], CAPS);
        let mut initiator = alice();
        let mut hostile = HostileResponder {
            lie,
            state: bob(),
            transcript: Transcript::default(),
        };
        let params = choreo_rendezvous_exchange::Params::default();
        let mut sessions = h.join();
        let (a, b) = (sessions.take(INITIATOR), sessions.take(RESPONDER));
        sessions.done();
        let (outcome, end) = tokio::join!(
            run_initiator(a, &mut initiator, id("bob")),
            choreo_rendezvous_exchange::execute_as(
                choreo_rendezvous_exchange::As::Responder(&mut hostile),
                b,
                &params
            ),
        );
        let e = outcome.expect_err("the initiator refuses");
        assert_eq!(e.failed_check(), check, "{lie:?}: {e}");
        if check.is_none() {
            assert_eq!(e, ServiceError::Refused(why.into()), "{lie:?}");
        }
        let end = ServiceError::from(end.expect_err("the hostile responder is cancelled"));
        assert_eq!(end.cancelled_by(), Some(INITIATOR), "{lie:?}");
        assert!(initiator.channels.is_empty(), "{lie:?}");
        let failed = vec![RendezvousFact::Failed(e.reason())];
        assert_eq!(rendezvous_facts(&h, INITIATOR), failed, "{lie:?}");
        assert!(no_channel(&h, INITIATOR), "{lie:?}");
        assert!(started.elapsed() < TIMEOUT, "{lie:?}: a timeout elapsed");
    }
}

/// What a hostile Initiator gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InitiatorLie {
    /// Nothing (used to spend a nonce before replaying it).
    None,
    /// MACs a transcript of a narrower offer than it sent (a downgrade).
    DowngradedTranscript,
    /// Confirms a channel other than the agreed one.
    WrongChannel,
    /// Confirms the channel for another epoch.
    StaleEpoch,
    /// Sends an ephemeral public key in place of its own, whose secret it
    /// does not hold, and confirms the channel of its own key.
    SubstitutedEphemeral,
    /// Sends a low-order ephemeral public key.
    LowOrderEphemeral,
}

/// An Initiator of the test's own, otherwise honest (alice's state), with
/// a nonce of the test's choice.
struct HostileInitiator {
    lie: InitiatorLie,
    nonce: Digest,
    state: RendezvousState,
    transcript: Transcript,
    ephemeral: Option<EphemeralKey>,
    channel: Digest,
}

impl choreo_rendezvous_exchange::Initiator for HostileInitiator {
    type Types = RendezvousTypes;
    type Error = ServiceError;

    async fn version_handshake_request(
        &mut self,
        _: Peer,
    ) -> Result<msg::VersionHandshakeRequest, ServiceError> {
        let request = msg::VersionHandshakeRequest {
            version: 3,
            min_version: 1,
            capabilities: vec!["fact_journal".into()],
            nonce: self.nonce,
        };
        self.transcript.request = Some(request.clone());
        Ok(request)
    }

    async fn on_version_handshake_response(
        &mut self,
        _: Peer,
        msg: NegotiatedVersion,
    ) -> Result<(), ServiceError> {
        self.transcript.negotiated = Some(msg);
        Ok(())
    }

    async fn rendezvous_descriptor(
        &mut self,
        _: Peer,
    ) -> Result<TransportDescriptor, ServiceError> {
        let s = &self.state;
        let d = TransportDescriptor::signed(&s.context_key, s.peer_id, s.addresses.clone(), 1_300);
        self.transcript.initiator = Some(d.clone());
        Ok(d)
    }

    async fn on_descriptor_reply(
        &mut self,
        _: Peer,
        msg: TransportDescriptor,
    ) -> Result<(), ServiceError> {
        self.transcript.responder = Some(msg);
        Ok(())
    }

    async fn handshake_init(&mut self, _: Peer) -> Result<NoiseHandshake, ServiceError> {
        let mine = EphemeralKey::generate();
        let ephemeral = match self.lie {
            InitiatorLie::SubstitutedEphemeral => EphemeralKey::generate().public(),
            InitiatorLie::LowOrderEphemeral => SealPublic([0; 32]),
            _ => mine.public(),
        };
        self.ephemeral = Some(mine);
        self.transcript.initiator_ephemeral = Some(ephemeral);
        let mut claimed = self.transcript.clone();
        if self.lie == InitiatorLie::DowngradedTranscript {
            if let Some(r) = claimed.request.as_mut() {
                r.version = 2;
            }
        }
        Ok(NoiseHandshake {
            ephemeral,
            transcript: claimed.digest(&self.state.context_key)?,
        })
    }

    async fn on_handshake_complete(
        &mut self,
        _: Peer,
        msg: NoiseHandshake,
    ) -> Result<(), ServiceError> {
        let mut agreed = self.transcript.clone();
        agreed.responder_ephemeral = Some(msg.ephemeral);
        let mine = self.ephemeral.take().expect("its ephemeral");
        let key = agreed.channel_key(&self.state.context_key, mine, &msg.ephemeral)?;
        self.channel = channel_id(&key);
        Ok(())
    }

    async fn channel_established(
        &mut self,
        _: Peer,
    ) -> Result<msg::ChannelEstablished, ServiceError> {
        let channel_id = match self.lie {
            InitiatorLie::WrongChannel => crypto::random(),
            _ => self.channel,
        };
        let epoch = match self.lie {
            InitiatorLie::StaleEpoch => 8,
            _ => 9,
        };
        Ok(msg::ChannelEstablished { channel_id, epoch })
    }

    async fn on_version_incompatible(
        &mut self,
        _: Peer,
        _: msg::VersionIncompatible,
    ) -> Result<(), ServiceError> {
        Ok(())
    }
}

/// One exchange of a hostile Initiator with nonce `nonce` against the
/// Responder `responder`.
async fn against_responder(
    lie: InitiatorLie,
    nonce: Digest,
    responder: &mut RendezvousState,
) -> (Result<RendezvousOutcome, ServiceError>, Harness) {
    let mut h = Harness::new(&choreo_rendezvous_exchange::PROTOCOL, &[], CAPS);
    let mut hostile = HostileInitiator {
        lie,
        nonce,
        state: alice(),
        transcript: Transcript::default(),
        ephemeral: None,
        channel: [0; 32],
    };
    let params = choreo_rendezvous_exchange::Params::default();
    let mut sessions = h.join();
    let (a, b) = (sessions.take(INITIATOR), sessions.take(RESPONDER));
    sessions.done();
    let (end, outcome) = tokio::join!(
        choreo_rendezvous_exchange::execute_as(
            choreo_rendezvous_exchange::As::Initiator(&mut hostile),
            a,
            &params
        ),
        run_responder(b, responder),
    );
    // The refused value may be the Initiator's last send: it may have ended.
    if let Err(end) = end {
        assert_eq!(ServiceError::from(end).cancelled_by(), Some(RESPONDER));
    }
    (outcome, h)
}

#[tokio::test(start_paused = true)]
async fn the_responder_refuses_a_replayed_nonce_a_downgraded_transcript_or_a_wrong_confirmation() {
    for (lie, check) in [
        (InitiatorLie::None, Check::Nonce),
        (InitiatorLie::DowngradedTranscript, Check::Transcript),
        (InitiatorLie::WrongChannel, Check::Transcript),
        (InitiatorLie::StaleEpoch, Check::Epoch),
        (InitiatorLie::SubstitutedEphemeral, Check::Transcript),
        (InitiatorLie::LowOrderEphemeral, Check::Decryption),
    ] {
        let started = Instant::now();
        let mut responder = bob();
        let nonce = crypto::random();
        if lie == InitiatorLie::None {
            // A first exchange with this nonce is accepted, its replay is not.
            let (first, _) = against_responder(lie, nonce, &mut responder).await;
            assert!(matches!(first, Ok(RendezvousOutcome::Established(_))));
            assert_eq!(responder.channels.len(), 1);
            responder.channels.clear();
        }
        let (outcome, h) = against_responder(lie, nonce, &mut responder).await;
        let e = outcome.expect_err("the responder refuses");
        assert_eq!(e.failed_check(), Some(check), "{lie:?}: {e}");
        assert!(responder.channels.is_empty(), "{lie:?}");
        let failed = vec![RendezvousFact::Failed(e.reason())];
        assert_eq!(rendezvous_facts(&h, RESPONDER), failed, "{lie:?}");
        assert!(no_channel(&h, RESPONDER), "{lie:?}");
        assert!(started.elapsed() < TIMEOUT, "{lie:?}: a timeout elapsed");
    }
}
