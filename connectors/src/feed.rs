//! RSS 0.9x/1.0/2.0, Atom and JSON Feed, through feed-rs, over HTTP(S) or from local files.
//!
//! The bytes go to feed-rs untouched (it reads the XML declaration's encoding itself), and each
//! entry becomes one [`Mention`]. Two repairs around feed-rs: an `<rss>` root without a
//! `version` attribute (which feed-rs refuses) is read as RSS 2.0, and a panic inside feed-rs
//! becomes a [`FetchError::Parse`]. An HTML page where the feed should be is a
//! [`FetchError::Unexpected`], told apart by the body, not the (often wrong) `Content-Type`.
//!
//! Adding a feed flavour feed-rs does not read: convert it to bytes feed-rs does read before
//! [`parse_feed`], as `with_rss_version` does, with a table test and a fixture.
//!
//! # Ids
//!
//! `platform_id` must stay the same across polls, or the store sees every item as new. It is,
//! in order: the entry's own id (RSS `guid`, Atom `id`, JSON Feed `id`); else its link (after
//! resolving and unwrapping, see below); else the SHA-256 (hex) of its title and content.
//! feed-rs fills a missing id with a hash of link and title, or with a random UUID when there is
//! neither, which would change every poll: we give it an id generator that returns an empty
//! string, so "the feed had no id" stays visible and the rules above apply.
//!
//! # Kinds
//!
//! Everything is a [`MentionKind::Post`] except the entries of a comments feed, which are
//! [`MentionKind::Comment`]. A feed counts as a comments feed when its title starts with
//! "Comments on" or "Comments for" (WordPress) or when the document uses Atom threading's
//! `<thr:in-reply-to>` (Blogger and others; the usual `thr` prefix is assumed). The check is per
//! feed, not per entry: feed-rs does not expose `thr:in-reply-to`, and mixed feeds are rare.
//!
//! # Threads
//!
//! `conversation.thread_id` is the item's comments address (RSS `<comments>`, else
//! `wfw:commentRss`), so that later comments found elsewhere can be grouped under the post.
//!
//! # Links
//!
//! `url` is the entry's first link that is not a comments, `self`, `edit` or `enclosure` link,
//! resolved against the address the feed was fetched from when relative, and unwrapped from
//! redirectors such as Google Alerts' (`google.com/url?...&url=<real>`).

use std::panic::AssertUnwindSafe;

use feed_rs::model::{Entry, Feed, LinkTarget};
use feed_rs::parser::{ParseErrorKind, ParseFeedError, ParseFeedResult};
use sha2::{Digest, Sha256};
use url::Url;

use crate::http::Fetched;
use crate::text::{html_to_text, unwrap_redirect};
use crate::{
    Author, ConfigProblem, Conversation, FetchError, FetchOutcome, HttpFetcher, Mention,
    MentionKind, Notice, SourceState,
};
use serde::Deserialize;

/// The `[[source]]` keys of `kind = "feed"` (besides the common ones).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// `http(s)://...`, `file://...` or a plain path.
    pub url: String,
}

impl FeedConfig {
    /// The URL must be one the fetcher can read. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        match crate::http::check_source_url(&self.url) {
            Ok(()) => Vec::new(),
            Err(FetchError::Config(m)) => vec![ConfigProblem::new("url", m)],
            Err(e) => vec![ConfigProblem::new("url", e.to_string())],
        }
    }

    /// Feeds carry no credentials (a token in the URL is redacted from everything we show).
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut crate::secret::Secret)> {
        Vec::new()
    }

    pub fn endpoint(&self) -> String {
        self.url.clone()
    }
}

/// One configured feed.
#[derive(Debug, Clone)]
pub struct FeedConnector {
    /// `http(s)://...`, `file://...` or a plain path.
    pub url: String,
}

impl FeedConnector {
    pub fn new(config: &FeedConfig) -> Result<FeedConnector, FetchError> {
        Ok(FeedConnector {
            url: config.url.clone(),
        })
    }

