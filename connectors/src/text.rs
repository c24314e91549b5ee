//! Turning platform text into plain text: HTML to text (entities decoded, scripts and styles
//! dropped, block elements as line breaks), and unwrapping redirect links.
//!
//! [`html_to_text`] is a small single-pass scanner, not an HTML parser: platform snippets are
//! short, often broken (unclosed tags, a bare `<` in "a < b"), and all we need is readable text
//! for matching and alerts. It never panics and runs in linear time on any input.

use url::Url;

/// Elements whose start or end begins a new line of text.
const BLOCK_TAGS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tr",
    "ul",
];

/// Elements that separate words without starting a line (table cells, images).
const SPACING_TAGS: &[&str] = &["td", "th", "img"];

/// Elements whose content is not text at all.
const SKIPPED_CONTENT: &[&str] = &["script", "style", "noscript", "template"];

/// HTML (or plain text with entities) to plain text.
///
/// Scripts, styles, comments and tags are dropped, entities decoded, block elements become
/// line breaks, runs of whitespace become one space, and every line is trimmed (empty lines
/// dropped). A `<` that does not start a tag is kept as text.
pub fn html_to_text(html: &str) -> String {
    // ASCII lowercasing keeps byte offsets, so positions found in `lower` index `html` too.
    let lower = html.to_ascii_lowercase();
    let bytes = html.as_bytes();
    let mut out = TextBuilder::default();
    let mut i = 0;
    let mut text_start = 0;
    // Once a search for `>` fails, every later one would too: remembering it keeps a text
    // full of stray `<` linear instead of quadratic.
    let mut no_more_gt = false;

    while let Some(off) = lower[i..].find('<') {
        let lt = i + off;
        let rest = &lower[lt..];
        let next = rest.as_bytes().get(1).copied();

        // Comments and CDATA, whose ends are not a plain `>`.
        if let Some(comment) = rest.strip_prefix("<!--") {
            out.push_text(&html[text_start..lt]);
            i = comment.find("-->").map_or(html.len(), |e| lt + 4 + e + 3);
            text_start = i;
            continue;
        }
        if rest.starts_with("<![cdata[") {
            out.push_text(&html[text_start..lt]);
            let body = lt + 9;
            let end = lower[body..].find("]]>").map_or(html.len(), |e| body + e);
            // CDATA content is literal: no entity decoding.
            out.push_raw(&html[body..end]);
            i = (end + 3).min(html.len());
            text_start = i;
            continue;
        }

        let is_tag_start = match next {
            Some(c) => c.is_ascii_alphabetic() || c == b'/' || c == b'!' || c == b'?',
            None => false,
        };
        let gt = if is_tag_start && !no_more_gt {
            let found = lower[lt + 1..].find('>').map(|e| lt + 1 + e);
            no_more_gt = found.is_none();
            found
        } else {
            None
        };
        let Some(gt) = gt else {
            // Not a tag ("a < b", "<3", a tag never closed): the `<` is text.
            i = lt + 1;
            continue;
        };

        out.push_text(&html[text_start..lt]);
        let name = tag_name(&lower[lt + 1..gt]);
        let closing = bytes.get(lt + 1) == Some(&b'/');
        i = gt + 1;
        if !closing && SKIPPED_CONTENT.contains(&name) {
            let end_tag = format!("</{name}");
            i = lower[i..]
                .find(&end_tag)
                .and_then(|e| {
                    let from = i + e;
                    lower[from..].find('>').map(|g| from + g + 1)
                })
                .unwrap_or(html.len());
        } else if BLOCK_TAGS.contains(&name) {
            out.line_break();
        } else if SPACING_TAGS.contains(&name) {
            out.space();
        }
        text_start = i;
    }
    out.push_text(&html[text_start..]);
    out.finish()
}

/// The lowercase element name at the start of a tag's inside (`/p class=x` → `p`).
fn tag_name(inside: &str) -> &str {
    let inside = inside.strip_prefix('/').unwrap_or(inside);
    let end = inside
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(inside.len());
    &inside[..end]
}

/// Collects text while collapsing whitespace and trimming lines as it goes: a space or a
/// line break is only written once the next visible character arrives.
#[derive(Default)]
struct TextBuilder {
    out: String,
    pending_space: bool,
    pending_break: bool,
}

impl TextBuilder {
    fn push_text(&mut self, raw: &str) {
        if raw.contains('&') {
            let decoded = html_escape::decode_html_entities(raw);
            self.push_raw(&decoded);
        } else {
            self.push_raw(raw);
        }
    }

