//! AmpTransport: a window of sealed messages over an established channel.
//!
//! Implements the seed entry **AmpTransport** (CHOREO-AMP-001, owner
//! `aura-amp`, seed entry point `runtime_bridge/amp.rs`). Decision sourcing
//! as the seed says: every payload comes from channel state. The Sender
//! seals queued messages under the channel's current ratchet generation and
//! fills the rest of the fixed window with padding (so the window size, not
//! the queue, is what observers see); the Receiver accepts the channel only
//! for its relational context, epoch and window, opens and checks each
//! envelope in sequence, and receipts every one. Both sides advance the
//! ratchet at the checkpoint; unreceipted messages stay queued.
//!
//! The Receiver refuses (`Refused`, recorded as a refused open) a channel of
//! a relational context it does not know or with another window. A value of
//! the peer that fails a check is `Unverified`, recorded nowhere, and cancels
//! the window for both: an open or checkpoint for another epoch or ratchet
//! generation (`Epoch`); an acceptance, envelope or close of another channel
//! (`Binding`); an envelope out of sequence, replayed or reordered, a
//! receipt for another message than the last one sent, a close naming
//! another next sequence number (`Nonce`); an envelope whose AMP MAC does
//! not verify (`Mac`) or that does not open (`Decryption`); a receipt whose
//! digest is not the envelope's (`Transcript`).
//!
//! Facts go to the node's journal (`AmpTransport::<Variant>`): the open (or
//! refused open), each delivered data message, the checkpoint, the close,
//! and an abort after the open.
//!
//! # Who learns what
//!
//! - The Receiver learns the queued messages of the window (the data
//!   envelopes' bodies); the Sender learns from the receipts which envelopes
//!   arrived intact, nothing else.
//! - Each envelope is sealed with ChaCha20-Poly1305 under the ratchet key of
//!   its generation (BLAKE3-derived from the context key, both zeroized),
//!   with the channel id and sequence number as associated data, and carries
//!   a keyed BLAKE3 MAC checked in constant time before it is opened.
//!   Observers and the relaying neighbour see the routing data and a fixed
//!   window of equal-sized envelopes (`leak = "External,Neighbor"`, one unit
//!   each per envelope), never the contents or the queue length.
//! - Receipts, checkpoints, opens and closes carry digests, sequence numbers
//!   and generations only.

use std::collections::VecDeque;

use choreo_amp_transport::msg;
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest, SecretKey};
use crate::error::Check;
use crate::journal::{DomainFact, FactLog};
use crate::ServiceError;

/// Plaintexts are padded to a multiple of this many bytes.
pub const PAD_TO: usize = 64;

/// The Sender's request to open the channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelOpen {
    /// This channel session.
    pub channel_id: Digest,
    /// The relational context it belongs to.
    pub context_id: Digest,
    /// The context's epoch.
    pub epoch: u64,
    /// The ratchet generation messages are sealed under.
    pub generation: u32,
    /// Messages in the window.
    pub window: u64,
}

/// The Receiver's acceptance of [`ChannelOpen`] (it refuses by cancelling).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelAccept {
    /// The channel session accepted.
    pub channel_id: Digest,
}

/// One sealed message of the window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmpEnvelope {
    /// The channel session.
    pub channel_id: Digest,
    /// Position in the channel, from 0.
    pub seq: u64,
    /// The generation it is sealed under.
    pub generation: u32,
    /// The padded plaintext, sealed under the generation's key.
    pub sealed: Vec<u8>,
    /// MAC over channel, sequence number and ciphertext.
    pub mac: Digest,
}

/// The Sender's close of the channel session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelClose {
    /// The channel session.
    pub channel_id: Digest,
    /// The next sequence number the Sender will use.
    pub next_seq: u64,
    /// Why it closes.
    pub reason: String,
}

/// Binds the protocol's payload types to this module's.
pub struct AmpTypes;

impl choreo_amp_transport::Types for AmpTypes {
    type ChannelOpen = ChannelOpen;
    type ChannelAccept = ChannelAccept;
    type AmpEnvelope = AmpEnvelope;
    type ChannelClose = ChannelClose;
}

/// A fact of a channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AmpFact {
    /// A channel session opened (or was refused, with the reason).
    Opened(Digest, Result<(), String>),
    /// An opened channel session failed before its window completed.
    Aborted(Digest, String),
    /// The message with this sequence number was delivered.
    Delivered(u64),
    /// The ratchet advanced to this generation.
    Checkpointed(u32),
    /// The channel session closed.
    Closed(Digest),
}

