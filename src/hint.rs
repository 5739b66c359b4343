//! Branch-layout hints.

/// Marks the branch that calls it as the unlikely one, so that LLVM lays the
/// other one out as the fall-through: the stable spelling of
/// `std::hint::cold_path`, which needs Rust 1.90 (the crate supports 1.82).
#[cold]
#[inline(always)]
pub(crate) fn cold_path() {}
