//! Text hygiene shared by every sink: pure functions, no I/O.
//!
//! Mention text is hostile until proven otherwise. Every sink runs it through [`sanitize`] (drop
//! characters that can spoof what a reader sees), then through its platform's escaper, then cuts
//! it to the platform's limit with [`escape_fit`]. The order matters: escaping grows a string, so
//! the limit is checked on the escaped text, and the cut never splits an escape sequence (a
//! dangling `&am` or a lone `\` would garble or re-enable markup).
//!
//! Adding a platform: write one `fn(&[char], usize, &mut String)` escaper that pushes the escaped
//! form of one input character, and pick the [`Count`] its limits are measured in.

/// The unit a platform counts its length limits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Unicode scalar values (Slack, and our own caps).
    Chars,
    /// UTF-16 code units. Discord's limits are JavaScript string lengths, where a character outside
    /// the BMP (most emoji) counts as 2: counting this way is the conservative choice.
    Utf16,
    /// UTF-8 bytes (ntfy's and Zulip's message limits; Teams' and Google Chat's payload limits).
    Bytes,
}

impl Count {
    /// Length of `s` in this unit.
    pub fn len(self, s: &str) -> usize {
        match self {
            Count::Chars => s.chars().count(),
            Count::Utf16 => s.encode_utf16().count(),
            Count::Bytes => s.len(),
        }
    }

    fn of_char(self, c: char) -> usize {
        match self {
            Count::Chars => 1,
            Count::Utf16 => c.len_utf16(),
            Count::Bytes => c.len_utf8(),
        }
    }
}

/// Appended to a cut string. One unit as chars and UTF-16, three bytes.
pub const ELLIPSIS: char = '…';

/// Bidirectional controls: an RLO (U+202E) makes `exe.txt` read as `txt.exe`.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Invisible format characters that can hide or split words (a zero-width space inside
/// `every\u{200B}one` defeats a naive filter; U+FEFF and U+2060 are invisible too). Soft hyphen and
/// the invisible math operators are in the same family.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}' | '\u{180E}')
}

/// Rough test for "this character is (part of) an emoji": the pictographic blocks, dingbats and
/// misc symbols, and the variation selector that asks for emoji presentation. Only used to keep
/// a ZWJ that joins two emoji (👩‍💻), so an approximation is fine: a wrong answer drops a joiner
/// and shows two emoji side by side.
fn is_emojiish(c: char) -> bool {
    matches!(c,
        '\u{1F000}'..='\u{1FAFF}' | '\u{2600}'..='\u{27BF}' | '\u{2B00}'..='\u{2BFF}' | '\u{FE0F}')
}

/// Removes characters that can spoof what a reader sees: bidi controls, zero-width and other
/// invisible format characters, and control characters (C0 except `\n`, DEL, C1; a `\t` becomes a
/// space, `\r\n` and `\r` become `\n`).
///
/// A zero-width joiner is kept only between two emoji-ish characters, where it builds one glyph
/// (👩‍💻); anywhere else it is dropped. This simple rule keeps common emoji sequences and never
/// keeps a joiner inside a word.
pub fn sanitize(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut prev_kept: Option<char> = None;
    for (i, &c) in chars.iter().enumerate() {
        let keep = match c {
            '\n' => Some('\n'),
            '\t' => Some(' '),
            '\r' => {
                if chars.get(i + 1) == Some(&'\n') {
                    None
                } else {
                    Some('\n')
                }
            }
            '\u{200D}' => {
                let joins_emoji = prev_kept.is_some_and(is_emojiish)
                    && chars.get(i + 1).copied().is_some_and(is_emojiish);
                joins_emoji.then_some(c)
            }
            c if c.is_control() || is_bidi_control(c) || is_invisible_format(c) => None,
            // Interlinear annotations and tag characters: invisible, and tags can smuggle text.
            '\u{FFF9}'..='\u{FFFB}' | '\u{E0000}'..='\u{E007F}' => None,
            c => Some(c),
        };
        if let Some(k) = keep {
            out.push(k);
            prev_kept = Some(k);
        }
    }
    out
}

/// [`sanitize`], then whitespace runs (newlines included) collapsed to one space and trimmed:
/// for one-line fields (titles, names, headers).
pub fn one_line(s: &str) -> String {
    sanitize(s).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// [`sanitize`], then trailing spaces dropped from lines and runs of blank lines collapsed to one:
/// for multi-line excerpts.
pub fn tidy_block(s: &str) -> String {
    let clean = sanitize(s);
    let mut out = String::with_capacity(clean.len());
    let mut blank_run = 0;
    for line in clean.trim().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line);
    }
    out
}

