//! Receiving: one frame from a peer's own inbox, within the receive timeout,
//! unless the session fails first; then its label, shipped facts and payload.
//!
//! The session has one timer for all its receives. A receive whose frame is
//! already there, or comes within two scheduler turns, reads no clock and
//! arms no timer; one that must wait longer computes its deadline (start +
//! timeout) and polls the timer, which stays armed at an earlier deadline
//! when it can: when it fires before the current deadline it is re-armed to
//! it, so each receive still times out exactly `timeout` after it began, and
//! the timer is re-registered at most once per timeout period instead of
//! once per receive.

use std::future::{poll_fn, Future};
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::time::{Instant, Sleep};

use super::offer::{Expected, Offer};
use super::Session;
use crate::error::{Error, ErrorKind};
use crate::journal::Fact;
use crate::roster::Peer;
use crate::transport::Transport;
use crate::wire;

/// Members `start..end` of a family, as peers (no allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Members {
    name: &'static str,
    role: u16,
    start: u32,
    end: u32,
}

impl Members {
    /// How many members.
    pub fn count(&self) -> u32 {
        self.end - self.start
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The members, in member order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Peer> + '_ {
        (self.start..self.end).map(|k| Peer::resolved(self.name, Some(k), self.role))
    }
}

/// Scheduler turns a receive gives its peer before it reads the clock and
/// arms the timer. Two, because `join!` and schedulers alternate which of two
/// sessions is polled first: a peer polled before this side in the next turn
/// replies only in the turn after.
const TURNS: usize = 2;

