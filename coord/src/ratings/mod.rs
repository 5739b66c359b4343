//! Ratings of items (templates, plans, prompts) that one vote cannot swing.
//!
//! # Model
//! Every [`Ratings`] handle works in a *namespace* that must be given
//! (there is no default), so a test run never writes where production
//! reads. [`Ratings::rate`] is one Lua script: `HINCRBY` on the item's
//! counters (atomic on the server: concurrent raters never lose a count)
//! and an `XADD` to the namespace's audit stream. Each call carries a
//! fresh token, and the script records it (`{P:ratings:N}:op:<token>`,
//! kept a minute or more), so a call the redis crate sends again (its
//! cluster client does after a read timeout) counts once.
//!
//! # Statistics
//! [`Confidence`] reports two numbers for `g` good and `b` bad ratings
//! (`n = g + b`):
//!
//! - **`mean`**: the posterior mean of the Beta-Binomial model with prior
//!   `Beta(α, β)` ([`Prior`], default `α = β = 2`: a weak prior worth four
//!   ratings, half of them good, so the prior mean is 0.5):
//!   `(g + α) / (n + α + β)`. One rating moves it by at most
//!   `1 / (n + α + β + 1)` — 0.1 for an unrated item with the default prior.
//! - **`lower_bound`**: the Wilson score interval's lower bound for the share
//!   of good ratings at `z` (default 1.96, 95 %):
//!   `(p + z²/2n − z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n)` with `p = g / n`.
//!   It is what [`Ratings::rank`] sorts by: it rewards evidence, so
//!   100 good / 1 bad ranks above 2 good / 0 bad, and an unrated item (lower
//!   bound 0) never outranks a well-rated one.
//!
//! # Keys
//! With prefix `P` and namespace `N`: `{P:ratings:N}:item:<item>` (a hash
//! with `good` and `bad`), `{P:ratings:N}:audit` (a stream, `MAXLEN ~`)
//! and each rating's `{P:ratings:N}:op:<token>` (its reply, kept a minute
//! or more).
//! The hash tag keeps a namespace in one slot on a Redis Cluster (feature
//! `redis-cluster`, `Ratings::cluster_builder`), where a rating's
//! script writes the item and the audit stream together; namespaces
//! spread over the masters.
//!
//! Modules: `model` (a rating, the prior, counts, confidence, ranking
//! entries: no server needed); recording and reading are here.

use std::fmt;
use std::time::Duration;

use crate::conn::{check_name, guarded, op_key, op_token, query_pipeline, tagged, Conn, Settings};
pub use crate::error::RatingError;
use crate::error::{BackendError, ConfigError, InvalidValue};
use crate::lua::Lua;

/// Default z of the Wilson lower bound (95 % two-sided).
pub const DEFAULT_Z: f64 = 1.96;
/// Default approximate length the audit stream is trimmed to.
pub const DEFAULT_AUDIT_LEN: u64 = 100_000;

/// One rating, [`guarded`] so that the redis crate sending it again (after
/// a read timeout on a cluster) counts it once.
const RATE_LUA: &str = "
-- KEYS: item, audit; ARGV: rating, audit_len, item
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'item', ARGV[3], 'rating', ARGV[1])
return redis.call('HMGET', KEYS[1], 'good', 'bad')
";

mod model;

pub use model::{Confidence, Counts, ParseRatingError, Prior, Ranked, Rating};

/// Records and reads ratings in one namespace.
///
/// # Examples
/// Building does not connect; the namespace is required:
/// ```
/// use ringtel_coord::ratings::Ratings;
///
/// let ratings = Ratings::builder("redis://127.0.0.1:6379", "templates-prod").build()?;
/// assert_eq!(ratings.namespace(), "templates-prod");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
/// Rating and ranking (needs a server):
/// ```no_run
/// use ringtel_coord::ratings::{Rating, Ratings};
///
/// let mut ratings = Ratings::builder("redis://127.0.0.1:6379", "templates-prod").build()?;
/// ratings.rate("summary-v2", "good".parse::<Rating>()?)?;
/// for ranked in ratings.rank(["summary-v1", "summary-v2"])? {
///     println!("{}: {:.3}", ranked.item, ranked.confidence.score());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Ratings {
    namespace: String,
    prefix: String,
    prior: Prior,
    z: f64,
    audit_len: u64,
    conn: Conn,
    rate_script: Lua,
}

