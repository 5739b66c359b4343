//! The statistics and the settings, without a server.

use super::*;

fn conf(good: u64, bad: u64) -> Confidence {
    Confidence::from_counts(good, bad, Prior::default(), DEFAULT_Z)
}

#[test]
fn one_bad_rating_moves_an_unrated_item_little() {
    let before = conf(0, 0);
    let after = conf(0, 1);
    assert!((before.mean() - after.mean()).abs() <= 0.1 + 1e-12, "{before:?} -> {after:?}");
    assert!((before.score() - after.score()).abs() <= 0.1, "{before:?} -> {after:?}");
}

#[test]
fn evidence_outranks_a_thin_perfect_record_and_the_unrated() {
    assert!(conf(100, 1).score() > conf(2, 0).score());
    assert!(conf(99, 1).score() > conf(0, 0).score());
    // Known Wilson values (z = 1.96).
    let Confidence::Estimated { lower_bound, mean, n } = conf(2, 0) else { panic!() };
    assert!((lower_bound - 0.3424).abs() < 1e-3, "{lower_bound}");
    assert!((mean - 4.0 / 6.0).abs() < 1e-12);
    assert_eq!(n, 2);
}

#[test]
fn unknown_ratings_are_errors_not_ignored() {
    assert_eq!(" Good ".parse::<Rating>(), Ok(Rating::Good));
    for bad in ["", "neutral", "5", "goodish"] {
        assert_eq!(bad.parse::<Rating>(), Err(ParseRatingError { value: bad.to_owned() }));
    }
}

#[test]
fn bad_settings_are_named() {
    let err = Ratings::builder("redis://127.0.0.1:1", "a:b").build().unwrap_err();
    assert!(matches!(err, ConfigError::Invalid(ref v) if v.field == "namespace"));
    let err = Ratings::builder("redis://127.0.0.1:1", "t").z(f64::NAN).build().unwrap_err();
    assert!(matches!(err, ConfigError::Invalid(ref v) if v.field == "z"));
    assert_eq!(Prior::new(1.0, -1.0).unwrap_err().field, "beta");
}
