//! Signed, expiring acknowledge links.
//!
//! An urgent alert carries a link such as `https://earshot.example/ack?m=12.13&exp=1790000000&sig=…`.
//! Opening it shows what it acknowledges ([`crate::http`]); the button posts it back. Anyone who
//! can read the chat can press it, so the link itself is the credential: an HMAC-SHA256 over a
//! domain tag, the mention ids and the expiry, under a key that never leaves the state
//! directory. A guessed, altered or expired link does nothing.
//!
//! What is signed is fixed-width binary, not the query text, so the id order in the URL and
//! its spelling do not matter, and no two different (ids, expiry) pairs share a message:
//! `"earshot-ack-v1\0"`, the id count (u64, big-endian), each sorted, deduplicated id (i64,
//! big-endian), then the expiry (i64, big-endian). A new link format gets a new tag, so a
//! signature can never be replayed across formats.
//!
//! Rotating the key (deleting `ack.key`) voids every link sent so far; nothing else does.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Separates this use of the key from any other the key may get later.
const DOMAIN_TAG: &[u8] = b"earshot-ack-v1\0";

/// The key file's name inside the state directory.
pub const KEY_FILE: &str = "ack.key";

/// Most ids one link may carry. A grouped alert holds far fewer; the cap bounds the work a
/// hostile URL can cause before its signature is even checked.
pub const MAX_IDS: usize = 1000;

/// What every refusal tells the person who clicked.
const WHAT_TO_DO: &str = "ask for a new link or run `earshot ack ID`";

/// The secret that signs acknowledge links: 32 random bytes kept in `<state_dir>/ack.key`.
#[derive(Clone)]
pub struct AckKey {
    /// Never printed: `Debug` shows a placeholder.
    bytes: [u8; 32],
}

impl fmt::Debug for AckKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AckKey(<redacted>)")
    }
}

/// Why a link does nothing. The messages are shown on the refusal page, so they say what to do
/// and never echo the signature or the query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckLinkError {
    /// A parameter is missing, repeated, unknown or not of its form.
    #[error("This acknowledge link is incomplete or damaged: {WHAT_TO_DO}.")]
    Malformed,
    /// Well-formed, but not signed by this earshot's key (altered, guessed, or the key was
    /// replaced since).
    #[error(
        "This acknowledge link is not valid (it was altered, or earshot's key changed since): {WHAT_TO_DO}."
    )]
    BadSignature,
    /// Genuine, but past its expiry (Unix seconds).
    #[error("This acknowledge link expired on {}: {WHAT_TO_DO}.", utc(*.at))]
    Expired { at: i64 },
}

/// A Unix time as people read it, or the raw number when out of chrono's range.
fn utc(at: i64) -> String {
    match chrono::DateTime::from_timestamp(at, 0) {
        Some(t) => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        None => format!("{at} (Unix time)"),
    }
}

impl AckKey {
    /// Reads `<state_dir>/ack.key` (64 hex chars), creating it when missing from 32 bytes of
    /// /dev/urandom, written with mode 0600 (create_new, then rename-free: a crash leaves no
    /// half key: write to a temp name in the same dir, fsync, rename). A malformed file is an
    /// error naming the file and telling to delete it (links signed with it stop working).
    pub fn load_or_create(state_dir: &Path) -> Result<AckKey, String> {
        let path = state_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse_file(&path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(state_dir, &path),
            Err(e) => Err(format!(
                "cannot read the acknowledge-link key {}: {e}",
                path.display()
            )),
        }
    }

    /// A key from known bytes, for tests and for callers that keep the key elsewhere.
    pub fn from_bytes(bytes: [u8; 32]) -> AckKey {
        AckKey { bytes }
    }

    /// `{base}/ack?m=12.13&exp=1790000000&sig=<hex>`; `base` without trailing slash (strip one).
    /// The signature covers a domain tag, the sorted deduped ids and `exp`.
    pub fn link(&self, base: &str, mention_ids: &[i64], expires_at: i64) -> String {
        let base = base.strip_suffix('/').unwrap_or(base);
        let ids = canonical(mention_ids.to_vec());
        let m = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(".");
        let sig = hex::encode(self.mac(&ids, expires_at).finalize().into_bytes());
        format!("{base}/ack?m={m}&exp={expires_at}&sig={sig}")
    }

