//! Where the JSON Lines file goes: the default location (created if needed)
//! or a `--out` path, whose directory must already exist.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Where the path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutSource {
    /// `<target dir>/ringtel-pipeline/events.jsonl`, or the temporary
    /// directory when the binary does not sit in a Cargo target directory.
    Default,
    /// `--out`.
    Given,
}

/// A checked output path: its directory exists and is a directory.
#[derive(Debug)]
pub(crate) struct OutPath {
    path: PathBuf,
    source: OutSource,
}

/// Why an output path cannot be used; each names the path and what is wrong.
#[derive(Debug)]
pub(crate) enum OutError {
    /// The directory of a `--out` path does not exist (it is not created: a
    /// typo would otherwise leave directories behind).
    MissingDirectory { path: PathBuf, dir: PathBuf },
    /// Something on the way to the file is not a directory.
    NotADirectory { path: PathBuf, dir: PathBuf },
    /// The path itself is a directory.
    IsADirectory { path: PathBuf },
    /// The directory could not be inspected or created.
    Io { path: PathBuf, dir: PathBuf, source: io::Error },
}

impl fmt::Display for OutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutError::MissingDirectory { path, dir } => write!(
                f,
                "--out {}: directory {} does not exist (create it first)",
                path.display(),
                dir.display()
            ),
            OutError::NotADirectory { path, dir } => {
                write!(f, "--out {}: {} is not a directory", path.display(), dir.display())
            }
            OutError::IsADirectory { path } => {
                write!(f, "--out {}: is a directory, expected a file path", path.display())
            }
            OutError::Io { path, dir, source } => {
                write!(f, "--out {}: directory {}: {source}", path.display(), dir.display())
            }
        }
    }
}

impl std::error::Error for OutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OutError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl OutPath {
    /// A `--out` path: its directory must exist.
    pub(crate) fn given(path: &Path) -> Result<OutPath, OutError> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(OutError::NotADirectory { path: path.to_owned(), dir: dir.to_owned() }),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(OutError::MissingDirectory { path: path.to_owned(), dir: dir.to_owned() });
            }
            Err(err) if err.raw_os_error() == Some(ENOTDIR) => {
                let dir = dir
                    .ancestors()
                    .skip(1)
                    .find(|a| std::fs::metadata(a).is_ok_and(|m| !m.is_dir()))
                    .unwrap_or(dir);
                return Err(OutError::NotADirectory { path: path.to_owned(), dir: dir.to_owned() });
            }
            Err(source) => return Err(OutError::Io { path: path.to_owned(), dir: dir.to_owned(), source }),
        }
        if path.is_dir() {
            return Err(OutError::IsADirectory { path: path.to_owned() });
        }
        Ok(OutPath { path: path.to_owned(), source: OutSource::Given })
    }

    /// The default location, its directory created if needed.
    pub(crate) fn default_location() -> Result<OutPath, OutError> {
        let dir = default_dir();
        std::fs::create_dir_all(&dir).map_err(|source| OutError::Io {
            path: dir.join("events.jsonl"),
            dir: dir.clone(),
            source,
        })?;
        Ok(OutPath { path: dir.join("events.jsonl"), source: OutSource::Default })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn source(&self) -> OutSource {
        self.source
    }
}

/// `ENOTDIR` on Linux and the BSDs: a path component is not a directory.
const ENOTDIR: i32 = 20;

/// `<target>/ringtel-pipeline` when this binary is `<target>/<profile>/examples/pipeline`
/// (wherever `CARGO_TARGET_DIR` put it), else `<temp dir>/ringtel-pipeline`.
fn default_dir() -> PathBuf {
    let target = std::env::current_exe().ok().and_then(|exe| {
        let examples = exe.parent()?;
        if examples.file_name()? != "examples" {
            return None;
        }
        Some(examples.parent()?.parent()?.to_owned())
    });
    target.unwrap_or_else(std::env::temp_dir).join("ringtel-pipeline")
}