/// Configures [`Ratings`]; from [`Ratings::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RatingsBuilder {
    settings: Settings,
    namespace: String,
    prior: Prior,
    z: f64,
    audit_len: u64,
}

impl Ratings {
    /// A builder for `namespace` on the server at `url`.
    pub fn builder(url: impl Into<String>, namespace: impl Into<String>) -> RatingsBuilder {
        Self::with_settings(Settings::new(url), namespace)
    }

    /// A builder for `namespace` on a Redis Cluster reached through any of
    /// `nodes` (`redis://host:port` URLs; the redis crate's cluster client
    /// learns the others from them). Feature `redis-cluster`. A namespace's
    /// keys carry the hash tag `{<prefix>:ratings:<namespace>}`: one slot
    /// per namespace, so a rating's script and a ranking's pipeline
    /// each go to one master.
    ///
    /// # Examples
    /// ```
    /// use ringtel_coord::ratings::Ratings;
    ///
    /// let ratings = Ratings::cluster_builder(["redis://127.0.0.1:7000"], "reviews").build()?;
    /// assert_eq!(ratings.namespace(), "reviews");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "redis-cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-cluster")))]
    pub fn cluster_builder<N: Into<String>>(
        nodes: impl IntoIterator<Item = N>,
        namespace: impl Into<String>,
    ) -> RatingsBuilder {
        Self::with_settings(Settings::cluster(nodes), namespace)
    }

    fn with_settings(settings: Settings, namespace: impl Into<String>) -> RatingsBuilder {
        RatingsBuilder {
            settings,
            namespace: namespace.into(),
            prior: Prior::default(),
            z: DEFAULT_Z,
            audit_len: DEFAULT_AUDIT_LEN,
        }
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Records one rating of `item` and returns its counts after it.
    ///
    /// # Errors
    /// [`RatingError::Invalid`] for an empty item or one over 512 bytes;
    /// [`RatingError::Backend`] if Redis fails (then the rating may or may
    /// not have been counted).
    pub fn rate(&mut self, item: &str, rating: Rating) -> Result<Counts, RatingError> {
        check_item(item)?;
        let tag = self.tag();
        let mut invocation = self.rate_script.prepare_invoke();
        invocation
            .key(self.item_key(item))
            .key(self.audit_key())
            .key(op_key(&tag, &op_token()))
            .arg(rating.as_str())
            .arg(self.audit_len)
            .arg(item)
            .arg(self.conn.op_retention_ms());
        let counts: (Option<u64>, Option<u64>) = self.conn.run(|c| invocation.invoke(c))?;
        Ok(Counts { good: counts.0.unwrap_or(0), bad: counts.1.unwrap_or(0) })
    }

    /// `item`'s counts (zero if never rated).
    ///
    /// # Errors
    /// As [`rate`](Ratings::rate).
    pub fn counts(&mut self, item: &str) -> Result<Counts, RatingError> {
        Ok(self.counts_of(&[item])?.pop().unwrap_or_default())
    }

    /// `item`'s confidence.
    ///
    /// # Errors
    /// As [`rate`](Ratings::rate).
    pub fn confidence(&mut self, item: &str) -> Result<Confidence, RatingError> {
        let counts = self.counts(item)?;
        Ok(Confidence::from_counts(counts.good, counts.bad, self.prior, self.z))
    }

    /// `items` best first: by Wilson lower bound, then posterior mean, then
    /// name. One round trip.
    ///
    /// # Errors
    /// As [`rate`](Ratings::rate).
    pub fn rank<I, S>(&mut self, items: I) -> Result<Vec<Ranked>, RatingError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let items: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
        let refs: Vec<&str> = items.iter().map(String::as_str).collect();
        let counts = self.counts_of(&refs)?;
        let mut ranked: Vec<Ranked> = items
            .into_iter()
            .zip(counts)
            .map(|(item, counts)| Ranked {
                confidence: Confidence::from_counts(counts.good, counts.bad, self.prior, self.z),
                item,
                counts,
            })
            .collect();
        ranked.sort_by(|a, b| {
            b.confidence
                .score()
                .total_cmp(&a.confidence.score())
                .then(b.confidence.mean().total_cmp(&a.confidence.mean()))
                .then_with(|| a.item.cmp(&b.item))
        });
        Ok(ranked)
    }