impl DomainFact for AmpFact {
    const PROTOCOL: &'static str = "AmpTransport";

    fn kind(&self) -> &'static str {
        match self {
            AmpFact::Opened(..) => "Opened",
            AmpFact::Aborted(..) => "Aborted",
            AmpFact::Delivered(..) => "Delivered",
            AmpFact::Checkpointed(..) => "Checkpointed",
            AmpFact::Closed(..) => "Closed",
        }
    }
}

/// What both ends of a channel agree on beforehand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelConfig {
    /// The relational context.
    pub context_id: Digest,
    /// The context's key, shared by both ends (zeroized on drop).
    pub context_key: SecretKey,
    /// The context's epoch.
    pub epoch: u64,
    /// Messages per window (`Window` of the protocol).
    pub window: u64,
}

/// The ratchet key of `generation`.
fn ratchet_key(config: &ChannelConfig, generation: u32) -> SecretKey {
    SecretKey::derive(
        "amp/ratchet",
        &[config.context_key.expose(), &generation.to_le_bytes()],
    )
}

/// The AMP MAC of an envelope's routing data and ciphertext.
fn envelope_mac(key: &SecretKey, channel_id: &Digest, seq: u64, sealed: &[u8]) -> Digest {
    crypto::mac(key.expose(), &[channel_id, &seq.to_le_bytes(), sealed])
}

impl AmpEnvelope {
    /// `body` (padding when `None`) as message `seq` of channel `channel_id`,
    /// sealed and MACed under the ratchet key of `generation`.
    pub fn seal(
        config: &ChannelConfig,
        channel_id: Digest,
        seq: u64,
        generation: u32,
        body: Option<&[u8]>,
    ) -> Self {
        let key = ratchet_key(config, generation);
        let sealed =
            crypto::seal_with(key.expose(), &[&channel_id, &seq.to_le_bytes()], &pad(body));
        let mac = envelope_mac(&key, &channel_id, seq, &sealed);
        AmpEnvelope {
            channel_id,
            seq,
            generation,
            sealed,
            mac,
        }
    }

    /// The digest a receipt of this envelope carries: channel, sequence
    /// number and ciphertext.
    pub fn receipt_digest(&self) -> Digest {
        crypto::digest(
            "amp/receipt",
            &[&self.channel_id, &self.seq.to_le_bytes(), &self.sealed],
        )
    }
}

/// Plaintext layout: kind (0 data, 1 padding), length (u32 LE), body, zeros.
fn pad(body: Option<&[u8]>) -> Vec<u8> {
    let data = body.unwrap_or_default();
    let mut plain = vec![u8::from(body.is_none())];
    plain.extend_from_slice(&(data.len() as u32).to_le_bytes());
    plain.extend_from_slice(data);
    plain.resize(plain.len().div_ceil(PAD_TO) * PAD_TO, 0);
    plain
}

/// The body of a padded plaintext; `None` for padding or a malformed one.
fn unpad(plain: &[u8]) -> Option<Vec<u8>> {
    let (&kind, rest) = plain.split_first()?;
    let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    (kind == 0).then(|| rest.get(4..4 + len).map(<[u8]>::to_vec))?
}

/// The Sender's channel state.
#[derive(Clone, Debug)]
pub struct SenderState {
    /// The channel's configuration.
    pub config: ChannelConfig,
    /// The current ratchet generation.
    pub generation: u32,
    /// The next sequence number.
    pub next_seq: u64,
    /// Messages waiting to be delivered, oldest first.
    pub outbox: VecDeque<Vec<u8>>,
}

/// How a window ended for the Sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderOutcome {
    /// Queued messages delivered and receipted in this window.
    pub delivered: usize,
    /// The generation after the checkpoint.
    pub generation: u32,
}

/// What the Sender sent of one envelope: its sequence number, the digest a
/// receipt must carry, and whether it held data (not padding).
struct Sent {
    seq: u64,
    digest: Digest,
    data: bool,
}

/// One window as the Sender plays it.
struct SenderSession<'s> {
    state: &'s mut SenderState,
    log: FactLog,
    channel_id: Digest,
    accepted: bool,
    sent: Vec<Sent>,
    delivered: usize,
    proposed: Option<u32>,
}

impl SenderSession<'_> {
    /// Data messages sent so far in this window.
    fn data_sent(&self) -> usize {
        self.sent.iter().filter(|s| s.data).count()
    }
}

