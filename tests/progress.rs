//! `ProgressTicker`: every N rows or every T of clock time, whichever comes
//! first, driven by a `ManualClock` (no test sleeps).

use std::time::Duration;

use ringtel::pipeline::{
    EventKind, PipelineEvent, ProgressTicker, RowCounts, RowOutcome, RunContext, RunId, TokenOutcome,
    DEFAULT_PROGRESS_EVERY, DEFAULT_PROGRESS_EVERY_ROWS,
};
use ringtel::{ManualClock, Timestamp};

const SECOND: Duration = Duration::from_secs(1);

fn progress(event: &PipelineEvent) -> (RowCounts, f64) {
    match *event.kind() {
        EventKind::Progress { counts, rows_per_second } => (counts, rows_per_second),
        ref other => panic!("expected progress, got {other:?}"),
    }
}

/// Records `n` successful rows; returns the rows (1-based) at which progress fired.
fn record(ticker: &mut ProgressTicker<'_>, n: u64) -> Vec<u64> {
    (1..=n).filter(|_| ticker.record(RowOutcome::Succeeded).is_some()).collect()
}

#[test]
fn fires_every_n_rows_when_time_stands_still() {
    let clock = ManualClock::default();
    let run = RunContext::new(RunId::new(1), &clock);
    let mut ticker = ProgressTicker::new(run, 100, Duration::from_secs(5)).unwrap();
    assert_eq!(record(&mut ticker, 350), vec![100, 200, 300]);
    assert_eq!(ticker.counts().processed, 350);
}

#[test]
fn fires_every_t_when_rows_are_slow() {
    let clock = ManualClock::default();
    let run = RunContext::new(RunId::new(1), &clock);
    let mut ticker = ProgressTicker::new(run, 100, Duration::from_secs(5)).unwrap();
    let mut fired = Vec::new();
    for second in 1..=12u64 {
        clock.advance(SECOND);
        if ticker.record(RowOutcome::Succeeded).is_some() {
            fired.push(second);
        }
    }
    assert_eq!(fired, vec![5, 10]);
}

#[test]
fn whichever_comes_first_restarts_both_intervals() {
    let clock = ManualClock::default();
    let run = RunContext::new(RunId::new(1), &clock);
    let mut ticker = ProgressTicker::new(run, 10, Duration::from_secs(5)).unwrap();

    // Rows first: 10 rows at t=4s.
    clock.advance(Duration::from_secs(4));
    assert_eq!(record(&mut ticker, 10), vec![10]);
    // The time interval restarted at 4s: nothing at 8s...
    clock.advance(Duration::from_secs(4));
    assert!(ticker.record(RowOutcome::Succeeded).is_none());
    // ...and it fires at 9s (5s after the last event), after only 2 rows.
    clock.advance(SECOND);
    let event = ticker.record(RowOutcome::Succeeded).expect("time interval");
    assert_eq!(progress(&event).0.processed, 12);
    assert_eq!(event.at(), Timestamp::from_nanos(9_000_000_000));
    // The row interval restarted too: 9 more rows do not fire, the 10th does.
    assert!(record(&mut ticker, 9).is_empty());
    assert!(ticker.record(RowOutcome::Succeeded).is_some());
}

#[test]
fn poll_fires_on_time_without_a_row() {
    let clock = ManualClock::default();
    let run = RunContext::new(RunId::new(3), &clock);
    let mut ticker = ProgressTicker::new(run, 1_000, SECOND).unwrap();
    assert!(ticker.poll().is_none());
    clock.advance(Duration::from_millis(999));
    assert!(ticker.poll().is_none());
    clock.advance(Duration::from_millis(1));
    let event = ticker.poll().expect("a second passed");
    assert_eq!(event.run(), RunId::new(3));
    assert_eq!(progress(&event).0, RowCounts::default());
    assert!(ticker.poll().is_none(), "the interval restarted");
}

#[test]
fn counts_rows_by_outcome_and_reports_the_average_rate() {
    let clock = ManualClock::new(Timestamp::from_nanos(10_000_000_000));
    let run = RunContext::new(RunId::new(1), &clock);
    let mut ticker = ProgressTicker::new(run, u64::MAX, Duration::MAX).unwrap();
    for outcome in [RowOutcome::Succeeded, RowOutcome::Failed, RowOutcome::Quarantined, RowOutcome::Other] {
        assert!(ticker.record(outcome).is_none());
    }
    assert!(ticker.record(TokenOutcome::Routed).is_none(), "token outcomes convert");
    clock.advance(Duration::from_secs(2));
    let (counts, rate) = progress(&ticker.finish());
    assert_eq!(counts, RowCounts { processed: 5, succeeded: 2, failed: 1, quarantined: 1 });
    assert_eq!(rate, 2.5);
}

#[test]
fn finish_reports_zero_rate_when_no_time_passed() {
    let clock = ManualClock::default();
    let run = RunContext::new(RunId::new(1), &clock);
    let mut ticker = ProgressTicker::new(run, 5, SECOND).unwrap();
    let (counts, rate) = progress(&ticker.finish());
    assert_eq!((counts.processed, rate), (0, 0.0));
}

#[test]
fn a_clock_stepping_back_delays_time_but_not_rows() {
    let clock = ManualClock::new(Timestamp::from_nanos(100_000_000_000));
    let run = RunContext::new(RunId::new(1), &clock);
    let mut ticker = ProgressTicker::new(run, 3, SECOND).unwrap();
    clock.set(Timestamp::from_nanos(1));
    assert!(ticker.poll().is_none());
    assert_eq!(record(&mut ticker, 3), vec![3]);
    let (_, rate) = progress(&ticker.finish());
    assert_eq!(rate, 0.0, "no negative or infinite rate");
}

#[test]
fn intervals_are_validated() {
    let clock = ManualClock::default();
    let run = RunContext::new(RunId::new(1), &clock);
    let err = ProgressTicker::new(run, 0, SECOND).unwrap_err();
    assert_eq!(err.field(), "every_rows");
    let err = ProgressTicker::new(run, 1, Duration::ZERO).unwrap_err();
    assert_eq!(err.field(), "every");
    assert_eq!(err.to_string(), "invalid value 0ns for `every`: expected a value greater than zero");
    let _: &dyn std::error::Error = &err;
}

#[test]
fn defaults_are_every_100_rows_or_5_seconds() {
    let clock = ManualClock::default();
    let ticker = ProgressTicker::with_defaults(RunContext::new(RunId::new(1), &clock));
    assert_eq!((ticker.every_rows(), ticker.every()), (100, Duration::from_secs(5)));
    assert_eq!((DEFAULT_PROGRESS_EVERY_ROWS, DEFAULT_PROGRESS_EVERY), (100, Duration::from_secs(5)));
}
