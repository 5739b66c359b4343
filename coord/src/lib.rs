//! Agent coordination over Redis for programs that use ringtel: signals that
//! say when they expired, approval gates that expire themselves, and ratings
//! that one vote cannot swing. Consumer heartbeats live in ringtel itself
//! (`ringtel::exporters::redis::{HeartbeatPublisher, HeartbeatReader}`).
//!
//! # Why a separate crate
//! Coordination is not on the telemetry data path: nothing here runs on
//! ringtel's producer or consumer threads, and a program that only emits
//! telemetry should not compile Lua scripts, approval state machines and
//! rating statistics. Keeping it in its own workspace crate keeps the core
//! small and its dependency list short; this crate depends on ringtel (for
//! [`ringtel::Clock`] and [`ringtel::Timestamp`]), never the other way round.
//!
//! # Principles
//! - **The server's clock decides.** Every expiry and deadline is computed
//!   and judged inside a Lua script from `redis.call('TIME')` (or from a
//!   key's remaining TTL), so agents on hosts whose clocks disagree agree on
//!   what has expired. Local clocks ([`ringtel::Clock`], injectable) only
//!   measure how long a caller is willing to wait.
//! - **One atomic step per decision.** Every state change that races
//!   (deciding an approval, timing it out) is one compare-and-set script.
//! - **No polling.** Waiters block on `XREAD BLOCK` on a connection of their
//!   own, and a write wakes them at once.
//! - **Outcomes are enums**; errors ([`SignalError`], [`ApprovalError`],
//!   [`RatingError`], [`ConfigError`]) are only for invalid input and for
//!   Redis failures, never for "expired" or "not yet".
//!
//! # On a Redis Cluster
//! With the feature `redis-cluster`, each handle has a `cluster_builder`
//! taking node URLs, over the redis crate's sync cluster client. Every key
//! of one concept carries one hash tag (`{<prefix>:sig}`,
//! `{<prefix>:appr}`, `{<prefix>:ratings:<namespace>}`), so each script,
//! pipeline and multi-stream read touches one slot, on one master; the
//! layout is the same on a single server. On a cluster scripts run as
//! `EVAL`, so a master that lost its script cache can run them while
//! another master is down.
//!
//! # Key layout
//! With prefix `P` (default [`DEFAULT_PREFIX`]), on one server and on a
//! cluster alike:
//! - signals: `{P:sig}:stream:<agent>`, `{P:sig}:latest:<agent>`,
//!   `{P:sig}:bcast:stream`, `{P:sig}:bcast:latest`;
//! - approvals: `{P:appr}:seq`, `{P:appr}:req:<id>`, `{P:appr}:pending`,
//!   `{P:appr}:events:<id>`;
//! - ratings: `{P:ratings:<namespace>}:item:<item>`,
//!   `{P:ratings:<namespace>}:audit`;
//! - each write's call token: `<tag>:op:<token>` under its concept's tag,
//!   kept a minute or more, so a write the redis crate sends again (its
//!   cluster client does after a read timeout) takes effect once.
//!
//! Before the hash tags (an unpublished version of this crate) the keys
//! were untagged (`P:sig:stream:<agent>`, `P:appr:req:<id>`,
//! `P:ratings:<namespace>:item:<item>`, …). Those keys are not read or
//! migrated: data written under them is ignored and expires or stays as
//! it was.
//!
//! **Scaling limit.** One hash tag is one slot, so one master: all signals
//! under one prefix live on one master, and so do all approvals under one
//! prefix (each rating namespace has a slot of its own). To spread load,
//! use several prefixes. Heartbeats sharing a hash tag likewise live on one
//! master.
//!
//! # Modules
//! - [`signals`]: `send`/`broadcast`, `check`, `wait`.
//! - [`approvals`]: `request`, `wait`, `respond`, `cancel`, `pending`.
//! - [`ratings`]: `rate`, `confidence`, `rank` in a required namespace.
//!
//! # Examples
//! ```
//! use std::time::Duration;
//! use ringtel_coord::ratings::{Confidence, Prior};
//!
//! // The statistics need no server.
//! let prior = Prior::default();
//! let one_bad = Confidence::from_counts(0, 1, prior, 1.96);
//! let unrated = Confidence::from_counts(0, 0, prior, 1.96);
//! assert!((unrated.mean() - one_bad.mean()).abs() <= 0.1);
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![warn(rust_2018_idioms, unreachable_pub)]

mod conn;
mod error;
mod lua;

pub mod approvals;
pub mod ratings;
pub mod signals;

pub use conn::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_IO_TIMEOUT, DEFAULT_PREFIX};
pub use error::{
    ApprovalError, BackendError, BackendErrorKind, ConfigError, InvalidValue, RatingError, SignalError,
};
