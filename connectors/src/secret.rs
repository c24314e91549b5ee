//! Secrets (webhook URLs, tokens, signing keys) as a type that never prints its value.
//!
//! In the config a secret is `{ env = "NAME" }`, `{ file = "path" }` or, discouraged, a plain
//! string. A relative `file` is looked up in systemd's `$CREDENTIALS_DIRECTORY` first, then
//! beside the config file, then in the working directory: so `url = { file = "slack-webhook" }`
//! with `LoadCredential=slack-webhook:/etc/earshot/slack-webhook` works under systemd, and the
//! same config works for `earshot check` run by hand next to `/etc/earshot/slack-webhook`.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

/// Where a secret comes from, as written in the config. Its `Debug` names the place, never the value.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// Read from this environment variable.
    Env { env: String },
    /// Read from this file (trailing newline trimmed).
    File {
        file: PathBuf,
        /// The config file's directory, where a relative `file` is also looked for.
        base: Option<PathBuf>,
    },
    /// Written in the config itself: works, but `earshot check` warns.
    Plain(String),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Env { env } => write!(f, "Secret(env {env})"),
            Secret::File { file, .. } => write!(f, "Secret(file {})", file.display()),
            Secret::Plain(_) => f.write_str("Secret(inline, redacted)"),
        }
    }
}

/// Why a secret could not be read. Names the place, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set or empty: export it, or use {{ file = \"...\" }}")]
    MissingEnv(String),
    #[error("cannot read secret file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("secret file {0} is empty")]
    EmptyFile(String),
}

impl Secret {
    /// Reads the value now (env and files can change between reloads).
    pub fn resolve(&self) -> Result<SecretValue, SecretError> {
        match self {
            Secret::Env { env } => match std::env::var(env) {
                Ok(v) if !v.trim().is_empty() => Ok(SecretValue(v.trim().to_string())),
                _ => Err(SecretError::MissingEnv(env.clone())),
            },
            Secret::File { file, base } => {
                let mut tried = Vec::new();
                if file.is_relative() {
                    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
                        tried.push(PathBuf::from(dir).join(file));
                    }
                    if let Some(b) = base {
                        tried.push(b.join(file));
                    }
                }
                tried.push(file.clone());
                let Some(path) = tried.iter().find(|p| p.exists()) else {
                    let places: Vec<String> =
                        tried.iter().map(|p| p.display().to_string()).collect();
                    return Err(SecretError::File {
                        path: file.display().to_string(),
                        reason: format!("not found (looked in {})", places.join(", ")),
                    });
                };
                let text = read_secret_file(path)?;
                let v = text.trim();
                if v.is_empty() {
                    return Err(SecretError::EmptyFile(path.display().to_string()));
                }
                Ok(SecretValue(v.to_string()))
            }
            Secret::Plain(v) => Ok(SecretValue(v.clone())),
        }
    }

    /// True for a secret written into the config file itself.
    pub fn is_inline(&self) -> bool {
        matches!(self, Secret::Plain(_))
    }
}

/// Most bytes a secret file may hold: a token or a webhook URL, never a document.
pub const MAX_SECRET_FILE: u64 = 64 * 1024;

/// Reads a secret file: a regular file of at most [`MAX_SECRET_FILE`] bytes. A device
/// (`/dev/zero` never ends), a FIFO (opening one waits for a writer) or a directory is refused
/// before it is read, so neither `earshot check` nor a reload can hang or fill memory.
fn read_secret_file(path: &Path) -> Result<String, SecretError> {
    let err = |reason: String| SecretError::File {
        path: path.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(e.kind().to_string()))?;
    not_a_regular_file(&meta).map_err(err)?;
    let file = open_without_waiting(path).map_err(|e| err(e.kind().to_string()))?;
    // Again on the open file: the path may have been swapped since.
    let meta = file.metadata().map_err(|e| err(e.kind().to_string()))?;
    not_a_regular_file(&meta).map_err(err)?;
    let too_big = || {
        err(format!(
            "is larger than {} KiB: a secret file holds the secret and nothing else",
            MAX_SECRET_FILE / 1024
        ))
    };
    if meta.len() > MAX_SECRET_FILE {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(e.kind().to_string()))?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|_| err("is not UTF-8 text".to_string()))
}

/// `Err` with what the file is instead, when it is not a regular file.
fn not_a_regular_file(meta: &std::fs::Metadata) -> Result<(), String> {
    if meta.is_file() {
        return Ok(());
    }
    let what = if meta.is_dir() {
        "a directory"
    } else {
        special_kind(meta)
    };
    Err(format!(
        "is {what}, not a regular file: point it at a file that holds only the secret"
    ))
}

