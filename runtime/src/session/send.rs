//! Sending: encode, check the whole guard chain, reserve the transport, record
//! the journal facts, then charge and send each frame.
//!
//! The order is what makes charge-before-send hold: nothing is charged,
//! journaled or audited before every check passed and the transport has a
//! place for the frame; a fact that cannot be recorded stops its send; and a
//! fan-out whose k-th reservation fails sends (and records) exactly the first
//! k - 1 frames.

use bytes::{Bytes, BytesMut};
use futures_util::future::join_all;
use serde::Serialize;
use smallvec::SmallVec;
use tokio::sync::mpsc::OwnedPermit;

use super::Session;
use crate::error::{Error, ErrorKind};
use crate::guard::context::AuditEntry;
use crate::guard::leakage::LeakRecord;
use crate::guard::{self};
use crate::journal::{Fact, NewFact};
use crate::protocol::{Digest, SendGuard};
use crate::roster::Peer;
use crate::router::carries;
use crate::transport::{SendPermit, Transport};
use crate::wire::{self, Kind};

/// What one send handles per receiver, on the stack for small fan-outs.
type Batch<T> = SmallVec<[T; 4]>;

/// At most this many journal facts travel in one frame.
const MAX_SHIPPED: usize = 256;

/// A place for one frame: on the transport, or in a session on this node.
enum Permit<P> {
    Remote(P),
    Local(OwnedPermit<Bytes>, Digest),
    /// Through this node's router (the local session is not there yet).
    Routed,
}

