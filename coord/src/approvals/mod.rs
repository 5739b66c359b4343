//! Approval gates that expire themselves on the server's clock.
//!
//! # Model
//! [`Approvals::request`] stores a request with a deadline computed from the
//! server's `TIME` and indexes it in a sorted set by deadline. Every state
//! change — approving, rejecting, cancelling, timing out — goes through one
//! compare-and-set Lua script: it reads the server's time and the state, and
//! only a still-pending request whose deadline has not passed takes the
//! decision. So:
//!
//! - an answer after the deadline is [`RespondOutcome::Expired`] and never
//!   overwrites anything (the script records the timeout instead);
//! - of two racing responders exactly one gets [`RespondOutcome::Recorded`],
//!   the other [`RespondOutcome::AlreadyDecided`] with the winner's decision;
//! - [`Approvals::pending`] reads the index from the server's time onwards
//!   (`ZRANGEBYSCORE (now +inf`), so an expired request is never listed,
//!   with no sweep to run, even if its requester died.
//!
//! [`Approvals::wait`] returns an [`ApprovalOutcome`] — approved, rejected,
//! timed out, cancelled: four variants, a timeout is never a rejection. It
//! blocks on `XREAD BLOCK` on the request's event stream, on a connection of
//! its own, so a response wakes it at once.
//!
//! # Keys
//! With prefix `P`: `{P:appr}:seq` (id counter), `{P:appr}:req:<id>` (a
//! hash), `{P:appr}:pending` (sorted set, score = deadline in server ms) and
//! `{P:appr}:events:<id>` (a stream with one entry per decision). The hash
//! tag `{P:appr}` keeps every approval key in one slot on a Redis Cluster
//! (feature `redis-cluster`, `Approvals::cluster_builder`), where the
//! compare-and-set script writes three keys at once. A request
//! and its events are kept `retention` after its deadline. Each request,
//! answer and cancel also writes `{P:appr}:op:<token>` (its reply, kept a
//! minute or more), so one the cluster client repeats after a read timeout
//! takes effect once and reports its own outcome (never `AlreadyDecided`
//! for the caller's own decision). The id counter's `INCR` is not guarded:
//! a repeat only skips an id.
//!
//! Modules: `types` (ids, decisions, outcomes), `builder` (the settings);
//! requesting, answering and waiting are here.

use std::fmt;
use std::time::Duration;

use crate::lua::Lua;
use redis::streams::{StreamReadOptions, StreamReadReply};

use crate::conn::{
    check_duration, from_millis, millis, op_key, op_token, parse_u64, query_pipeline, tagged, Conn,
};
pub use crate::error::ApprovalError;
use crate::error::{BackendError, InvalidValue};

/// Default longest timeout a request may have.
pub const DEFAULT_MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Default time a request's record is kept after its deadline.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// Default longest single blocking read inside [`Approvals::wait`]: how
/// often the wait re-reads the server's time. A response wakes it at once.
pub const DEFAULT_WAIT_SLICE: Duration = Duration::from_millis(500);
/// Default largest payload (and reason), in bytes.
pub const DEFAULT_MAX_PAYLOAD: usize = 64 * 1024;

mod builder;
mod types;

pub use builder::ApprovalsBuilder;
pub use types::{
    ApprovalId, ApprovalOutcome, ApprovalStatus, Decision, PendingApproval, RespondOutcome, Verdict,
};

