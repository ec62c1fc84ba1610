//! How one append or merge becomes writes in a store transaction: every check
//! first, then the writes, so a refused request stages nothing.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use super::error::JournalError;
use super::store::{Record, WriteTxn};
use super::{DataWrite, Fact, NewFact, MAX_BODY, MAX_DATA_KEY, MAX_KIND};
use crate::transport::contract::NodeId;

/// What a caller asked the journal to write.
pub(crate) enum Request {
    /// New facts of this node, with data writes committed together.
    Append {
        facts: Vec<NewFact>,
        writes: Vec<DataWrite>,
    },
    /// Facts shipped by peers.
    Merge { facts: Vec<Fact> },
}

/// What a request did.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// The seqs given to the appended facts.
    pub(crate) seqs: Vec<u64>,
    /// How many merged facts were new.
    pub(crate) merged: usize,
}

/// Applies `request` in `txn`. The outer error is a store failure (the whole
/// transaction must abort); the inner one a refusal, after which nothing of
/// this request was staged.
pub(crate) fn apply(
    txn: &mut dyn WriteTxn,
    own: &NodeId,
    capacity: Option<u64>,
    request: &Request,
) -> Result<Result<Outcome, JournalError>, JournalError> {
    match request {
        Request::Append { facts, writes } => append(txn, own, capacity, facts, writes),
        Request::Merge { facts } => merge(txn, own, capacity, facts),
    }
}

fn append(
    txn: &mut dyn WriteTxn,
    own: &NodeId,
    capacity: Option<u64>,
    facts: &[NewFact],
    writes: &[DataWrite],
) -> Result<Result<Outcome, JournalError>, JournalError> {
    for fact in facts {
        if let Err(reason) = check_content(&fact.kind, &fact.body) {
            return Ok(Err(invalid(own, 0, reason)));
        }
    }
    for write in writes {
        if let Err(e) = check_write(write) {
            return Ok(Err(e));
        }
    }
    if let Err(e) = check_room(txn, capacity, facts.len())? {
        return Ok(Err(e));
    }
    let first = txn.last_seq(own)? + 1;
    let mut seqs = Vec::with_capacity(facts.len());
    for (seq, fact) in (first..).zip(facts) {
        let record = Record {
            session: fact.session,
            kind: fact.kind.clone(),
            body: fact.body.clone(),
        };
        txn.insert(own, seq, &record)?;
        seqs.push(seq);
    }
    if let Some(&last) = seqs.last() {
        txn.set_head(own, last)?;
    }
    for write in writes {
        match write {
            DataWrite::Put { key, value } => txn.put_data(key, Some(value))?,
            DataWrite::Delete { key } => txn.put_data(key, None)?,
        }
    }
    Ok(Ok(Outcome { seqs, merged: 0 }))
}

fn merge(
    txn: &mut dyn WriteTxn,
    own: &NodeId,
    capacity: Option<u64>,
    facts: &[Fact],
) -> Result<Result<Outcome, JournalError>, JournalError> {
    // Deduplicate the batch, refusing a key that appears with two contents.
    let mut batch: BTreeMap<(&NodeId, u64), &Fact> = BTreeMap::new();
    for fact in facts {
        if fact.seq == 0 {
            return Ok(Err(invalid(&fact.origin, 0, "seq 0 (seqs start at 1)")));
        }
        if let Err(reason) = check_content(&fact.kind, &fact.body) {
            return Ok(Err(invalid(&fact.origin, fact.seq, reason)));
        }
        match batch.entry((&fact.origin, fact.seq)) {
            Entry::Vacant(slot) => {
                slot.insert(fact);
            }
            Entry::Occupied(seen) if same_content(seen.get(), fact) => {}
            Entry::Occupied(_) => return Ok(Err(equivocation(fact))),
        }
    }
    // Compare with what is stored; keep only what is new.
    let mut new = Vec::new();
    for ((origin, seq), fact) in batch {
        match txn.record(origin, seq)? {
            Some(known) if known_matches(&known, fact) => {}
            Some(_) => return Ok(Err(equivocation(fact))),
            None if origin == own => {
                return Ok(Err(JournalError::ForgedOwnFact {
                    origin: own.clone(),
                    seq,
                }))
            }
            None => new.push(fact),
        }
    }
    if let Err(e) = check_room(txn, capacity, new.len())? {
        return Ok(Err(e));
    }
    let mut touched = BTreeSet::new();
    for fact in &new {
        let record = Record {
            session: fact.session,
            kind: fact.kind.clone(),
            body: fact.body.clone(),
        };
        txn.insert(&fact.origin, fact.seq, &record)?;
        touched.insert(&fact.origin);
    }
    // Advance each touched origin's head over the now contiguous prefix (an
    // origin whose first facts are still missing is stored with head 0).
    for origin in touched {
        let mut head = txn.head(origin)?;
        while txn.record(origin, head + 1)?.is_some() {
            head += 1;
        }
        txn.set_head(origin, head)?;
    }
    Ok(Ok(Outcome {
        seqs: Vec::new(),
        merged: new.len(),
    }))
}

fn check_room(
    txn: &dyn WriteTxn,
    capacity: Option<u64>,
    adding: usize,
) -> Result<Result<(), JournalError>, JournalError> {
    let Some(capacity) = capacity else {
        return Ok(Ok(()));
    };
    let len = txn.fact_count()?;
    if len.saturating_add(adding as u64) > capacity {
        return Ok(Err(JournalError::Full { capacity }));
    }
    Ok(Ok(()))
}

fn check_content(kind: &str, body: &[u8]) -> Result<(), String> {
    if kind.is_empty() {
        return Err("empty kind".to_owned());
    }
    if kind.len() > MAX_KIND {
        return Err(format!("kind of {} bytes (max {MAX_KIND})", kind.len()));
    }
    if body.len() > MAX_BODY {
        return Err(format!("body of {} bytes (max {MAX_BODY})", body.len()));
    }
    Ok(())
}

fn check_write(write: &DataWrite) -> Result<(), JournalError> {
    let (key, value) = match write {
        DataWrite::Put { key, value } => (key, value.len()),
        DataWrite::Delete { key } => (key, 0),
    };
    let reason = if key.is_empty() {
        "empty key".to_owned()
    } else if key.len() > MAX_DATA_KEY {
        format!("key of {} bytes (max {MAX_DATA_KEY})", key.len())
    } else if value > MAX_BODY {
        format!("value of {value} bytes (max {MAX_BODY})")
    } else {
        return Ok(());
    };
    Err(JournalError::InvalidData { reason })
}

fn invalid(origin: &NodeId, seq: u64, reason: impl Into<String>) -> JournalError {
    JournalError::InvalidFact {
        origin: origin.clone(),
        seq,
        reason: reason.into(),
    }
}

fn equivocation(fact: &Fact) -> JournalError {
    JournalError::Equivocation {
        origin: fact.origin.clone(),
        seq: fact.seq,
    }
}

fn same_content(a: &Fact, b: &Fact) -> bool {
    a.session == b.session && a.kind == b.kind && a.body == b.body
}

fn known_matches(known: &Record, fact: &Fact) -> bool {
    known.session == fact.session && known.kind == fact.kind && known.body == fact.body
}