    pub async fn fetch(
        &self,
        http: &HttpFetcher,
        state: &SourceState,
    ) -> Result<FetchOutcome, FetchError> {
        match http.get(&self.url, state).await? {
            Fetched::NotModified => Ok(FetchOutcome {
                mentions: Vec::new(),
                state: state.clone(),
                not_modified: true,
                notice: None,
            }),
            Fetched::Body {
                bytes,
                content_type: _,
                etag,
                last_modified,
                final_url,
            } => {
                // Parsing a large feed takes a while (up to ~0.2 s for 15 MiB): off the async
                // workers, so that other sources and deliveries are not held up.
                let (mentions, damaged, left_out) = tokio::task::spawn_blocking(move || {
                    parse_feed_capped(&bytes, &final_url, MAX_FEED_ITEMS)
                })
                .await
                .map_err(|e| {
                    FetchError::Parse(format!("the parser stopped unexpectedly ({e})"))
                })??;
                let mut notes = Vec::new();
                if left_out > 0 {
                    notes.push(format!(
                        "the feed has {} items; only the first {MAX_FEED_ITEMS} were read, {left_out} left out",
                        MAX_FEED_ITEMS + left_out
                    ));
                }
                if damaged {
                    notes.push(DAMAGED_TEXT.to_string());
                }
                let notice = (!notes.is_empty()).then(|| Notice {
                    degraded: false,
                    message: notes.join("; "),
                });
                Ok(FetchOutcome {
                    mentions,
                    state: SourceState {
                        etag,
                        last_modified,
                        // Feeds have no cursor: the whole document is re-read and the store
                        // absorbs the overlap. Kept in case another layer set one.
                        cursor: state.cursor.clone(),
                    },
                    not_modified: false,
                    notice,
                })
            }
        }
    }
}

/// The source's notice when a feed was read only after its damaged text was replaced.
pub const DAMAGED_TEXT: &str = "the feed has damaged text (bytes that are not UTF-8, or a broken \
     \\u escape in JSON): it was read with \u{FFFD} in their place; tell the feed's owner";

/// Most items read from one feed document. A feed of hundreds of thousands of tiny items
/// would otherwise cost hundreds of megabytes to parse, whatever the body cap; feeds list the
/// newest first, so the first ones are the ones that matter.
pub const MAX_FEED_ITEMS: usize = 5_000;

