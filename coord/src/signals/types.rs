//! Who a signal is for, its id, the signal, and what a check or a wait
//! found.

use std::fmt;
use std::time::Duration;

use ringtel::Timestamp;

#[cfg(doc)]
use super::Signals;

use super::BROADCAST;
use crate::conn::check_name;
use crate::error::InvalidValue;

/// Who a signal is for.
///
/// # Examples
/// ```
/// use ringtel_coord::signals::Target;
///
/// assert_eq!(Target::agent("worker-2")?.to_string(), "agent `worker-2`");
/// assert_eq!(Target::Broadcast.to_string(), "every agent");
/// // `*` is not a wildcard: it is not a valid name at all.
/// assert!(Target::agent("*").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// One agent, by name.
    Agent(String),
    /// Every agent (each reads it; nobody consumes it for the others).
    Broadcast,
}

impl Target {
    /// One agent; the name is checked (1 to 200 bytes, no `*`, `:`,
    /// whitespace or control characters).
    ///
    /// # Errors
    /// [`InvalidValue`] naming the field `target`.
    pub fn agent(name: impl Into<String>) -> Result<Target, InvalidValue> {
        let name = name.into();
        check_name("target", &name)?;
        Ok(Target::Agent(name))
    }

    pub(super) fn stored(&self) -> &str {
        match self {
            Target::Agent(name) => name,
            Target::Broadcast => BROADCAST,
        }
    }

    pub(super) fn from_stored(stored: &str) -> Target {
        if stored == BROADCAST {
            Target::Broadcast
        } else {
            Target::Agent(stored.to_owned())
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Agent(name) => write!(f, "agent `{name}`"),
            Target::Broadcast => f.write_str("every agent"),
        }
    }
}

/// A stored signal's id: the target's stream and the entry id the server
/// gave it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignalId {
    pub(super) target: Target,
    pub(super) entry: String,
}

impl SignalId {
    /// Who the signal is for.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The stream entry id (`<server ms>-<seq>`).
    pub fn entry(&self) -> &str {
        &self.entry
    }
}

impl fmt::Display for SignalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.entry, self.target.stored())
    }
}

/// A signal as received.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Signal {
    /// Its id.
    pub id: SignalId,
    /// What it means.
    pub kind: String,
    /// The sending agent.
    pub source: String,
    /// The payload, as sent.
    pub payload: Vec<u8>,
    /// When it was stored, on the server's clock.
    pub sent_at: Timestamp,
    /// When it expires, on the server's clock.
    pub expires_at: Timestamp,
}

impl Signal {
    /// The payload as UTF-8 text, if it is.
    pub fn payload_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }
}

/// The latest signal of a kind for this agent, judged on the server's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignalCheck {
    /// A signal that has not expired.
    Received(Signal),
    /// The latest signal of this kind expired before this check.
    Expired {
        /// Its id.
        id: SignalId,
        /// When it was stored, on the server's clock.
        sent_at: Timestamp,
        /// When it expired, on the server's clock.
        expired_at: Timestamp,
    },
    /// No signal of this kind was sent to this agent (or to every agent)
    /// within the retention period.
    NotYetSent,
}

/// How a [`Signals::wait`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignalWait {
    /// A signal of the kind arrived (or was already waiting) and has not
    /// expired.
    Received(Signal),
    /// Signals of the kind were there, but all had expired when read; the
    /// latest is described.
    Expired {
        /// Its id.
        id: SignalId,
        /// When it was stored, on the server's clock.
        sent_at: Timestamp,
        /// When it expired, on the server's clock.
        expired_at: Timestamp,
    },
    /// Nothing of the kind arrived within the timeout.
    TimedOut {
        /// How long the wait lasted, on the handle's clock.
        waited: Duration,
    },
}
