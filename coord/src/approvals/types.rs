//! An approval's id, a decision, and what became of a request.

use std::fmt;

use ringtel::Timestamp;

#[cfg(doc)]
use super::Approvals;

/// An approval request's id, unique per prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApprovalId(pub(super) u64);

impl ApprovalId {
    /// The id from its number (as shown by `Display`).
    pub const fn from_u64(id: u64) -> ApprovalId {
        ApprovalId(id)
    }

    /// The id's number.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ApprovalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "approval#{}", self.0)
    }
}

/// What a responder decides.
///
/// # Examples
/// ```
/// use ringtel_coord::approvals::{Decision, Verdict};
///
/// let decision = Decision::approve("alice", "looks good");
/// assert_eq!(decision.verdict, Verdict::Approve);
/// assert_eq!(Decision::reject("bob", "too risky").verdict, Verdict::Reject);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Decision {
    /// Approve or reject.
    pub verdict: Verdict,
    /// Who decides.
    pub by: String,
    /// Why.
    pub reason: String,
}

impl Decision {
    /// An approval by `by` for `reason`.
    pub fn approve(by: impl Into<String>, reason: impl Into<String>) -> Decision {
        Decision { verdict: Verdict::Approve, by: by.into(), reason: reason.into() }
    }

    /// A rejection by `by` for `reason`.
    pub fn reject(by: impl Into<String>, reason: impl Into<String>) -> Decision {
        Decision { verdict: Verdict::Reject, by: by.into(), reason: reason.into() }
    }
}

/// Approve or reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Let the step go ahead.
    Approve,
    /// Do not.
    Reject,
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApprovalOutcome {
    /// A responder approved it in time.
    Approved {
        /// Who.
        by: String,
        /// Why.
        reason: String,
        /// When, on the server's clock.
        at: Timestamp,
    },
    /// A responder rejected it in time.
    Rejected {
        /// Who.
        by: String,
        /// Why.
        reason: String,
        /// When, on the server's clock.
        at: Timestamp,
    },
    /// Nobody answered before the deadline.
    TimedOut {
        /// The deadline, on the server's clock.
        deadline: Timestamp,
    },
    /// The requester withdrew it.
    Cancelled {
        /// Who.
        by: String,
        /// When, on the server's clock.
        at: Timestamp,
    },
}

/// What became of a [`respond`](Approvals::respond) (or
/// [`cancel`](Approvals::cancel)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RespondOutcome {
    /// This answer decided the request.
    Recorded,
    /// Another answer (or a cancel) came first; here is what it decided.
    AlreadyDecided(ApprovalOutcome),
    /// The deadline had passed; the request is timed out, and this answer
    /// changed nothing.
    Expired {
        /// The deadline, on the server's clock.
        deadline: Timestamp,
    },
    /// No such request (never made, or older than the retention).
    Unknown,
}

/// A request still open for answers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingApproval {
    /// Its id.
    pub id: ApprovalId,
    /// The step it gates.
    pub step: String,
    /// The requester's payload.
    pub payload: Vec<u8>,
    /// The requesting agent.
    pub requester: String,
    /// When it was made, on the server's clock.
    pub requested_at: Timestamp,
    /// Its deadline, on the server's clock.
    pub deadline: Timestamp,
}

/// Where a request stands, without waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApprovalStatus {
    /// Open for answers until the deadline.
    Pending {
        /// The deadline, on the server's clock.
        deadline: Timestamp,
    },
    /// Decided (or timed out).
    Decided(ApprovalOutcome),
    /// No such request.
    Unknown,
}