    /// The ids a link's query string (`m=..&exp=..&sig=..`, any order, extra params refused)
    /// acknowledges when the signature holds (constant-time: `Mac::verify_slice`) and `now < exp`.
    pub fn verify(&self, query: &str, now: i64) -> Result<Vec<i64>, AckLinkError> {
        let parts = parse_query(query)?;
        let ids = canonical(parts.ids);
        // The signature first: a forged link learns nothing, not even whether its expiry passed.
        self.mac(&ids, parts.exp)
            .verify_slice(&parts.sig)
            .map_err(|_| AckLinkError::BadSignature)?;
        if now >= parts.exp {
            return Err(AckLinkError::Expired { at: parts.exp });
        }
        Ok(ids)
    }

    /// The MAC state after feeding the signed message (see the module doc for its layout).
    fn mac(&self, sorted_ids: &[i64], exp: i64) -> HmacSha256 {
        // Any key length is valid for HMAC, so this cannot fail; the expect documents that.
        let mut mac =
            HmacSha256::new_from_slice(&self.bytes).expect("HMAC accepts keys of any length");
        mac.update(DOMAIN_TAG);
        mac.update(&(sorted_ids.len() as u64).to_be_bytes());
        for id in sorted_ids {
            mac.update(&id.to_be_bytes());
        }
        mac.update(&exp.to_be_bytes());
        mac
    }

    fn parse_file(path: &Path, text: &str) -> Result<AckKey, String> {
        let bad = || {
            format!(
                "{} is not a valid acknowledge-link key (64 hex characters expected): delete it \
                 and earshot makes a new one at start (acknowledge links already sent stop working)",
                path.display()
            )
        };
        let hex_text = text.trim();
        if hex_text.len() != 64 {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_text, &mut bytes).map_err(|_| bad())?;
        warn_if_readable_by_others(path);
        Ok(AckKey { bytes })
    }

    /// Writes a fresh key so that no reader ever sees half of it, and so that two earshots
    /// starting at once end up with the same key: the file appears whole through `link(2)`,
    /// which, unlike `rename(2)`, refuses to replace a key another process put there first.
    fn create(state_dir: &Path, path: &Path) -> Result<AckKey, String> {
        let fail = |what: &str, e: std::io::Error| {
            format!(
                "cannot create the acknowledge-link key {} ({what}): {e}",
                path.display()
            )
        };
        std::fs::create_dir_all(state_dir).map_err(|e| fail("state directory", e))?;
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(|e| fail("reading /dev/urandom", e))?;

        let tmp = temp_name(state_dir);
        let written = write_private(&tmp, format!("{}\n", hex::encode(bytes)).as_bytes());
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(fail("writing", e));
        }
        let placed = match std::fs::hard_link(&tmp, path) {
            // Another earshot won the race: use its key, so both sign the same way.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let _ = std::fs::remove_file(&tmp);
                let text = std::fs::read_to_string(path).map_err(|e| fail("reading", e))?;
                return Self::parse_file(path, &text);
            }
            // A filesystem without hard links: a rename is still atomic, only not race-free.
            Err(_) => std::fs::rename(&tmp, path),
            Ok(()) => Ok(()),
        };
        let _ = std::fs::remove_file(&tmp);
        placed.map_err(|e| fail("moving into place", e))?;
        // The new name must survive a crash too, or the key is lost with links already sent.
        std::fs::File::open(state_dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| fail("syncing the state directory", e))?;
        tracing::info!(path = %path.display(), "Created a new acknowledge-link key");
        Ok(AckKey { bytes })
    }
}

/// A temp name in the same directory (so `link(2)` stays on one filesystem) that no other
/// process picks: pid plus randomness, and `create_new` refuses a leftover anyway.
fn temp_name(dir: &Path) -> PathBuf {
    dir.join(format!(
        ".{KEY_FILE}.tmp.{}.{:016x}",
        std::process::id(),
        fastrand::u64(..)
    ))
}

/// Creates `path` readable by its owner only, writes `data` and fsyncs it.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// A key others can read is a key others can forge links with; say so, but keep running
/// (refusing would take the whole daemon down over a permission an operator chose).
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "The acknowledge-link key is readable by others: chmod 600 it"
        );
    }
}

