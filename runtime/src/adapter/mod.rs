//! The typed adapter that generated runners call: serde messages with labels,
//! every send through the guard chain, fan-out, fan-in and external choice.
//!
//! Payloads are encoded with postcard. Each frame carries its label, so a
//! message of the wrong label or one that does not decode is a typed
//! [`Error`] naming the protocol, the role, the peer and the expected labels.
//! When a message with an expected label arrives carrying the sender's journal
//! (`journal_merge`), it is merged into this role's journal at once.

mod offer;
mod wire;

use offer::Expected;
pub use offer::{Choice, Offer};

use futures_util::future::join_all;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::effects::ChoreographicEffects;
use crate::error::{EffectError, Error, ErrorKind};
use crate::guard::context::RoleContext;
use crate::guard::{self, SendGuard};
use crate::metrics::{SessionId, SessionMetrics};
use crate::roster::Peer;

/// One role's typed view of a session: its effects plus its guard-chain context.
#[derive(Debug)]
pub struct Adapter<E> {
    protocol: &'static str,
    effects: E,
    ctx: RoleContext,
}

impl<E: ChoreographicEffects> Adapter<E> {
    /// An adapter for running `protocol` over `effects` with the guard state `ctx`.
    pub fn new(protocol: &'static str, effects: E, ctx: RoleContext) -> Self {
        Adapter {
            protocol,
            effects,
            ctx,
        }
    }

