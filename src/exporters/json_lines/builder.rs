//! Configuring and creating a [`JsonLines`] exporter, and why creating one fails.

use std::error::Error;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use super::{JsonLines, JsonLinesStats, DEFAULT_JSON_LINES_BUFFER_CAPACITY, DEFAULT_JSON_LINES_NAME};
use crate::pipeline::Names;

/// Size-based rotation: when writing the next lines would take the file past
/// `max_bytes`, it is renamed to `<path>.1` (`<path>.1` to `<path>.2`, and so
/// on, keeping `keep` rotated files) and a new file is started.
///
/// A file that already holds lines never grows past `max_bytes`; a single
/// line longer than `max_bytes` gets a file of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Largest size of one file, in bytes (at least 1).
    pub max_bytes: u64,
    /// How many rotated files to keep (at least 1); older ones are deleted.
    pub keep: usize,
}

/// Configures a [`JsonLines`] exporter; from [`JsonLines::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `create` is called"]
pub struct JsonLinesBuilder {
    path: PathBuf,
    names: Option<Arc<Names>>,
    name: String,
    buffer_capacity: usize,
    rotation: Option<Rotation>,
    append: bool,
}

impl JsonLinesBuilder {
    pub(super) fn new(path: PathBuf) -> JsonLinesBuilder {
        JsonLinesBuilder {
            path,
            names: None,
            name: DEFAULT_JSON_LINES_NAME.to_owned(),
            buffer_capacity: DEFAULT_JSON_LINES_BUFFER_CAPACITY,
            rotation: None,
            append: false,
        }
    }

    /// The registry that interned names ([`FieldValue::Name`](crate::encoding::FieldValue::Name))
    /// resolve through; without one they are written `"#index"`.
    pub fn names(mut self, names: Arc<Names>) -> Self {
        self.names = Some(names);
        self
    }

    /// Gathers lines up to `bytes` (plus one line) before each write;
    /// default [`DEFAULT_JSON_LINES_BUFFER_CAPACITY`]. Every batch is written
    /// out before `export` returns, whatever this is.
    pub fn buffer_capacity(mut self, bytes: usize) -> Self {
        self.buffer_capacity = bytes;
        self
    }

    /// Rotates the file before it would pass `max_bytes`, keeping `keep`
    /// rotated files (see [`Rotation`]).
    pub fn rotate(mut self, max_bytes: u64, keep: usize) -> Self {
        self.rotation = Some(Rotation { max_bytes, keep });
        self
    }

    /// Appends to an existing file instead of truncating it (default: truncate).
    pub fn append(mut self, append: bool) -> Self {
        self.append = append;
        self
    }

    /// Names the exporter (as shown in `Health`); default [`DEFAULT_JSON_LINES_NAME`].
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Validates the settings and opens the file.
    ///
    /// # Errors
    /// [`JsonLinesError::InvalidSetting`] naming a bad setting;
    /// [`JsonLinesError::Open`] if the file cannot be opened for writing.
    pub fn create(self) -> Result<JsonLines, JsonLinesError> {
        if let Some(rotation) = self.rotation {
            if rotation.max_bytes == 0 {
                return Err(JsonLinesError::InvalidSetting {
                    field: "rotation.max_bytes",
                    value: "0".to_owned(),
                    expected: "an integer >= 1",
                });
            }
            if rotation.keep == 0 {
                return Err(JsonLinesError::InvalidSetting {
                    field: "rotation.keep",
                    value: "0".to_owned(),
                    expected: "an integer >= 1",
                });
            }
        }
        let (file, regular, file_len) = JsonLines::open(&self.path, self.append)
            .map_err(|source| JsonLinesError::Open { path: self.path.clone(), source })?;
        Ok(JsonLines {
            name: self.name,
            path: self.path,
            names: self.names,
            append: self.append,
            file: Some(file),
            regular,
            closed: false,
            file_len,
            buffer: Vec::with_capacity(self.buffer_capacity.min(DEFAULT_JSON_LINES_BUFFER_CAPACITY * 16)),
            buffered_lines: 0,
            buffer_capacity: self.buffer_capacity,
            rotation: self.rotation,
            stats: JsonLinesStats::default(),
        })
    }
}

/// Why a [`JsonLines`] exporter could not be created.
#[derive(Debug)]
#[non_exhaustive]
pub enum JsonLinesError {
    /// The file could not be opened for writing.
    Open {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A setting is out of range.
    InvalidSetting {
        /// The setting.
        field: &'static str,
        /// The rejected value.
        value: String,
        /// The accepted range, in words.
        expected: &'static str,
    },
}

impl fmt::Display for JsonLinesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonLinesError::Open { path, source } => write!(f, "cannot open `{}`: {source}", path.display()),
            JsonLinesError::InvalidSetting { field, value, expected } => {
                write!(f, "invalid value {value} for `{field}`: expected {expected}")
            }
        }
    }
}

impl Error for JsonLinesError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            JsonLinesError::Open { source, .. } => Some(source),
            JsonLinesError::InvalidSetting { .. } => None,
        }
    }
}
