//! AmpTransport: a window of sealed messages over an established channel.
//!
//! Implements the seed entry **AmpTransport** (CHOREO-AMP-001, owner
//! `aura-amp`, seed entry point `runtime_bridge/amp.rs`). Decision sourcing
//! as the seed says: every payload comes from channel state. The Sender
//! seals queued messages under the channel's current ratchet generation and
//! fills the rest of the fixed window with padding (so the window size, not
//! the queue, is what observers see); the Receiver accepts the channel only
//! for its relational context, epoch and window, opens and checks each
//! envelope in sequence, and receipts what it delivered. Both sides advance
//! the ratchet at the checkpoint; unreceipted messages stay queued.

use std::collections::VecDeque;

use choreo_amp_transport::msg;
use choreo_runtime::{Adapter, ChoreographicEffects, Peer};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::journal::Journal;
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

/// The Receiver's answer to [`ChannelOpen`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelAccept {
    /// The channel session answered.
    pub channel_id: Digest,
    /// Whether the Receiver takes the window.
    pub accepted: bool,
    /// Why not, when it does not.
    pub reason: Option<String>,
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
    /// The message with this sequence number was delivered.
    Delivered(u64),
    /// The ratchet advanced to this generation.
    Checkpointed(u32),
    /// The channel session closed.
    Closed(Digest),
}

/// What both ends of a channel agree on beforehand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelConfig {
    /// The relational context.
    pub context_id: Digest,
    /// The context's key, shared by both ends.
    pub context_key: Digest,
    /// The context's epoch.
    pub epoch: u64,
    /// Messages per window (`Window` of the protocol).
    pub window: u64,
}

/// The ratchet key of `generation`.
fn ratchet_key(config: &ChannelConfig, generation: u32) -> Digest {
    crypto::digest(
        "amp/ratchet",
        &[&config.context_key, &generation.to_le_bytes()],
    )
}

/// The MAC of an envelope's routing data and ciphertext.
fn envelope_mac(key: &Digest, e: &AmpEnvelope) -> Digest {
    crypto::mac(key, &[&e.channel_id, &e.seq.to_le_bytes(), &e.sealed])
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
    /// Facts of every channel session.
    pub journal: Journal<AmpFact>,
}

/// How a window ended for the Sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderOutcome {
    /// Whether the Receiver accepted the channel.
    pub accepted: bool,
    /// Queued messages delivered and receipted in this window.
    pub delivered: usize,
    /// The generation after the checkpoint.
    pub generation: u32,
}

/// One window as the Sender plays it.
struct SenderSession<'s> {
    state: &'s mut SenderState,
    channel_id: Digest,
    accepted: bool,
    /// What was sent: sequence number, ciphertext digest, and whether it was data.
    sent: Vec<(u64, Digest, bool)>,
    delivered: usize,
    proposed: u32,
}