#[cfg(unix)]
fn special_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::Metadata) -> &'static str {
    "not a file"
}

/// Opens for reading without blocking on a FIFO that has no writer.
#[cfg(unix)]
fn open_without_waiting(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_without_waiting(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}

/// A resolved secret. `Debug` and `Display` are redacted; `expose()` is the only way to the value.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// Wraps a value (tests, and values built in code).
    pub fn new(v: impl Into<String>) -> Self {
        SecretValue(v.into())
    }

    /// The value itself: pass it straight to the HTTP client, never to a formatter.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(redacted)")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            env: Option<String>,
            file: Option<PathBuf>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Plain(String),
            Table(Table),
        }
        const HINT: &str = "a secret is { env = \"NAME\" }, { file = \"path\" } or a string";
        match Raw::deserialize(d).map_err(|_| serde::de::Error::custom(HINT))? {
            Raw::Plain(s) => Ok(Secret::Plain(s)),
            Raw::Table(Table {
                env: Some(env),
                file: None,
            }) => Ok(Secret::Env { env }),
            Raw::Table(Table {
                env: None,
                file: Some(file),
            }) => Ok(Secret::File { file, base: None }),
            Raw::Table(_) => Err(serde::de::Error::custom(HINT)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::Plain("https://hooks.slack.com/services/CANARY".into());
        assert!(!format!("{s:?}").contains("CANARY"));
        let v = s.resolve().unwrap();
        assert!(!format!("{v:?} {v}").contains("CANARY"));
        assert_eq!(v.expose(), "https://hooks.slack.com/services/CANARY");
    }

    #[test]
    fn missing_env_names_the_variable() {
        let s = Secret::Env {
            env: "EARSHOT_TEST_SURELY_UNSET_VAR".into(),
        };
        let e = s.resolve().unwrap_err();
        assert!(e.to_string().contains("EARSHOT_TEST_SURELY_UNSET_VAR"));
    }

    #[test]
    fn file_secret_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tok");
        std::fs::write(&p, "abc\n").unwrap();
        let s = Secret::File {
            file: p,
            base: None,
        };
        assert_eq!(s.resolve().unwrap().expose(), "abc");
        // A relative name is found beside the config file.
        let rel = Secret::File {
            file: "tok".into(),
            base: Some(dir.path().to_path_buf()),
        };
        assert_eq!(rel.resolve().unwrap().expose(), "abc");
        let missing = Secret::File {
            file: "nope".into(),
            base: Some(dir.path().to_path_buf()),
        };
        let e = missing.resolve().unwrap_err().to_string();
        assert!(
            e.contains("not found (looked in") && e.contains("nope"),
            "{e}"
        );
    }

    /// Resolves on another thread: a secret read that hangs fails the test instead of the suite.
    fn resolve_in_time(s: Secret) -> Result<SecretValue, SecretError> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(s.resolve());
        });
        rx.recv_timeout(std::time::Duration::from_secs(20))
            .expect("reading the secret hung")
    }

    fn file(p: &Path) -> Secret {
        Secret::File {
            file: p.to_path_buf(),
            base: None,
        }
    }

    #[cfg(unix)]
    #[test]
    fn devices_fifos_and_directories_are_refused_without_reading_them() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for (path, what) in [
            (Path::new("/dev/zero"), "a device"),
            (fifo.as_path(), "a FIFO"),
            (dir.path(), "a directory"),
        ] {
            let e = resolve_in_time(file(path)).unwrap_err().to_string();
            assert!(
                e.contains(&format!("is {what}, not a regular file")),
                "{path:?}: {e}"
            );
            assert!(e.contains(&path.display().to_string()), "{e}");
        }
    }

    #[test]
    fn a_secret_file_holds_at_most_64_kib() {
        let dir = tempfile::tempdir().unwrap();
        let at_cap = dir.path().join("at-cap");
        std::fs::write(&at_cap, "a".repeat(MAX_SECRET_FILE as usize)).unwrap();
        assert_eq!(
            resolve_in_time(file(&at_cap)).unwrap().expose().len(),
            MAX_SECRET_FILE as usize
        );
        let over = dir.path().join("over");
        std::fs::write(&over, "a".repeat(MAX_SECRET_FILE as usize + 1)).unwrap();
        let e = resolve_in_time(file(&over)).unwrap_err().to_string();
        assert!(e.contains("is larger than 64 KiB"), "{e}");
        assert!(!e.contains("aaaa"), "the content is not shown: {e}");
    }
}
