//! Hostile peers of AmpTransport: a Sender and a Receiver of the test's own
//! that each forge, replay, reorder, misdirect or stale one value. The
//! honest side must refuse it with the check it failed, record nothing of
//! that step, and the hostile side ends cancelled by it.

use choreo_amp_transport::msg;
use choreo_runtime::Peer;
use choreo_services::amp::{
    run_receiver, run_sender, AmpEnvelope, AmpFact, AmpTypes, ChannelAccept, ChannelClose,
    ChannelConfig, ChannelOpen,
};
use choreo_services::error::Check;
use choreo_services::{crypto, ServiceError};

use super::common::{assert_cancelled, Harness, TIMEOUT};
use super::{amp_facts, config, messages, receiver, sender, CAPS, RECEIVER, SENDER};

/// Messages in each hostile window.
const WINDOW: u64 = 3;

/// What the hostile Sender gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SenderLie {
    /// Opens the channel for an older epoch.
    StaleEpoch,
    /// Opens the channel at a generation the Receiver is not at.
    OtherGeneration,
    /// Sends message 1 on another channel (sealed and MACed for it).
    ForeignChannel,
    /// Sends message 0 again in place of message 1.
    Replay,
    /// Sends message 1 first.
    Reorder,
    /// Seals message 1 under the next generation's key, and says so.
    NextGeneration,
    /// Gives message 1 a forged AMP MAC (its ciphertext is genuine).
    ForgedMac,
    /// Sends a ciphertext for message 1 that does not open (correctly MACed).
    Garbled,
    /// Checkpoints to a generation two ahead.
    SkippedGeneration,
    /// Checkpoints for another epoch.
    StaleCheckpoint,
    /// Closes another channel.
    ForeignClose,
    /// Closes with a next sequence number beyond the window.
    SkippedClose,
}

/// A Sender of the test's own: honest but for its lie.
struct HostileSender {
    lie: SenderLie,
    config: ChannelConfig,
    channel_id: crypto::Digest,
    sent: Vec<AmpEnvelope>,
}

/// The AMP MAC the channel's ratchet key of `generation` gives `envelope`.
fn remac(config: &ChannelConfig, generation: u32, envelope: &mut AmpEnvelope) {
    let key = crypto::SecretKey::derive(
        "amp/ratchet",
        &[config.context_key.expose(), &generation.to_le_bytes()],
    );
    let seq = envelope.seq.to_le_bytes();
    envelope.mac = crypto::mac(
        key.expose(),
        &[&envelope.channel_id, &seq, &envelope.sealed],
    );
}

impl choreo_amp_transport::Sender for HostileSender {
    type Types = AmpTypes;
    type Error = ServiceError;

    async fn channel_open(&mut self, _: Peer) -> Result<ChannelOpen, ServiceError> {
        Ok(ChannelOpen {
            channel_id: self.channel_id,
            context_id: self.config.context_id,
            epoch: self.config.epoch - u64::from(self.lie == SenderLie::StaleEpoch),
            generation: u32::from(self.lie == SenderLie::OtherGeneration),
            window: WINDOW,
        })
    }

    async fn on_channel_accept(&mut self, _: Peer, _: ChannelAccept) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn amp_message(&mut self, _: Peer) -> Result<AmpEnvelope, ServiceError> {
        let k = self.sent.len() as u64;
        let body = format!("message {k}").into_bytes();
        let seal = |channel, seq, generation| {
            AmpEnvelope::seal(&self.config, channel, seq, generation, Some(&body))
        };
        let envelope = match (self.lie, k) {
            (SenderLie::ForeignChannel, 1) => seal(crypto::digest("other", &[]), 1, 0),
            (SenderLie::Replay, 1) => self.sent[0].clone(),
            (SenderLie::Reorder, 0) => seal(self.channel_id, 1, 0),
            (SenderLie::NextGeneration, 1) => seal(self.channel_id, 1, 1),
            (SenderLie::ForgedMac, 1) => AmpEnvelope {
                mac: crypto::digest("forged", &[]),
                ..seal(self.channel_id, 1, 0)
            },
            (SenderLie::Garbled, 1) => {
                let mut e = seal(self.channel_id, 1, 0);
                e.sealed[20] ^= 1;
                remac(&self.config, 0, &mut e);
                e
            }
            _ => seal(self.channel_id, k, 0),
        };
        self.sent.push(envelope.clone());
        Ok(envelope)
    }