impl choreo_amp_transport::Sender<AmpTypes> for SenderSession<'_> {
    fn channel_open(&mut self, _to: &Peer) -> ChannelOpen {
        let config = &self.state.config;
        ChannelOpen {
            channel_id: self.channel_id,
            context_id: config.context_id,
            epoch: config.epoch,
            generation: self.state.generation,
            window: config.window,
        }
    }

    fn on_channel_accept(&mut self, _from: &Peer, msg: ChannelAccept) {
        self.accepted = msg.accepted && msg.channel_id == self.channel_id;
        let opened = if self.accepted {
            Ok(())
        } else {
            Err(msg.reason.unwrap_or_default())
        };
        self.state
            .journal
            .record(AmpFact::Opened(self.channel_id, opened));
    }

    fn amp_message(&mut self, _to: &Peer) -> AmpEnvelope {
        // Data only once accepted, in queue order; padding fills the window.
        let queued = self.data_sent();
        let body = self
            .state
            .outbox
            .get(queued)
            .filter(|_| self.accepted)
            .cloned();
        let seq = self.state.next_seq;
        self.state.next_seq += 1;
        let key = ratchet_key(&self.state.config, self.state.generation);
        let sealed = crypto::seal(&key, &seq.to_le_bytes(), &pad(body.as_deref()));
        let mut envelope = AmpEnvelope {
            channel_id: self.channel_id,
            seq,
            generation: self.state.generation,
            sealed,
            mac: [0; 32],
        };
        envelope.mac = envelope_mac(&key, &envelope);
        let digest = crypto::digest("amp/receipt", &[&envelope.sealed]);
        self.sent.push((seq, digest, body.is_some()));
        envelope
    }

    fn on_amp_receipt(&mut self, _from: &Peer, msg: msg::AmpReceipt) {
        let sent = self.sent.iter().find(|(seq, _, _)| *seq == msg.seq);
        if let Some((seq, digest, true)) = sent {
            if *digest == msg.digest {
                self.delivered += 1;
                self.state.journal.record(AmpFact::Delivered(*seq));
            }
        }
    }

    fn ratchet_checkpoint(&mut self, _to: &Peer) -> msg::RatchetCheckpoint {
        self.proposed = self.state.generation + 1;
        msg::RatchetCheckpoint {
            epoch: self.state.config.epoch,
            generation: self.proposed,
        }
    }

    fn on_checkpoint_ack(&mut self, _from: &Peer, msg: msg::CheckpointAck) {
        if msg.generation == self.proposed {
            self.state.generation = self.proposed;
            self.state
                .journal
                .record(AmpFact::Checkpointed(self.proposed));
        }
    }

    fn channel_close(&mut self, _to: &Peer) -> ChannelClose {
        self.state.journal.record(AmpFact::Closed(self.channel_id));
        ChannelClose {
            channel_id: self.channel_id,
            next_seq: self.state.next_seq,
            reason: "window complete".into(),
        }
    }
}

impl SenderSession<'_> {
    /// Data messages sent so far in this window.
    fn data_sent(&self) -> usize {
        self.sent.iter().filter(|(_, _, data)| *data).count()
    }
}

/// Runs the Sender: opens the channel, sends one window of queued messages
/// (padded to the window), checkpoints the ratchet and closes. Receipted
/// messages leave the outbox; the rest wait for the next window.
pub async fn run_sender<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
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
    let mut session = SenderSession {
        state,
        channel_id,
        accepted: false,
        sent: Vec::new(),
        delivered: 0,
        proposed: 0,
    };
    choreo_amp_transport::execute_as::<AmpTypes, _>(
        choreo_amp_transport::As::Sender(&mut session),
        adapter,
        &params,
    )
    .await?;
    let SenderSession {
        state,
        accepted,
        delivered,
        ..
    } = session;
    state.outbox.drain(..delivered);
    Ok(SenderOutcome {
        accepted,
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
    /// Facts of every channel session.
    pub journal: Journal<AmpFact>,
}

/// How a window ended for the Receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiverOutcome {
    /// Whether it accepted the channel, or why not.
    pub accepted: Result<(), String>,
    /// Messages delivered in this window.
    pub delivered: usize,
    /// The generation after the checkpoint.
    pub generation: u32,
}

/// One window as the Receiver plays it.
struct ReceiverSession<'s> {
    state: &'s mut ReceiverState,
    open: Option<ChannelOpen>,
    accepted: Result<(), String>,
    last_receipt: msg::AmpReceipt,
    delivered: usize,
}

impl ReceiverSession<'_> {
    /// Opens `e` if it is the next envelope of an accepted channel.
    fn receive(&mut self, e: &AmpEnvelope) -> Option<Option<Vec<u8>>> {
        let open = self.open.as_ref().filter(|_| self.accepted.is_ok())?;
        let key = ratchet_key(&self.state.config, self.state.generation);
        let in_order = e.channel_id == open.channel_id && e.seq == self.state.next_seq;
        let fresh = e.generation == self.state.generation;
        if !(in_order && fresh && envelope_mac(&key, e) == e.mac) {
            return None;
        }
        self.state.next_seq += 1;
        Some(unpad(&crypto::open(&key, &e.seq.to_le_bytes(), &e.sealed)))
    }
}

