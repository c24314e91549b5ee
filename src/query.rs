//! The watch query language: terms, "exact phrases", implicit AND, `OR`, `NOT` / `-term`,
//! parentheses, `prefix*`, and the field filters `title:`, `author:`, `site:`, `lang:`, `type:`.
//!
//! A watch is a named query such as `("acme cloud" OR acmecloud) -anvil lang:en`. It is parsed
//! once, when the config is loaded, and then matched against every new mention, so the work is
//! split to make matching cheap: [`Document::new`] tokenises a mention once, and
//! [`Query::matches`] only compares already-lowercased words.
//!
//! # Grammar
//!
//! ```text
//! query   = or
//! or      = and ( "OR" and )*               OR is uppercase; `or` is an ordinary word
//! and     = unary ( ["AND"] unary )*        juxtaposition is AND; an explicit AND is allowed
//! unary   = ( "NOT" | "-" ) unary | primary NOT and - bind tightest
//! primary = "(" or ")" | term | phrase | field ":" value
//! value   = term | phrase                   title: and author: also take a prefix*
//! ```
//!
//! A bare term or phrase matches the title or the text. `title:` looks only at the title,
//! `author:` at the handle and display name, `site:` at the link's host and its subdomains
//! (`site:example.com` matches `blog.example.com`, not `notexample.com`), `lang:` at the
//! language code, `type:` at `post` or `comment`.
//!
//! # Words
//!
//! Query and document go through the same tokeniser, so whatever it decides, both sides agree:
//!
//! - Text is NFC-normalised first, so a decomposed `café` (e + U+0301) equals a composed one.
//!   Diacritics are kept: `café` does not match `cafe`; folding them would merge real words.
//! - A word is a maximal run of alphanumeric chars (`char::is_alphanumeric`), plus combining
//!   marks inside it. Everything else separates words: apostrophes (`acme's` is `acme` `s`, so
//!   `acme` matches it), hyphens, `.`, `_`, `#`, `@` (`#acme` and `@acme` match `acme`).
//! - Han ideographs and hiragana are one word per character, since those scripts do not put
//!   spaces between words; a query `腾讯` becomes the phrase `腾 讯`. Thai and similar
//!   scripts are not segmented: a run of them is one word.
//! - A `+` or `#` run straight after a one-letter word belongs to it, so `c++`, `c#` and `f#`
//!   are words of their own and `c` does not match `C++`. After longer words they separate
//!   (`Disney+` is `disney`).
//! - Words are lowercased with Unicode rules, and Greek final sigma is folded to σ so that
//!   all-caps Greek matches lowercase Greek.
//! - Matching is whole-word: `rust` does not match `trust` or `rusty`. A query term that
//!   tokenises into several words is a phrase: `node.js` matches `node.js`, `Node JS`,
//!   `node-js`; `acme-cloud` matches `acme cloud`.
//! - `acme*` matches any word starting with `acme`; the prefix needs at least two characters.
//!   In a phrase a final `*` makes the last word a prefix: `"acme clo*"`.
//!   Anywhere else `*` is an error, not a silent literal.
//!
//! # Field values
//!
//! - `site:` takes a host; a pasted URL is cut down to its host (`https://x.com/a` is `x.com`).
//! - `lang:` compares ISO 639-1 codes case-insensitively. Region tags are dropped (`en-US` is
//!   `en`) and the ISO 639-3 / 639-2 codes of common languages (`eng`, `fra`, `fre`, `deu`,
//!   `cmn`...) map to their two-letter code, on both the query and the document side, so
//!   `lang:eng` matches a mention tagged `en` and the other way round. Unknown three-letter
//!   codes are compared as written.
//! - `type:` takes `post` or `comment`.
//!
//! A query made only of exclusions (`-foo`, `a OR -b`) is rejected: it would match almost
//! every mention. Errors carry the 1-based character column and say what to write instead.
//!
//! [`Query`] implements `Display`, which prints the normalised query (lowercase words,
//! redundant parentheses dropped); it parses back to an equal `Query`.

use std::fmt;

use earshot_connectors::MentionKind;
use icu_normalizer::ComposingNormalizerBorrowed;

/// The fields of a mention a query can look at.
#[derive(Debug, Clone, Copy)]
pub struct DocFields<'a> {
    pub title: &'a str,
    pub text: &'a str,
    /// Handle and display name, space separated.
    pub author: &'a str,
    /// The link's host (`www.example.com`).
    pub site: &'a str,
    /// Two-letter language code, given by the platform or detected.
    pub lang: Option<&'a str>,
    pub kind: MentionKind,
}

/// A mention prepared once for matching against many queries.
#[derive(Debug, Clone)]
pub struct Document {
    title: Words,
    text: Words,
    author: Words,
    /// Lowercased host without scheme, port or trailing dot.
    site: String,
    /// Normalised language code (see [`normalise_lang`]).
    lang: Option<String>,
    kind: MentionKind,
}

impl Document {
    /// Tokenises the fields once; the result can be matched against any number of queries.
    pub fn new(fields: DocFields<'_>) -> Document {
        Document {
            title: Words::new(fields.title),
            text: Words::new(fields.text),
            author: Words::new(fields.author),
            site: normalise_host(fields.site),
            lang: fields.lang.map(normalise_lang).filter(|l| !l.is_empty()),
            kind: fields.kind,
        }
    }
}

/// The lowercased words of one field, packed into one buffer so that preparing a document
/// costs a few allocations per field, not one per word.
#[derive(Debug, Clone, Default)]
struct Words {
    /// The words concatenated, with no separators.
    buf: String,
    /// End offset in `buf` of each word; word `i` starts where word `i - 1` ends.
    ends: Vec<u32>,
    /// [`word_hash`] of each word: matching scans this dense array and compares text only
    /// where the hash agrees, which is several times faster than comparing strings.
    hashes: Vec<u64>,
}