    fn counts_of(&mut self, items: &[&str]) -> Result<Vec<Counts>, RatingError> {
        let mut pipe = redis::pipe();
        for item in items {
            check_item(item)?;
            pipe.cmd("HMGET").arg(self.item_key(item)).arg(&["good", "bad"]);
        }
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(Option<u64>, Option<u64>)> = self.conn.run(|c| query_pipeline(c, &pipe))?;
        if rows.len() != items.len() {
            return Err(BackendError::malformed(self.conn.target(), "fewer replies than items").into());
        }
        Ok(rows
            .into_iter()
            .map(|(good, bad)| Counts { good: good.unwrap_or(0), bad: bad.unwrap_or(0) })
            .collect())
    }

    /// `{<prefix>:ratings:<namespace>}`, the start of every key here.
    fn tag(&self) -> String {
        tagged(&self.prefix, &format!("ratings:{}", self.namespace))
    }

    fn item_key(&self, item: &str) -> String {
        format!("{}:item:{item}", self.tag())
    }

    fn audit_key(&self) -> String {
        format!("{}:audit", self.tag())
    }
}

impl fmt::Debug for Ratings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ratings")
            .field("namespace", &self.namespace)
            .field("prefix", &self.prefix)
            .field("prior", &self.prior)
            .field("z", &self.z)
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

impl RatingsBuilder {
    /// Key prefix; default [`DEFAULT_PREFIX`](crate::DEFAULT_PREFIX).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.settings.prefix = prefix.into();
        self
    }

    /// The prior; default `Beta(2, 2)`.
    pub fn prior(mut self, prior: Prior) -> Self {
        self.prior = prior;
        self
    }

    /// z of the Wilson lower bound; default [`DEFAULT_Z`]; finite and > 0.
    pub fn z(mut self, z: f64) -> Self {
        self.z = z;
        self
    }

    /// Approximate length of the audit stream; default
    /// [`DEFAULT_AUDIT_LEN`]; at least 1.
    pub fn audit_len(mut self, audit_len: u64) -> Self {
        self.audit_len = audit_len;
        self
    }

    /// Time to connect; default [`DEFAULT_CONNECT_TIMEOUT`](crate::DEFAULT_CONNECT_TIMEOUT).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// Time one command may take; default [`DEFAULT_IO_TIMEOUT`](crate::DEFAULT_IO_TIMEOUT).
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.settings.io_timeout = timeout;
        self
    }

    /// Validates the settings; does not connect.
    ///
    /// # Errors
    /// [`ConfigError`] naming the bad setting: an empty or invalid
    /// namespace, a bad z or audit length, a bad URL or timeout.
    pub fn build(self) -> Result<Ratings, ConfigError> {
        check_name("namespace", &self.namespace)?;
        if !(self.z.is_finite() && self.z > 0.0) {
            return Err(InvalidValue::new("z", self.z, "a finite number > 0").into());
        }
        if self.audit_len == 0 {
            return Err(InvalidValue::new("audit_len", self.audit_len, "an integer >= 1").into());
        }
        let conn = self.settings.conn()?;
        Ok(Ratings {
            namespace: self.namespace,
            prefix: self.settings.prefix,
            prior: self.prior,
            z: self.z,
            audit_len: self.audit_len,
            conn,
            rate_script: Lua::new(&guarded(RATE_LUA)),
        })
    }
}

fn check_item(item: &str) -> Result<(), InvalidValue> {
    if item.is_empty() || item.len() > 512 {
        return Err(InvalidValue::new("item", item, "1 to 512 bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
