//! The statistics: a rating, the Beta prior, an item's counts, the
//! confidence they give, and one entry of a ranking. No server needed.

use std::fmt;
use std::str::FromStr;

#[cfg(doc)]
use super::Ratings;

use crate::error::InvalidValue;

/// One rating.
///
/// # Examples
/// ```
/// use ringtel_coord::ratings::{ParseRatingError, Rating};
///
/// assert_eq!("good".parse::<Rating>()?, Rating::Good);
/// assert_eq!("BAD".parse::<Rating>()?, Rating::Bad);
/// // An unknown value is an error, never silently ignored.
/// let err = "meh".parse::<Rating>().unwrap_err();
/// assert_eq!(err.to_string(), r#"unknown rating "meh": expected `good` or `bad`"#);
/// # Ok::<(), ParseRatingError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rating {
    /// The item did its job.
    Good,
    /// It did not.
    Bad,
}

impl Rating {
    /// `"good"` or `"bad"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rating::Good => "good",
            Rating::Bad => "bad",
        }
    }
}

impl fmt::Display for Rating {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Rating {
    type Err = ParseRatingError;

    /// `good` or `bad`, in any case, surrounding whitespace ignored.
    fn from_str(s: &str) -> Result<Rating, ParseRatingError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "good" => Ok(Rating::Good),
            "bad" => Ok(Rating::Bad),
            _ => Err(ParseRatingError { value: s.to_owned() }),
        }
    }
}

/// A string that is not a [`Rating`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseRatingError {
    /// The rejected text.
    pub value: String,
}

impl fmt::Display for ParseRatingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown rating {:?}: expected `good` or `bad`", self.value)
    }
}

impl std::error::Error for ParseRatingError {}

/// The prior of the Beta-Binomial model: `Beta(alpha, beta)`.
///
/// # Examples
/// ```
/// use ringtel_coord::ratings::Prior;
///
/// let prior = Prior::default();
/// assert_eq!((prior.alpha(), prior.beta(), prior.mean()), (2.0, 2.0, 0.5));
/// assert!(Prior::new(0.0, 1.0).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    alpha: f64,
    beta: f64,
}

impl Prior {
    /// `Beta(alpha, beta)`; both finite and > 0.
    ///
    /// # Errors
    /// [`InvalidValue`] naming `alpha` or `beta`.
    pub fn new(alpha: f64, beta: f64) -> Result<Prior, InvalidValue> {
        for (field, value) in [("alpha", alpha), ("beta", beta)] {
            if !(value.is_finite() && value > 0.0) {
                return Err(InvalidValue::new(field, value, "a finite number > 0"));
            }
        }
        Ok(Prior { alpha, beta })
    }

    /// Pseudo-count of good ratings.
    pub fn alpha(self) -> f64 {
        self.alpha
    }

    /// Pseudo-count of bad ratings.
    pub fn beta(self) -> f64 {
        self.beta
    }

    /// The mean before any rating: `alpha / (alpha + beta)`.
    pub fn mean(self) -> f64 {
        self.alpha / (self.alpha + self.beta)
    }
}

impl Default for Prior {
    /// `Beta(2, 2)`.
    fn default() -> Prior {
        Prior { alpha: 2.0, beta: 2.0 }
    }
}

/// An item's good and bad counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Counts {
    /// Good ratings.
    pub good: u64,
    /// Bad ratings.
    pub bad: u64,
}

impl Counts {
    /// `good + bad`.
    pub fn total(self) -> u64 {
        self.good.saturating_add(self.bad)
    }
}

/// What the ratings say about an item.
///
/// # Examples
/// ```
/// use ringtel_coord::ratings::{Confidence, Prior};
///
/// let prior = Prior::default();
/// let strong = Confidence::from_counts(100, 1, prior, 1.96);
/// let thin = Confidence::from_counts(2, 0, prior, 1.96);
/// assert!(strong.score() > thin.score());
/// assert_eq!(Confidence::from_counts(0, 0, prior, 1.96), Confidence::Unrated { prior_mean: 0.5 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Confidence {
    /// No ratings yet.
    Unrated {
        /// The prior's mean (the estimate before any evidence).
        prior_mean: f64,
    },
    /// At least one rating.
    Estimated {
        /// The Beta-Binomial posterior mean.
        mean: f64,
        /// The Wilson score lower bound of the good share.
        lower_bound: f64,
        /// Ratings counted.
        n: u64,
    },
}

impl Confidence {
    /// The confidence for `good` and `bad` counts under `prior`, with the
    /// Wilson bound at `z`.
    pub fn from_counts(good: u64, bad: u64, prior: Prior, z: f64) -> Confidence {
        let n = good.saturating_add(bad);
        if n == 0 {
            return Confidence::Unrated { prior_mean: prior.mean() };
        }
        let (g, nf) = (good as f64, n as f64);
        let mean = (g + prior.alpha) / (nf + prior.alpha + prior.beta);
        let p = g / nf;
        let z2 = z * z;
        let centre = p + z2 / (2.0 * nf);
        let spread = z * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt();
        let lower_bound = ((centre - spread) / (1.0 + z2 / nf)).clamp(0.0, 1.0);
        Confidence::Estimated { mean, lower_bound, n }
    }

    /// The ranking score: the Wilson lower bound, 0 when unrated.
    pub fn score(&self) -> f64 {
        match *self {
            Confidence::Unrated { .. } => 0.0,
            Confidence::Estimated { lower_bound, .. } => lower_bound,
        }
    }

    /// The best estimate of the good share: the posterior mean, or the
    /// prior mean when unrated.
    pub fn mean(&self) -> f64 {
        match *self {
            Confidence::Unrated { prior_mean } => prior_mean,
            Confidence::Estimated { mean, .. } => mean,
        }
    }
}

/// One entry of [`Ratings::rank`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Ranked {
    /// The item.
    pub item: String,
    /// Its counts.
    pub counts: Counts,
    /// Its confidence.
    pub confidence: Confidence,
}
