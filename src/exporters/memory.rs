//! `Memory`: keeps the most recent events in a bounded buffer, for tests and
//! examples.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use crate::sync::{lock, Mutex};
use crate::{ExportError, Exporter};

/// The default name of a [`Memory`] exporter.
pub const DEFAULT_MEMORY_NAME: &str = "memory";

/// An exporter that keeps the **last** `capacity` events it receives and
/// counts the older ones it evicts; read them through a [`MemoryHandle`].
///
/// The buffer is allocated when the exporter is built and never grows (C13).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::exporters::Memory;
/// use ringtel::{Event, Granularity, Telemetry};
///
/// #[derive(Debug, Clone, PartialEq)]
/// struct Tick(u32);
/// impl Event for Tick { fn granularity(&self) -> Granularity { Granularity::Rows } }
///
/// let memory = Memory::new(2);
/// let handle = memory.handle();
/// let telemetry = Telemetry::builder().exporter(memory).start()?;
/// for i in 0..3 {
///     let _ = telemetry.emit(Tick(i));
/// }
/// telemetry.close(Duration::from_secs(5))?;
/// assert_eq!(handle.events(), vec![Tick(1), Tick(2)]);
/// assert_eq!((handle.received(), handle.evicted()), (3, 1));
/// assert!(handle.is_closed());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Memory<E> {
    name: String,
    store: Arc<Mutex<Store<E>>>,
}

/// A cloneable reader of what a [`Memory`] exporter received.
pub struct MemoryHandle<E> {
    store: Arc<Mutex<Store<E>>>,
}

struct Store<E> {
    events: VecDeque<E>,
    capacity: usize,
    received: u64,
    evicted: u64,
    batches: u64,
    flushes: u64,
    closed: bool,
}

impl<E: Clone + Send + 'static> Memory<E> {
    /// An exporter that keeps the last `capacity` events (0 keeps none and
    /// only counts).
    pub fn new(capacity: usize) -> Memory<E> {
        let store = Store {
            events: VecDeque::with_capacity(capacity),
            capacity,
            received: 0,
            evicted: 0,
            batches: 0,
            flushes: 0,
            closed: false,
        };
        Memory { name: DEFAULT_MEMORY_NAME.to_owned(), store: Arc::new(Mutex::new(store)) }
    }

    /// Renames the exporter (as shown in `Health`).
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// A reader of what this exporter receives.
    pub fn handle(&self) -> MemoryHandle<E> {
        MemoryHandle { store: Arc::clone(&self.store) }
    }
}

impl<E: Clone + Send + 'static> Exporter<E> for Memory<E> {
    fn name(&self) -> &str {
        &self.name
    }

    fn export(&mut self, batch: &[E]) -> Result<(), ExportError> {
        let mut store = lock(&self.store);
        store.batches += 1;
        store.received += batch.len() as u64;
        let capacity = store.capacity;
        // Only the newest `capacity` events of the batch can survive.
        let skip = batch.len().saturating_sub(capacity);
        store.evicted += skip as u64;
        for event in &batch[skip..] {
            if store.events.len() == capacity {
                store.events.pop_front();
                store.evicted += 1;
            }
            store.events.push_back(event.clone());
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        lock(&self.store).flushes += 1;
        Ok(())
    }

    fn close(&mut self) -> Result<(), ExportError> {
        lock(&self.store).closed = true;
        Ok(())
    }
}

impl<E: Clone> MemoryHandle<E> {
    /// A copy of the events kept, oldest first.
    pub fn events(&self) -> Vec<E> {
        lock(&self.store).events.iter().cloned().collect()
    }

    /// Removes and returns the events kept, oldest first.
    pub fn take(&self) -> Vec<E> {
        lock(&self.store).events.drain(..).collect()
    }

    /// How many events are kept.
    pub fn len(&self) -> usize {
        lock(&self.store).events.len()
    }

    /// Whether no event is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Events received in all, kept or evicted.
    pub fn received(&self) -> u64 {
        lock(&self.store).received
    }

    /// Events evicted to stay within capacity.
    pub fn evicted(&self) -> u64 {
        lock(&self.store).evicted
    }

    /// Batches received.
    pub fn batches(&self) -> u64 {
        lock(&self.store).batches
    }

    /// `flush` calls received.
    pub fn flushes(&self) -> u64 {
        lock(&self.store).flushes
    }

    /// Whether `close` was called.
    pub fn is_closed(&self) -> bool {
        lock(&self.store).closed
    }
}

impl<E> Clone for MemoryHandle<E> {
    fn clone(&self) -> Self {
        MemoryHandle { store: Arc::clone(&self.store) }
    }
}

impl<E> fmt::Debug for Store<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("len", &self.events.len())
            .field("capacity", &self.capacity)
            .field("received", &self.received)
            .field("evicted", &self.evicted)
            .field("batches", &self.batches)
            .field("flushes", &self.flushes)
            .field("closed", &self.closed)
            .finish()
    }
}

impl<E> fmt::Debug for Memory<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memory").field("name", &self.name).field("store", &*lock(&self.store)).finish()
    }
}

impl<E> fmt::Debug for MemoryHandle<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryHandle").field("store", &*lock(&self.store)).finish()
    }
}