impl<T: Transport> Session<'_, T> {
    /// The dense index of `peer`, or an error naming it.
    pub(crate) fn index_of(&self, peer: Peer) -> Result<usize, Error> {
        self.layout().index_of(&peer).ok_or_else(|| {
            Error::new(
                self.protocol().name,
                Some(self.me()),
                Some(peer),
                ErrorKind::UnknownPeer,
            )
        })
    }

    #[inline]
    fn guard(&self, id: u16) -> Result<&'static SendGuard, Error> {
        let protocol = self.protocol();
        protocol.guards.get(usize::from(id)).ok_or_else(|| {
            let reason = format!("{} has no send guard {id}", protocol.name);
            self.error(None, ErrorKind::Roster(reason))
        })
    }

    /// Sends `payload` to `to` through the guard chain of guard `guard` of
    /// the protocol's table.
    ///
    /// The steps of `dispatch_encoded` for one frame, without the
    /// fan-out's bookkeeping and written out here: one future less per message.
    pub async fn send<M: Serialize + ?Sized>(
        &mut self,
        to: Peer,
        guard: u16,
        payload: &M,
    ) -> Result<(), Error> {
        debug_assert!(self.scratch.is_empty(), "a send starts on an empty buffer");
        let p = self.index_of(to)?;
        self.live()?;
        let guard = self.guard(guard)?;
        let len = self.encode_frame(guard, p, |out| wire::encode_into(out, payload));
        let len = len.and_then(|len| self.check(guard, &[p]).map(|()| len));
        let len = self.unless_failed(len)?;
        let permit = self.reserve(p).await;
        let permit = self.unless_failed(permit)?;
        // Tested here, not only inside: most sends record no fact, and then
        // the journal's future is not even made.
        if guard.journal_fact.is_some() {
            let recorded = self.record_facts(guard, &[p]).await;
            self.unless_failed(recorded)?;
        }
        self.finish_send(guard, p, len, permit);
        Ok(())
    }

    /// `result`, the scratch buffer emptied first if it is an error (a send
    /// that succeeds takes its frame off the buffer itself).
    fn unless_failed<V>(&mut self, result: Result<V, Error>) -> Result<V, Error> {
        if result.is_err() {
            self.scratch.clear();
        }
        result
    }

    /// Sends each `(peer, payload)` of `messages` through guard `guard`: all
    /// reserved at once if `parallel`, else one after another in order.
    ///
    /// Every send is checked before any is applied. In order, the first
    /// transport failure stops the fan-out; in parallel, every send that got
    /// a place is made and the first failure in order is returned.
    pub async fn fan_out<M: Serialize>(
        &mut self,
        guard: u16,
        parallel: bool,
        messages: &[(Peer, M)],
    ) -> Result<(), Error> {
        let mut targets = Vec::with_capacity(messages.len());
        for (peer, payload) in messages {
            targets.push((self.index_of(*peer)?, payload));
        }
        self.dispatch(guard, parallel, &targets).await
    }

    /// Sends `payload` to every other peer of the session, in order, through
    /// guard `guard` (the seed's `broadcast`; the guard chain applies to each).
    pub async fn broadcast<M: Serialize + ?Sized>(
        &mut self,
        guard: u16,
        payload: &M,
    ) -> Result<(), Error> {
        let others = self.others();
        let encode = |out: &mut BytesMut, _: usize| wire::encode_into(out, payload);
        self.dispatch_with(guard, false, &others, encode).await
    }

    /// Every peer but this side, in order.
    pub(crate) fn others(&self) -> Vec<usize> {
        let me = self.slot.me;
        (0..self.layout().len()).filter(|p| *p != me).collect()
    }

    async fn dispatch<M: Serialize + ?Sized>(
        &mut self,
        guard_id: u16,
        parallel: bool,
        targets: &[(usize, &M)],
    ) -> Result<(), Error> {
        let peers: Batch<usize> = targets.iter().map(|(p, _)| *p).collect();
        let encode = |out: &mut BytesMut, i: usize| wire::encode_into(out, targets[i].1);
        self.dispatch_with(guard_id, parallel, &peers, encode).await
    }

    /// Sends a frame to each of `peers` through guard `guard_id`, the body of
    /// the `i`-th written by `encode(out, i)`.
    pub(crate) async fn dispatch_with(
        &mut self,
        guard_id: u16,
        parallel: bool,
        peers: &[usize],
        encode: impl Fn(&mut BytesMut, usize) -> Result<(), String>,
    ) -> Result<(), Error> {
        self.live()?;
        let guard = self.guard(guard_id)?;
        let result = self.dispatch_encoded(guard, parallel, peers, encode).await;
        self.scratch.clear();
        result
    }

    async fn dispatch_encoded(
        &mut self,
        guard: &'static SendGuard,
        parallel: bool,
        peers: &[usize],
        encode: impl Fn(&mut BytesMut, usize) -> Result<(), String>,
    ) -> Result<(), Error> {
        let mut lengths: Batch<usize> = Batch::with_capacity(peers.len());
        for (i, &p) in peers.iter().enumerate() {
            lengths.push(self.encode_frame(guard, p, |out| encode(out, i))?);
        }
        self.check(guard, peers)?;
        let (permits, failure) = self.reserve_all(peers, parallel).await;
        let sent = &peers[..permits.len()];
        if guard.journal_fact.is_some() {
            self.record_facts(guard, sent).await?;
        }
        for ((&p, permit), len) in sent.iter().zip(permits).zip(lengths) {
            self.finish_send(guard, p, len, permit);
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Runs every check of the guard chain for a send to each of `peers`.
    fn check(&mut self, guard: &SendGuard, peers: &[usize]) -> Result<(), Error> {
        let entries = &self.slot.layout.entries;
        guard::check(
            self.slot.layout.protocol,
            guard,
            &self.held,
            &self.budgets,
            &mut self.pending,
            |p| entries[p].peer,
            peers,
        )
        .map_err(|refusal| {
            let peer = match (&refusal, peers) {
                (guard::Refusal::FlowBudget { peer, .. }, _) => self.layout().index_of(peer),
                (_, [one]) => Some(*one),
                _ => None,
            };
            self.error(peer, ErrorKind::Refused(refusal))
        })
    }

    /// Takes the next encoded frame (of `len` bytes) off the scratch buffer,
    /// ships facts if the guard says so, applies the send's effects and hands
    /// the frame to its place.
    fn finish_send(&mut self, guard: &SendGuard, p: usize, len: usize, permit: Permit<T::Permit>) {
        let mut frame = self.scratch.split_to(len);
        if guard.journal_merge {
            self.ship_facts(p, &mut frame);
        }
        let label = self.slot.layout.protocol.label(guard.label);
        self.apply(guard, label, p, frame.len());
        self.hand_over(permit, frame.freeze());
    }

    /// Appends one frame to `p` to the scratch buffer, its body written by
    /// `encode`; returns its length. Nothing is recorded anywhere.
    fn encode_frame(
        &mut self,
        guard: &SendGuard,
        p: usize,
        encode: impl FnOnce(&mut BytesMut) -> Result<(), String>,
    ) -> Result<usize, Error> {
        let max = self.node.inner().transport.max_frame();
        let start = self.scratch.len();
        let layout = &self.slot.layout;
        let mut header = [0; wire::HEADER];
        // The body length is patched in once the body is written.
        let fields = wire::Header {
            kind: Kind::Message,
            session: self.slot.session,
            digest: layout.protocol.digest,
            from: layout.entries[self.slot.me].addr,
            to: layout.entries[p].addr,
            label: guard.label,
            facts: guard.journal_merge,
            body_len: 0,
        };
        wire::write_header(&mut header, &fields);
        self.scratch.reserve(wire::HEADER + 64);
        self.scratch.extend_from_slice(&header);
        if let Err(reason) = encode(&mut self.scratch) {
            let label = self.slot.layout.protocol.label(guard.label);
            return Err(self.error(None, ErrorKind::Encode { label, reason }));
        }
        let len = self.scratch.len() - start;
        if len > max {
            let kind = ErrorKind::FrameTooLarge { size: len, max };
            return Err(self.error(Some(p), kind));
        }
        wire::set_body_len(&mut self.scratch[start..], (len - wire::HEADER) as u32);
        Ok(len)
    }

    /// Reserves a place for a frame to each of `peers`; stops at the first
    /// failure (in order) and returns the places got before it.
    async fn reserve_all(
        &self,
        peers: &[usize],
        parallel: bool,
    ) -> (Batch<Permit<T::Permit>>, Option<Error>) {
        let mut permits = Batch::with_capacity(peers.len());
        if parallel && peers.len() > 1 {
            let reserved = join_all(peers.iter().map(|&p| self.reserve(p))).await;
            for result in reserved {
                match result {
                    Ok(permit) => permits.push(permit),
                    Err(e) => return (permits, Some(e)),
                }
            }
        } else {
            for &p in peers {
                match self.reserve(p).await {
                    Ok(permit) => permits.push(permit),
                    Err(e) => return (permits, Some(e)),
                }
            }
        }
        (permits, None)
    }

    async fn reserve(&self, p: usize) -> Result<Permit<T::Permit>, Error> {
        let inner = self.node.inner();
        let Some(link) = &self.links[p] else {
            // A peer on this node: straight into its session, if it runs.
            let route = self.route(p);
            let Some((inbox, digest)) = inner.router.inbox_for(self.node.id(), route) else {
                return Ok(Permit::Routed);
            };
            return Ok(match self.guarded(inbox.reserve_owned()).await? {
                Ok(permit) => Permit::Local(permit, digest),
                Err(_) => Permit::Routed,
            });
        };
        match self.guarded(inner.transport.reserve(link)).await? {
            Ok(permit) => Ok(Permit::Remote(permit)),
            Err(e) => Err(self.error(Some(p), ErrorKind::Send(e))),
        }
    }

    /// Records the guard's fact (if it has one) once per peer the frames go
    /// to, as one group.
    async fn record_facts(&self, guard: &SendGuard, peers: &[usize]) -> Result<(), Error> {
        let Some(fact) = guard.journal_fact else {
            return Ok(());
        };
        if peers.is_empty() {
            return Ok(());
        }
        let label = self.slot.layout.protocol.label(guard.label);
        let kind = self
            .protocol()
            .facts
            .get(usize::from(fact))
            .copied()
            .unwrap_or("?");
        let facts = peers
            .iter()
            .map(|&p| {
                let to = self.layout().entries[p].peer.to_string();
                NewFact {
                    session: self.slot.session,
                    kind: kind.to_owned(),
                    body: postcard::to_stdvec(&(label, to)).unwrap_or_default(),
                }
            })
            .collect();
        let journal = self.node.journal();
        match self.guarded(journal.append(facts)).await? {
            Ok(_) => Ok(()),
            Err(e) => Err(self.error(peers.first().copied(), ErrorKind::Journal(e))),
        }
    }

    /// Appends to `frame` this node's facts that peer `p` has not been sent,
    /// as many as fit in a frame.
    fn ship_facts(&mut self, p: usize, frame: &mut BytesMut) {
        let journal = self.node.journal();
        let max = self.node.inner().transport.max_frame();
        // A journal that cannot be read ships nothing this time; the facts go later.
        let mut facts: Vec<Fact> = journal
            .since(journal.origin(), self.shipped[p], MAX_SHIPPED)
            .unwrap_or_default();
        let mut encoded = BytesMut::new();
        loop {
            encoded.clear();
            if wire::encode_into(&mut encoded, &facts).is_ok() && frame.len() + encoded.len() <= max
            {
                break;
            }
            if facts.is_empty() {
                encoded.clear();
                let _ = wire::encode_into(&mut encoded, &facts);
                break;
            }
            facts.truncate(facts.len() / 2);
        }
        if let Some(last) = facts.last() {
            self.shipped[p] = last.seq;
        }
        frame.extend_from_slice(&encoded);
    }

    /// Charges, audits and records the leakage of one send to `p`.
    fn apply(&mut self, guard: &SendGuard, label: &'static str, p: usize, bytes: usize) {
        let peer = self.slot.layout.entries[p].peer;
        if guard.flow_cost > 0 {
            self.budgets[p] = self.budgets[p].saturating_sub(guard.flow_cost);
            self.charged[p] = true;
        }
        if let Some(entry) = guard.audit_log {
            self.ctx.audit(AuditEntry { entry, peer, label });
        }
        if guard.leaks() {
            let record = LeakRecord {
                peer,
                label,
                amounts: guard.leak,
            };
            self.ctx.ledger.record(record, guard.leak_labels);
        }
        self.metrics.messages_sent += 1;
        self.metrics.bytes_sent += bytes as u64;
        self.traced('!', p, guard.label);
    }

    fn hand_over(&self, permit: Permit<T::Permit>, frame: Bytes) {
        match permit {
            Permit::Remote(permit) => permit.send(frame),
            Permit::Local(permit, digest) if carries(&frame, &digest) => {
                permit.send(frame);
            }
            Permit::Local(..) => self.node.inner().router.deliver_now(self.node.id(), frame),
            Permit::Routed => self.node.inner().router.deliver_now(self.node.id(), frame),
        }
    }
}