/// [`parse_feed_repairing`] of at most `max` items: an XML document with more is cut before
/// its item number `max + 1` and closed, so the parser never holds the rest. Returns the
/// mentions, whether the text was repaired, and how many items were left out.
pub fn parse_feed_capped(
    bytes: &[u8],
    base: &str,
    max: usize,
) -> Result<(Vec<Mention>, bool, usize), FetchError> {
    let Some((starts, cuts, close)) = item_starts(bytes, max) else {
        return parse_feed_repairing(bytes, base).map(|(m, d)| (m, d, 0));
    };
    // Cut before item `max + 1`; when that cut falls somewhere odd (an `<item` inside CDATA or
    // a comment), before the next few. Never the whole document: that is the memory the cap is
    // for.
    let mut first_error = None;
    for (k, at) in cuts.iter().enumerate() {
        let mut cut = Vec::with_capacity(at + close.len());
        cut.extend_from_slice(&bytes[..*at]);
        cut.extend_from_slice(close);
        match parse_feed_repairing(&cut, base) {
            Ok((m, d)) => return Ok((m, d, starts - max - k)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(FetchError::Parse(format!(
        "the feed has {starts} items, more than the {max} earshot reads from one document, and \
         does not parse when cut there ({}): ask its owner for a shorter feed",
        first_error.map(|e| e.to_string()).unwrap_or_default()
    )))
}

/// For an RSS, RDF or Atom document of more than `max` items: how many item start tags it
/// has, the offsets of the next few after item `max` (where to cut), and what closes the
/// document there. `None` for a shorter or other document.
fn item_starts(bytes: &[u8], max: usize) -> Option<(usize, Vec<usize>, &'static [u8])> {
    const CUT_TRIES: usize = 8;
    let head = &bytes[..bytes.len().min(64 * 1024)];
    let (tag, close): (&[u8], &'static [u8]) = if find(head, b"<rdf:RDF").is_some() {
        (b"<item", b"</rdf:RDF>")
    } else if find(head, b"<rss").is_some() {
        (b"<item", b"</channel></rss>")
    } else if find(head, b"<feed").is_some() {
        (b"<entry", b"</feed>")
    } else {
        return None;
    };
    let mut starts = 0usize;
    let mut cuts = Vec::new();
    let mut from = 0;
    while let Some(i) = find(&bytes[from..], tag) {
        let at = from + i;
        from = at + tag.len();
        if matches!(
            bytes.get(from),
            Some(b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/')
        ) {
            starts += 1;
            if starts > max && cuts.len() < CUT_TRIES {
                cuts.push(at);
            }
        }
    }
    (starts > max).then_some((starts, cuts, close))
}

/// Parses a feed document into mentions; `base` is where it came from (for relative links).
/// A document refused for damaged text is read with replacement characters (see
/// [`parse_feed_repairing`]).
pub fn parse_feed(bytes: &[u8], base: &str) -> Result<Vec<Mention>, FetchError> {
    parse_feed_repairing(bytes, base).map(|(mentions, _)| mentions)
}

/// As [`parse_feed`], and whether the text had to be repaired first: one bad byte in an RSS
/// document, or a lone surrogate escape in a JSON Feed, makes the parser refuse the whole
/// document, so the valid items beside it would never be read. Such a document is read again
/// with U+FFFD in place of the damage, and the caller says so.
pub fn parse_feed_repairing(bytes: &[u8], base: &str) -> Result<(Vec<Mention>, bool), FetchError> {
    match parse_feed_once(bytes, base) {
        Err(FetchError::Parse(e)) => match repair_text(bytes) {
            Some(fixed) => match parse_feed_once(&fixed, base) {
                Ok(mentions) => Ok((mentions, true)),
                Err(_) => Err(FetchError::Parse(e)),
            },
            None => Err(FetchError::Parse(e)),
        },
        other => other.map(|m| (m, false)),
    }
}

/// The document with its damaged text replaced, when it has some that can be: bytes that are
/// not UTF-8 in a document that declares no other encoding, or `\u` escapes of lone UTF-16
/// surrogates in JSON.
fn repair_text(bytes: &[u8]) -> Option<Vec<u8>> {
    match std::str::from_utf8(bytes) {
        Err(_) => {
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(256)]).to_ascii_lowercase();
            let declared_other = head
                .split("encoding=")
                .nth(1)
                .is_some_and(|e| !e.trim_start_matches(['"', '\'']).starts_with("utf-8"));
            let bom16 = bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]);
            (!declared_other && !bom16)
                .then(|| String::from_utf8_lossy(bytes).into_owned().into_bytes())
        }
        Ok(text) if text.trim_start().starts_with('{') => {
            let fixed = replace_lone_surrogates(text);
            (fixed != text).then(|| fixed.into_bytes())
        }
        Ok(_) => None,
    }
}