/// Requests, answers and waits for approvals, as one agent.
///
/// Holds two connections, made on first use: one for commands, one for the
/// blocking reads of [`wait`](Approvals::wait).
///
/// # Examples
/// Building does not connect:
/// ```
/// use std::time::Duration;
/// use ringtel_coord::approvals::Approvals;
///
/// let gate = Approvals::builder("redis://127.0.0.1:6379", "deployer")
///     .max_timeout(Duration::from_secs(3600))
///     .build()?;
/// assert_eq!(gate.agent(), "deployer");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
/// A gated step (needs a server):
/// ```no_run
/// use std::time::Duration;
/// use ringtel_coord::approvals::{ApprovalOutcome, Approvals, Decision};
///
/// let mut requester = Approvals::builder("redis://127.0.0.1:6379", "deployer").build()?;
/// let mut reviewer = Approvals::builder("redis://127.0.0.1:6379", "reviewer").build()?;
/// let id = requester.request("deploy", b"v1.2.3", Duration::from_secs(60))?;
/// for pending in reviewer.pending()? {
///     reviewer.respond(pending.id, Decision::approve("alice", "checked"))?;
/// }
/// match requester.wait(id)? {
///     ApprovalOutcome::Approved { by, .. } => println!("approved by {by}"),
///     ApprovalOutcome::TimedOut { deadline } => println!("nobody answered by {deadline}"),
///     other => println!("not approved: {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Approvals {
    agent: String,
    prefix: String,
    max_timeout: Duration,
    retention: Duration,
    wait_slice: Duration,
    max_payload: usize,
    commands: Conn,
    blocking: Conn,
    create_script: Lua,
    decide_script: Lua,
    pending_script: Lua,
}

const CREATE_LUA: &str = "
-- KEYS: req, pending; ARGV: id, step, payload, requester, timeout_ms, retention_ms
local deadline = now + tonumber(ARGV[5])
redis.call('HSET', KEYS[1], 'state', 'pending', 'step', ARGV[2], 'payload', ARGV[3],
  'requester', ARGV[4], 'requested', fmt(now), 'deadline', fmt(deadline))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]) + tonumber(ARGV[6]))
redis.call('ZADD', KEYS[2], fmt(deadline), ARGV[1])
-- Bound the index: entries past their deadline by more than the retention.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. fmt(now - tonumber(ARGV[6])))
return fmt(deadline)
";

/// The one compare-and-set every state change goes through.
const DECIDE_LUA: &str = "
-- KEYS: req, pending, events; ARGV: action (approved|rejected|cancelled|expire|status), by, reason, id, retention_ms
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown'} end
local f = redis.call('HMGET', KEYS[1], 'state', 'by', 'reason', 'decided', 'deadline')
local state, deadline = f[1], f[5]
if state ~= 'pending' then
  return {'decided', state, f[2] or '', f[3] or '', f[4] or deadline, deadline}
end
if now >= tonumber(deadline) then
  if ARGV[1] == 'status' then return {'decided', 'timed_out', '', '', deadline, deadline} end
  redis.call('HSET', KEYS[1], 'state', 'timed_out', 'decided', deadline)
  redis.call('ZREM', KEYS[2], ARGV[4])
  redis.call('XADD', KEYS[3], '*', 'state', 'timed_out')
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
  return {'decided', 'timed_out', '', '', deadline, deadline}