    fn push_raw(&mut self, text: &str) {
        for c in text.chars() {
            if c.is_whitespace() || c.is_control() {
                self.pending_space = true;
                continue;
            }
            if !self.out.is_empty() {
                if self.pending_break {
                    self.out.push('\n');
                } else if self.pending_space {
                    self.out.push(' ');
                }
            }
            self.pending_break = false;
            self.pending_space = false;
            self.out.push(c);
        }
    }

    fn line_break(&mut self) {
        self.pending_break = true;
    }

    fn space(&mut self) {
        self.pending_space = true;
    }

    fn finish(self) -> String {
        self.out
    }
}

/// Markdown (Reddit, GitHub, Lemmy, Discourse) to plain text, line by line.
///
/// Headings, quote and list markers, rules and code fences are dropped; `[text](url)` and
/// `![alt](url)` keep their text; `**`, `__`, `~~`, `*` and backticks go. Inline HTML and
/// entities then go through [`html_to_text`]. `_` alone is kept: it is more often part of
/// a name (`snake_case`) than emphasis. Code stays as text: it is often what people quote.
pub fn markdown_to_text(md: &str) -> String {
    let mut lines = Vec::new();
    for raw in md.lines() {
        let mut line = raw.trim();
        if line.starts_with("```") || line.starts_with("~~~") {
            continue;
        }
        if line.len() >= 3
            && line.chars().all(|c| matches!(c, '-' | '*' | '_' | ' '))
            && line.chars().filter(|c| !c.is_whitespace()).count() >= 3
        {
            continue;
        }
        loop {
            let before = line;
            line = line.trim_start_matches('>').trim_start();
            let hashes = line.len() - line.trim_start_matches('#').len();
            if (1..=6).contains(&hashes) && line[hashes..].starts_with([' ', '\t']) {
                line = line[hashes..].trim_start();
            }
            for marker in ["- ", "* ", "+ "] {
                if let Some(rest) = line.strip_prefix(marker) {
                    line = rest.trim_start();
                }
            }
            let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if (1..=9).contains(&digits)
                && (line[digits..].starts_with(". ") || line[digits..].starts_with(") "))
            {
                line = line[digits + 2..].trim_start();
            }
            if line == before {
                break;
            }
        }
        let text = html_to_text(&markdown_inline(line));
        if !text.is_empty() {
            lines.push(text);
        }
    }
    lines.join("\n")
}

/// Links and images to their text, emphasis and code marks dropped.
fn markdown_inline(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find('[') {
        let (before, from) = rest.split_at(at);
        out.push_str(before.strip_suffix('!').unwrap_or(before));
        // `[text](target)`: keep the text, drop the target.
        let link = from.find("](").and_then(|close| {
            let end = from[close + 2..].find(')')? + close + 2;
            (!from[1..close].contains('[')).then_some((close, end))
        });
        match link {
            Some((close, end)) => {
                out.push_str(&from[1..close]);
                rest = &from[end + 1..];
            }
            None => {
                out.push('[');
                rest = &from[1..];
            }
        }
    }
    out.push_str(rest);
    let mut s = out
        .replace("**", "")
        .replace("__", "")
        .replace("~~", "")
        .replace('`', "");
    if s.contains('*') {
        s = s.replace('*', "");
    }
    s
}