impl Words {
    fn new(text: &str) -> Words {
        let text = nfc(text);
        let guess = text.len() / 5 + 1;
        let mut words = Words {
            buf: String::with_capacity(text.len()),
            ends: Vec::with_capacity(guess),
            hashes: Vec::with_capacity(guess),
        };
        for_each_word(&text, |w| {
            let start = words.buf.len();
            push_lower(&mut words.buf, w);
            words.hashes.push(word_hash(&words.buf.as_bytes()[start..]));
            // Offsets fit: a mention longer than 4 GiB never gets this far.
            words
                .ends
                .push(u32::try_from(words.buf.len()).unwrap_or(u32::MAX));
        });
        words
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    /// Word `i` as bytes (byte slices skip the char-boundary checks of `str` slicing).
    fn bytes(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.buf
            .as_bytes()
            .get(start..self.ends[i] as usize)
            .unwrap_or_default()
    }

    #[cfg(test)]
    fn get(&self, i: usize) -> &str {
        std::str::from_utf8(self.bytes(i)).unwrap_or_default()
    }

    /// Whether `pattern` occurs as consecutive words.
    fn contains(&self, pattern: &Pattern) -> bool {
        let n = pattern.words.len();
        if n == 0 || self.len() < n {
            return false;
        }
        let prefix_ok = |start: usize| {
            !pattern.prefix
                || self
                    .bytes(start + n - 1)
                    .starts_with(pattern.words[n - 1].as_bytes())
        };
        let Some(&first) = pattern.hashes.first() else {
            // A lone prefix: no whole word to hash, compare every word.
            return (0..self.len()).any(prefix_ok);
        };
        self.hashes[..=self.len() - n]
            .iter()
            .enumerate()
            .filter(|&(_, &h)| h == first)
            .any(|(start, _)| {
                pattern.hashes.iter().enumerate().all(|(k, &h)| {
                    self.hashes[start + k] == h
                        && self.bytes(start + k) == pattern.words[k].as_bytes()
                }) && prefix_ok(start)
            })
    }
}

/// FNV-1a: a few instructions per byte, good enough spread for short words.
fn word_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    root: Expr,
}

/// A query that does not parse: where (1-based column, in characters) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct QueryError {
    pub column: usize,
    pub message: String,
}

impl QueryError {
    fn new(column: usize, message: impl Into<String>) -> QueryError {
        QueryError {
            column,
            message: message.into(),
        }
    }
}

impl Query {
    /// Parses a watch query. The error names the column and says what to write instead.
    pub fn parse(input: &str) -> Result<Query, QueryError> {
        let tokens = lex(input)?;
        let end = input.chars().count() + 1;
        let Some(first) = tokens.first() else {
            return Err(QueryError::new(
                1,
                "empty query: write at least one term, like acme",
            ));
        };
        if first.kind == Tok::RParen {
            return Err(unexpected_rparen(first.col));
        }
        // Bounds keep parsing, matching and printing shallow: no query a person writes comes
        // near them, and a hostile one cannot overflow the stack.
        if let Some(t) = tokens.get(MAX_TOKENS) {
            return Err(QueryError::new(
                t.col,
                format!(
                    "query too long: at most {MAX_TOKENS} terms and operators; split it into several watches"
                ),
            ));
        }
        let mut depth = 0usize;
        for t in &tokens {
            match t.kind {
                Tok::LParen => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(QueryError::new(
                            t.col,
                            format!(
                                "parentheses nested deeper than {MAX_DEPTH}: simplify the query"
                            ),
                        ));
                    }
                }
                Tok::RParen => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        let mut parser = Parser {
            tokens,
            pos: 0,
            end,
        };
        let (root, unanchored) = parser.or()?;
        if let Some(tok) = parser.tokens.get(parser.pos) {
            // `or` stops only at the end or at a ')' it cannot close.
            return Err(unexpected_rparen(tok.col));
        }
        if let Some(col) = unanchored {
            return Err(QueryError::new(
                col,
                "this only excludes, so it would match almost every mention: \
                 add a term to look for, like acme -anvil",
            ));
        }
        Ok(Query { root })
    }

    /// Whether the mention matches. Pure and allocation-free: it only compares words that
    /// [`Document::new`] already lowercased and hashed.
    pub fn matches(&self, doc: &Document) -> bool {
        self.root.matches(doc)
    }

    /// True when the query has a `lang:` filter: it needs the language before it can match.
    pub fn uses_lang(&self) -> bool {
        self.root.uses_lang()
    }
}

impl fmt::Display for Query {
    /// The normalised query: lowercase words, one space between items, parentheses only where
    /// precedence needs them. It parses back to an equal `Query`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root.fmt(f)
    }
}

/// One node of a parsed query. `And` and `Or` are kept flat (no `And` directly inside an
/// `And`), so that equal queries compare equal whatever parentheses were written.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Words(Scope, Pattern),
    Site(String),
    Lang(String),
    Kind(MentionKind),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// Where a word pattern is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// A bare term or phrase: the title or the text.
    TitleOrText,
    Title,
    Author,
}

/// Consecutive lowercased words; with `prefix`, the last one only needs to start the word.
#[derive(Debug, Clone, PartialEq)]
struct Pattern {
    words: Vec<Box<str>>,
    prefix: bool,
    /// [`word_hash`] of the words that must match whole (all but a prefix).
    hashes: Vec<u64>,
}

impl Expr {
    fn uses_lang(&self) -> bool {
        match self {
            Expr::Lang(_) => true,
            Expr::Not(e) => e.uses_lang(),
            Expr::And(es) | Expr::Or(es) => es.iter().any(Expr::uses_lang),
            Expr::Words(..) | Expr::Site(_) | Expr::Kind(_) => false,
        }
    }

    fn matches(&self, doc: &Document) -> bool {
        match self {
            Expr::Words(Scope::TitleOrText, p) => doc.title.contains(p) || doc.text.contains(p),
            Expr::Words(Scope::Title, p) => doc.title.contains(p),
            Expr::Words(Scope::Author, p) => doc.author.contains(p),
            Expr::Site(host) => host_matches(&doc.site, host),
            Expr::Lang(lang) => doc.lang.as_deref() == Some(lang.as_str()),
            Expr::Kind(kind) => doc.kind == *kind,
            Expr::Not(e) => !e.matches(doc),
            Expr::And(es) => es.iter().all(|e| e.matches(doc)),
            Expr::Or(es) => es.iter().any(|e| e.matches(doc)),
        }
    }

    /// Builds an AND/OR node, splicing children of the same kind and unwrapping a single child.
    fn join(mut items: Vec<Expr>, or: bool) -> Expr {
        if items.len() == 1
            && let Some(only) = items.pop()
        {
            return only;
        }
        let mut flat = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Expr::Or(inner) if or => flat.extend(inner),
                Expr::And(inner) if !or => flat.extend(inner),
                other => flat.push(other),
            }
        }
        if or { Expr::Or(flat) } else { Expr::And(flat) }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Words(scope, p) => {
                match scope {
                    Scope::TitleOrText => {}
                    Scope::Title => f.write_str("title:")?,
                    Scope::Author => f.write_str("author:")?,
                }
                p.fmt(f)
            }
            Expr::Site(host) => write!(f, "site:{host}"),
            Expr::Lang(lang) => write!(f, "lang:{lang}"),
            Expr::Kind(kind) => write!(f, "type:{}", kind.as_str()),
            Expr::Not(e) => match **e {
                Expr::And(_) | Expr::Or(_) => write!(f, "-({e})"),
                _ => write!(f, "-{e}"),
            },
            Expr::And(es) => {
                for (i, e) in es.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    match e {
                        Expr::Or(_) | Expr::And(_) => write!(f, "({e})")?,
                        _ => write!(f, "{e}")?,
                    }
                }
                Ok(())
            }
            Expr::Or(es) => {
                for (i, e) in es.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" OR ")?;
                    }
                    match e {
                        Expr::Or(_) => write!(f, "({e})")?,
                        _ => write!(f, "{e}")?,
                    }
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let star = if self.prefix { "*" } else { "" };
        match self.words.as_slice() {
            [one] => write!(f, "{one}{star}"),
            words => write!(f, "\"{}{star}\"", words.join(" ")),
        }
    }
}

