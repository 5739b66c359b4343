//! The registry that interns names once, so events carry 4-byte ids instead
//! of strings.

use std::collections::HashMap;
use std::fmt;

use super::NameId;
use crate::sync::{lock, Mutex, MutexGuard};

/// Interns names (nodes, plugins, sinks, gates, routes, providers, error
/// kinds) into [`NameId`]s, and resolves them back for exporters.
///
/// Intern every name at setup; share the registry with exporters as an
/// `Arc<Names>`, cloned once when each exporter is built. Events then carry
/// only ids, so building one allocates nothing and touches no reference
/// count. Interning later (while producers run) is allowed: it takes the
/// registry's lock, which only the setup path and the exporters (once per
/// batch) ever take, never `emit`.
///
/// Names are never removed, so the registry's memory is bounded by the set of
/// distinct names the program uses.
///
/// # Examples
/// ```
/// use ringtel::pipeline::Names;
///
/// let names = Names::new();
/// let parse = names.intern("parse");
/// assert_eq!(names.intern("parse"), parse, "interning is idempotent");
/// assert_eq!(names.lookup("parse"), Some(parse));
/// assert_eq!(names.lookup("missing"), None);
///
/// let view = names.read();
/// assert_eq!(view.resolve(parse), Some("parse"));
/// ```
#[derive(Default)]
pub struct Names {
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    /// Text by index; `NameId::index` points here.
    by_index: Vec<Box<str>>,
    by_name: HashMap<Box<str>, NameId>,
}

impl Names {
    /// An empty registry.
    pub fn new() -> Names {
        Names::default()
    }

    /// The id of `name`, interning it if it is new.
    ///
    /// # Panics
    /// If the registry already holds `u32::MAX` distinct names.
    pub fn intern(&self, name: &str) -> NameId {
        let mut table = lock(&self.table);
        if let Some(&id) = table.by_name.get(name) {
            return id;
        }
        let id =
            NameId::from_index(table.by_index.len()).expect("a Names registry holds at most u32::MAX names");
        table.by_index.push(name.into());
        table.by_name.insert(name.into(), id);
        id
    }

    /// The id of `name` if it was interned.
    pub fn lookup(&self, name: &str) -> Option<NameId> {
        lock(&self.table).by_name.get(name).copied()
    }

    /// The text of `id`, copied out. Exporters resolving many ids should take
    /// one [`Names::read`] view per batch instead.
    ///
    /// # Examples
    /// ```
    /// let names = ringtel::pipeline::Names::new();
    /// let id = names.intern("warehouse");
    /// assert_eq!(names.resolve(id).as_deref(), Some("warehouse"));
    /// ```
    pub fn resolve(&self, id: NameId) -> Option<String> {
        self.read().resolve(id).map(str::to_owned)
    }

    /// A view that resolves ids without copying, holding the registry's lock
    /// until it is dropped. Take one per batch, not per event, and never hold
    /// it across a call that might intern.
    pub fn read(&self) -> NamesView<'_> {
        NamesView { table: lock(&self.table) }
    }

    /// How many names are interned.
    pub fn len(&self) -> usize {
        lock(&self.table).by_index.len()
    }

    /// Whether no name is interned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Names {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(lock(&self.table).by_index.iter()).finish()
    }
}

/// A locked view of a [`Names`] registry, from [`Names::read`].
pub struct NamesView<'a> {
    table: MutexGuard<'a, Table>,
}

impl NamesView<'_> {
    /// The text of `id`, or `None` if this registry did not issue it.
    pub fn resolve(&self, id: NameId) -> Option<&str> {
        self.table.by_index.get(id.index()).map(|name| &**name)
    }
}

impl fmt::Debug for NamesView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamesView").field("len", &self.table.by_index.len()).finish()
    }
}