/// Unwraps `https://www.google.com/url?...&url=<real>` (Google Alerts) to the real URL;
/// any other URL comes back unchanged.
///
/// The `q=` form (`/url?q=<real>`, used in Google search results and some alert mails) is
/// unwrapped too. The result must itself be an http(s) URL, so a wrapper around something
/// odd is left as it is rather than turned into a `javascript:` link.
pub fn unwrap_redirect(url: &str) -> String {
    let Ok(parsed) = Url::parse(url.trim()) else {
        return url.to_string();
    };
    let is_google = parsed.host_str().is_some_and(|h| {
        let h = h.to_ascii_lowercase();
        h == "google.com" || h.starts_with("www.google.") || h.starts_with("google.")
    });
    if !is_google || parsed.path() != "/url" {
        return url.to_string();
    }
    let target = parsed
        .query_pairs()
        .find(|(k, _)| k == "url")
        .or_else(|| parsed.query_pairs().find(|(k, _)| k == "q"))
        .map(|(_, v)| v.into_owned());
    match target {
        Some(t) if Url::parse(&t).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) => t,
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_to_text_table() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("# Acme is down", "Acme is down"),
            ("> quoted **bold** text", "quoted bold text"),
            ("- one\n- two\n1. three", "one\ntwo\nthree"),
            (
                "see [the docs](https://x.example/a) now",
                "see the docs now",
            ),
            ("![logo](https://x.example/l.png) Acme", "logo Acme"),
            ("```rust\nlet acme = 1;\n```", "let acme = 1;"),
            ("---\ntext", "text"),
            (
                "use `acme_cli` and snake_case",
                "use acme_cli and snake_case",
            ),
            ("Tom &amp; Jerry <b>x</b>", "Tom & Jerry x"),
            ("[not a link", "[not a link"),
            ("a ~~b~~ *c*", "a b c"),
        ];
        for (md, want) in cases {
            assert_eq!(markdown_to_text(md), *want, "{md:?}");
        }
    }

    #[test]
    fn html_to_text_table() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("plain text", "plain text"),
            ("  lots   of\n\t space  ", "lots of space"),
            ("<b>Acme</b> widgets", "Acme widgets"),
            ("<p>one</p><p>two</p>", "one\ntwo"),
            ("a<br>b<br/>c<br />d", "a\nb\nc\nd"),
            ("<ul><li>x</li><li>y</li></ul>", "x\ny"),
            ("<h1>Title</h1>body", "Title\nbody"),
            ("<div><div><p>deep</p></div></div>", "deep"),
            ("a<script>alert('<b>x</b>')</script>b", "ab"),
            ("a<SCRIPT type=x>evil()</SCRIPT >b", "ab"),
            ("a<style>p { color: red }</style>b", "ab"),
            ("a<!-- hidden <b>x</b> -->b", "ab"),
            ("a<!-- never closed", "a"),
            (
                "AT&amp;T &lt;3 &quot;q&quot; &#39;s&#x27; &eacute;",
                "AT&T <3 \"q\" 's' é",
            ),
            ("&amp;lt;b&amp;gt;", "&lt;b&gt;"),
            ("&lt;b&gt;not a tag&lt;/b&gt;", "<b>not a tag</b>"),
            ("a < b and c > d", "a < b and c > d"),
            ("1<2", "1<2"),
            ("x <3 y", "x <3 y"),
            ("<b>unclosed", "unclosed"),
            ("text <a href=\"x\"", "text <a href=\"x\""),
            ("<<<<", "<<<<"),
            ("a<", "a<"),
            ("<td>a</td><td>b</td>", "a b"),
            ("x<![CDATA[ <raw> &amp; ]]>y", "x <raw> &amp; y"),
            ("<?xml version=\"1.0\"?><p>x</p>", "x"),
            ("non&nbsp;breaking", "non breaking"),
            ("<p> \n </p><p>  </p>x", "x"),
            ("naïve <i>café</i> 日本", "naïve café 日本"),
            ("<script>never closed", ""),
        ];
        for (input, want) in cases {
            assert_eq!(html_to_text(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn html_to_text_is_linear_on_hostile_input() {
        // Quadratic scanning would take minutes on these; linear takes milliseconds.
        let inputs = [
            "<a".repeat(200_000),
            "<!--".repeat(200_000),
            "<script>".repeat(100_000),
            "&".repeat(200_000),
        ];
        let outputs: Vec<String> = inputs.iter().map(|i| html_to_text(i)).collect();
        // Stray `<` with no `>` anywhere is text; an unclosed comment and script hide the rest;
        // bare ampersands stay ampersands.
        assert_eq!(outputs[0], "<a".repeat(200_000));
        assert_eq!(outputs[1], "");
        assert_eq!(outputs[2], "");
        assert_eq!(outputs[3], "&".repeat(200_000));
    }

    #[test]
    fn unwrap_redirect_table() {
        let cases: &[(&str, &str)] = &[
            (
                "https://www.google.com/url?rct=j&sa=t&url=https://example.com/a%3Fb%3Dc%26d%3De&ct=ga&cd=X&usg=Y",
                "https://example.com/a?b=c&d=e",
            ),
            (
                "https://www.google.com/url?rct=j&sa=t&url=https%3A%2F%2Fnews.example.org%2Fstory&ct=ga",
                "https://news.example.org/story",
            ),
            (
                "https://www.google.com/url?q=https://example.com/x&sa=U",
                "https://example.com/x",
            ),
            (
                "https://google.com/url?url=http://example.com/",
                "http://example.com/",
            ),
            (
                "https://www.google.co.uk/url?url=https://example.com/",
                "https://example.com/",
            ),
            (
                "https://www.google.com/search?q=https://example.com/",
                "https://www.google.com/search?q=https://example.com/",
            ),
            (
                "https://www.google.com/url?url=javascript:alert(1)",
                "https://www.google.com/url?url=javascript:alert(1)",
            ),
            (
                "https://www.google.com/url?ct=ga",
                "https://www.google.com/url?ct=ga",
            ),
            (
                "https://example.com/url?url=https://evil.example/",
                "https://example.com/url?url=https://evil.example/",
            ),
            ("https://example.com/post", "https://example.com/post"),
            ("not a url", "not a url"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(unwrap_redirect(input), *want, "input {input:?}");
        }
    }
}
