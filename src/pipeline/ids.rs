//! Small, `Copy` identifiers carried by every [`PipelineEvent`](super::PipelineEvent).

use std::fmt;
use std::num::NonZeroU32;

/// Identifies one run of a pipeline. Every event carries it; exporters that
/// speak a tracing protocol map it to a trace id.
///
/// # Examples
/// ```
/// use ringtel::pipeline::RunId;
/// let run = RunId::new(7);
/// assert_eq!(run.get(), 7);
/// assert_eq!(run.to_string(), "7");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(u64);

impl RunId {
    /// The run numbered `id`.
    pub const fn new(id: u64) -> RunId {
        RunId(id)
    }
    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// Identifies one source row within a run.
///
/// # Examples
/// ```
/// use ringtel::pipeline::RowId;
/// assert_eq!(RowId::new(3).get(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowId(u64);

impl RowId {
    /// The row numbered `id`.
    pub const fn new(id: u64) -> RowId {
        RowId(id)
    }
    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// Identifies one token: a row's path through the graph. A row starts as one
/// token; a fork gives it more.
///
/// # Examples
/// ```
/// use ringtel::pipeline::TokenId;
/// assert_eq!(TokenId::new(9).get(), 9);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenId(u64);

impl TokenId {
    /// The token numbered `id`.
    pub const fn new(id: u64) -> TokenId {
        TokenId(id)
    }
    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// A name (node, plugin, sink, gate, route, provider, error kind) interned in
/// a [`Names`](super::Names) registry. Four bytes, and `Option<NameId>` is
/// four bytes too.
///
/// Only a registry hands these out; [`Names::resolve`](super::Names::resolve)
/// turns one back into its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NameId(NonZeroU32);

impl NameId {
    /// The id of the name at `index` in its registry, if it fits.
    pub(crate) fn from_index(index: usize) -> Option<NameId> {
        let raw = u32::try_from(index).ok()?.checked_add(1)?;
        NonZeroU32::new(raw).map(NameId)
    }

    /// The position of the name in its registry (0 for the first name
    /// interned).
    pub fn index(self) -> usize {
        // u32 always fits usize on the 32- and 64-bit targets ringtel supports.
        (self.0.get() - 1) as usize
    }
}

impl fmt::Display for NameId {
    /// Renders as `#index`, for names a registry does not know.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.index())
    }
}

macro_rules! display_number {
    ($($ty:ty),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    )*};
}
display_number!(RunId, RowId, TokenId);
