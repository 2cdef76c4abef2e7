//! Recent aggregate states, so a hot aggregate (a busy group chat, a merchant's wallet) is not
//! re-read from the store for every command.
//!
//! The cache is only an optimisation and never a source of truth: an entry may be behind when
//! another process appended to the stream. An append decided on it then conflicts on its
//! expected version, and a refusal decided on it is decided again: in both cases the pipeline
//! catches the entry up by reading only the events after its version (events never change, so
//! a cached state is always a correct prefix of the stream).

use loopync_domain::{Aggregate, StreamName};
use lru::LruCache;
use std::any::Any;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

/// A state as cached: its stream version and the version of its last snapshot.
#[derive(Clone)]
struct Entry {
    version: i64,
    snapshot_at: i64,
    state: Arc<dyn Any + Send + Sync>,
}

/// A bounded LRU of aggregate states keyed by stream name. Capacity 0 disables it.
pub struct AggregateCache {
    entries: Option<Mutex<LruCache<StreamName, Entry>>>,
}

/// A cached state: `(version, snapshot_at, state)`.
pub type Cached<A> = (i64, i64, Arc<A>);

impl AggregateCache {
    pub fn new(capacity: usize) -> Self {
        Self { entries: NonZeroUsize::new(capacity).map(|c| Mutex::new(LruCache::new(c))) }
    }

    pub fn get<A: Aggregate>(&self, stream: &StreamName) -> Option<Cached<A>> {
        let mut entries = self.entries.as_ref()?.lock().ok()?;
        let entry = entries.get(stream)?.clone();
        let state = entry.state.downcast::<A>().ok()?;
        Some((entry.version, entry.snapshot_at, state))
    }

    pub fn put<A: Aggregate>(&self, stream: StreamName, version: i64, snapshot_at: i64, state: Arc<A>) {
        let Some(entries) = &self.entries else { return };
        if let Ok(mut entries) = entries.lock() {
            // Never replace a newer state by an older one (two commands racing on one stream).
            if entries.peek(&stream).is_some_and(|e| e.version > version) {
                return;
            }
            entries.put(stream, Entry { version, snapshot_at, state });
        }
    }

    /// Whether every one of `streams` has a cached state. True when the cache is off: then
    /// there is nothing to warm.
    pub fn contains_all(&self, streams: &[StreamName]) -> bool {
        let Some(entries) = &self.entries else { return true };
        entries.lock().map(|entries| streams.iter().all(|stream| entries.contains(stream))).unwrap_or(true)
    }

    pub fn evict(&self, stream: &StreamName) {
        if let Some(Ok(mut entries)) = self.entries.as_ref().map(|e| e.lock()) {
            entries.pop(stream);
        }
    }
}