/// An escaper: pushes the escaped form of `chars[i]` onto `out`. It sees the whole input so it
/// can look around (line starts, `@everyone`).
pub type Escaper = fn(chars: &[char], i: usize, out: &mut String);

/// No escaping: for plain-text fields.
pub fn plain(chars: &[char], i: usize, out: &mut String) {
    out.push(chars[i]);
}

/// Escapes `s` with `escape`, then cuts it to at most `limit` units of `count`, appending `…` when
/// it cut. The cut falls between the escaped forms of two input characters, never inside one.
/// With a `limit` of 0 the result is empty.
pub fn escape_fit(s: &str, limit: usize, count: Count, escape: Escaper) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    // (byte length, units) of `out` after each input character's escaped form.
    let mut bounds: Vec<(usize, usize)> = Vec::with_capacity(chars.len());
    let mut units = 0;
    for i in 0..chars.len() {
        let start = out.len();
        escape(&chars, i, &mut out);
        units += out[start..]
            .chars()
            .map(|c| count.of_char(c))
            .sum::<usize>();
        bounds.push((out.len(), units));
    }
    if units <= limit {
        return out;
    }
    if limit == 0 {
        return String::new();
    }
    let room = limit - count.of_char(ELLIPSIS);
    let keep = bounds
        .iter()
        .take_while(|(_, u)| *u <= room)
        .last()
        .map_or(0, |(b, _)| *b);
    out.truncate(keep);
    // A cut right after a joiner or a space would leave it dangling before the ellipsis.
    while out.ends_with(['\u{200D}', '\u{FE0F}', ' ', '\n']) {
        out.pop();
    }
    out.push(ELLIPSIS);
    out
}

/// Lookaround for escapers: true when `chars[i]` is the first non-space character of its line
/// (where a `-`, `+`, `>` or `#` starts a list, quote or heading).
pub fn at_line_start(chars: &[char], i: usize) -> bool {
    chars[..i]
        .iter()
        .rev()
        .take_while(|&&c| c != '\n')
        .all(|&c| c == ' ')
}

/// Lookaround for escapers: true for the `.` in a line-leading `12.` (an ordered list).
pub fn after_line_leading_digits(chars: &[char], i: usize) -> bool {
    let mut j = i;
    while j > 0 && chars[j - 1].is_ascii_digit() {
        j -= 1;
    }
    j < i && at_line_start(chars, j)
}

/// Lookaround for escapers: true for a `.` between a letter or digit and a letter, as in
/// `evil.example` or `www.x`: the dot that lets an auto-linker see a domain. `3.5` and a
/// sentence's full stop are not.
pub fn is_domain_dot(chars: &[char], i: usize) -> bool {
    i > 0 && chars[i - 1].is_alphanumeric() && chars.get(i + 1).is_some_and(|c| c.is_alphabetic())
}

/// Zero-width space (U+200B): invisible, and no auto-linker we know of takes it as part of a
/// scheme, a domain or a name, so one inside `evil.example` or `https:` keeps the text from
/// becoming a link. [`sanitize`] drops it from input, so every one in our output is ours.
pub const ZWSP: char = '\u{200B}';

/// Lookaround for escapers: true for the `:` of a URL scheme (`https:x`, `javascript:x`,
/// `mailto:x`): an ASCII letter before, no space after. `Re: x` and `20:26` are not.
pub fn is_scheme_colon(chars: &[char], i: usize) -> bool {
    chars[i] == ':'
        && i > 0
        && chars[i - 1].is_ascii_alphabetic()
        && chars.get(i + 1).is_some_and(|c| !c.is_whitespace())
}

/// For escapers of text that a client auto-links: pushes `chars[i]` defused with a [`ZWSP`] and
/// returns true when it is the `:` of a scheme ([`is_scheme_colon`], the space goes before it)
/// or a domain dot ([`is_domain_dot`], the space goes after it), so neither `https://evil`,
/// `evil.example/login`, `www.evil.example` nor `t.me/x` is found as a link. Pushes nothing and
/// returns false for any other character, which the caller escapes its own way.
pub fn defang_link(chars: &[char], i: usize, out: &mut String) -> bool {
    if is_scheme_colon(chars, i) {
        out.push(ZWSP);
        out.push(':');
        true
    } else if chars[i] == '.' && is_domain_dot(chars, i) {
        out.push('.');
        out.push(ZWSP);
        true
    } else {
        false
    }
}