impl choreo_amp_transport::Sender for SenderSession<'_> {
    type Types = AmpTypes;
    type Error = ServiceError;

    async fn channel_open(&mut self, _to: Peer) -> Result<ChannelOpen, ServiceError> {
        let config = &self.state.config;
        Ok(ChannelOpen {
            channel_id: self.channel_id,
            context_id: config.context_id,
            epoch: config.epoch,
            generation: self.state.generation,
            window: config.window,
        })
    }

    async fn on_channel_accept(
        &mut self,
        _from: Peer,
        msg: ChannelAccept,
    ) -> Result<(), ServiceError> {
        if msg.channel_id != self.channel_id {
            return Err(ServiceError::unverified(
                Check::Binding,
                "acceptance of another channel",
            ));
        }
        self.log
            .record(AmpFact::Opened(self.channel_id, Ok(())))
            .await?;
        self.accepted = true;
        Ok(())
    }

    async fn amp_message(&mut self, _to: Peer) -> Result<AmpEnvelope, ServiceError> {
        // Data in queue order; padding fills the rest of the window.
        let body = self.state.outbox.get(self.data_sent()).cloned();
        let seq = self.state.next_seq;
        self.state.next_seq += 1;
        let envelope = AmpEnvelope::seal(
            &self.state.config,
            self.channel_id,
            seq,
            self.state.generation,
            body.as_deref(),
        );
        let digest = envelope.receipt_digest();
        self.sent.push(Sent {
            seq,
            digest,
            data: body.is_some(),
        });
        Ok(envelope)
    }

    async fn on_amp_receipt(
        &mut self,
        _from: Peer,
        msg: msg::AmpReceipt,
    ) -> Result<(), ServiceError> {
        // Message and receipt alternate: a receipt is for the last message.
        let sent = self.sent.last().ok_or(ServiceError::Missing("message"))?;
        if msg.seq != sent.seq {
            return Err(ServiceError::unverified(
                Check::Nonce,
                format!(
                    "a receipt for message {} after message {}",
                    msg.seq, sent.seq
                ),
            ));
        }
        if crypto::ensure_eq(&msg.digest, &sent.digest).is_err() {
            return Err(ServiceError::unverified(
                Check::Transcript,
                format!("the receipt for message {} names another envelope", msg.seq),
            ));
        }
        if sent.data {
            self.log.record(AmpFact::Delivered(msg.seq)).await?;
            self.delivered += 1;
        }
        Ok(())
    }

    async fn ratchet_checkpoint(
        &mut self,
        _to: Peer,
    ) -> Result<msg::RatchetCheckpoint, ServiceError> {
        let next = self.state.generation + 1;
        self.proposed = Some(next);
        Ok(msg::RatchetCheckpoint {
            epoch: self.state.config.epoch,
            generation: next,
        })
    }

    async fn on_checkpoint_ack(
        &mut self,
        _from: Peer,
        msg: msg::CheckpointAck,
    ) -> Result<(), ServiceError> {
        let proposed = self.proposed.ok_or(ServiceError::Missing("checkpoint"))?;
        if msg.generation != proposed {
            return Err(ServiceError::unverified(
                Check::Epoch,
                format!(
                    "checkpoint acknowledged at generation {}, not {proposed}",
                    msg.generation
                ),
            ));
        }
        self.log.record(AmpFact::Checkpointed(proposed)).await?;
        self.state.generation = proposed;
        Ok(())
    }

    async fn channel_close(&mut self, _to: Peer) -> Result<ChannelClose, ServiceError> {
        self.log.record(AmpFact::Closed(self.channel_id)).await?;
        Ok(ChannelClose {
            channel_id: self.channel_id,
            next_seq: self.state.next_seq,
            reason: "window complete".into(),
        })
    }
}

/// Records the failure of a window: a refused open, or an abort after it.
async fn failed(
    log: &FactLog,
    channel: Digest,
    opened: bool,
    e: &ServiceError,
) -> Result<(), ServiceError> {
    let fact = if opened {
        AmpFact::Aborted(channel, e.reason())
    } else {
        AmpFact::Opened(channel, Err(e.reason()))
    };
    log.record(fact).await
}