fn host_matches(doc_host: &str, filter: &str) -> bool {
    match doc_host.strip_suffix(filter) {
        Some("") => true,
        Some(sub) => sub.ends_with('.'),
        None => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Tokenising text into words (shared by documents and queries)

const NFC: ComposingNormalizerBorrowed<'static> = ComposingNormalizerBorrowed::new_nfc();

fn nfc(text: &str) -> std::borrow::Cow<'_, str> {
    // The normaliser returns the input borrowed when it is already NFC, the common case.
    NFC.normalize(text)
}

/// Chars that stay inside a word although they are not alphanumeric: combining marks left
/// over after NFC (no precomposed form), which would otherwise split a word in two.
fn is_combining(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

/// Scripts written without spaces between words: each character is a word.
fn is_standalone(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{309F}'          // hiragana
        | '\u{3400}'..='\u{4DBF}'        // CJK extension A
        | '\u{4E00}'..='\u{9FFF}'        // CJK unified ideographs
        | '\u{F900}'..='\u{FAFF}'        // CJK compatibility ideographs
        | '\u{20000}'..='\u{3134F}') // CJK extensions B to G
}

/// Calls `f` with each word of `text`, in order, as a slice of `text` (not yet lowercased).
fn for_each_word(text: &str, mut f: impl FnMut(&str)) {
    let len = text.len();
    let mut i = 0;
    while i < len {
        let (c, width) = char_at(text, i);
        let start = i;
        i += width;
        if !c.is_alphanumeric() {
            continue;
        }
        if !is_standalone(c) {
            while i < len {
                let (next, width) = char_at(text, i);
                let continues =
                    (next.is_alphanumeric() && !is_standalone(next)) || is_combining(next);
                if !continues {
                    break;
                }
                i += width;
            }
            // `c++`, `c#`, `f#`: a symbol run after a single letter is part of the name,
            // unless the word goes on after it (`c+d` is two words).
            if i - start == width && c.is_alphabetic() {
                let rest = &text.as_bytes()[i..];
                let run = rest.iter().take_while(|&&b| b == b'+' || b == b'#').count();
                let then_word = i + run < len && char_at(text, i + run).0.is_alphanumeric();
                if run > 0 && !then_word {
                    i += run;
                }
            }
        }
        f(&text[start..i]);
    }
}

/// The char starting at byte `i` (a char boundary) and its width, with ASCII decoded inline
/// because most of what people post is ASCII.
fn char_at(text: &str, i: usize) -> (char, usize) {
    match text.as_bytes().get(i) {
        Some(&b) if b.is_ascii() => (char::from(b), 1),
        _ => {
            let c = text.get(i..).and_then(|s| s.chars().next()).unwrap_or(' ');
            (c, c.len_utf8())
        }
    }
}

/// Appends `word` lowercased, with Greek final sigma folded so `ΟΔΟΣ` equals `οδος`.
fn push_lower(buf: &mut String, word: &str) {
    if word.is_ascii() {
        let start = buf.len();
        buf.push_str(word);
        buf[start..].make_ascii_lowercase();
    } else {
        for c in word.chars().flat_map(char::to_lowercase) {
            buf.push(if c == 'ς' { 'σ' } else { c });
        }
    }
}

/// The lowercased words of a query value, as owned strings.
fn query_words(text: &str) -> Vec<Box<str>> {
    let text = nfc(text);
    let mut words = Vec::new();
    for_each_word(&text, |w| {
        let mut s = String::with_capacity(w.len());
        push_lower(&mut s, w);
        words.push(s.into_boxed_str());
    });
    words
}

/// A host as compared by `site:`: lowercase, no scheme, user, path, port or outer dots.
fn normalise_host(site: &str) -> String {
    let s = site.trim();
    let s = s.split_once("://").map_or(s, |(_, rest)| rest);
    let s = s.split(['/', '?', '#']).next().unwrap_or_default();
    let s = s.rsplit_once('@').map_or(s, |(_, host)| host);
    let s = match s.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => s,
    };
    s.trim_matches('.').to_lowercase()
}

/// A language code as compared by `lang:`: lowercase, region dropped, ISO 639-3 and 639-2
/// codes of common languages mapped to ISO 639-1 (the list covers what `whatlang` detects).
fn normalise_lang(code: &str) -> String {
    let code = code.trim();
    let primary = code.split(['-', '_']).next().unwrap_or_default();
    let lower = primary.to_ascii_lowercase();
    let two = match lower.as_str() {
        "afr" => "af",
        "aka" => "ak",
        "amh" => "am",
        "ara" => "ar",
        "aze" => "az",
        "bel" => "be",
        "ben" => "bn",
        "bul" => "bg",
        "cat" => "ca",
        "ces" | "cze" => "cs",
        "cmn" | "zho" | "chi" => "zh",
        "cym" | "wel" => "cy",
        "dan" => "da",
        "deu" | "ger" => "de",
        "ell" | "gre" => "el",
        "eng" => "en",
        "epo" => "eo",
        "est" => "et",
        "eus" | "baq" => "eu",
        "fas" | "per" | "pes" => "fa",
        "fin" => "fi",
        "fra" | "fre" => "fr",
        "gle" => "ga",
        "glg" => "gl",
        "guj" => "gu",
        "heb" => "he",
        "hin" => "hi",
        "hrv" => "hr",
        "hun" => "hu",
        "hye" | "arm" => "hy",
        "ind" => "id",
        "isl" | "ice" => "is",
        "ita" => "it",
        "jav" => "jv",
        "jpn" => "ja",
        "kan" => "kn",
        "kat" | "geo" => "ka",
        "khm" => "km",
        "kor" => "ko",
        "lat" => "la",
        "lav" => "lv",
        "lit" => "lt",
        "mal" => "ml",
        "mar" => "mr",
        "mkd" | "mac" => "mk",
        "msa" | "may" => "ms",
        "mya" | "bur" => "my",
        "nep" => "ne",
        "nld" | "dut" => "nl",
        "nob" => "nb",
        "nno" => "nn",
        "nor" => "no",
        "ori" => "or",
        "pan" => "pa",
        "pol" => "pl",
        "por" => "pt",
        "ron" | "rum" => "ro",
        "rus" => "ru",
        "sin" => "si",
        "slk" | "slo" => "sk",
        "slv" => "sl",
        "sna" => "sn",
        "spa" => "es",
        "sqi" | "alb" => "sq",
        "srp" => "sr",
        "swa" => "sw",
        "swe" => "sv",
        "tam" => "ta",
        "tel" => "te",
        "tgl" | "fil" => "tl",
        "tha" => "th",
        "tuk" => "tk",
        "tur" => "tr",
        "ukr" => "uk",
        "urd" => "ur",
        "uzb" => "uz",
        "vie" => "vi",
        "yid" => "yi",
        "zul" => "zu",
        _ => return lower,
    };
    two.to_owned()
}