    async fn on_amp_receipt(&mut self, _: Peer, _: msg::AmpReceipt) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn ratchet_checkpoint(
        &mut self,
        _: Peer,
    ) -> Result<msg::RatchetCheckpoint, ServiceError> {
        Ok(msg::RatchetCheckpoint {
            epoch: self.config.epoch + u64::from(self.lie == SenderLie::StaleCheckpoint),
            generation: if self.lie == SenderLie::SkippedGeneration {
                2
            } else {
                1
            },
        })
    }

    async fn on_checkpoint_ack(
        &mut self,
        _: Peer,
        _: msg::CheckpointAck,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn channel_close(&mut self, _: Peer) -> Result<ChannelClose, ServiceError> {
        let foreign = self.lie == SenderLie::ForeignClose;
        Ok(ChannelClose {
            channel_id: if foreign {
                crypto::digest("other", &[])
            } else {
                self.channel_id
            },
            next_seq: WINDOW + 5 * u64::from(self.lie == SenderLie::SkippedClose),
            reason: "window complete".into(),
        })
    }
}

#[tokio::test(start_paused = true)]
async fn the_receiver_refuses_a_hostile_senders_open_envelope_checkpoint_or_close() {
    use SenderLie::*;
    for (lie, check, delivered) in [
        (StaleEpoch, Check::Epoch, 0),
        (OtherGeneration, Check::Epoch, 0),
        (ForeignChannel, Check::Binding, 1),
        (Replay, Check::Nonce, 1),
        (Reorder, Check::Nonce, 0),
        (NextGeneration, Check::Epoch, 1),
        (ForgedMac, Check::Mac, 1),
        (Garbled, Check::Decryption, 1),
        (SkippedGeneration, Check::Epoch, 3),
        (StaleCheckpoint, Check::Epoch, 3),
        (ForeignClose, Check::Binding, 3),
        (SkippedClose, Check::Nonce, 3),
    ] {
        let started = tokio::time::Instant::now();
        let mut h = Harness::new(&choreo_amp_transport::PROTOCOL, &[], CAPS);
        let mut r = receiver("alice-bob", WINDOW);
        let mut hostile = HostileSender {
            lie,
            config: config("alice-bob", WINDOW),
            channel_id: crypto::digest("channel", &[]),
            sent: Vec::new(),
        };
        let params = choreo_amp_transport::Params { window: WINDOW };
        let mut sessions = h.join();
        let (tx, rx) = (sessions.take(SENDER), sessions.take(RECEIVER));
        sessions.done();
        let (end, received) = tokio::join!(
            choreo_amp_transport::execute_as(
                choreo_amp_transport::As::Sender(&mut hostile),
                tx,
                &params
            ),
            run_receiver(rx, &mut r),
        );
        let e = received.expect_err("the receiver refuses");
        assert_eq!(e.failed_check(), Some(check), "{lie:?}: {e}");
        // The close is the Sender's last send: it has ended by then.
        if !matches!(lie, ForeignClose | SkippedClose) {
            let end = end.map_err(ServiceError::from);
            assert_cancelled(&end, RECEIVER, "check failed");
        }
        assert_eq!(r.inbox, messages(0..delivered), "{lie:?}");
        let mine = amp_facts(&h, RECEIVER);
        let n = u64::from(delivered);
        let closing = matches!(lie, ForeignClose | SkippedClose);
        let stepped = |f: &AmpFact| match f {
            AmpFact::Opened(..) => matches!(lie, StaleEpoch | OtherGeneration),
            AmpFact::Delivered(k) => *k >= n,
            AmpFact::Checkpointed(_) => !closing,
            AmpFact::Closed(_) => true,
            AmpFact::Aborted(..) => false,
        };
        assert!(!mine.iter().any(stepped), "{lie:?}: {mine:?}");
        let generation = u32::from(closing);
        assert_eq!(r.generation, generation, "{lie:?}: the ratchet stays");
        assert!(started.elapsed() < TIMEOUT, "{lie:?}: a timeout elapsed");
    }
}

/// What the hostile Receiver gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReceiverLie {
    /// Accepts another channel.
    ForeignAccept,
    /// Receipts message 1 with another envelope's digest.
    WrongDigest,
    /// Replays the receipt of message 0 for message 1.
    ReplayedReceipt,
    /// Acknowledges the checkpoint at another generation.
    WrongAck,
}