/// Plain text that a client may auto-link (a terminal, a notification): [`defang_link`] only.
pub fn defanged(chars: &[char], i: usize, out: &mut String) {
    if !defang_link(chars, i, out) {
        out.push(chars[i]);
    }
}

/// [`escape_fit`] with no escaping.
pub fn truncate(s: &str, limit: usize, count: Count) -> String {
    escape_fit(s, limit, count, plain)
}

/// Returns `url` if it is safe to make a link of: `http` or `https`, with a host, no user info (a
/// `https://trusted.com@evil.com` spoof), no whitespace or control characters, none of the
/// characters that end a Slack link (`|`, `<`, `>`), and at most 2,000 bytes (Discord's embed URL
/// limit is 2,048; Slack's button URL 3,000). Anything else is shown as text or dropped.
pub fn safe_url(url: &str) -> Option<&str> {
    if url.len() > 2000
        || url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '|' | '<' | '>' | '"'))
        || url
            .chars()
            .any(|c| is_bidi_control(c) || is_invisible_format(c))
    {
        return None;
    }
    let parsed = url::Url::parse(url).ok()?;
    let ok = matches!(parsed.scheme(), "http" | "https")
        && parsed.host_str().is_some_and(|h| !h.is_empty())
        && parsed.username().is_empty()
        && parsed.password().is_none();
    ok.then_some(url)
}