// ---------------------------------------------------------------------------------------------
// Lexing the query

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Or,
    And,
    Not,
    Minus,
    /// A bare word as written (`acme`, `node.js`, `acme*`).
    Word(String),
    /// The inside of a "phrase".
    Phrase(String),
    /// `name:value`, the name lowercased; the value is a `Word` or a `Phrase`.
    Field {
        name: String,
        value: Box<Token>,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    kind: Tok,
    /// 1-based character column where the token starts.
    col: usize,
}

const FIELDS: &str = "title, author, site, lang, type";

fn lex(input: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        match c {
            '(' => {
                tokens.push(Token {
                    kind: Tok::LParen,
                    col,
                });
                i += 1;
            }
            ')' => {
                tokens.push(Token {
                    kind: Tok::RParen,
                    col,
                });
                i += 1;
            }
            '"' => {
                let (token, next) = lex_phrase(&chars, i)?;
                tokens.push(token);
                i = next;
            }
            '-' => {
                // A leading '-' excludes what follows directly; the rest is lexed afresh so
                // that `-(a b)`, `-"a b"` and `-title:a` all work.
                if chars
                    .get(i + 1)
                    .is_none_or(|n| n.is_whitespace() || *n == ')')
                {
                    return Err(QueryError::new(
                        col,
                        "'-' must be followed directly by what to exclude, like -anvil",
                    ));
                }
                tokens.push(Token {
                    kind: Tok::Minus,
                    col,
                });
                i += 1;
            }
            _ => {
                let start = i;
                while i < chars.len() && !is_bare_end(chars[i]) {
                    i += 1;
                }
                let raw: String = chars[start..i].iter().collect();
                let kind = match raw.as_str() {
                    "OR" => Tok::Or,
                    "AND" => Tok::And,
                    "NOT" => Tok::Not,
                    _ => match field_name(&raw) {
                        Some(name) => {
                            let (kind, next) = lex_field(&chars, start, i, name)?;
                            i = next;
                            kind
                        }
                        None => Tok::Word(raw),
                    },
                };
                tokens.push(Token { kind, col });
            }
        }
    }
    Ok(tokens)
}

fn is_bare_end(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"')
}

/// The field name of `name:rest`, if the part before the first ':' is ASCII letters.
/// `10:30` or `:)` are therefore words, not fields.
fn field_name(raw: &str) -> Option<&str> {
    let (name, _) = raw.split_once(':')?;
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic())).then_some(name)
}

/// Lexes a phrase starting at the '"' at `open`; returns it and the index after the closing '"'.
fn lex_phrase(chars: &[char], open: usize) -> Result<(Token, usize), QueryError> {
    let close = chars[open + 1..]
        .iter()
        .position(|&c| c == '"')
        .map(|p| open + 1 + p)
        .ok_or_else(|| {
            QueryError::new(
                open + 1,
                "unterminated phrase: add a closing '\"' (a phrase cannot contain '\"')",
            )
        })?;
    let text: String = chars[open + 1..close].iter().collect();
    Ok((
        Token {
            kind: Tok::Phrase(text),
            col: open + 1,
        },
        close + 1,
    ))
}

/// Lexes the field `name:` whose bare word spans `start..end`; the value is the rest of that
/// word or, when the word ends at the colon, a phrase right after it.
fn lex_field(
    chars: &[char],
    start: usize,
    end: usize,
    name: &str,
) -> Result<(Tok, usize), QueryError> {
    let name = name.to_ascii_lowercase();
    if !["title", "author", "site", "lang", "type"].contains(&name.as_str()) {
        return Err(QueryError::new(
            start + 1,
            format!(
                "unknown field '{name}:' (fields: {FIELDS}); \
                 to search for the text itself, put it in quotes"
            ),
        ));
    }
    let value_start = start + name.len() + 1;
    let (value, next) = if value_start < end {
        let raw: String = chars[value_start..end].iter().collect();
        let token = Token {
            kind: Tok::Word(raw),
            col: value_start + 1,
        };
        (token, end)
    } else {
        match chars.get(end) {
            Some('"') => lex_phrase(chars, end)?,
            Some('(') => {
                return Err(QueryError::new(
                    start + 1,
                    format!(
                        "'{name}:' takes one term, \"phrase\" or prefix*, not a group: \
                         write (title:a OR title:b) instead of title:(a OR b)"
                    ),
                ));
            }
            _ => {
                return Err(QueryError::new(
                    start + 1,
                    format!(
                        "'{name}:' needs a value right after the colon, like {name}:{}",
                        example(&name)
                    ),
                ));
            }
        }
    };
    Ok((
        Tok::Field {
            name,
            value: Box::new(value),
        },
        next,
    ))
}

fn example(field: &str) -> &'static str {
    match field {
        "site" => "example.com",
        "lang" => "en",
        "type" => "post",
        _ => "acme",
    }
}

fn unexpected_rparen(col: usize) -> QueryError {
    QueryError::new(
        col,
        "unexpected ')': there is no '(' before it to close; remove it",
    )
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// Most tokens in one query.
const MAX_TOKENS: usize = 1000;
/// Deepest nesting of parentheses.
const MAX_DEPTH: usize = 32;

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Column just past the input, where "expected ..." errors at the end point.
    end: usize,
}

