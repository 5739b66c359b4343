//! Two agents hand work over through a signal and an approval gate.
//!
//! The planner sends a `handover` signal to the worker; the worker asks for
//! approval before running the step; a reviewer (played by the planner's
//! thread) approves it; the worker runs it and rates the plan.
//!
//! ```sh
//! redis-server --port 6379 &
//! cargo run -p ringtel-coord --example coordination -- --url redis://127.0.0.1:6379/
//! # or: RINGTEL_COORD_REDIS_URL=redis://127.0.0.1:6379/ cargo run -p ringtel-coord --example coordination
//! ```
//! Exits non-zero with a one-line error if no server is reachable.

use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use ringtel_coord::approvals::{ApprovalOutcome, Approvals, Decision};
use ringtel_coord::ratings::{Rating, Ratings};
use ringtel_coord::signals::{SignalCheck, SignalWait, Signals, Target};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> ExitCode {
    let url = url_from_args();
    // A per-run prefix, so runs never see each other's signals.
    let prefix = format!("ringtel:coord:example:{}", std::process::id());
    let mut probe = match Signals::builder(url.as_str(), "probe").prefix(&prefix).build() {
        Ok(probe) => probe,
        Err(err) => return fail(&format!("bad settings: {err}")),
    };
    if let Err(err) = probe.check("ping") {
        return fail(&format!("no redis reachable at {url}: {err}"));
    }
    match run(&url, &prefix) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err.to_string()),
    }
}

fn run(url: &str, prefix: &str) -> Result<()> {
    let worker_url = url.to_owned();
    let worker_prefix = prefix.to_owned();
    let worker = thread::spawn(move || worker(&worker_url, &worker_prefix));

    // The planner: hands batch 7 over, then reviews what the worker asks.
    let mut signals = Signals::builder(url, "planner").prefix(prefix).build()?;
    let mut gate = Approvals::builder(url, "planner").prefix(prefix).build()?;
    let id = signals.send(Target::agent("worker")?, "handover", b"batch-7", Duration::from_secs(30))?;
    println!("planner: sent handover {id}");
    let request = loop {
        // The worker's request shows up in `pending` (deadline on the
        // server's clock); wait for its "asked" signal rather than spinning.
        match signals.wait("asked", Duration::from_secs(10))? {
            SignalWait::Received(_) => {}
            other => return Err(format!("planner: the worker never asked: {other:?}").into()),
        }
        if let Some(pending) = gate.pending()?.into_iter().next() {
            break pending;
        }
    };
    println!("planner: approving {} for step `{}`", request.id, request.step);
    let outcome = gate.respond(request.id, Decision::approve("planner", "batch-7 is ready"))?;
    println!("planner: respond -> {outcome:?}");
    worker.join().map_err(|_| "the worker thread panicked")??;
    Ok(())
}

fn worker(url: &str, prefix: &str) -> Result<()> {
    let mut signals = Signals::builder(url, "worker").prefix(prefix).build()?;
    let mut gate = Approvals::builder(url, "worker").prefix(prefix).build()?;
    let mut ratings = Ratings::builder(url, "example").prefix(prefix).build()?;
    let batch = match signals.wait("handover", Duration::from_secs(10))? {
        SignalWait::Received(signal) => signal.payload_str().unwrap_or("?").to_owned(),
        SignalWait::Expired { expired_at, .. } => {
            return Err(format!("handover expired at {expired_at}").into())
        }
        other => return Err(format!("no handover: {other:?}").into()),
    };
    println!("worker: received {batch}");
    let id = gate.request("run-batch", batch.as_bytes(), Duration::from_secs(10))?;
    signals.send(Target::agent("planner")?, "asked", id.to_string(), Duration::from_secs(10))?;
    match gate.wait(id)? {
        ApprovalOutcome::Approved { by, reason, at } => {
            println!("worker: approved by {by} at {at} ({reason}); running {batch}");
            ratings.rate("plan-batch-7", Rating::Good)?;
            println!("worker: rated the plan; confidence {:?}", ratings.confidence("plan-batch-7")?);
        }
        other => println!("worker: not running {batch}: {other:?}"),
    }
    // Still readable: the handover is not consumed by reading it.
    if let SignalCheck::Received(signal) = signals.check("handover")? {
        println!("worker: handover {} still valid until {}", signal.id, signal.expires_at);
    }
    Ok(())
}

fn url_from_args() -> String {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--url" {
            if let Some(url) = args.next() {
                return url;
            }
        } else if let Some(url) = arg.strip_prefix("--url=") {
            return url.to_owned();
        }
    }
    std::env::var("RINGTEL_COORD_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned())
}

fn fail(message: &str) -> ExitCode {
    eprintln!("coordination example: {message}");
    ExitCode::FAILURE
}