/// Runs the Sender: opens the channel, sends one window of queued messages
/// (padded to the window), checkpoints the ratchet and closes. Receipted
/// messages leave the outbox; the rest wait for the next window.
pub async fn run_sender<T: Transport>(
    session: Session<'_, T>,
    state: &mut SenderState,
) -> Result<SenderOutcome, ServiceError> {
    let config = &state.config;
    let channel_id = crypto::digest(
        "amp/channel",
        &[
            &config.context_id,
            &config.epoch.to_le_bytes(),
            &state.next_seq.to_le_bytes(),
        ],
    );
    let params = choreo_amp_transport::Params {
        window: config.window,
    };
    let log = FactLog::of(&session);
    let mut code = SenderSession {
        state,
        log: log.clone(),
        channel_id,
        accepted: false,
        sent: Vec::new(),
        delivered: 0,
        proposed: None,
    };
    let run = choreo_amp_transport::execute_as(
        choreo_amp_transport::As::Sender(&mut code),
        session,
        &params,
    )
    .await;
    let SenderSession {
        state,
        accepted,
        delivered,
        ..
    } = code;
    state.outbox.drain(..delivered);
    if let Err(e) = run {
        let e = ServiceError::from(e);
        failed(&log, channel_id, accepted, &e).await?;
        return Err(e);
    }
    Ok(SenderOutcome {
        delivered,
        generation: state.generation,
    })
}

/// The Receiver's channel state.
#[derive(Clone, Debug)]
pub struct ReceiverState {
    /// The channel's configuration.
    pub config: ChannelConfig,
    /// The current ratchet generation.
    pub generation: u32,
    /// The next sequence number expected.
    pub next_seq: u64,
    /// Delivered messages, in order.
    pub inbox: Vec<Vec<u8>>,
}

/// How a window ended for the Receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiverOutcome {
    /// Messages delivered in this window.
    pub delivered: usize,
    /// The generation after the checkpoint.
    pub generation: u32,
}

/// One window as the Receiver plays it.
struct ReceiverSession<'s> {
    state: &'s mut ReceiverState,
    log: FactLog,
    open: Option<ChannelOpen>,
    receipt: Option<msg::AmpReceipt>,
    delivered: usize,
}

impl ReceiverSession<'_> {
    fn open(&self) -> Result<&ChannelOpen, ServiceError> {
        self.open
            .as_ref()
            .ok_or(ServiceError::Missing("channel open"))
    }

    /// Why the Receiver's policy refuses `msg`, if it does.
    fn objection(&self, msg: &ChannelOpen) -> Option<String> {
        let config = &self.state.config;
        if msg.context_id != config.context_id {
            Some("unknown relational context".into())
        } else if msg.window != config.window {
            Some(format!("window {} is not {}", msg.window, config.window))
        } else {
            None
        }
    }

    /// Checks that `msg` opens the channel at its epoch and generation.
    fn check_current(&self, msg: &ChannelOpen) -> Result<(), ServiceError> {
        if msg.epoch != self.state.config.epoch || msg.generation != self.state.generation {
            return Err(ServiceError::unverified(
                Check::Epoch,
                format!(
                    "an open at epoch {} generation {}, not {} {}",
                    msg.epoch, msg.generation, self.state.config.epoch, self.state.generation
                ),
            ));
        }
        Ok(())
    }

    /// Checks `msg` is the next message of the open channel under the
    /// current generation, with its AMP MAC, and opens it.
    fn check_envelope(&self, msg: &AmpEnvelope) -> Result<Vec<u8>, ServiceError> {
        let channel = self.open()?.channel_id;
        let seq = msg.seq;
        if msg.channel_id != channel {
            return Err(ServiceError::unverified(
                Check::Binding,
                format!("message {seq} of another channel"),
            ));
        }
        if seq != self.state.next_seq {
            return Err(ServiceError::unverified(
                Check::Nonce,
                format!("message {seq} where {} is next", self.state.next_seq),
            ));
        }
        if msg.generation != self.state.generation {
            return Err(ServiceError::unverified(
                Check::Epoch,
                format!("message {seq} of generation {}", msg.generation),
            ));
        }
        let key = ratchet_key(&self.state.config, self.state.generation);
        let mac = envelope_mac(&key, &channel, seq, &msg.sealed);
        if crypto::ensure_eq(&mac, &msg.mac).is_err() {
            return Err(ServiceError::unverified(
                Check::Mac,
                format!("message {seq}"),
            ));
        }
        let plain = crypto::open_with(key.expose(), &[&channel, &seq.to_le_bytes()], &msg.sealed)
            .map_err(|_| {
            ServiceError::unverified(Check::Decryption, format!("message {seq}"))
        })?;
        Ok(plain.to_vec())
    }
}