/// A parsed node with the column of a part of it that only excludes (`-x`, or an `OR` branch
/// like `a OR -b`), if any: such a node would match almost every mention on its own.
type Parsed = (Expr, Option<usize>);

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_starts_unary(&self) -> bool {
        self.peek().is_some_and(|t| {
            matches!(
                t.kind,
                Tok::LParen
                    | Tok::Not
                    | Tok::Minus
                    | Tok::Word(_)
                    | Tok::Phrase(_)
                    | Tok::Field { .. }
            )
        })
    }

    fn or(&mut self) -> Result<Parsed, QueryError> {
        let (first, mut unanchored) = self.and()?;
        let mut items = vec![first];
        while let Some(tok) = self.peek().filter(|t| t.kind == Tok::Or) {
            let col = tok.col;
            self.pos += 1;
            if !self.peek_starts_unary() {
                return Err(needs_both_sides("OR", col));
            }
            let (item, u) = self.and()?;
            unanchored = unanchored.or(u);
            items.push(item);
        }
        Ok((Expr::join(items, true), unanchored))
    }

    fn and(&mut self) -> Result<Parsed, QueryError> {
        let (first, mut unanchored) = self.unary()?;
        let mut anchored = unanchored.is_none();
        let mut items = vec![first];
        loop {
            match self.peek() {
                Some(tok) if tok.kind == Tok::And => {
                    let col = tok.col;
                    self.pos += 1;
                    if !self.peek_starts_unary() {
                        return Err(needs_both_sides("AND", col));
                    }
                }
                _ if self.peek_starts_unary() => {}
                _ => break,
            }
            let (item, u) = self.unary()?;
            anchored |= u.is_none();
            unanchored = unanchored.or(u);
            items.push(item);
        }
        let unanchored = if anchored { None } else { unanchored };
        Ok((Expr::join(items, false), unanchored))
    }

    fn unary(&mut self) -> Result<Parsed, QueryError> {
        let Some(tok) = self.peek().cloned() else {
            return Err(QueryError::new(self.end, "expected a term here"));
        };
        self.pos += 1;
        match tok.kind {
            Tok::Not | Tok::Minus => {
                if !self.peek_starts_unary() {
                    let what = if tok.kind == Tok::Not { "'NOT'" } else { "'-'" };
                    return Err(QueryError::new(
                        tok.col,
                        format!("{what} needs a term after it, like NOT anvil or -anvil"),
                    ));
                }
                let (inner, _) = self.unary()?;
                Ok((Expr::Not(Box::new(inner)), Some(tok.col)))
            }
            Tok::LParen => {
                match self.peek() {
                    Some(t) if t.kind == Tok::RParen => {
                        return Err(QueryError::new(
                            tok.col,
                            "empty parentheses: put a term inside, like (acme OR acmecloud)",
                        ));
                    }
                    None => {
                        return Err(QueryError::new(
                            self.end,
                            format!(
                                "expected a term and ')' to close '(' opened at column {}",
                                tok.col
                            ),
                        ));
                    }
                    Some(_) => {}
                }
                let inner = self.or()?;
                if self.peek().is_some_and(|t| t.kind == Tok::RParen) {
                    self.pos += 1;
                    Ok(inner)
                } else {
                    Err(QueryError::new(
                        self.end,
                        format!("expected ')' to close '(' opened at column {}", tok.col),
                    ))
                }
            }
            Tok::Or => Err(needs_both_sides("OR", tok.col)),
            Tok::And => Err(needs_both_sides("AND", tok.col)),
            Tok::RParen => Err(unexpected_rparen(tok.col)),
            Tok::Word(raw) => Ok((
                Expr::Words(Scope::TitleOrText, word_pattern(&raw, tok.col)?),
                None,
            )),
            Tok::Phrase(text) => Ok((
                Expr::Words(Scope::TitleOrText, phrase_pattern(&text, tok.col)?),
                None,
            )),
            Tok::Field { name, value } => Ok((field(&name, tok.col, &value)?, None)),
        }
    }
}

fn needs_both_sides(keyword: &str, col: usize) -> QueryError {
    QueryError::new(
        col,
        format!("'{keyword}' needs a term on both sides, like acme {keyword} acmecloud"),
    )
}

/// The pattern of a bare word: `acme`, `acme*`, `node.js` (a phrase), `node.j*`.
fn word_pattern(raw: &str, col: usize) -> Result<Pattern, QueryError> {
    let body = raw.strip_suffix('*').unwrap_or(raw);
    if let Some(i) = body.chars().position(|c| c == '*') {
        return Err(QueryError::new(
            col + i,
            "'*' only works at the end of a word, like acme*",
        ));
    }
    pattern(body, raw.len() != body.len(), col, &format!("'{raw}'"))
}

/// The pattern of a phrase's inside; a final `*` makes its last word a prefix.
fn phrase_pattern(text: &str, col: usize) -> Result<Pattern, QueryError> {
    if text.trim().is_empty() {
        return Err(QueryError::new(
            col,
            "empty phrase: put the words to match between the quotes, like \"acme cloud\"",
        ));
    }
    let trimmed = text.trim_end();
    let body = trimmed.strip_suffix('*').unwrap_or(trimmed);
    pattern(body, trimmed.len() != body.len(), col, "the phrase")
}

fn pattern(body: &str, prefix: bool, col: usize, what: &str) -> Result<Pattern, QueryError> {
    let words = query_words(body);
    if prefix && body.trim().is_empty() {
        return Err(QueryError::new(
            col,
            "a lone '*' would match every word: write a prefix before it, like acme*",
        ));
    }
    let Some(last) = words.last() else {
        return Err(QueryError::new(
            col,
            format!("{what} has no letters or digits to match: write a word, like acme"),
        ));
    };
    if prefix && words.len() == 1 && last.chars().count() < 2 {
        return Err(QueryError::new(
            col,
            format!(
                "prefix '{last}*' is too short and would match too many words: \
                 write at least 2 characters before '*'"
            ),
        ));
    }
    let whole = if prefix { words.len() - 1 } else { words.len() };
    let hashes = words[..whole]
        .iter()
        .map(|w| word_hash(w.as_bytes()))
        .collect();
    Ok(Pattern {
        words,
        prefix,
        hashes,
    })
}

