//! The configuration errors: a value out of range, a malformed document,
//! and the two together for loading.

use crate::sync::StdArc;
use std::error::Error;
use std::fmt;

use super::locate::Location;

/// A configuration value out of its accepted range.
///
/// # Examples
/// ```
/// let err = ringtel::Config { capacity: 0, ..Default::default() }.validate().unwrap_err();
/// assert_eq!(err.field(), "capacity");
/// assert_eq!(err.to_string(), "invalid value 0 for `capacity`: expected an integer in 1..=67108864");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub(super) field: &'static str,
    pub(super) value: String,
    pub(super) expected: String,
    pub(super) location: Option<Location>,
}

impl ConfigError {
    /// The field's name, as spelled in TOML/JSON.
    pub fn field(&self) -> &'static str {
        self.field
    }
    /// The rejected value, rendered.
    pub fn value(&self) -> &str {
        &self.value
    }
    /// The accepted range, in words.
    pub fn expected(&self) -> &str {
        &self.expected
    }
    /// Where the field is set in the document it was loaded from (`None`
    /// for a [`Config`](crate::Config) built in code, or a field the document leaves at
    /// its default).
    pub fn location(&self) -> Option<Location> {
        self.location
    }

    pub(crate) fn rename(&mut self, field: &'static str) {
        self.field = field;
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid value {} for `{}`", self.value, self.field)?;
        if let Some(location) = self.location {
            write!(f, " at {location}")?;
        }
        write!(f, ": expected {}", self.expected)
    }
}

impl Error for ConfigError {}

/// A configuration document that is malformed, has an unknown field, or a
/// value of the wrong type.
///
/// Names the key and the line and column where the parser could tell them;
/// the parser's own error is the [`source`](Error::source).
#[derive(Debug, Clone)]
pub struct ConfigParseError {
    pub(super) format: &'static str,
    pub(super) message: String,
    pub(super) key: Option<String>,
    pub(super) location: Option<Location>,
    pub(super) source: StdArc<dyn Error + Send + Sync>,
}

impl ConfigParseError {
    /// `"TOML"` or `"JSON"`.
    pub fn format(&self) -> &'static str {
        self.format
    }
    /// The parser's message, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The dotted key path (`breaker.cooldown`) at the error, where known.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }
    /// Where in the document, where known.
    pub fn location(&self) -> Option<Location> {
        self.location
    }
}

/// Equal when format, message, key and location are (the parser's error
/// itself is not compared).
impl PartialEq for ConfigParseError {
    fn eq(&self, other: &Self) -> bool {
        (self.format, &self.message, &self.key, self.location)
            == (other.format, &other.message, &other.key, other.location)
    }
}

impl Eq for ConfigParseError {}

impl fmt::Display for ConfigParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed {} config", self.format)?;
        match (&self.key, self.location) {
            (Some(key), Some(location)) => write!(f, " at `{key}`, {location}")?,
            (Some(key), None) => write!(f, " at `{key}`")?,
            (None, Some(location)) => write!(f, " at {location}")?,
            (None, None) => {}
        }
        write!(f, ": {}", self.message)
    }
}

impl Error for ConfigParseError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}

/// Why a configuration document could not be loaded.
///
/// Both variants name the field and, when it was found in the document, its
/// line and column; each is its inner error's [`source`](Error::source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigLoadError {
    /// The document is malformed, has an unknown field, or a value of the
    /// wrong type.
    Parse(ConfigParseError),
    /// The document parsed, but a value is out of range.
    Invalid(ConfigError),
}

impl fmt::Display for ConfigLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigLoadError::Parse(err) => err.fmt(f),
            ConfigLoadError::Invalid(err) => err.fmt(f),
        }
    }
}

impl Error for ConfigLoadError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ConfigLoadError::Parse(err) => Some(err),
            ConfigLoadError::Invalid(err) => Some(err),
        }
    }
}

impl From<ConfigError> for ConfigLoadError {
    fn from(err: ConfigError) -> Self {
        ConfigLoadError::Invalid(err)
    }
}
