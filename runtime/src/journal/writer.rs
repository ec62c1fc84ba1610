//! Committing requests: inline for stores that never block, and through one
//! writer thread with group commit for stores that fsync.
//!
//! The writer thread takes every request queued while the previous commit
//! was running (up to [`MAX_GROUP`] facts), applies them in arrival order in
//! one transaction and fsyncs once; each request still succeeds or fails as
//! a whole, because a refused request stages nothing. Async callers wait on a
//! oneshot channel, so no tokio worker ever blocks on the disk.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::apply::{apply, Outcome, Request};
use super::error::JournalError;
use super::store::FactStore;
use crate::transport::contract::NodeId;

/// The most facts (or requests) one group commit takes.
pub const MAX_GROUP: usize = 4096;

/// Applies requests to a store, refusing writes after a failed commit.
pub(crate) struct Committer {
    store: Arc<dyn FactStore>,
    own: NodeId,
    poisoned: Mutex<Option<JournalError>>,
}

impl Committer {
    pub(crate) fn new(store: Arc<dyn FactStore>, own: NodeId) -> Self {
        Committer {
            store,
            own,
            poisoned: Mutex::new(None),
        }
    }

    /// Commits `requests` in one transaction; one result per request.
    pub(crate) fn commit(&self, requests: &[&Request]) -> Vec<Result<Outcome, JournalError>> {
        let mut poisoned = self.poisoned.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = poisoned.as_ref() {
            return requests.iter().map(|_| Err(p.clone())).collect();
        }
        let capacity = self.store.capacity();
        let mut results = Vec::with_capacity(requests.len());
        let written = self.store.write(&mut |txn| {
            results.clear();
            for request in requests {
                results.push(apply(txn, &self.own, capacity, request)?);
            }
            Ok(())
        });
        match written {
            Ok(()) => results,
            Err(e) => {
                // The commit's outcome may be unknown (a failed fsync): refuse
                // every later write so nothing builds on an uncertain fact.
                *poisoned = Some(JournalError::Poisoned {
                    store: self.store.describe(),
                    cause: e.to_string(),
                });
                requests.iter().map(|_| Err(e.clone())).collect()
            }
        }
    }
}

struct Job {
    request: Request,
    reply: oneshot::Sender<Result<Outcome, JournalError>>,
}

impl Job {
    fn size(&self) -> usize {
        match &self.request {
            Request::Append { facts, writes } => facts.len() + writes.len(),
            Request::Merge { facts } => facts.len(),
        }
        .max(1)
    }
}

/// The writer thread of a journal whose store blocks on the disk.
pub(crate) struct Writer {
    queue: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the thread committing through `committer`.
    pub(crate) fn spawn(committer: Arc<Committer>, name: String) -> std::io::Result<Writer> {
        let (queue, jobs) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || run(&committer, &jobs))?;
        Ok(Writer {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Queues `request` and waits for its commit.
    pub(crate) async fn submit(&self, request: Request) -> Result<Outcome, JournalError> {
        let (reply, answer) = oneshot::channel();
        let queue = self.queue.as_ref().ok_or(JournalError::Closed)?;
        queue
            .send(Job { request, reply })
            .map_err(|_| JournalError::Closed)?;
        answer.await.map_err(|_| JournalError::Closed)?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue ends the thread after its current commit; joining
        // it releases the store (and its file lock) before the drop returns.
        self.queue = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(committer: &Committer, jobs: &mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut size = first.size();
        let mut group = vec![first];
        while size < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => {
                    size += job.size();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        // A caller that stopped waiting will not make its send: skip its facts.
        group.retain(|job| !job.reply.is_closed());
        if group.is_empty() {
            continue;
        }
        let requests: Vec<&Request> = group.iter().map(|job| &job.request).collect();
        let results = committer.commit(&requests);
        for (job, result) in group.into_iter().zip(results) {
            let _ = job.reply.send(result);
        }
    }
}
