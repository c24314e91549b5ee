//! A generic JSON webhook, signed per Standard Webhooks v1.0.0.
//!
//! Upstream: <https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>.
//!
//! Body: `{"type":"mention.created","timestamp":"<RFC 3339>","data":<the alert>}`, compact JSON,
//! kept under 20 KB by cutting the mention text. The alert's user text is sanitized (bidi and
//! invisible characters, control characters) and an unsafe URL dropped, but not escaped: the
//! receiver gets data, not markup. `timestamp` is the mention's time, or the send time when the
//! mention has none. An alert's ack link is `data.ack_url`, only when it is a [`super::ack_url`]
//! (absent otherwise); the text is cut before it would be.
//!
//! Headers: `webhook-id` is the alert id, the same on every retry so receivers can dedupe;
//! `webhook-timestamp` is the send time in Unix seconds; `webhook-signature` is
//! `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`. The key is the base64-decoded part
//! after `whsec_`; a secret without that prefix is used as raw bytes (for receivers that were set
//! up with a plain shared string). Without a `secret` the request is sent unsigned: there is no
//! `webhook-signature` header, and the receiver cannot authenticate it, which only suits a
//! receiver on a trusted network.
//!
//! Redirects: this sink never follows them. It sends through its own client built with
//! `redirect::Policy::none()` (the shared client may follow redirects, and a signed payload must
//! only go where the operator pointed it), so a 3xx is seen, and is a permanent failure
//! ([`super::classify`]). 410 Gone means the endpoint is disabled: also permanent.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat, Utc};
use earshot_connectors::ratelimit::retry_after;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{SendError, Sent, clean_alert, read_reply, reply_error, transport_error};
use crate::alert::Alert;
use crate::secret::SecretValue;

/// Largest body we send; Standard Webhooks asks for less than 20 KB.
pub const BODY_MAX: usize = 20_000;
/// The event type in every body.
pub const EVENT_TYPE: &str = "mention.created";

/// A Standard Webhooks endpoint.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub(crate) id: String,
    url: SecretValue,
    key: Option<SigningKey>,
    /// Our own client: no redirects, 10 s to connect, 30 s in all.
    client: reqwest::Client,
    pub(crate) pace: Option<f64>,
}

/// HMAC key bytes; `Debug` never shows them.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(redacted)")
    }
}

impl SigningKey {
    /// `whsec_<base64>` gives the decoded bytes; anything else its raw bytes.
    pub fn parse(secret: &str) -> Result<SigningKey, String> {
        let bytes = match secret.strip_prefix("whsec_") {
            Some(b64) => BASE64.decode(b64.trim()).map_err(|_| {
                "`secret` starts with whsec_ but the rest is not valid base64".to_string()
            })?,
            None => secret.as_bytes().to_vec(),
        };
        if bytes.is_empty() {
            return Err("`secret` is empty".into());
        }
        Ok(SigningKey(bytes))
    }

    /// `v1,<base64 signature>` of `{id}.{timestamp}.{body}`.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

impl Webhook {
    pub fn new(
        id: &str,
        url: SecretValue,
        secret: Option<&SecretValue>,
        pace: Option<f64>,
        allow_private: bool,
    ) -> Result<Webhook, String> {
        let key = secret.map(|s| SigningKey::parse(s.expose())).transpose()?;
        let client = no_redirect_client(!allow_private)
            .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))?;
        Ok(Webhook {
            id: id.to_string(),
            url,
            key,
            client,
            pace,
        })
    }

    pub(crate) async fn send(
        &self,
        client: &super::Outbound,
        alert: &Alert,
    ) -> Result<Sent, SendError> {
        client.check(self.url.expose())?;
        let now = client.now();
        let body = serde_json::to_vec(&render_at(alert, now)).map_err(|e| SendError {
            retry: super::Retry::Never,
            status: None,
            message: format!("cannot serialize the alert: {e}"),
        })?;
        let ts = now.timestamp();
        let mut req = self
            .client
            .post(self.url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &alert.id)
            .header("webhook-timestamp", ts.to_string());
        if let Some(key) = &self.key {
            req = req.header("webhook-signature", key.sign(&alert.id, ts, &body));
        }
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error(e, self.url.expose()))?;
        let reply = read_reply(resp, self.url.expose()).await?;
        if reply.is_success() {
            return Ok(Sent::default());
        }
        Err(reply_error(
            &reply,
            retry_after(&reply.headers, now),
            self.url.expose(),
        ))
    }
}