end
if ARGV[1] == 'expire' or ARGV[1] == 'status' then return {'pending', deadline, fmt(now)} end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'by', ARGV[2], 'reason', ARGV[3], 'decided', fmt(now))
redis.call('ZREM', KEYS[2], ARGV[4])
redis.call('XADD', KEYS[3], '*', 'state', ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
return {'recorded', ARGV[1], ARGV[2], ARGV[3], fmt(now), deadline}
";

const PENDING_LUA: &str = "
-- KEYS: pending. Requests whose deadline is still ahead, on the server's clock.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. fmt(now), '+inf')
table.insert(ids, 1, fmt(now))
return ids
";

/// The decide script's reply.
enum Reply {
    Unknown,
    Pending { deadline: u64, now: u64 },
    Decided(ApprovalOutcome),
    Recorded,
}
impl Approvals {
    /// This agent's name (stored as the requester).
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// Asks for approval of `step`, open for `timeout` from when the server
    /// stores it.
    ///
    /// # Errors
    /// [`ApprovalError::Invalid`] for a timeout under 1 ms or over
    /// `max_timeout`, an empty step, or a payload over `max_payload`;
    /// [`ApprovalError::Backend`] if the write failed (no id then).
    pub fn request(
        &mut self,
        step: &str,
        payload: impl AsRef<[u8]>,
        timeout: Duration,
    ) -> Result<ApprovalId, ApprovalError> {
        let payload = payload.as_ref();
        check_duration("timeout", timeout, Duration::from_millis(1), Some(self.max_timeout))?;
        check_text("step", step, 200)?;
        self.check_size("payload", payload.len())?;
        let mut incr = redis::cmd("INCR");
        incr.arg(format!("{}:seq", tagged(&self.prefix, "appr")));
        let id: u64 = self.commands.run(|c| incr.query(c))?;
        let mut invocation = self.create_script.prepare_invoke();
        invocation
            .key(self.req_key(id))
            .key(self.pending_key())
            .arg(id)
            .arg(step)
            .arg(payload)
            .arg(&self.agent)
            .arg(millis(timeout))
            .arg(millis(self.retention));
        self.guard(&mut invocation, true);
        let _deadline: String = self.commands.run(|c| invocation.invoke(c))?;
        Ok(ApprovalId(id))
    }

    /// Answers request `id`. Atomic on the server: see the module docs.
    ///
    /// # Errors
    /// [`ApprovalError::Invalid`] for an empty `by` or a reason over
    /// `max_payload`; [`ApprovalError::Backend`] if Redis fails (then the
    /// answer may or may not have been recorded: read
    /// [`status`](Approvals::status)).
    pub fn respond(&mut self, id: ApprovalId, decision: Decision) -> Result<RespondOutcome, ApprovalError> {
        check_text("by", &decision.by, 200)?;
        self.check_size("reason", decision.reason.len())?;
        let action = match decision.verdict {
            Verdict::Approve => "approved",
            Verdict::Reject => "rejected",
        };
        self.answer(id, action, &decision.by, &decision.reason)
    }

    /// Withdraws request `id` as `by`: the same compare-and-set as
    /// [`respond`](Approvals::respond), deciding [`ApprovalOutcome::Cancelled`].
    ///
    /// # Errors
    /// As [`respond`](Approvals::respond).
    pub fn cancel(&mut self, id: ApprovalId, by: &str) -> Result<RespondOutcome, ApprovalError> {
        check_text("by", by, 200)?;
        self.answer(id, "cancelled", by, "")
    }

    fn answer(
        &mut self,
        id: ApprovalId,
        action: &str,
        by: &str,
        reason: &str,
    ) -> Result<RespondOutcome, ApprovalError> {
        Ok(match self.decide(id, action, by, reason)? {
            Reply::Recorded => RespondOutcome::Recorded,
            Reply::Decided(ApprovalOutcome::TimedOut { deadline }) => RespondOutcome::Expired { deadline },
            Reply::Decided(outcome) => RespondOutcome::AlreadyDecided(outcome),
            Reply::Unknown => RespondOutcome::Unknown,
            Reply::Pending { .. } => {
                return Err(BackendError::malformed(
                    self.commands.target(),
                    "an answer left the request pending",
                )
                .into())
            }
        })
    }

    /// Where request `id` stands, judged on the server's clock (a request
    /// past its deadline reads as timed out). Changes nothing.
    ///
    /// # Errors
    /// [`ApprovalError::Backend`] if Redis fails.
    pub fn status(&mut self, id: ApprovalId) -> Result<ApprovalStatus, ApprovalError> {
        Ok(match self.decide(id, "status", "", "")? {
            Reply::Unknown => ApprovalStatus::Unknown,
            Reply::Pending { deadline, .. } => ApprovalStatus::Pending { deadline: from_millis(deadline) },
            Reply::Decided(outcome) => ApprovalStatus::Decided(outcome),
            Reply::Recorded => {
                return Err(BackendError::malformed(self.commands.target(), "a status read decided").into())
            }
        })
    }

    /// Waits until request `id` is decided, or times it out (atomically, on
    /// the server) once its deadline passes on the server's clock.
    ///
    /// Blocks on `XREAD BLOCK` on the request's event stream, on a connection
    /// of its own: a response wakes it at once. The read is cut into slices
    /// of at most `wait_slice` so the server's time is read again.
    ///
    /// # Errors
    /// [`ApprovalError::Invalid`] naming `id` if there is no such request;
    /// [`ApprovalError::Backend`] if Redis fails (within the connect and I/O
    /// timeouts: nothing hangs).
    pub fn wait(&mut self, id: ApprovalId) -> Result<ApprovalOutcome, ApprovalError> {
        let events = self.events_key(id.0);
        loop {
            let (deadline, now) = match self.decide(id, "expire", "", "")? {
                Reply::Decided(outcome) => return Ok(outcome),
                Reply::Pending { deadline, now } => (deadline, now),
                Reply::Unknown => return Err(InvalidValue::new("id", id, "an existing request").into()),
                Reply::Recorded => {
                    return Err(BackendError::malformed(self.commands.target(), "expiring decided").into())
                }
            };
            // Until just past the deadline, at most one slice.
            let left = Duration::from_millis(deadline.saturating_sub(now).saturating_add(1));
            let block = left.min(self.wait_slice);
            let options = StreamReadOptions::default().count(1).block(millis(block) as usize);
            // From the start: the stream only ever holds the decision, so
            // any entry (even one written before this read) means "decided".
            let mut read = redis::cmd("XREAD");
            read.arg(&options).arg("STREAMS").arg(&events).arg("0-0");
            let _: Option<StreamReadReply> = self.blocking.run_blocking(block, |c| read.query(c))?;
        }
    }

    /// The requests open for answers now, on the server's clock, soonest
    /// deadline first. A request past its deadline is never listed, whether
    /// or not anyone has looked at it since (no sweep needed).
    ///
    /// # Errors
    /// [`ApprovalError::Backend`] if Redis fails.
    pub fn pending(&mut self) -> Result<Vec<PendingApproval>, ApprovalError> {
        let mut invocation = self.pending_script.prepare_invoke();
        invocation.key(self.pending_key());
        let reply: Vec<String> = self.commands.run(|c| invocation.invoke(c))?;
        let target = self.commands.target().to_owned();
        let Some((now, ids)) = reply.split_first() else {
            return Err(BackendError::malformed(&target, "pending replied nothing").into());
        };
        let now = parse_u64(&target, "server time", now.as_bytes())?;
        let ids: Vec<u64> = ids
            .iter()
            .map(|id| parse_u64(&target, "approval id", id.as_bytes()))
            .collect::<Result<_, _>>()?;
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HMGET").arg(self.req_key(*id)).arg(&[
                "state",
                "step",
                "payload",
                "requester",
                "requested",
                "deadline",
            ]);
        }
        let rows: Vec<Vec<Option<Vec<u8>>>> = self.commands.run(|c| query_pipeline(c, &pipe))?;
        let mut pending = Vec::with_capacity(ids.len());
        for (id, row) in ids.into_iter().zip(rows) {
            let [Some(state), Some(step), Some(payload), Some(requester), Some(requested), Some(deadline)] =
                <[Option<Vec<u8>>; 6]>::try_from(row).unwrap_or_default()
            else {
                continue; // gone past its retention since the index was read
            };
            let deadline = parse_u64(&target, "deadline", &deadline)?;
            if state != b"pending" || deadline <= now {
                continue; // decided since the index was read
            }
            pending.push(PendingApproval {
                id: ApprovalId(id),
                step: String::from_utf8_lossy(&step).into_owned(),
                payload,
                requester: String::from_utf8_lossy(&requester).into_owned(),
                requested_at: from_millis(parse_u64(&target, "requested", &requested)?),
                deadline: from_millis(deadline),
            });
        }
        Ok(pending)
    }

    fn decide(
        &mut self,
        id: ApprovalId,
        action: &str,
        by: &str,
        reason: &str,
    ) -> Result<Reply, ApprovalError> {
        let mut invocation = self.decide_script.prepare_invoke();
        invocation
            .key(self.req_key(id.0))
            .key(self.pending_key())
            .key(self.events_key(id.0))
            .arg(action)
            .arg(by)
            .arg(reason)
            .arg(id.0)
            .arg(millis(self.retention));
        // A status read or an expiry changes nothing a repeat could double.
        self.guard(&mut invocation, !matches!(action, "status" | "expire"));
        let reply: Vec<Vec<u8>> = self.commands.run(|c| invocation.invoke(c))?;
        let target = self.commands.target().to_owned();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let reply: Vec<&[u8]> = reply.iter().map(Vec::as_slice).collect();
        Ok(match reply.as_slice() {
            [b"unknown"] => Reply::Unknown,
            [b"pending", deadline, now] => Reply::Pending {
                deadline: parse_u64(&target, "deadline", deadline)?,
                now: parse_u64(&target, "now", now)?,
            },
            [b"recorded", ..] => Reply::Recorded,
            [b"decided", state, by, reason, at, deadline] => {
                let at = from_millis(parse_u64(&target, "decided", at)?);
                Reply::Decided(match *state {
                    b"approved" => ApprovalOutcome::Approved { by: text(by), reason: text(reason), at },
                    b"rejected" => ApprovalOutcome::Rejected { by: text(by), reason: text(reason), at },
                    b"cancelled" => ApprovalOutcome::Cancelled { by: text(by), at },
                    b"timed_out" => ApprovalOutcome::TimedOut {
                        deadline: from_millis(parse_u64(&target, "deadline", deadline)?),
                    },
                    other => {
                        return Err(BackendError::malformed(
                            &target,
                            format!("unknown state {:?}", text(other)),
                        )
                        .into())
                    }
                })
            }
            other => return Err(BackendError::malformed(&target, format!("decide replied {other:?}")).into()),
        })
    }

    fn check_size(&self, field: &'static str, len: usize) -> Result<(), InvalidValue> {
        if len > self.max_payload {
            return Err(InvalidValue::new(
                field,
                format!("{len} bytes"),
                format!("at most {} bytes", self.max_payload),
            ));
        }
        Ok(())
    }

    /// Adds a [`guarded`](crate::conn::guarded) script's op key and
    /// retention (`0`, no guard, unless `writes`).
    fn guard(&self, invocation: &mut crate::lua::LuaCall<'_>, writes: bool) {
        invocation.key(op_key(&tagged(&self.prefix, "appr"), &op_token())).arg(if writes {
            self.commands.op_retention_ms()
        } else {
            0
        });
    }

    fn req_key(&self, id: u64) -> String {
        format!("{}:req:{id}", tagged(&self.prefix, "appr"))
    }

    fn pending_key(&self) -> String {
        format!("{}:pending", tagged(&self.prefix, "appr"))
    }

    fn events_key(&self, id: u64) -> String {
        format!("{}:events:{id}", tagged(&self.prefix, "appr"))
    }
}

impl fmt::Debug for Approvals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Approvals")
            .field("agent", &self.agent)
            .field("prefix", &self.prefix)
            .field("max_timeout", &self.max_timeout)
            .field("retention", &self.retention)
            .field("wait_slice", &self.wait_slice)
            .field("commands", &self.commands)
            .finish_non_exhaustive()
    }
}

/// Text of 1 to `max` bytes without control characters.
fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), InvalidValue> {
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(InvalidValue::new(field, value, format!("1 to {max} bytes without control characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