/// Returns after one scheduler turn: wakes itself and is pending once.
fn yield_turn() -> impl Future<Output = ()> {
    let mut yielded = false;
    poll_fn(move |cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

/// How a wait ended.
enum Wait {
    Frame(Bytes),
    Failed,
    Gone,
    Timeout,
}

/// Polls the session's timer for `deadline`, re-arming it as described above.
fn poll_deadline(
    timer: &mut Option<Pin<Box<Sleep>>>,
    cx: &mut Context<'_>,
    deadline: Instant,
) -> Poll<()> {
    let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
    loop {
        if timer.deadline() > deadline {
            timer.as_mut().reset(deadline);
        }
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if Instant::now() >= deadline {
            return Poll::Ready(());
        }
        timer.as_mut().reset(deadline);
    }
}

impl<T: Transport> Session<'_, T> {
    /// The single peer of role `role` (an index into the protocol's roles).
    #[inline]
    pub fn single(&self, role: u16) -> Result<Peer, Error> {
        let p = self.layout().single(usize::from(role)).ok_or_else(|| {
            let name = self.role_name(role);
            self.error(None, ErrorKind::UnknownFamily(name.to_owned()))
        })?;
        Ok(self.layout().entries[p].peer)
    }

    /// Members `start..end` of family `role` (a range `F[a..b]`); an error if
    /// the family is smaller.
    pub fn member_range(&self, role: u16, start: u32, end: u32) -> Result<Members, Error> {
        let name = self.role_name(role);
        match self.layout().members(usize::from(role), start, end) {
            Some(_) => Ok(Members {
                name,
                role,
                start,
                end,
            }),
            None => {
                let peer = Peer::member(name, end.saturating_sub(1));
                let kind = match self.layout().family_size(usize::from(role)) {
                    Some(_) => ErrorKind::UnknownPeer,
                    None => ErrorKind::UnknownFamily(name.to_owned()),
                };
                Err(Error::new(
                    self.protocol().name,
                    Some(self.me()),
                    Some(peer),
                    kind,
                ))
            }
        }
    }

    /// Every member of family `role`, in member order.
    pub fn members(&self, role: u16) -> Result<Members, Error> {
        let size = self
            .layout()
            .family_size(usize::from(role))
            .ok_or_else(|| {
                let name = self.role_name(role);
                self.error(None, ErrorKind::UnknownFamily(name.to_owned()))
            })?;
        self.member_range(role, 0, size)
    }

    /// Member `k` of family `role`.
    pub fn member(&self, role: u16, k: u32) -> Result<Peer, Error> {
        let range = self.member_range(role, k, k.saturating_add(1))?;
        Ok(Peer::resolved(range.name, Some(k), role))
    }

    fn role_name(&self, role: u16) -> &'static str {
        self.protocol()
            .roles
            .get(usize::from(role))
            .map_or("?", |r| r.name)
    }

    /// Receives the next message from `from`, which must carry label `label`.
    pub async fn recv<M: DeserializeOwned>(&mut self, from: Peer, label: u16) -> Result<M, Error> {
        // `recv_offer`'s steps written out: one future less per message.
        let expected = Expected::One(label);
        let p = self.index_of(from)?;
        let frame = self.next_frame(p).await?;
        let header = self.checked_header(p, &frame, expected)?;
        if header.facts {
            return self.open(p, frame, expected).await?.decode();
        }
        self.offer(p, frame, &header, expected).decode()
    }

    /// Receives the next message from `from`, which must carry one of
    /// `labels` (an external choice).
    pub async fn recv_choice(
        &mut self,
        from: Peer,
        labels: &'static [u16],
    ) -> Result<Offer, Error> {
        self.recv_offer(from, Expected::Any(labels)).await
    }

    /// Receives one message labelled `label` from each member of `from`,
    /// returned in member order: all awaited at once if `parallel`.
    pub async fn fan_in<M: DeserializeOwned>(
        &mut self,
        from: Members,
        label: u16,
        parallel: bool,
    ) -> Result<Vec<M>, Error> {
        let offers = self.collect(from, Expected::One(label), parallel).await?;
        offers.iter().map(Offer::decode).collect()
    }

    /// Receives one message carrying one of `labels` from each member of
    /// `from` (a choice made by each member), in member order.
    pub async fn fan_in_choice(
        &mut self,
        from: Members,
        labels: &'static [u16],
        parallel: bool,
    ) -> Result<Vec<Offer>, Error> {
        self.collect(from, Expected::Any(labels), parallel).await
    }

    /// Receives the next message from `from`, whatever its label.
    pub(crate) async fn recv_any(&mut self, from: Peer) -> Result<Offer, Error> {
        self.recv_offer(from, Expected::All).await
    }

    async fn recv_offer(&mut self, from: Peer, expected: Expected) -> Result<Offer, Error> {
        let p = self.index_of(from)?;
        let frame = self.next_frame(p).await?;
        // A frame that ships no facts awaits nothing more: the merge's future
        // is made only for one that does.
        let header = self.checked_header(p, &frame, expected)?;
        if !header.facts {
            return Ok(self.offer(p, frame, &header, expected));
        }
        self.open(p, frame, expected).await
    }

    async fn collect(
        &mut self,
        from: Members,
        expected: Expected,
        parallel: bool,
    ) -> Result<Vec<Offer>, Error> {
        let range = self
            .layout()
            .members(usize::from(from.role), from.start, from.end)
            .ok_or_else(|| self.error(None, ErrorKind::UnknownPeer))?;
        let mut offers = Vec::with_capacity(range.len());
        if parallel {
            let frames = self.frames_from(range.clone()).await?;
            for (p, frame) in range.zip(frames) {
                offers.push(self.open(p, frame, expected).await?);
            }
        } else {
            for p in range {
                let frame = self.next_frame(p).await?;
                offers.push(self.open(p, frame, expected).await?);
            }
        }
        Ok(offers)
    }

    /// The next frame from peer `p`.
    async fn next_frame(&mut self, p: usize) -> Result<Bytes, Error> {
        // Give the peer up to `TURNS` turns before involving the clock and the
        // timer: a reply that comes within them costs neither (its wait counts
        // as zero).
        for turn in 0..=TURNS {
            if turn > 0 {
                yield_turn().await;
            }
            self.live()?;
            let Some(rx) = self.inbox.get_mut(p).and_then(Option::as_mut) else {
                return Err(self.error(Some(p), ErrorKind::UnknownPeer));
            };
            // `is_empty` is much cheaper than a `try_recv` that finds nothing.
            match if rx.is_empty() {
                Err(TryRecvError::Empty)
            } else {
                rx.try_recv()
            } {
                Ok(frame) => {
                    self.metrics.receive_wait.record(Duration::ZERO);
                    return Ok(frame);
                }
                Err(TryRecvError::Disconnected) => return Err(self.gone_error(p)),
                Err(TryRecvError::Empty) => {}
            }
            if self.slot.control.gone(p).is_some() {
                return Err(self.gone_error(p));
            }
        }
        let Some(rx) = self.inbox.get_mut(p).and_then(Option::as_mut) else {
            return Err(self.error(Some(p), ErrorKind::UnknownPeer));
        };
        let start = Instant::now();
        let deadline = start + self.timeout;
        let (slot, timer) = (&self.slot, &mut self.timer);
        let wait = poll_fn(|cx| {
            slot.control.waker.register(cx.waker());
            if slot.control.failure().is_some() {
                return Poll::Ready(Wait::Failed);
            }
            match rx.poll_recv(cx) {
                Poll::Ready(Some(frame)) => return Poll::Ready(Wait::Frame(frame)),
                Poll::Ready(None) => return Poll::Ready(Wait::Gone),
                Poll::Pending => {}
            }
            if slot.control.gone(p).is_some() {
                return Poll::Ready(Wait::Gone);
            }
            match poll_deadline(timer, cx, deadline) {
                Poll::Ready(()) => Poll::Ready(Wait::Timeout),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        self.waited(p, start, wait)
    }

    /// One frame from each peer of `range`, awaited at once, in peer order.
    async fn frames_from(&mut self, range: Range<usize>) -> Result<Vec<Bytes>, Error> {
        self.live()?;
        let mut got: Vec<Option<Bytes>> = vec![None; range.len()];
        let start = Instant::now();
        let deadline = start + self.timeout;
        let (slot, timer, inbox) = (&self.slot, &mut self.timer, &mut self.inbox);
        let outcome = poll_fn(|cx| {
            slot.control.waker.register(cx.waker());
            if slot.control.failure().is_some() {
                return Poll::Ready(Err((range.start, Wait::Failed)));
            }
            let mut missing = None;
            for (i, p) in range.clone().enumerate() {
                if got[i].is_some() {
                    continue;
                }
                let Some(rx) = inbox.get_mut(p).and_then(Option::as_mut) else {
                    return Poll::Ready(Err((p, Wait::Gone)));
                };
                match rx.poll_recv(cx) {
                    Poll::Ready(Some(frame)) => got[i] = Some(frame),
                    Poll::Ready(None) => return Poll::Ready(Err((p, Wait::Gone))),
                    Poll::Pending if slot.control.gone(p).is_some() => {
                        return Poll::Ready(Err((p, Wait::Gone)))
                    }
                    Poll::Pending => {
                        missing.get_or_insert(p);
                    }
                }
            }
            let Some(first) = missing else {
                return Poll::Ready(Ok(()));
            };
            match poll_deadline(timer, cx, deadline) {
                Poll::Ready(()) => Poll::Ready(Err((first, Wait::Timeout))),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        if let Err((p, wait)) = outcome {
            return self.waited(p, start, wait).map(|_| Vec::new());
        }
        let waited = start.elapsed();
        for _ in &got {
            self.metrics.receive_wait.record(waited);
        }
        Ok(got.into_iter().flatten().collect())
    }

    /// The result of a wait for peer `p` that began at `start`.
    fn waited(&mut self, p: usize, start: Instant, wait: Wait) -> Result<Bytes, Error> {
        match wait {
            Wait::Frame(frame) => {
                self.metrics.receive_wait.record(start.elapsed());
                Ok(frame)
            }
            Wait::Failed => Err(self.live().err().unwrap_or_else(|| self.gone_error(p))),
            Wait::Gone => Err(self.gone_error(p)),
            Wait::Timeout => {
                self.metrics.timeouts += 1;
                let after = self.timeout;
                Err(self.error(Some(p), ErrorKind::Timeout { after }))
            }
        }
    }

    fn gone_error(&self, p: usize) -> Error {
        let reason = self
            .slot
            .control
            .gone(p)
            .unwrap_or_else(|| "its inbox closed".into());
        self.error(Some(p), ErrorKind::PeerGone { reason })
    }

    /// Checks a received frame's label, merges the facts it ships, and hands
    /// back its payload as an offer.
    async fn open(&mut self, p: usize, frame: Bytes, expected: Expected) -> Result<Offer, Error> {
        let header = self.checked_header(p, &frame, expected)?;
        if header.facts {
            let protocol = self.protocol();
            let facts = wire::facts(&frame, &header).map_err(|reason| {
                let kind = ErrorKind::Decode {
                    expected: expected.names(protocol),
                    received: Some(protocol.label(header.label).to_owned()),
                    reason,
                };
                self.error(Some(p), kind)
            })?;
            self.merge(p, facts).await?;
        }
        Ok(self.offer(p, frame, &header, expected))
    }

    /// The header of a frame from peer `p`, if it reads and carries one of
    /// the `expected` labels.
    #[inline]
    fn checked_header(
        &self,
        p: usize,
        frame: &[u8],
        expected: Expected,
    ) -> Result<wire::Header, Error> {
        let protocol = self.protocol();
        let header = wire::header(frame).map_err(|m| {
            let kind = ErrorKind::Decode {
                expected: expected.names(protocol),
                received: None,
                reason: m.to_string(),
            };
            self.error(Some(p), kind)
        })?;
        if !expected.accepts(header.label) {
            let kind = ErrorKind::WrongLabel {
                expected: expected.names(protocol),
                received: protocol.label(header.label).to_owned(),
            };
            return Err(self.error(Some(p), kind));
        }
        Ok(header)
    }

    /// Counts a checked frame from peer `p` and makes it an offer.
    #[inline]
    fn offer(
        &mut self,
        p: usize,
        frame: Bytes,
        header: &wire::Header,
        expected: Expected,
    ) -> Offer {
        self.metrics.messages_received += 1;
        self.metrics.bytes_received += frame.len() as u64;
        self.traced('?', p, header.label);
        Offer {
            label: header.label,
            from: self.layout().entries[p].peer,
            body: wire::HEADER..wire::HEADER + header.body_len as usize,
            frame,
            protocol: self.protocol(),
            role: self.me(),
            expected,
        }
    }

    /// Merges facts peer `p` shipped, all of which must be its own node's.
    async fn merge(&self, p: usize, facts: Vec<Fact>) -> Result<(), Error> {
        let sender = &self.layout().entries[p].node;
        if let Some(forged) = facts.iter().find(|f| f.origin != *sender) {
            let kind = ErrorKind::ForgedFact {
                claimed: forged.origin.clone(),
                sender: sender.clone(),
            };
            return Err(self.error(Some(p), kind));
        }
        if facts.is_empty() {
            return Ok(());
        }
        match self.guarded(self.node.journal().merge(facts)).await? {
            Ok(_) => Ok(()),
            Err(e) => Err(self.error(Some(p), ErrorKind::Journal(e))),
        }
    }
}