fn canonical(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// A link's three parameters, as parsed and before any check of the signature.
struct LinkParts {
    ids: Vec<i64>,
    exp: i64,
    sig: Vec<u8>,
}

/// Splits `m=..&exp=..&sig=..` strictly: each parameter exactly once, nothing else, no
/// percent-encoding (a genuine link never needs any).
fn parse_query(query: &str) -> Result<LinkParts, AckLinkError> {
    let (mut m, mut exp, mut sig) = (None, None, None);
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').ok_or(AckLinkError::Malformed)?;
        let slot = match name {
            "m" => &mut m,
            "exp" => &mut exp,
            "sig" => &mut sig,
            _ => return Err(AckLinkError::Malformed),
        };
        if slot.replace(value).is_some() {
            return Err(AckLinkError::Malformed);
        }
    }
    let (m, exp, sig) = match (m, exp, sig) {
        (Some(m), Some(exp), Some(sig)) => (m, exp, sig),
        _ => return Err(AckLinkError::Malformed),
    };
    if m.is_empty() || m.split('.').count() > MAX_IDS {
        return Err(AckLinkError::Malformed);
    }
    let ids = m.split('.').map(parse_int).collect::<Result<Vec<_>, _>>()?;
    let exp = parse_int(exp)?;
    if sig.len() != 64 {
        return Err(AckLinkError::Malformed);
    }
    let sig = hex::decode(sig).map_err(|_| AckLinkError::Malformed)?;
    Ok(LinkParts { ids, exp, sig })
}