/// Replaces every `\uXXXX` escape of a UTF-16 surrogate that is not half of a valid pair with
/// `\uFFFD`; everything else, escaped backslashes included, is left as it is.
fn replace_lone_surrogates(json: &str) -> String {
    fn hex4(s: &str) -> Option<u32> {
        let h = s.get(..4)?;
        h.bytes()
            .all(|b| b.is_ascii_hexdigit())
            .then(|| u32::from_str_radix(h, 16).ok())
            .flatten()
    }
    let mut out = String::with_capacity(json.len());
    let mut rest = json;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        match after
            .strip_prefix('u')
            .and_then(|h| hex4(h).map(|v| (v, &h[4..])))
        {
            Some((0xD800..=0xDBFF, tail)) => {
                let low = tail.strip_prefix("\\u").and_then(hex4);
                if matches!(low, Some(0xDC00..=0xDFFF)) {
                    out.push_str(&rest[at..at + 12]);
                    rest = &rest[at + 12..];
                } else {
                    out.push_str("\\uFFFD");
                    rest = tail;
                }
            }
            Some((0xDC00..=0xDFFF, tail)) => {
                out.push_str("\\uFFFD");
                rest = tail;
            }
            _ => {
                // Any other escape: the backslash and the character it escapes, as they are.
                let next = after.chars().next().map_or(0, char::len_utf8);
                out.push_str(&rest[at..at + 1 + next]);
                rest = &after[next..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn parse_feed_once(bytes: &[u8], base: &str) -> Result<Vec<Mention>, FetchError> {
    // Relative links resolve against the feed's address without its query or credentials: a
    // feed URL may carry a token (`?key=...`), which must not travel into alerts or the store.
    let public = public_base(base);
    let base = public.as_str();
    if looks_like_html_page(bytes) {
        return Err(FetchError::Unexpected(
            "got an HTML page, not a feed: check the URL".to_string(),
        ));
    }
    let mut parsed = parse_bytes(bytes, base)?;
    if matches!(
        parsed,
        Err(ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot))
    ) && let Some(patched) = with_rss_version(bytes)
    {
        parsed = parse_bytes(&patched, base)?;
    }
    let feed = parsed.map_err(|e| {
        FetchError::Parse(format!(
            "{e}: this is not a readable RSS, Atom or JSON feed; check the URL and run the \
             feed through a validator"
        ))
    })?;
    Ok(to_mentions(&feed, bytes, base))
}

/// One run of feed-rs, panics turned into an error.
fn parse_bytes(bytes: &[u8], base: &str) -> Result<ParseFeedResult<Feed>, FetchError> {
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(base))
        // An empty id marks "the feed gave none" (see the module docs); the default would
        // invent a random UUID that changes on every poll.
        .id_generator(|_, _, _| String::new())
        .build();
    // feed-rs is third-party code fed by strangers (its XML reader panics on some UTF-16
    // documents): a panic inside it must cost this source one failed poll, not the daemon.
    std::panic::catch_unwind(AssertUnwindSafe(|| parser.parse(bytes))).map_err(|_| {
        FetchError::Parse(
            "the feed parser crashed on this document: check that the URL serves a valid \
             RSS, Atom or JSON feed (a feed validator will say what is wrong)"
                .to_string(),
        )
    })
}

/// feed-rs only reads `<rss>` with a `version` attribute; feeds in the wild sometimes omit it.
/// Such a document gets `version="2.0"` (RSS 2.0 reads the older versions' elements too).
/// Only the root tag within the first few KiB of an ASCII-compatible document is touched.
fn with_rss_version(bytes: &[u8]) -> Option<Vec<u8>> {
    let head = &bytes[..bytes.len().min(8 * 1024)];
    let mut from = 0;
    let start = loop {
        let at = from + find(&head[from..], b"<rss")?;
        match head.get(at + 4) {
            Some(b' ' | b'\t' | b'\r' | b'\n' | b'>') => break at,
            _ => from = at + 4,
        }
    };
    let end = start + find(&head[start..], b">")?;
    if find(&head[start..end], b"version").is_some() {
        return None;
    }
    let mut patched = Vec::with_capacity(bytes.len() + 16);
    patched.extend_from_slice(&bytes[..start + 4]);
    patched.extend_from_slice(b" version=\"2.0\"");
    patched.extend_from_slice(&bytes[start + 4..]);
    Some(patched)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The feed's address as links may show it: no query, fragment or credentials.
fn public_base(base: &str) -> String {
    match Url::parse(base) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => base.to_string(),
    }
}

fn to_mentions(feed: &Feed, bytes: &[u8], base: &str) -> Vec<Mention> {
    let base = Url::parse(base).ok();
    let kind = if is_comments_feed(feed, bytes) {
        MentionKind::Comment
    } else {
        MentionKind::Post
    };
    feed.entries
        .iter()
        .map(|entry| to_mention(feed, entry, base.as_ref(), kind))
        .collect()
}

fn to_mention(feed: &Feed, entry: &Entry, base: Option<&Url>, kind: MentionKind) -> Mention {
    let url = entry_link(entry, base);
    let title = entry
        .title
        .as_ref()
        .map(|t| html_to_text(&t.content))
        .filter(|t| !t.is_empty());
    let raw_body = entry
        .content
        .as_ref()
        .and_then(|c| c.body.as_deref())
        .filter(|b| !b.trim().is_empty())
        .or_else(|| entry.summary.as_ref().map(|s| s.content.as_str()))
        .unwrap_or_default();
    let text = html_to_text(raw_body);

    let platform_id = if !entry.id.trim().is_empty() {
        entry.id.trim().to_string()
    } else if let Some(url) = &url {
        url.clone()
    } else {
        let mut hasher = Sha256::new();
        hasher.update(entry.title.as_ref().map_or("", |t| t.content.as_str()));
        // A separator keeps ("ab", "c") and ("a", "bc") apart.
        hasher.update([0u8]);
        hasher.update(raw_body);
        hex::encode(hasher.finalize())
    };

    let person = entry.authors.first().or_else(|| feed.authors.first());
    let author = Author {
        // RSS `<author>` is often only an e-mail address: better than nothing.
        // `dana@example.com (Dana)` reaches us as the name "(Dana)": keep the name only.
        handle: person.and_then(|p| {
            nonempty(
                p.name
                    .as_deref()
                    .map(|n| n.trim().trim_start_matches('(').trim_end_matches(')')),
            )
            .or_else(|| nonempty(p.email.as_deref()))
        }),
        display_name: None,
        reach: None,
        url: person.and_then(|p| nonempty(p.uri.as_deref())),
    };

    Mention {
        platform_id,
        url,
        author,
        title,
        text,
        created_at: entry.published.or(entry.updated),
        kind,
        engagement: Default::default(),
        conversation: Conversation {
            thread_id: comments_link(entry, base),
            parent_id: None,
        },
        lang: nonempty(entry.language.as_deref()).or_else(|| nonempty(feed.language.as_deref())),
        rating: None,
    }
}

fn nonempty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The link to the item itself: not its comments, its feed, an edit endpoint or a download.
fn entry_link(entry: &Entry, base: Option<&Url>) -> Option<String> {
    let is_item_link = |l: &&feed_rs::model::Link| {
        l.target.is_none()
            && !matches!(
                l.rel.as_deref(),
                Some("self" | "edit" | "enclosure" | "replies" | "related" | "via")
            )
            && !l.href.trim().is_empty()
    };
    let link = entry
        .links
        .iter()
        .find(|l| is_item_link(l) && matches!(l.rel.as_deref(), None | Some("alternate")))
        .or_else(|| entry.links.iter().find(is_item_link))?;
    Some(unwrap_redirect(&resolve(&link.href, base)))
}

/// The item's comments address: RSS `<comments>` first, then `wfw:commentRss`.
fn comments_link(entry: &Entry, base: Option<&Url>) -> Option<String> {
    [LinkTarget::Comments, LinkTarget::CommentsFeed]
        .iter()
        .find_map(|target| {
            entry
                .links
                .iter()
                .find(|l| l.target.as_ref() == Some(target) && !l.href.trim().is_empty())
        })
        .map(|l| resolve(&l.href, base))
}

/// `href` made absolute against `base` when it is relative; left as is otherwise.
fn resolve(href: &str, base: Option<&Url>) -> String {
    let href = href.trim();
    if let Ok(u) = Url::parse(href) {
        // Serialised by `url`: control characters and spaces come out percent-encoded.
        return u.to_string();
    }
    base.and_then(|b| b.join(href).ok())
        .map(String::from)
        .unwrap_or_else(|| href.to_string())
}

fn is_comments_feed(feed: &Feed, bytes: &[u8]) -> bool {
    let title = feed
        .title
        .as_ref()
        .map(|t| t.content.trim_start().to_ascii_lowercase())
        .unwrap_or_default();
    title.starts_with("comments on") || title.starts_with("comments for") || {
        // Atom threading's `<thr:in-reply-to ...>`. Only as markup: an article that merely
        // mentions the element has it escaped (`&lt;thr:...`), which does not match.
        find(bytes, b"<thr:in-reply-to").is_some() || find(bytes, b"<in-reply-to").is_some()
    }
}

/// An HTML page where a feed was expected (a login wall, a block page, the site's home page).
/// The body decides, whatever the server's `Content-Type` says: servers label feeds
/// `text/html` often enough, but a feed never starts with `<!DOCTYPE html` or `<html`.
fn looks_like_html_page(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(512)];
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    let head = head[start..].to_ascii_lowercase();
    head.starts_with(b"<!doctype html") || head.starts_with(b"<html")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bad_byte_costs_its_characters_not_the_feed() {
        let mut xml =
            br#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>
            <item><guid>1</guid><title>fine</title><description>acme one</description></item>
            <item><guid>2</guid><title>bad</title><description>acme t"#
                .to_vec();
        xml.push(0xFF);
        xml.extend_from_slice(
            br#"wo</description></item>
            <item><guid>3</guid><title>fine too</title><description>acme three</description></item>
            </channel></rss>"#,
        );
        assert!(
            parse_feed_once(&xml, "https://example.com/f").is_err(),
            "feed-rs refuses it"
        );
        let (m, damaged) = parse_feed_repairing(&xml, "https://example.com/f").unwrap();
        assert!(damaged);
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].text, "acme t\u{FFFD}wo");
        // A clean document is not marked.
        let clean = String::from_utf8_lossy(&xml).replace('\u{FFFD}', "w");
        let (m, damaged) = parse_feed_repairing(clean.as_bytes(), "https://example.com/f").unwrap();
        assert!(!damaged);
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn a_lone_surrogate_in_a_json_feed_is_replaced() {
        let json = r#"{"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [
            {"id": "1", "content_text": "acme \ud83d\ude00 fine"},
            {"id": "2", "content_text": "acme \ud800 broken, a path C:\\udir stays"},
            {"id": "3", "content_text": "acme \udc00 low"}]}"#;
        let (m, damaged) = parse_feed_repairing(json.as_bytes(), "https://example.com/f").unwrap();
        assert!(damaged);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].text, "acme \u{1F600} fine");
        assert_eq!(m[1].text, "acme \u{FFFD} broken, a path C:\\udir stays");
        assert_eq!(m[2].text, "acme \u{FFFD} low");
    }

    #[tokio::test]
    async fn the_source_says_its_feed_had_damaged_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.xml");
        let mut xml = br#"<rss version="2.0"><channel><title>t</title><item><guid>1</guid><description>acme "#.to_vec();
        xml.extend_from_slice(&[0xC3, 0x28]);
        xml.extend_from_slice(b"</description></item></channel></rss>");
        std::fs::write(&path, &xml).unwrap();
        let c = FeedConnector::new(&FeedConfig {
            url: path.display().to_string(),
        })
        .unwrap();
        let http = HttpFetcher::new(crate::FetchOptions::default()).unwrap();
        let out = c.fetch(&http, &SourceState::default()).await.unwrap();
        assert_eq!(out.mentions.len(), 1);
        let notice = out.notice.expect("a notice");
        assert!(!notice.degraded);
        assert!(
            notice.message.contains("damaged text"),
            "{}",
            notice.message
        );
    }

    fn many(n: usize, root: &str) -> String {
        let (open, close, item) = match root {
            "atom" => (
                r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>"#,
                "</feed>",
                "entry",
            ),
            "rdf" => (
                r#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"><channel rdf:about="https://example.com/"><title>t</title><link>https://example.com/</link><description>d</description></channel>"#,
                "</rdf:RDF>",
                "item",
            ),
            _ => (
                r#"<rss version="2.0"><channel><title>t</title>"#,
                "</channel></rss>",
                "item",
            ),
        };
        let items: String = (0..n)
            .map(|i| match item {
                "entry" => format!(
                    "<entry><id>e{i}</id><title>acme {i}</title><link href=\"https://example.com/{i}\"/></entry>"
                ),
                _ if root == "rdf" => format!(
                    "<item rdf:about=\"https://example.com/{i}\"><title>acme {i}</title><link>https://example.com/{i}</link></item>"
                ),
                _ => format!("<item><guid>g{i}</guid><title>acme {i}</title></item>"),
            })
            .collect();
        format!("{open}{items}{close}")
    }

    #[test]
    fn a_feed_is_read_up_to_the_item_cap_newest_first() {
        for root in ["rss", "atom", "rdf"] {
            let doc = many(10, root);
            let (m, damaged, left_out) =
                parse_feed_capped(doc.as_bytes(), "https://example.com/f", 3).unwrap();
            assert_eq!((m.len(), damaged, left_out), (3, false, 7), "{root}");
            assert_eq!(m[0].title.as_deref(), Some("acme 0"), "{root}");
            assert_eq!(m[2].title.as_deref(), Some("acme 2"), "{root}");
            // At or under the cap, the document is read whole.
            let (m, _, left_out) =
                parse_feed_capped(doc.as_bytes(), "https://example.com/f", 10).unwrap();
            assert_eq!((m.len(), left_out), (10, 0), "{root}");
        }
    }

    #[test]
    fn an_item_tag_inside_cdata_does_not_lift_the_cap() {
        // Item 3's description holds "<item >" in CDATA: the first cut falls inside it.
        let mut doc = String::from(r#"<rss version="2.0"><channel><title>t</title>"#);
        for i in 0..10 {
            let extra = if i == 2 { "<![CDATA[ <item > ]]>" } else { "" };
            doc.push_str(&format!(
                "<item><guid>g{i}</guid><title>acme {i}</title><description>{extra}d</description></item>"
            ));
        }
        doc.push_str("</channel></rss>");
        let (m, _, left_out) =
            parse_feed_capped(doc.as_bytes(), "https://example.com/f", 3).unwrap();
        assert!(m.len() <= 4, "{}", m.len());
        assert!(left_out >= 6, "{left_out}");
    }

    #[tokio::test]
    async fn the_source_says_how_many_items_it_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.xml");
        std::fs::write(&path, many(MAX_FEED_ITEMS + 250, "rss")).unwrap();
        let c = FeedConnector::new(&FeedConfig {
            url: path.display().to_string(),
        })
        .unwrap();
        let http = HttpFetcher::new(crate::FetchOptions::default()).unwrap();
        let out = c.fetch(&http, &SourceState::default()).await.unwrap();
        assert_eq!(out.mentions.len(), MAX_FEED_ITEMS);
        let notice = out.notice.expect("a notice").message;
        assert!(
            notice.contains("the feed has 5250 items; only the first 5000 were read, 250 left out"),
            "{notice}"
        );
    }

    #[test]
    fn rss_author_email_with_name_keeps_the_name() {
        let xml =
            br#"<rss version="2.0"><channel><title>t</title><item><guid>1</guid><title>x</title>
            <author>dana@example.com (Dana)</author></item><item><guid>2</guid><title>y</title>
            <author>kim@example.com</author></item></channel></rss>"#;
        let m = parse_feed(xml, "https://example.com/feed").unwrap();
        assert_eq!(m[0].author.handle.as_deref(), Some("Dana"));
        assert_eq!(m[1].author.handle.as_deref(), Some("kim@example.com"));
    }

    #[test]
    fn html_page_detection() {
        let cases: &[(&str, bool)] = &[
            ("<!DOCTYPE html><html>", true),
            ("\n  <html lang=en>", true),
            ("\u{feff}<!doctype HTML>", true),
            ("<?xml version=\"1.0\"?><rss version=\"2.0\">", false),
            ("<rss version=\"2.0\">", false),
            ("{\"version\": \"https://jsonfeed.org/version/1\"}", false),
            ("<feed xmlns=\"http://www.w3.org/2005/Atom\">", false),
            ("", false),
        ];
        for (body, want) in cases {
            assert_eq!(looks_like_html_page(body.as_bytes()), *want, "{body:?}");
        }
    }

    #[test]
    fn resolve_links() {
        let base = Url::parse("https://example.com/blog/feed.xml?k=v").ok();
        let cases: &[(&str, &str)] = &[
            ("https://other.example/a", "https://other.example/a"),
            ("/post/1", "https://example.com/post/1"),
            ("post/2", "https://example.com/blog/post/2"),
            (" post/3 ", "https://example.com/blog/post/3"),
            (
                "https://x.example/a\u{1b}[2Jb",
                "https://x.example/a%1B[2Jb",
            ),
        ];
        for (href, want) in cases {
            assert_eq!(resolve(href, base.as_ref()), *want, "{href:?}");
        }
        assert_eq!(resolve("post/1", None), "post/1");
    }

    #[test]
    fn a_token_in_the_feed_url_never_reaches_item_links() {
        let xml = br#"<rss version="2.0"><channel><title>t</title><item><title>x</title>
            <link>#comment-1</link></item></channel></rss>"#;
        let m = parse_feed(xml, "https://u:pw@example.com/feed?token=TOPSECRET").unwrap();
        let url = m[0].url.as_deref().unwrap();
        assert_eq!(url, "https://example.com/feed#comment-1");
        assert!(!m[0].platform_id.contains("TOPSECRET"));
    }

    fn rss(items: &str) -> String {
        format!(
            r#"<?xml version="1.0"?><rss version="2.0" xmlns:wfw="http://wellformedweb.org/CommentAPI/"><channel><title>T</title><link>https://example.com/</link><language>en-gb</language>{items}</channel></rss>"#
        )
    }

    #[test]
    fn ids_links_and_threads() {
        let doc = rss(r#"
            <item><guid isPermaLink="false">g-1</guid><title>With guid</title><link>/a</link>
                  <comments>https://example.com/a#comments</comments></item>
            <item><title>No guid</title><link>https://example.com/b</link>
                  <wfw:commentRss>https://example.com/b/feed</wfw:commentRss></item>
            <item><title>Nothing but a title</title><description>Body &amp; more</description></item>
        "#);
        let base = "https://example.com/feed";
        let first = parse_feed(doc.as_bytes(), base).unwrap();
        let second = parse_feed(doc.as_bytes(), base).unwrap();
        assert_eq!(
            first, second,
            "two polls of one document must give the same ids"
        );
        assert_eq!(first.len(), 3);

        assert_eq!(first[0].platform_id, "g-1");
        assert_eq!(first[0].url.as_deref(), Some("https://example.com/a"));
        assert_eq!(
            first[0].conversation.thread_id.as_deref(),
            Some("https://example.com/a#comments")
        );
        assert_eq!(first[0].lang.as_deref(), Some("en-gb"));

        assert_eq!(first[1].platform_id, "https://example.com/b");
        assert_eq!(
            first[1].conversation.thread_id.as_deref(),
            Some("https://example.com/b/feed")
        );

        assert_eq!(first[2].url, None);
        assert_eq!(first[2].platform_id.len(), 64, "sha256 hex");
        assert_eq!(first[2].text, "Body & more");
        assert!(first.iter().all(|m| m.kind == MentionKind::Post));
    }

    #[test]
    fn rss_without_version() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "<rss><channel/></rss>",
                Some("<rss version=\"2.0\"><channel/></rss>"),
            ),
            (
                "<?xml version=\"1.0\"?>\n<rss\n xmlns:a=\"x\">",
                Some("<?xml version=\"1.0\"?>\n<rss version=\"2.0\"\n xmlns:a=\"x\">"),
            ),
            ("<rss version=\"0.91\">", None),
            ("<rssfeed>", None),
            ("<feed>", None),
            ("<rss", None),
        ];
        for (doc, want) in cases {
            let got = with_rss_version(doc.as_bytes()).map(|b| String::from_utf8(b).unwrap());
            assert_eq!(got.as_deref(), *want, "{doc:?}");
        }
        let doc = b"<rss><channel><item><guid>a</guid></item></channel></rss>";
        let m = parse_feed(doc, "https://example.com/").unwrap();
        assert_eq!(m[0].platform_id, "a");
    }

    #[test]
    fn comments_feeds_are_comments() {
        let wp = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Comments on: Acme 2.0</title>
            <item><guid>c1</guid><title>By: bob</title><description>Great</description></item></channel></rss>"#;
        let m = parse_feed(wp.as_bytes(), "https://example.com/").unwrap();
        assert_eq!(m[0].kind, MentionKind::Comment);

        let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom" xmlns:thr="http://purl.org/syndication/thread/1.0">
            <title>Blog</title><id>f</id><entry><id>e1</id><title>re</title>
            <thr:in-reply-to ref="p1" href="https://example.com/p1"/></entry></feed>"#;
        let m = parse_feed(atom.as_bytes(), "https://example.com/").unwrap();
        assert_eq!(m[0].kind, MentionKind::Comment);

        let about = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>Blog</title><id>f</id>
            <entry><id>e1</id><title>Threading</title>
            <content type="html">use &lt;thr:in-reply-to&gt; for replies</content></entry></feed>"#;
        let m = parse_feed(about.as_bytes(), "https://example.com/").unwrap();
        assert_eq!(
            m[0].kind,
            MentionKind::Post,
            "an article about the element is a post"
        );
    }

    #[test]
    fn broken_documents_are_parse_errors() {
        for doc in [
            "",
            "not a feed",
            "<rss version=\"2.0\"><channel><item>",
            "{\"x\":",
        ] {
            match parse_feed(doc.as_bytes(), "https://example.com/") {
                Err(FetchError::Parse(msg)) => assert!(msg.contains("feed"), "{msg}"),
                // A truncated document may still yield what was read: never a panic.
                Ok(_) => {}
                Err(e) => panic!("{doc:?}: unexpected error {e:?}"),
            }
        }
    }
}