impl choreo_amp_transport::Receiver for ReceiverSession<'_> {
    type Types = AmpTypes;
    type Error = ServiceError;

    async fn on_channel_open(&mut self, _from: Peer, msg: ChannelOpen) -> Result<(), ServiceError> {
        self.check_current(&msg)?;
        let verdict = self.objection(&msg).map_or(Ok(()), Err);
        self.log
            .record(AmpFact::Opened(msg.channel_id, verdict.clone()))
            .await?;
        verdict.map_err(ServiceError::Refused)?;
        self.open = Some(msg);
        Ok(())
    }

    async fn channel_accept(&mut self, _to: Peer) -> Result<ChannelAccept, ServiceError> {
        Ok(ChannelAccept {
            channel_id: self.open()?.channel_id,
        })
    }

    async fn on_amp_message(&mut self, _from: Peer, msg: AmpEnvelope) -> Result<(), ServiceError> {
        let plain = self.check_envelope(&msg)?;
        // Padding is receipted too; it carries nothing to deliver.
        if let Some(body) = unpad(&plain) {
            self.log.record(AmpFact::Delivered(msg.seq)).await?;
            self.state.inbox.push(body);
            self.delivered += 1;
        }
        self.state.next_seq += 1;
        self.receipt = Some(msg::AmpReceipt {
            seq: msg.seq,
            digest: msg.receipt_digest(),
        });
        Ok(())
    }

    async fn amp_receipt(&mut self, _to: Peer) -> Result<msg::AmpReceipt, ServiceError> {
        self.receipt.take().ok_or(ServiceError::Missing("message"))
    }

    async fn on_ratchet_checkpoint(
        &mut self,
        _from: Peer,
        msg: msg::RatchetCheckpoint,
    ) -> Result<(), ServiceError> {
        let next = self.state.generation + 1;
        if msg.epoch != self.state.config.epoch || msg.generation != next {
            return Err(ServiceError::unverified(
                Check::Epoch,
                format!(
                    "checkpoint to generation {} of epoch {}, expected {next} of {}",
                    msg.generation, msg.epoch, self.state.config.epoch
                ),
            ));
        }
        self.log.record(AmpFact::Checkpointed(next)).await?;
        self.state.generation = next;
        Ok(())
    }

    async fn checkpoint_ack(&mut self, _to: Peer) -> Result<msg::CheckpointAck, ServiceError> {
        Ok(msg::CheckpointAck {
            generation: self.state.generation,
        })
    }

    async fn on_channel_close(
        &mut self,
        _from: Peer,
        msg: ChannelClose,
    ) -> Result<(), ServiceError> {
        if msg.channel_id != self.open()?.channel_id {
            return Err(ServiceError::unverified(
                Check::Binding,
                "close of another channel",
            ));
        }
        // Every message of the window arrived in sequence: both ends agree.
        if msg.next_seq != self.state.next_seq {
            return Err(ServiceError::unverified(
                Check::Nonce,
                format!(
                    "close at sequence {}, not {}",
                    msg.next_seq, self.state.next_seq
                ),
            ));
        }
        self.log.record(AmpFact::Closed(msg.channel_id)).await
    }
}

/// Runs the Receiver: accepts the channel from its configuration (refusing
/// any other), delivers the window's messages in order into its inbox, and
/// follows the checkpoint.
pub async fn run_receiver<T: Transport>(
    session: Session<'_, T>,
    state: &mut ReceiverState,
) -> Result<ReceiverOutcome, ServiceError> {
    let params = choreo_amp_transport::Params {
        window: state.config.window,
    };
    let log = FactLog::of(&session);
    let mut code = ReceiverSession {
        state,
        log: log.clone(),
        open: None,
        receipt: None,
        delivered: 0,
    };
    let run = choreo_amp_transport::execute_as(
        choreo_amp_transport::As::Receiver(&mut code),
        session,
        &params,
    )
    .await;
    let ReceiverSession {
        state,
        open,
        delivered,
        ..
    } = code;
    if let Err(e) = run {
        let e = ServiceError::from(e);
        // A refused open was recorded when it was refused.
        if let Some(open) = &open {
            failed(&log, open.channel_id, true, &e).await?;
        }
        return Err(e);
    }
    Ok(ReceiverOutcome {
        delivered,
        generation: state.generation,
    })
}
