//! TEMPORARY: the in-memory fact list of the services whose facts do not
//! yet go to the node's journal ([`crate::journal::FactLog`]); removed once
//! none is left.

use serde::{Deserialize, Serialize};

/// Facts in the order they were recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal<F> {
    facts: Vec<F>,
}

impl<F> Default for Journal<F> {
    fn default() -> Self {
        Journal { facts: Vec::new() }
    }
}

impl<F> Journal<F> {
    /// An empty journal.
    pub fn new() -> Self {
        Journal::default()
    }

    /// Appends `fact`.
    pub fn record(&mut self, fact: F) {
        self.facts.push(fact);
    }

    /// The facts, oldest first.
    pub fn facts(&self) -> &[F] {
        &self.facts
    }

    /// The number of facts.
    pub fn len(&self) -> usize {
        self.facts.len()
    }

    /// Whether no fact was recorded.
    pub fn is_empty(&self) -> bool {
        self.facts.is_empty()
    }

    /// How many facts satisfy `pred`.
    pub fn count(&self, pred: impl Fn(&F) -> bool) -> usize {
        self.facts.iter().filter(|f| pred(f)).count()
    }
}

impl<F: PartialEq> Journal<F> {
    /// Whether `fact` was recorded.
    pub fn contains(&self, fact: &F) -> bool {
        self.facts.contains(fact)
    }
}