/// A safe URL as a Markdown link destination (`[text](url)`): `(`, `)` and `\\` percent-encoded, so
/// the destination cannot end early or escape the next character. Only ever given a [`safe_url`].
pub fn link_target(url: &str) -> String {
    url.replace('\\', "%5C")
        .replace('(', "%28")
        .replace(')', "%29")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_target_table() {
        let cases: &[(&str, &str)] = &[
            (
                "https://a.example/ack?m=1&s=_x-",
                "https://a.example/ack?m=1&s=_x-",
            ),
            (
                "https://a.example/wiki/A_(b)",
                "https://a.example/wiki/A_%28b%29",
            ),
            ("https://a.example/a\\b", "https://a.example/a%5Cb"),
        ];
        for (url, want) in cases {
            assert_eq!(link_target(url), *want, "{url}");
        }
    }

    #[test]
    fn sanitize_table() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("a\u{202E}txt.exe", "atxt.exe"),
            ("\u{2066}x\u{2069}\u{200E}\u{200F}\u{061C}", "x"),
            ("every\u{200B}one", "everyone"),
            ("\u{FEFF}bom\u{2060}", "bom"),
            ("a\u{200D}b", "ab"),
            ("👩\u{200D}💻", "👩\u{200D}💻"),
            ("👩\u{200D}", "👩"),
            ("tab\there", "tab here"),
            ("crlf\r\nline\rold", "crlf\nline\nold"),
            ("esc\u{1b}[31mred\u{7}", "esc[31mred"),
            ("c1\u{85}\u{9B}x", "c1x"),
            ("tag\u{E0041}s", "tags"),
            ("soft\u{AD}hyphen", "softhyphen"),
            ("日本語 ✓", "日本語 ✓"),
        ];
        for (input, want) in cases {
            assert_eq!(sanitize(input), *want, "sanitize({input:?})");
        }
    }

    #[test]
    fn one_line_and_block() {
        assert_eq!(one_line("  a\n\n b\t c  "), "a b c");
        assert_eq!(tidy_block("\n a  \n\n\n\nb \n"), "a\n\nb");
    }

    fn amp(chars: &[char], i: usize, out: &mut String) {
        match chars[i] {
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }

    #[test]
    fn escape_fit_table() {
        let cases: &[(&str, usize, Count, Escaper, &str)] = &[
            ("hello", 5, Count::Chars, plain, "hello"),
            ("hello", 4, Count::Chars, plain, "hel…"),
            ("hello", 1, Count::Chars, plain, "…"),
            ("hello", 0, Count::Chars, plain, ""),
            ("", 3, Count::Chars, plain, ""),
            // Never split the escape sequence: "a&amp;" is 6, limit 5 keeps only "a".
            ("a&b", 5, Count::Chars, amp, "a…"),
            ("a&b", 7, Count::Chars, amp, "a&amp;b"),
            ("a&b", 6, Count::Chars, amp, "a…"),
            ("a&bc", 7, Count::Chars, amp, "a&amp;…"),
            // Emoji count 2 in UTF-16, 1 as chars.
            ("😀😀😀", 3, Count::Chars, plain, "😀😀😀"),
            ("😀😀😀", 3, Count::Utf16, plain, "😀…"),
            ("😀😀😀", 6, Count::Utf16, plain, "😀😀😀"),
            ("日本語です", 3, Count::Utf16, plain, "日本…"),
            ("word word", 6, Count::Chars, plain, "word…"),
            // Bytes: the ellipsis is 3, and a cut never splits a multibyte character.
            ("hello", 5, Count::Bytes, plain, "hello"),
            ("hello", 4, Count::Bytes, plain, "h…"),
            ("日本語", 8, Count::Bytes, plain, "日…"),
            ("日本語", 9, Count::Bytes, plain, "日本語"),
            ("😀😀", 7, Count::Bytes, plain, "😀…"),
            ("😀😀", 6, Count::Bytes, plain, "…"),
            ("a&b", 6, Count::Bytes, amp, "a…"),
            // Bytes: "é" is 2, "…" is 3; never a split character.
            ("héllo", 6, Count::Bytes, plain, "héllo"),
            ("héllo", 5, Count::Bytes, plain, "h…"),
            ("日本語", 8, Count::Bytes, plain, "日…"),
        ];
        for (input, limit, count, esc, want) in cases {
            let got = escape_fit(input, *limit, *count, *esc);
            assert_eq!(got, *want, "escape_fit({input:?}, {limit}, {count:?})");
            assert!(count.len(&got) <= *limit);
        }
    }

    #[test]
    fn lookaround_table() {
        let at = |s: &str, pat: char| {
            let chars: Vec<char> = s.chars().collect();
            let i = chars.iter().position(|&c| c == pat).unwrap();
            (
                at_line_start(&chars, i),
                after_line_leading_digits(&chars, i),
                is_domain_dot(&chars, i),
            )
        };
        assert_eq!(at("- x", '-'), (true, false, false));
        assert_eq!(at("a\n  - x", '-'), (true, false, false));
        assert_eq!(at("a - x", '-'), (false, false, false));
        assert_eq!(at("12. x", '.'), (false, true, false));
        assert_eq!(at("x\n 3. y", '.'), (false, true, false));
        assert_eq!(at("v1. x", '.'), (false, false, false));
        assert_eq!(at("evil.example", '.'), (false, false, true));
        // Conservative: a line-leading number counts even without the space a list needs.
        assert_eq!(at("3.5", '.'), (false, true, false));
        assert_eq!(at("It is 3.5", '.'), (false, false, false));
        assert_eq!(at("end. Next", '.'), (false, false, false));
    }

    #[test]
    fn defanged_table() {
        let z = ZWSP;
        let cases: Vec<(&str, String)> = vec![
            ("plain text", "plain text".into()),
            ("evil.example/login", format!("evil.{z}example/login")),
            ("www.evil.example", format!("www.{z}evil.{z}example")),
            ("t.me/x", format!("t.{z}me/x")),
            ("https://a.b", format!("https{z}://a.{z}b")),
            ("JAVASCRIPT:alert(1)", format!("JAVASCRIPT{z}:alert(1)")),
            ("dana@example.com", format!("dana@example.{z}com")),
            // Not links: a sentence's stop, a number, a time, a label.
            ("end. Next", "end. Next".into()),
            ("v1.2 3.5 -0.48", "v1.2 3.5 -0.48".into()),
            ("Re: x at 20:26", "Re: x at 20:26".into()),
            ("a:", "a:".into()),
        ];
        for (input, want) in cases {
            assert_eq!(
                escape_fit(input, 1000, Count::Chars, defanged),
                want,
                "{input:?}"
            );
        }
    }

    #[test]
    fn safe_url_table() {
        let cases: &[(&str, bool)] = &[
            ("https://example.com/a?b=1&c=2#x", true),
            ("http://127.0.0.1:8080/", true),
            ("javascript:alert(1)", false),
            ("JAVASCRIPT:alert(1)", false),
            ("data:text/html,hi", false),
            ("https://evil|trusted", false),
            ("https://a.com/>x", false),
            ("https://a.com/ x", false),
            ("https://trusted.com@evil.com/", false),
            ("https://a.com/\u{202E}gpj.exe", false),
            ("//no-scheme.com", false),
            ("", false),
        ];
        for (url, ok) in cases {
            assert_eq!(safe_url(url).is_some(), *ok, "safe_url({url:?})");
        }
        assert!(safe_url(&format!("https://a.com/{}", "x".repeat(3000))).is_none());
    }
}