impl choreo_amp_transport::Receiver<AmpTypes> for ReceiverSession<'_> {
    fn on_channel_open(&mut self, _from: &Peer, msg: ChannelOpen) {
        let config = &self.state.config;
        self.accepted = if msg.context_id != config.context_id {
            Err("unknown relational context".into())
        } else if msg.epoch != config.epoch || msg.window != config.window {
            Err("epoch or window differs from the channel's".into())
        } else if msg.generation != self.state.generation {
            Err(format!(
                "generation {} is not {}",
                msg.generation, self.state.generation
            ))
        } else {
            Ok(())
        };
        self.state
            .journal
            .record(AmpFact::Opened(msg.channel_id, self.accepted.clone()));
        self.open = Some(msg);
    }

    fn channel_accept(&mut self, _to: &Peer) -> ChannelAccept {
        ChannelAccept {
            channel_id: self.open.as_ref().map(|o| o.channel_id).unwrap_or_default(),
            accepted: self.accepted.is_ok(),
            reason: self.accepted.clone().err(),
        }
    }

    fn on_amp_message(&mut self, _from: &Peer, msg: AmpEnvelope) {
        let digest = crypto::digest("amp/receipt", &[&msg.sealed]);
        self.last_receipt = match self.receive(&msg) {
            Some(Some(body)) => {
                self.state.inbox.push(body);
                self.delivered += 1;
                self.state.journal.record(AmpFact::Delivered(msg.seq));
                msg::AmpReceipt {
                    seq: msg.seq,
                    digest,
                }
            }
            // Padding is receipted too; it carries nothing to deliver.
            Some(None) => msg::AmpReceipt {
                seq: msg.seq,
                digest,
            },
            None => msg::AmpReceipt {
                seq: msg.seq,
                digest: [0; 32],
            },
        };
    }

    fn amp_receipt(&mut self, _to: &Peer) -> msg::AmpReceipt {
        self.last_receipt.clone()
    }

    fn on_ratchet_checkpoint(&mut self, _from: &Peer, msg: msg::RatchetCheckpoint) {
        let next = self.state.generation + 1;
        if self.accepted.is_ok() && msg.epoch == self.state.config.epoch && msg.generation == next {
            self.state.generation = next;
            self.state.journal.record(AmpFact::Checkpointed(next));
        }
    }

    fn checkpoint_ack(&mut self, _to: &Peer) -> msg::CheckpointAck {
        msg::CheckpointAck {
            generation: self.state.generation,
        }
    }

    fn on_channel_close(&mut self, _from: &Peer, msg: ChannelClose) {
        // Sequence numbers only move forward; skipped ones were never delivered.
        self.state.next_seq = self.state.next_seq.max(msg.next_seq);
        self.state.journal.record(AmpFact::Closed(msg.channel_id));
    }
}

/// Runs the Receiver: accepts the channel from its configuration, delivers
/// the window's messages in order into its inbox, and follows the checkpoint.
pub async fn run_receiver<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut ReceiverState,
) -> Result<ReceiverOutcome, ServiceError> {
    let params = choreo_amp_transport::Params {
        window: state.config.window,
    };
    let mut session = ReceiverSession {
        state,
        open: None,
        accepted: Err("no channel opened".into()),
        last_receipt: msg::AmpReceipt {
            seq: 0,
            digest: [0; 32],
        },
        delivered: 0,
    };
    choreo_amp_transport::execute_as::<AmpTypes, _>(
        choreo_amp_transport::As::Receiver(&mut session),
        adapter,
        &params,
    )
    .await?;
    let ReceiverSession {
        state,
        accepted,
        delivered,
        ..
    } = session;
    Ok(ReceiverOutcome {
        accepted,
        delivered,
        generation: state.generation,
    })
}