    /// The protocol name.
    pub fn protocol(&self) -> &'static str {
        self.protocol
    }

    /// The role this adapter acts as.
    pub fn role(&self) -> &Peer {
        self.effects.role()
    }

    /// The guard-chain state: capabilities, budgets, journal, ledger, audit log.
    pub fn context(&self) -> &RoleContext {
        &self.ctx
    }

    /// The byte-level effects (metrics, roster).
    pub fn effects(&self) -> &E {
        &self.effects
    }

    /// Takes the adapter apart.
    pub fn into_parts(self) -> (E, RoleContext) {
        (self.effects, self.ctx)
    }

    /// The members of `family` in member order, as bound in the roster.
    pub fn members(&self, family: &str) -> Result<Vec<Peer>, Error> {
        self.effects
            .roster()
            .members(family)
            .ok_or_else(|| self.error(None, ErrorKind::UnknownFamily(family.to_owned())))
    }

    /// The members `start..end` of `family` (a range `F[a..b]`, or one member
    /// `F[k]` as `k..k + 1`); an error if the family is smaller.
    pub fn member_range(&self, family: &str, start: u32, end: u32) -> Result<Vec<Peer>, Error> {
        let members = self.members(family)?;
        members
            .get(start as usize..end as usize)
            .map(<[Peer]>::to_vec)
            .ok_or_else(|| {
                self.error(
                    Some(&Peer::member(family, end.saturating_sub(1))),
                    ErrorKind::UnknownPeer,
                )
            })
    }

    /// The error for running as a role or member the protocol has no part for.
    pub fn not_a_participant(&self) -> Error {
        self.error(Some(self.role()), ErrorKind::UnknownPeer)
    }

    /// Member `index` of `family`; an error if the family is smaller.
    pub fn member(&self, family: &str, index: u32) -> Result<Peer, Error> {
        let mut one = self.member_range(family, index, index.saturating_add(1))?;
        one.pop()
            .ok_or_else(|| self.error(Some(&Peer::member(family, index)), ErrorKind::UnknownPeer))
    }

    /// Starts a session of the protocol.
    pub fn start(&mut self) -> Result<SessionId, Error> {
        let protocol = self.protocol;
        self.effects
            .start_session(protocol)
            .map_err(|e| self.error(None, ErrorKind::Session(e)))
    }

    /// Ends the session and returns its metrics.
    pub fn finish(&mut self) -> Result<SessionMetrics, Error> {
        self.effects
            .end_session()
            .map_err(|e| self.error(None, ErrorKind::Session(e)))
    }

    /// Sends `payload` labelled `label` to `to` through the guard chain of `guard`.
    pub async fn send<M: Serialize + ?Sized>(
        &mut self,
        to: &Peer,
        label: &'static str,
        guard: &SendGuard,
        payload: &M,
    ) -> Result<(), Error> {
        let payload = self.encode(label, payload)?;
        self.dispatch(label, guard, false, vec![(to, payload)])
            .await
    }

    /// Sends each `(peer, payload)` of `messages` labelled `label`: all in flight
    /// at once if `parallel`, else one after another in the given order.
    ///
    /// The guard chain checks every send before applying any. In order, the
    /// first transport failure stops the fan-out; in parallel, all are attempted
    /// and the first failure in the given order is returned.
    pub async fn fan_out<M: Serialize>(
        &mut self,
        label: &'static str,
        guard: &SendGuard,
        parallel: bool,
        messages: &[(Peer, M)],
    ) -> Result<(), Error> {
        let mut encoded = Vec::with_capacity(messages.len());
        for (peer, payload) in messages {
            encoded.push((peer, self.encode(label, payload)?));
        }
        self.dispatch(label, guard, parallel, encoded).await
    }

    /// Receives the next message from `from`, which must be labelled `label`.
    pub async fn recv<M: DeserializeOwned>(
        &mut self,
        from: &Peer,
        label: &'static str,
    ) -> Result<M, Error> {
        let frame = self.receive(from).await?;
        self.open(from, frame, Expected::One(label))?.decode()
    }

    /// Receives one message labelled `label` from each peer of `from`, returned
    /// in that order: all awaited at once if `parallel`, else one after another.
    /// The first failure in that order is returned.
    pub async fn fan_in<M: DeserializeOwned>(
        &mut self,
        from: &[Peer],
        label: &'static str,
        parallel: bool,
    ) -> Result<Vec<M>, Error> {
        let offers = self.collect(from, Expected::One(label), parallel).await?;
        offers.iter().map(Offer::decode).collect()
    }

    /// Receives the next message from `from`, which must carry one of `labels`
    /// (an external choice); the runner branches on [`Offer::label`].
    pub async fn recv_choice(
        &mut self,
        from: &Peer,
        labels: &'static [&'static str],
    ) -> Result<Offer, Error> {
        let frame = self.receive(from).await?;
        self.open(from, frame, Expected::Any(labels))
    }

    /// Receives one message carrying one of `labels` from each peer of `from`
    /// (a choice made by each family member), returned in that order.
    pub async fn fan_in_choice(
        &mut self,
        from: &[Peer],
        labels: &'static [&'static str],
        parallel: bool,
    ) -> Result<Vec<Offer>, Error> {
        self.collect(from, Expected::Any(labels), parallel).await
    }

    /// Receives an external choice from `from` and decodes it as the branch type `C`.
    pub async fn recv_branch<C: Choice>(&mut self, from: &Peer) -> Result<C, Error> {
        C::from_offer(self.recv_choice(from, C::LABELS).await?)
    }

    fn error(&self, peer: Option<&Peer>, kind: ErrorKind) -> Error {
        Error::new(self.protocol, self.role().clone(), peer.cloned(), kind)
    }

    fn encode<M: Serialize + ?Sized>(
        &self,
        label: &'static str,
        payload: &M,
    ) -> Result<Vec<u8>, Error> {
        wire::encode_payload(payload)
            .map_err(|reason| self.error(None, ErrorKind::Encode { label, reason }))
    }

    /// Guard chain, then transport, for already encoded payloads.
    async fn dispatch(
        &mut self,
        label: &'static str,
        guard: &SendGuard,
        parallel: bool,
        targets: Vec<(&Peer, Vec<u8>)>,
    ) -> Result<(), Error> {
        if self.effects.metrics().is_none() {
            return Err(self.error(None, ErrorKind::Session(EffectError::NoSession)));
        }
        let peers: Vec<&Peer> = targets.iter().map(|(peer, _)| *peer).collect();
        if let Some(peer) = peers.iter().find(|p| !self.effects.roster().contains(p)) {
            return Err(self.error(Some(peer), ErrorKind::UnknownPeer));
        }
        let permit = guard::check(&self.ctx, guard, &peers).map_err(|refusal| {
            let peer = match (&refusal, peers.as_slice()) {
                (guard::Refusal::FlowBudget { peer, .. }, _) => Some(peer.clone()),
                (_, [peer]) => Some((*peer).clone()),
                _ => None,
            };
            Error::new(
                self.protocol,
                self.role().clone(),
                peer,
                ErrorKind::Refused(refusal),
            )
        })?;
        let me = self.effects.role().clone();
        permit.apply(&mut self.ctx, &me, label, &peers);
        let merge = guard.journal_merge.then_some(&self.ctx.journal);
        let header = wire::encode_header(label, merge)
            .map_err(|reason| self.error(None, ErrorKind::Encode { label, reason }))?;
        let frames = targets.into_iter().map(|(peer, payload)| {
            let mut frame = Vec::with_capacity(header.len() + payload.len());
            frame.extend_from_slice(&header);
            frame.extend_from_slice(&payload);
            (peer, frame)
        });
        if parallel {
            let effects = &self.effects;
            let sends = frames.map(|(peer, frame)| async move {
                (peer, effects.send_to_role_bytes(peer, frame).await)
            });
            for (peer, result) in join_all(sends).await {
                result.map_err(|e| self.error(Some(peer), ErrorKind::Send(e)))?;
            }
        } else {
            for (peer, frame) in frames {
                let sent = self.effects.send_to_role_bytes(peer, frame).await;
                sent.map_err(|e| self.error(Some(peer), ErrorKind::Send(e)))?;
            }
        }
        Ok(())
    }

    async fn receive(&self, from: &Peer) -> Result<Vec<u8>, Error> {
        let received = self.effects.receive_from_role_bytes(from).await;
        received.map_err(|e| self.receive_error(from, e))
    }

    fn receive_error(&self, from: &Peer, error: EffectError) -> Error {
        let kind = match error {
            EffectError::NoSession | EffectError::SessionActive(_) => ErrorKind::Session(error),
            EffectError::UnknownPeer { .. } => ErrorKind::UnknownPeer,
            _ => ErrorKind::Receive(error),
        };
        self.error(Some(from), kind)
    }

    /// Checks the label of a received frame and merges any journal it carries.
    fn open(&mut self, from: &Peer, frame: Vec<u8>, expected: Expected) -> Result<Offer, Error> {
        let (label, merge, offset) = match wire::decode_header(&frame) {
            Ok((header, offset)) => match expected.find(header.label) {
                Some(label) => (label, header.merge, offset),
                None => {
                    let received = header.label.to_owned();
                    let kind = ErrorKind::WrongLabel {
                        expected: expected.to_vec(),
                        received,
                    };
                    return Err(self.error(Some(from), kind));
                }
            },
            Err(reason) => {
                let kind = ErrorKind::Decode {
                    expected: expected.to_vec(),
                    received: None,
                    reason,
                };
                return Err(self.error(Some(from), kind));
            }
        };
        if let Some(entries) = merge {
            self.ctx.journal.merge(entries);
        }
        let (protocol, role, from) = (self.protocol, self.role().clone(), from.clone());
        Ok(Offer {
            label,
            from,
            frame,
            offset,
            protocol,
            role,
            expected,
        })
    }

    async fn collect(
        &mut self,
        from: &[Peer],
        expected: Expected,
        parallel: bool,
    ) -> Result<Vec<Offer>, Error> {
        let mut offers = Vec::with_capacity(from.len());
        if parallel {
            let receives = from.iter().map(|peer| self.receive(peer));
            for (peer, frame) in from.iter().zip(join_all(receives).await) {
                offers.push(self.open(peer, frame?, expected)?);
            }
        } else {
            for peer in from {
                let frame = self.receive(peer).await?;
                offers.push(self.open(peer, frame, expected)?);
            }
        }
        Ok(offers)
    }
}