/// Digits with an optional leading minus; `i64::from_str` alone would also take a `+`.
fn parse_int(s: &str) -> Result<i64, AckLinkError> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AckLinkError::Malformed);
    }
    s.parse().map_err(|_| AckLinkError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_000_000;
    const EXP: i64 = 1_790_000_000;

    fn key() -> AckKey {
        AckKey::from_bytes([7; 32])
    }

    /// The query part of a link made by `key()`.
    fn query(ids: &[i64], exp: i64) -> String {
        let link = key().link("https://e.example", ids, exp);
        link.split_once('?')
            .expect("a link has a query")
            .1
            .to_owned()
    }

    /// `query` with one parameter's value replaced.
    fn with(q: &str, name: &str, value: &str) -> String {
        q.split('&')
            .map(|p| match p.split_once('=') {
                Some((n, _)) if n == name => format!("{n}={value}"),
                _ => p.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    fn flip_last_hex(sig_q: &str) -> String {
        let sig = sig_q.rsplit_once("sig=").expect("sig").1;
        let last = sig.chars().last().expect("non-empty");
        let flipped = if last == '0' { '1' } else { '0' };
        format!("{}{flipped}", &sig[..sig.len() - 1])
    }

    #[test]
    fn link_shape() {
        let link = key().link("https://e.example/earshot/", &[13, 12, 13], EXP);
        let (base, q) = link.split_once('?').expect("query");
        assert_eq!(base, "https://e.example/earshot/ack");
        assert!(q.starts_with(&format!("m=12.13&exp={EXP}&sig=")), "{q}");
        let sig = q.rsplit_once("sig=").expect("sig").1;
        assert_eq!(sig.len(), 64);
        assert!(
            sig.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    type Verdict = Result<Vec<i64>, AckLinkError>;

    #[test]
    fn verify_table() {
        let good = query(&[12, 13], EXP);
        let sig = good.rsplit_once("sig=").expect("sig").1.to_owned();
        let other_key = AckKey::from_bytes([8; 32]);
        let key = key();
        let key = &key;
        let cases: Vec<(&str, String, &AckKey, i64, Verdict)> = vec![
            ("valid", good.clone(), key, NOW, Ok(vec![12, 13])),
            ("valid one id", query(&[5], EXP), key, NOW, Ok(vec![5])),
            (
                "ids reordered",
                with(&good, "m", "13.12"),
                key,
                NOW,
                Ok(vec![12, 13]),
            ),
            (
                "id repeated",
                with(&good, "m", "13.12.12"),
                key,
                NOW,
                Ok(vec![12, 13]),
            ),
            (
                "params in another order",
                format!("sig={sig}&exp={EXP}&m=12.13"),
                key,
                NOW,
                Ok(vec![12, 13]),
            ),
            (
                "uppercase signature",
                with(&good, "sig", &sig.to_uppercase()),
                key,
                NOW,
                Ok(vec![12, 13]),
            ),
            (
                "id added",
                with(&good, "m", "12.13.14"),
                key,
                NOW,
                Err(AckLinkError::BadSignature),
            ),
            (
                "id removed",
                with(&good, "m", "12"),
                key,
                NOW,
                Err(AckLinkError::BadSignature),
            ),
            (
                "id changed",
                with(&good, "m", "12.14"),
                key,
                NOW,
                Err(AckLinkError::BadSignature),
            ),
            (
                "expiry extended",
                with(&good, "exp", &(EXP + 1).to_string()),
                key,
                NOW,
                Err(AckLinkError::BadSignature),
            ),
            (
                "signature altered",
                with(&good, "sig", &flip_last_hex(&good)),
                key,
                NOW,
                Err(AckLinkError::BadSignature),
            ),
            (
                "wrong key",
                good.clone(),
                &other_key,
                NOW,
                Err(AckLinkError::BadSignature),
            ),
            (
                "expired exactly now",
                good.clone(),
                key,
                EXP,
                Err(AckLinkError::Expired { at: EXP }),
            ),
            (
                "expired later",
                good.clone(),
                key,
                EXP + 86_400,
                Err(AckLinkError::Expired { at: EXP }),
            ),
            (
                "forged expiry on an expired link is a bad signature",
                with(&good, "exp", &(EXP + 10).to_string()),
                key,
                EXP + 5,
                Err(AckLinkError::BadSignature),
            ),
            (
                "extra param",
                format!("{good}&utm_source=chat"),
                key,
                NOW,
                Err(AckLinkError::Malformed),
            ),
            (
                "repeated param",
                format!("{good}&m=12.13"),
                key,
                NOW,
                Err(AckLinkError::Malformed),
            ),
            (
                "missing sig",
                format!("m=12.13&exp={EXP}"),
                key,
                NOW,
                Err(AckLinkError::Malformed),
            ),
            (
                "missing m",
                format!("exp={EXP}&sig={sig}"),
                key,
                NOW,
                Err(AckLinkError::Malformed),
            ),
            (
                "empty query",
                String::new(),
                key,
                NOW,
                Err(AckLinkError::Malformed),
            ),
            (
                "empty id list",
                with(&good, "m", ""),
                key,
                NOW,
                Err(AckLinkError::Malformed),
            ),
            (
                "empty id",
                with(&good, "m", "12..13"),
                key,
                NOW,
                Err(AckLinkError::Malformed),
            ),
            (
                "id with a plus",
                with(&good, "m", "+12.13"),
                key,
                NOW,
                Err(AckLinkError::Malformed),
            ),
            (
                "id not a number",
                with(&good, "m", "12.x"),
                key,
                NOW,
                Err(AckLinkError::Malformed),
            ),
            (
                "id overflows",
                with(&good, "m", "99999999999999999999"),
                key,
                NOW,
                Err(AckLinkError::Malformed),
            ),
            (
                "percent-encoded separator",
                with(&good, "m", "12%2E13"),
                key,
                NOW,
                Err(AckLinkError::Malformed),
            ),
            (
                "expiry not a number",
                with(&good, "exp", "soon"),
                key,
                NOW,
                Err(AckLinkError::Malformed),
            ),
            (
                "signature truncated",
                with(&good, "sig", &sig[..62]),
                key,
                NOW,
                Err(AckLinkError::Malformed),
            ),
            (
                "signature not hex",
                with(&good, "sig", &"zz".repeat(32)),
                key,
                NOW,
                Err(AckLinkError::Malformed),
            ),
            (
                "param without value",
                format!("{good}&flag"),
                key,
                NOW,
                Err(AckLinkError::Malformed),
            ),
            (
                "trailing ampersand",
                format!("{good}&"),
                key,
                NOW,
                Err(AckLinkError::Malformed),
            ),
            (
                "too many ids",
                with(
                    &good,
                    "m",
                    &(0..=MAX_IDS)
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join("."),
                ),
                key,
                NOW,
                Err(AckLinkError::Malformed),
            ),
        ];
        for (name, q, k, now, want) in cases {
            assert_eq!(k.verify(&q, now), want, "case {name}: {q}");
        }
    }

    #[test]
    fn many_and_negative_ids_round_trip() {
        let ids: Vec<i64> = (0..MAX_IDS as i64).map(|i| i * 7 - 3).collect();
        let q = query(&ids, EXP);
        let mut want = ids.clone();
        want.sort_unstable();
        assert_eq!(key().verify(&q, NOW), Ok(want));
    }

    #[test]
    fn base_without_slash_is_kept() {
        let link = key().link("http://127.0.0.1:9477", &[1], EXP);
        assert!(
            link.starts_with("http://127.0.0.1:9477/ack?m=1&exp="),
            "{link}"
        );
    }

    #[test]
    fn messages_say_what_to_do_and_never_echo_the_link() {
        let good = query(&[12, 13], EXP);
        let sig = good.rsplit_once("sig=").expect("sig").1.to_owned();
        for e in [
            AckLinkError::Malformed,
            AckLinkError::BadSignature,
            AckLinkError::Expired { at: EXP },
        ] {
            let msg = e.to_string();
            assert!(
                msg.contains("ask for a new link or run `earshot ack ID`"),
                "{msg}"
            );
            assert!(!msg.contains(&sig), "{msg}");
        }
        assert!(
            AckLinkError::Expired { at: EXP }
                .to_string()
                .contains("2026-09-21 "),
            "the expiry is shown as a date"
        );
        assert!(
            AckLinkError::Expired { at: i64::MAX }
                .to_string()
                .contains("Unix time")
        );
    }

    #[test]
    fn debug_hides_the_key() {
        let shown = format!("{:?}", AckKey::from_bytes([0xab; 32]));
        assert!(!shown.to_lowercase().contains("abab"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
    }

    #[test]
    fn key_file_is_created_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let first = AckKey::load_or_create(&state).expect("created");
        let path = state.join(KEY_FILE);
        let mode = std::fs::metadata(&path)
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.trim().len(), 64);
        assert_eq!(hex::decode(text.trim()).expect("hex"), first.bytes);
        // No temp file is left behind.
        let names: Vec<_> = std::fs::read_dir(&state)
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(KEY_FILE)]);

        let second = AckKey::load_or_create(&state).expect("read back");
        assert_eq!(first.bytes, second.bytes);
        let q = first.link("http://x", &[1, 2], EXP);
        let q = q.split_once('?').expect("query").1;
        assert_eq!(second.verify(q, NOW), Ok(vec![1, 2]));
    }

    #[test]
    fn two_new_keys_differ() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        let ka = AckKey::load_or_create(a.path()).expect("a");
        let kb = AckKey::load_or_create(b.path()).expect("b");
        assert_ne!(ka.bytes, kb.bytes);
    }

    #[test]
    fn processes_creating_the_key_at_once_agree_on_it() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().expect("tempdir");
            let barrier = std::sync::Barrier::new(4);
            let keys: Vec<[u8; 32]> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..4)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            AckKey::load_or_create(dir.path()).expect("key").bytes
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("thread"))
                    .collect()
            });
            assert!(
                keys.iter().all(|k| *k == keys[0]),
                "every caller got the same key"
            );
            let on_disk = std::fs::read_to_string(dir.path().join(KEY_FILE)).expect("read");
            assert_eq!(hex::decode(on_disk.trim()).expect("hex"), keys[0]);
        }
    }

    #[test]
    fn a_key_file_with_a_newline_or_uppercase_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(KEY_FILE);
        std::fs::write(&path, format!("{}\r\n", "AB".repeat(32))).expect("write");
        let k = AckKey::load_or_create(dir.path()).expect("read");
        assert_eq!(k.bytes, [0xab; 32]);
    }

    #[test]
    fn malformed_key_files_are_errors_that_name_the_file() {
        for (name, content) in [
            ("empty", String::new()),
            ("short", "ab".repeat(31)),
            ("long", "ab".repeat(33)),
            ("not hex", "zz".repeat(32)),
            ("raw bytes", "\u{1}".repeat(32)),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join(KEY_FILE);
            std::fs::write(&path, &content).expect("write");
            let err = AckKey::load_or_create(dir.path()).expect_err(name);
            assert!(err.contains(&path.display().to_string()), "{name}: {err}");
            assert!(err.contains("delete it"), "{name}: {err}");
            assert!(err.contains("stop working"), "{name}: {err}");
            // The file is left alone: deleting it is the operator's call.
            assert_eq!(std::fs::read_to_string(&path).expect("kept"), content);
        }
    }

    #[test]
    fn an_unreadable_state_dir_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A file where the state directory should be.
        let state = dir.path().join("state");
        std::fs::write(&state, "not a dir").expect("write");
        let err = AckKey::load_or_create(&state).expect_err("not a directory");
        assert!(err.contains(KEY_FILE), "{err}");
    }
}
