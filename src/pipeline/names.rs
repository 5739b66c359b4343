//! The registry that interns names once, so events carry 4-byte ids instead
//! of strings.

use std::collections::HashMap;
use std::fmt;

use super::NameId;
use crate::sync::{lock, Mutex};

/// Interns names (nodes, plugins, sinks, gates, routes, providers, error
/// kinds) into [`NameId`]s, and resolves them back for exporters.
///
/// Intern every name at setup; share the registry with exporters as an
/// `Arc<Names>`, cloned once when each exporter is built. Events then carry
/// only ids, so building one allocates nothing and touches no reference
/// count. Interning later (while producers run) is allowed and never waits
/// on an exporter: resolving takes no lock (the texts live in an append-only
/// [`boxcar::Vec`], written once and read in place), and only interning
/// takes the lock of the name → id map, which `emit` never touches.
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
/// let later = names.intern("later"); // a view never blocks interning
/// assert_eq!(view.resolve(parse), Some("parse"));
/// assert_eq!(view.resolve(later), Some("later"));
/// ```
#[derive(Default)]
pub struct Names {
    /// Text by index; `NameId::index` points here. Pushed only under
    /// `by_name`'s lock, so indices are issued in order.
    by_index: boxcar::Vec<Box<str>>,
    by_name: Mutex<HashMap<Box<str>, NameId>>,
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
        let mut by_name = lock(&self.by_name);
        if let Some(&id) = by_name.get(name) {
            return id;
        }
        let index = self.by_index.push(name.into());
        let id = NameId::from_index(index).expect("a Names registry holds at most u32::MAX names");
        by_name.insert(name.into(), id);
        id
    }

    /// The id of `name` if it was interned.
    pub fn lookup(&self, name: &str) -> Option<NameId> {
        lock(&self.by_name).get(name).copied()
    }

    /// The text of `id`, copied out. Exporters resolve through
    /// [`Names::read`] instead, which copies nothing.
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

    /// A view that resolves ids without copying and without a lock; names
    /// interned after it was taken resolve through it too.
    pub fn read(&self) -> NamesView<'_> {
        NamesView { names: self }
    }

    /// How many names are interned.
    pub fn len(&self) -> usize {
        self.by_index.count()
    }

    /// Whether no name is interned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Names {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.by_index.iter().map(|(_, name)| name)).finish()
    }
}

/// A view of a [`Names`] registry that resolves ids in place, from
/// [`Names::read`].
pub struct NamesView<'a> {
    names: &'a Names,
}

impl NamesView<'_> {
    /// The text of `id`, or `None` if this registry did not issue it.
    pub fn resolve(&self, id: NameId) -> Option<&str> {
        self.names.by_index.get(id.index()).map(|name| &**name)
    }
}

impl fmt::Debug for NamesView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamesView").field("len", &self.names.len()).finish()
    }
}