/// The expression of `name:value`; `col` is where the field name starts.
fn field(name: &str, col: usize, value: &Token) -> Result<Expr, QueryError> {
    let (raw, quoted) = match &value.kind {
        Tok::Word(raw) => (raw.as_str(), false),
        Tok::Phrase(text) => (text.as_str(), true),
        _ => return Err(QueryError::new(col, format!("'{name}:' needs a value"))),
    };
    let word_or_phrase = |raw: &str| {
        if quoted {
            phrase_pattern(raw, value.col)
        } else {
            word_pattern(raw, value.col)
        }
    };
    match name {
        "title" => Ok(Expr::Words(Scope::Title, word_or_phrase(raw)?)),
        "author" => Ok(Expr::Words(Scope::Author, word_or_phrase(raw)?)),
        "site" => {
            let host = normalise_host(raw);
            if host.contains('*') {
                return Err(QueryError::new(
                    value.col,
                    "site: already matches every subdomain; drop the '*', like site:example.com",
                ));
            }
            let host_char = |c: char| c.is_alphanumeric() || matches!(c, '-' | '.' | '_');
            if host.is_empty() || !host.chars().all(host_char) {
                return Err(QueryError::new(
                    value.col,
                    "site: takes a host name, like site:example.com",
                ));
            }
            Ok(Expr::Site(host))
        }
        "lang" => {
            let lang = normalise_lang(raw);
            if !(2..=3).contains(&lang.len()) || !lang.bytes().all(|b| b.is_ascii_lowercase()) {
                return Err(QueryError::new(
                    value.col,
                    format!("lang: takes a language code like en (or eng), not '{raw}'"),
                ));
            }
            Ok(Expr::Lang(lang))
        }
        "type" => match raw.trim().to_ascii_lowercase().as_str() {
            "post" => Ok(Expr::Kind(MentionKind::Post)),
            "comment" => Ok(Expr::Kind(MentionKind::Comment)),
            _ => Err(QueryError::new(
                value.col,
                format!("type: must be post or comment, not '{raw}'"),
            )),
        },
        // lex_field only lets the names above through.
        _ => Err(QueryError::new(
            col,
            format!("unknown field '{name}:' (fields: {FIELDS})"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A post about an outage, with most of the tokeniser's corner cases in it.
    const POST: DocFields<'static> = DocFields {
        title: "Acme Cloud outage today",
        text: "Our #AcmeCloud dashboards are down again. Switched from Anvil last year; the \
               Node.js SDK throws, the C++ client is fine and F# too. I trust the team, but \
               it's Acme's fault. @acme_support please help! Café wifi works. ΟΔΟΣ. 我喜欢腾讯云.",
        author: "@jdoe Jane Doe",
        site: "blog.example.com",
        lang: Some("en"),
        kind: MentionKind::Post,
    };

    /// A German comment with hyphenated and decomposed words.
    const COMMENT: DocFields<'static> = DocFields {
        title: "",
        text: "Rusty tools, trusted partners: anvil-cloud ist gut. Cafe\u{301} am Eck. c+d",
        author: "u/bob Bob Müller",
        site: "https://www.notexample.com:8443/path",
        lang: Some("de-AT"),
        kind: MentionKind::Comment,
    };

    /// No language, no site, ISO 639-3 code elsewhere.
    const BARE: DocFields<'static> = DocFields {
        title: "Rust 2024 edition",
        text: "rust_lang news: nothing about the brand",
        author: "",
        site: "",
        lang: None,
        kind: MentionKind::Post,
    };

    const FRENCH: DocFields<'static> = DocFields {
        title: "Panne chez Acme",
        text: "l'acme cloud est en panne",
        author: "Zoé",
        site: "example.com.",
        lang: Some("fra"),
        kind: MentionKind::Post,
    };

    #[test]
    fn hostile_sizes_are_refused_not_overflowed() {
        let huge = format!("{}acme{}", "(".repeat(50_000), ")".repeat(50_000));
        assert!(Query::parse(&huge).is_err());
        let deep = format!("{}acme{}", "(".repeat(50), ")".repeat(50));
        let e = Query::parse(&deep).unwrap_err();
        assert_eq!(e.column, 33);
        assert!(e.message.contains("nested deeper"), "{e}");
        let ok = format!("{}acme{}", "(".repeat(32), ")".repeat(32));
        assert!(Query::parse(&ok).is_ok());
        let long = vec!["acme"; 5_000].join(" OR ");
        let e = Query::parse(&long).unwrap_err();
        assert!(e.message.contains("too long"), "{e}");
        let fine = vec!["acme"; 300].join(" OR ");
        assert!(Query::parse(&fine).is_ok());
    }

    #[test]
    fn matching_table() {
        let cases: &[(&str, DocFields<'_>, bool)] = &[
            // bare terms: title or text, case-insensitive, whole word
            ("acme", POST, true),
            ("ACME", POST, true),
            ("outage", POST, true),
            ("dashboards", POST, true),
            ("rust", COMMENT, false),
            ("rust", BARE, true),
            ("trust", COMMENT, false),
            ("trust", POST, true),
            ("rusty", COMMENT, true),
            ("anvil", POST, true),
            ("missing", POST, false),
            // hashtags, mentions, underscores, apostrophes
            ("acmecloud", POST, true),
            ("#acmecloud", POST, true),
            ("support", POST, true),
            ("acme_support", POST, true),
            ("@acme_support", POST, true),
            ("acme's", POST, true),
            ("it's", POST, true),
            ("its", POST, false),
            ("lang", BARE, true),
            // punctuation inside a term makes a phrase
            ("node.js", POST, true),
            ("node-js", POST, true),
            ("\"node js\"", POST, true),
            ("js", POST, true),
            ("anvil-cloud", COMMENT, true),
            ("\"anvil cloud\"", COMMENT, true),
            ("anvil-cloud", POST, false),
            ("c++", POST, true),
            ("c", POST, false),
            ("c#", POST, false),
            ("f#", POST, true),
            ("c", COMMENT, true),
            // phrases: consecutive words, within one field
            ("\"acme cloud\"", POST, true),
            ("\"cloud acme\"", POST, false),
            ("\"acme cloud\"", FRENCH, true),
            ("\"today our\"", POST, false),
            ("\"down again\"", POST, true),
            ("\"down  again\"", POST, true),
            // implicit AND, OR, NOT, parentheses, precedence
            ("acme anvil", POST, true),
            ("acme anvil", COMMENT, false),
            ("acme AND anvil", POST, true),
            ("acme OR anvil", COMMENT, true),
            ("acme or anvil", COMMENT, false),
            ("acme -anvil", POST, false),
            ("acme NOT anvil", POST, false),
            ("acme -anvil", FRENCH, true),
            ("rusty -acme", COMMENT, true),
            ("missing OR acme anvil", POST, true),
            ("missing OR acme anvil", COMMENT, false),
            ("(missing OR acme) anvil", POST, true),
            ("(missing OR outage) -(anvil OR trust)", POST, false),
            ("(missing OR panne) -(anvil OR trust)", FRENCH, true),
            ("-(acme anvil) rusty", COMMENT, true),
            ("acme -\"acme cloud\"", POST, false),
            ("acme -\"acme cloud\"", BARE, false),
            ("NOT NOT acme outage", POST, true),
            ("(\"acme cloud\" OR acmecloud) -anvil lang:en", POST, false),
            ("(\"acme cloud\" OR acmecloud) -anvil lang:fr", FRENCH, true),
            // prefixes
            ("dash*", POST, true),
            ("dashboards*", POST, true),
            ("dashboardsx*", POST, false),
            ("trus*", COMMENT, true),
            ("\"acme clo*\"", POST, true),
            ("\"acme clo*\"", FRENCH, true),
            ("node.j*", POST, true),
            ("title:out*", POST, true),
            ("author:mül*", COMMENT, true),
            // Unicode: NFC, diacritics kept, final sigma, CJK per character
            ("café", POST, true),
            ("café", COMMENT, true),
            ("cafe", POST, false),
            ("CAFÉ", COMMENT, true),
            ("οδος", POST, true),
            ("ΟΔΟΣ", POST, true),
            ("腾讯", POST, true),
            ("腾讯云", POST, true),
            ("讯腾", POST, false),
            ("zoé", FRENCH, false),
            // title:
            ("title:acme", POST, true),
            ("title:dashboards", POST, false),
            ("title:\"cloud outage\"", POST, true),
            ("title:\"outage cloud\"", POST, false),
            ("title:acme -title:today", POST, false),
            ("TITLE:Acme", POST, true),
            // author: handle and display name
            ("author:jdoe", POST, true),
            ("author:@jdoe", POST, true),
            ("author:\"jane doe\"", POST, true),
            ("author:jane", COMMENT, false),
            ("author:bob", COMMENT, true),
            ("author:müller", COMMENT, true),
            ("author:zoé", FRENCH, true),
            ("author:acme", POST, false),
            // site: host and subdomains only
            ("site:example.com", POST, true),
            ("site:blog.example.com", POST, true),
            ("site:www.example.com", POST, false),
            ("site:notexample.com", POST, false),
            ("site:example.com", COMMENT, false),
            ("site:notexample.com", COMMENT, true),
            ("site:NOTEXAMPLE.com", COMMENT, true),
            ("site:https://notexample.com/x", COMMENT, true),
            ("site:example.com", FRENCH, true),
            ("site:com", POST, true),
            ("site:le.com", POST, false),
            ("site:example.com", BARE, false),
            ("rust -site:example.com", BARE, true),
            // lang: two-letter, region dropped, three-letter mapped
            ("lang:en", POST, true),
            ("lang:EN", POST, true),
            ("lang:eng", POST, true),
            ("lang:en-GB", POST, true),
            ("lang:de", POST, false),
            ("lang:de", COMMENT, true),
            ("lang:deu", COMMENT, true),
            ("lang:ger", COMMENT, true),
            ("lang:fr", FRENCH, true),
            ("lang:fre", FRENCH, true),
            ("lang:en", BARE, false),
            ("rust -lang:en", BARE, true),
            // type:
            ("type:post", POST, true),
            ("type:comment", POST, false),
            ("type:comment", COMMENT, true),
            ("type:Comment", COMMENT, true),
            ("acme type:post -type:comment", POST, true),
        ];
        let mut failures = Vec::new();
        for (query, fields, expected) in cases {
            let q = Query::parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
            let doc = Document::new(*fields);
            if q.matches(&doc) != *expected {
                failures.push(format!(
                    "{query:?} on {:?}: expected {expected}",
                    fields.title
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn error_table() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 1, "empty query: write at least one term"),
            ("   ", 1, "empty query"),
            (
                "(acme cloud",
                12,
                "expected ')' to close '(' opened at column 1",
            ),
            ("a (b (c)", 9, "'(' opened at column 3"),
            ("acme)", 5, "unexpected ')'"),
            (") acme", 1, "unexpected ')'"),
            ("acme ()", 6, "empty parentheses"),
            (
                "acme titel:foo",
                6,
                "unknown field 'titel:' (fields: title, author, site, lang, type)",
            ),
            ("http://acme.com", 1, "unknown field 'http:'"),
            ("acme \"cloud", 6, "unterminated phrase: add a closing '\"'"),
            ("title:\"acme", 7, "unterminated phrase"),
            ("a OR", 3, "'OR' needs a term on both sides"),
            ("OR a", 1, "'OR' needs a term on both sides"),
            ("a OR OR b", 3, "'OR' needs a term on both sides"),
            ("(a OR) b", 4, "'OR' needs a term on both sides"),
            ("a AND", 3, "'AND' needs a term on both sides"),
            ("AND a", 1, "'AND' needs a term on both sides"),
            ("a NOT", 3, "'NOT' needs a term after it"),
            ("a -", 3, "'-' must be followed directly"),
            ("a - b", 3, "'-' must be followed directly"),
            ("-foo", 1, "only excludes"),
            ("NOT foo", 1, "only excludes"),
            ("-foo -bar", 1, "only excludes"),
            ("a OR -b", 6, "only excludes"),
            ("(x -y) OR (-z -w)", 12, "only excludes"),
            ("*", 1, "a lone '*'"),
            ("acme *", 6, "a lone '*'"),
            ("\"*\"", 1, "a lone '*'"),
            ("ac*me", 3, "'*' only works at the end"),
            ("acme**", 5, "'*' only works at the end"),
            ("title:ac*me", 9, "'*' only works at the end"),
            ("a*", 1, "too short"),
            ("!!!", 1, "'!!!' has no letters or digits"),
            ("\"!!\"", 1, "the phrase has no letters or digits"),
            ("\"\"", 1, "empty phrase"),
            ("\"  \"", 1, "empty phrase"),
            (
                "type:article",
                6,
                "type: must be post or comment, not 'article'",
            ),
            ("type:post*", 6, "type: must be post or comment"),
            ("lang:english", 6, "lang: takes a language code like en"),
            ("lang:e", 6, "lang: takes a language code"),
            ("site:*.example.com", 6, "drop the '*'"),
            ("site:\"a b\"", 6, "site: takes a host name"),
            (
                "site:",
                1,
                "'site:' needs a value right after the colon, like site:example.com",
            ),
            ("acme title: x", 6, "'title:' needs a value"),
            ("title:(a OR b)", 1, "not a group"),
            ("café (x", 8, "'(' opened at column 6"),
            (
                "(",
                2,
                "expected a term and ')' to close '(' opened at column 1",
            ),
            ("acme (", 7, "'(' opened at column 6"),
        ];
        let mut failures = Vec::new();
        for (query, column, fragment) in cases {
            match Query::parse(query) {
                Ok(q) => failures.push(format!("{query:?}: parsed as {q}")),
                Err(e) if e.column != *column || !e.message.contains(fragment) => {
                    failures.push(format!(
                        "{query:?}: got {e}, want column {column}: {fragment}"
                    ));
                }
                Err(_) => {}
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn error_display_has_column() {
        let err = Query::parse("a OR").unwrap_err();
        assert_eq!(
            err.to_string(),
            "column 3: 'OR' needs a term on both sides, like acme OR acmecloud"
        );
    }

    #[test]
    fn display_table() {
        let cases: &[(&str, &str)] = &[
            ("Acme", "acme"),
            ("acme   cloud", "acme cloud"),
            ("acme AND cloud", "acme cloud"),
            ("(acme cloud) anvil", "acme cloud anvil"),
            ("(a OR b) OR c", "a OR b OR c"),
            ("a b OR c", "a b OR c"),
            ("a (b OR c)", "a (b OR c)"),
            ("NOT a b", "-a b"),
            ("a -(b c)", "a -(b c)"),
            ("a -(b OR c)", "a -(b OR c)"),
            ("Node.JS", "\"node js\""),
            ("\"acme\"", "acme"),
            ("\"acme*\"", "acme*"),
            ("\"Acme Clo*\"", "\"acme clo*\""),
            ("TITLE:\"Acme Cloud\"", "title:\"acme cloud\""),
            ("author:Jane*", "author:jane*"),
            ("site:HTTPS://Blog.Example.com/x", "site:blog.example.com"),
            ("lang:ENG", "lang:en"),
            ("lang:pt-BR", "lang:pt"),
            ("type:Comment", "type:comment"),
            ("c++ OR C#", "c++ OR c#"),
        ];
        for (query, shown) in cases {
            let q = Query::parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
            assert_eq!(q.to_string(), *shown, "{query}");
            assert_eq!(Query::parse(shown), Ok(q), "{query} re-parsed");
        }
    }

    #[test]
    fn tokeniser_table() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("Hello, World!", &["hello", "world"]),
            ("it's acme's", &["it", "s", "acme", "s"]),
            (
                "node.js acme-cloud foo_bar",
                &["node", "js", "acme", "cloud", "foo", "bar"],
            ),
            ("#acme @acme", &["acme", "acme"]),
            (
                "C++ c# F#, c+d, Disney+ a++b",
                &["c++", "c#", "f#", "c", "d", "disney", "a", "b"],
            ),
            ("v2.0 1,000", &["v2", "0", "1", "000"]),
            ("Cafe\u{301} CAFÉ", &["café", "café"]),
            ("ΟΔΟΣ οδος", &["οδοσ", "οδοσ"]),
            ("我喜欢 アクメ社", &["我", "喜", "欢", "アクメ", "社"]),
            ("İstanbul", &["i\u{307}stanbul"]),
            ("😀acme😀", &["acme"]),
        ];
        for (text, expected) in cases {
            let words = Words::new(text);
            let got: Vec<&str> = (0..words.len()).map(|i| words.get(i)).collect();
            assert_eq!(&got, expected, "{text:?}");
            let query: Vec<String> = query_words(text).iter().map(|w| w.to_string()).collect();
            assert_eq!(&query, expected, "{text:?} as a query");
        }
    }

    #[test]
    fn normalise_table() {
        let hosts = [
            ("www.Example.com", "www.example.com"),
            ("https://user@example.com:8080/a?b#c", "example.com"),
            ("example.com.", "example.com"),
            ("", ""),
        ];
        for (raw, want) in hosts {
            assert_eq!(normalise_host(raw), want, "{raw}");
        }
        let langs = [
            ("en", "en"),
            ("EN-us", "en"),
            ("eng", "en"),
            ("cmn", "zh"),
            ("pt_BR", "pt"),
            ("xyz", "xyz"),
        ];
        for (raw, want) in langs {
            assert_eq!(normalise_lang(raw), want, "{raw}");
        }
    }

    #[test]
    fn missing_lang_never_matches_a_lang_filter() {
        let doc = Document::new(DocFields {
            lang: Some(""),
            ..BARE
        });
        assert!(!Query::parse("lang:en").unwrap().matches(&doc));
    }

    /// Pieces that combine into valid and invalid queries alike.
    fn query_piece() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "acme",
            "cloud",
            "Anvil",
            "OR",
            "AND",
            "NOT",
            "-",
            "(",
            ")",
            "\"acme cloud\"",
            "\"a",
            "title:",
            "title:acme",
            "author:\"Jane Doe\"",
            "site:example.com",
            "lang:en",
            "lang:eng",
            "type:post",
            "type:comment",
            "acme*",
            "\"acme clo*\"",
            "*",
            "node.js",
            "c++",
            "café",
            "腾讯",
            "-anvil",
            "or",
            ":",
            "ΟΔΟΣ",
            "x-y",
            "!!",
        ])
    }

    fn ascii_doc() -> impl Strategy<Value = (String, String, String, String)> {
        ("[ -~]{0,60}", "[ -~]{0,200}", "[ -~]{0,20}", "[a-z.]{0,20}")
    }

    proptest! {
        #[test]
        fn parse_never_panics(input in "\\PC{0,40}") {
            let _ = Query::parse(&input);
        }

        #[test]
        fn error_columns_are_inside_the_input(input in "[ -~]{0,30}") {
            if let Err(e) = Query::parse(&input) {
                prop_assert!(e.column >= 1 && e.column <= input.chars().count() + 1, "{e}");
            }
        }

        #[test]
        fn display_reparses_to_an_equal_query(
            pieces in prop::collection::vec((query_piece(), prop::bool::ANY), 1..8)
        ) {
            let input: String = pieces
                .iter()
                .map(|(p, space)| if *space { format!("{p} ") } else { (*p).to_owned() })
                .collect();
            if let Ok(q) = Query::parse(&input) {
                let shown = q.to_string();
                prop_assert_eq!(Query::parse(&shown), Ok(q), "{} shown as {}", input, shown);
            }
        }

        #[test]
        fn display_of_any_parsed_input_reparses(input in "\\PC{0,24}") {
            if let Ok(q) = Query::parse(&input) {
                let shown = q.to_string();
                prop_assert_eq!(Query::parse(&shown), Ok(q), "{:?} shown as {:?}", input, shown);
            }
        }

        #[test]
        fn random_ascii_never_panics_in_matching(
            query in "[ -~]{0,30}",
            (title, text, author, site) in ascii_doc(),
        ) {
            let doc = Document::new(DocFields {
                title: &title,
                text: &text,
                author: &author,
                site: &site,
                lang: Some("en"),
                kind: MentionKind::Post,
            });
            if let Ok(q) = Query::parse(&query) {
                // Excluding a query flips its answer: `anchor -(q)` matches exactly when the
                // anchor word is there and `q` does not match.
                let anchor = Query::parse("zqxanchor").unwrap();
                if let Ok(not_q) = Query::parse(&format!("zqxanchor -({q})")) {
                    let with_anchor = Document::new(DocFields {
                        title: &title,
                        text: &format!("{text} zqxanchor"),
                        author: &author,
                        site: &site,
                        lang: Some("en"),
                        kind: MentionKind::Post,
                    });
                    prop_assert!(anchor.matches(&with_anchor));
                    prop_assert_eq!(not_q.matches(&with_anchor), !q.matches(&with_anchor), "{}", q);
                }
                let _ = q.matches(&doc);
            }
        }

        #[test]
        fn a_word_matches_text_containing_it(
            word in "[\\p{Alphabetic}\\p{Nd}]{1,12}",
            before in "[ -~]{0,40}",
            after in "[ -~]{0,40}",
        ) {
            let q = Query::parse(&word);
            let q = match q {
                Ok(q) => q,
                // Some Unicode letters lowercase into several words (`İ` → `i` + U+0307).
                Err(e) => return Err(TestCaseError::reject(e.to_string())),
            };
            let text = format!("{before} {word} {after}");
            let doc = Document::new(DocFields { text: &text, ..BARE });
            prop_assert!(q.matches(&doc), "{} in {:?}", word, text);
        }

        #[test]
        fn a_word_does_not_match_inside_a_longer_word(
            word in "[a-z]{2,8}",
            glue in "[a-z0-9]{1,3}",
        ) {
            let q = Query::parse(&word).unwrap();
            let text = format!("{word}{glue} {glue}{word}");
            let doc = Document::new(DocFields { text: &text, title: "", ..BARE });
            prop_assert!(!q.matches(&doc), "{} in {:?}", word, text);
        }
    }
}