/// A client that never follows redirects, with the timeouts Standard Webhooks suggests; with
/// `guard`, it connects to public addresses only (see [`earshot_connectors::netguard`]).
fn no_redirect_client(guard: bool) -> Result<reqwest::Client, reqwest::Error> {
    // reqwest is built with `rustls-no-provider`: building any client needs a process-wide
    // crypto provider, and panics without one. Install ring's (the one the workspace links)
    // unless the binary already installed one; a second install is a harmless no-op.
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let builder = reqwest::Client::builder();
    let builder = if guard {
        builder
            .dns_resolver(std::sync::Arc::new(
                earshot_connectors::netguard::PublicOnly,
            ))
            .no_proxy()
    } else {
        builder
    };
    builder
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("earshot/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The body, with `now` standing in for a mention without a time. Cuts the mention text until the
/// compact body is under [`BODY_MAX`] bytes.
pub fn render_at(alert: &Alert, now: DateTime<Utc>) -> Value {
    let mut data = clean_alert(alert);
    // Titles and names are one line each; bound them so the text gets the room.
    data.title = data
        .title
        .map(|t| super::text::truncate(&t, 1000, super::text::Count::Chars));
    data.author = data
        .author
        .map(|a| super::text::truncate(&a, 256, super::text::Count::Chars));
    // Reasons are short by construction; bound them anyway so that the text keeps the room.
    data.reasons = data
        .reasons
        .iter()
        .take(20)
        .map(|r| super::text::truncate(r, 300, super::text::Count::Chars))
        .collect();
    data.watch = super::text::truncate(&data.watch, 256, super::text::Count::Chars);
    let timestamp = alert
        .created_at
        .unwrap_or(now)
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let body = |data: &Alert| json!({"type": EVENT_TYPE, "timestamp": timestamp, "data": data});

    let full = body(&data);
    if size(&full) < BODY_MAX {
        return full;
    }
    // Binary search on the number of characters of text kept.
    let text: Vec<char> = data.text.chars().collect();
    let (mut lo, mut hi) = (0, text.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        data.text = cut(&text, mid);
        if size(&body(&data)) < BODY_MAX {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    data.text = cut(&text, lo);
    body(&data)
}

fn cut(text: &[char], n: usize) -> String {
    let mut s: String = text[..n].iter().collect();
    if n < text.len() {
        s.push(super::text::ELLIPSIS);
    }
    s
}

fn size(v: &Value) -> usize {
    serde_json::to_vec(v).map_or(usize::MAX, |b| b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_spec_example() {
        // The example from the Standard Webhooks spec.
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            key.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn key_parsing() {
        assert_eq!(SigningKey::parse("whsec_AAEC").unwrap().0, vec![0, 1, 2]);
        assert_eq!(SigningKey::parse("plain").unwrap().0, b"plain".to_vec());
        assert!(SigningKey::parse("whsec_!!!").is_err());
        assert!(SigningKey::parse("whsec_").is_err());
        assert!(!format!("{:?}", SigningKey::parse("plain").unwrap()).contains("plain"));
    }

    #[test]
    fn body_stays_under_limit() {
        let mut a = Alert::sample();
        a.text = "é😀".repeat(20_000);
        let v = render_at(&a, DateTime::from_timestamp(1_800_000_000, 0).unwrap());
        assert!(size(&v) < BODY_MAX);
        let t = v["data"]["text"].as_str().unwrap();
        assert!(t.ends_with('…') && t.len() > 10_000, "{}", t.len());
        let small = render_at(
            &Alert::sample(),
            DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        );
        assert_eq!(small["data"]["text"], Alert::sample().text);
    }
}