/// A Receiver of the test's own: honest but for its lie.
struct HostileReceiver {
    lie: ReceiverLie,
    open: Option<ChannelOpen>,
    receipts: Vec<msg::AmpReceipt>,
}

impl choreo_amp_transport::Receiver for HostileReceiver {
    type Types = AmpTypes;
    type Error = ServiceError;

    async fn on_channel_open(&mut self, _: Peer, msg: ChannelOpen) -> Result<(), ServiceError> {
        self.open = Some(msg);
        Ok(())
    }

    async fn channel_accept(&mut self, _: Peer) -> Result<ChannelAccept, ServiceError> {
        let channel_id = self.open.as_ref().unwrap().channel_id;
        Ok(ChannelAccept {
            channel_id: if self.lie == ReceiverLie::ForeignAccept {
                crypto::digest("other", &[])
            } else {
                channel_id
            },
        })
    }

    async fn on_amp_message(&mut self, _: Peer, msg: AmpEnvelope) -> Result<(), ServiceError> {
        let mut receipt = msg::AmpReceipt {
            seq: msg.seq,
            digest: msg.receipt_digest(),
        };
        match (self.lie, msg.seq) {
            (ReceiverLie::WrongDigest, 1) => receipt.digest = self.receipts[0].digest,
            (ReceiverLie::ReplayedReceipt, 1) => receipt = self.receipts[0].clone(),
            _ => {}
        }
        self.receipts.push(receipt);
        Ok(())
    }

    async fn amp_receipt(&mut self, _: Peer) -> Result<msg::AmpReceipt, ServiceError> {
        Ok(self.receipts.last().unwrap().clone())
    }

    async fn on_ratchet_checkpoint(
        &mut self,
        _: Peer,
        _: msg::RatchetCheckpoint,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn checkpoint_ack(&mut self, _: Peer) -> Result<msg::CheckpointAck, ServiceError> {
        let wrong = self.lie == ReceiverLie::WrongAck;
        Ok(msg::CheckpointAck {
            generation: if wrong { 2 } else { 1 },
        })
    }

    async fn on_channel_close(&mut self, _: Peer, _: ChannelClose) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn the_sender_refuses_a_hostile_receivers_accept_receipt_or_ack() {
    use ReceiverLie::*;
    for (lie, check, delivered) in [
        (ForeignAccept, Check::Binding, 0),
        (WrongDigest, Check::Transcript, 1),
        (ReplayedReceipt, Check::Nonce, 1),
        (WrongAck, Check::Epoch, 3),
    ] {
        let started = tokio::time::Instant::now();
        let mut h = Harness::new(&choreo_amp_transport::PROTOCOL, &[], CAPS);
        let mut s = sender(WINDOW, messages(0..3));
        let mut hostile = HostileReceiver {
            lie,
            open: None,
            receipts: Vec::new(),
        };
        let params = choreo_amp_transport::Params { window: WINDOW };
        let mut sessions = h.join();
        let (tx, rx) = (sessions.take(SENDER), sessions.take(RECEIVER));
        sessions.done();
        let (sent, end) = tokio::join!(
            run_sender(tx, &mut s),
            choreo_amp_transport::execute_as(
                choreo_amp_transport::As::Receiver(&mut hostile),
                rx,
                &params
            ),
        );
        let e = sent.expect_err("the sender refuses");
        assert_eq!(e.failed_check(), Some(check), "{lie:?}: {e}");
        let end = end.map_err(ServiceError::from);
        assert_cancelled(&end, SENDER, "check failed");
        assert_eq!(
            s.outbox,
            messages(delivered..3),
            "{lie:?}: unreceipted stay"
        );
        let mine = amp_facts(&h, SENDER);
        let n = u64::from(delivered);
        let stepped = |f: &AmpFact| match f {
            AmpFact::Opened(_, verdict) => lie == ForeignAccept && verdict.is_ok(),
            AmpFact::Delivered(k) => *k >= n,
            AmpFact::Checkpointed(_) | AmpFact::Closed(_) => true,
            AmpFact::Aborted(..) => false,
        };
        assert!(!mine.iter().any(stepped), "{lie:?}: {mine:?}");
        assert_eq!(s.generation, 0, "{lie:?}: the ratchet stays");
        assert!(started.elapsed() < TIMEOUT, "{lie:?}: a timeout elapsed");
    }
}
