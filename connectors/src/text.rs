//! Turning platform text into plain text: HTML to text (entities decoded, scripts and styles
//! dropped, block elements as line breaks), and unwrapping redirect links.

/// HTML (or plain text with entities) to plain text.
pub fn html_to_text(_html: &str) -> String {
    todo!()
}

/// Unwraps `https://www.google.com/url?...&url=<real>` (Google Alerts) to the real URL;
/// any other URL comes back unchanged.
pub fn unwrap_redirect(url: &str) -> String {
    url.to_string()
}
