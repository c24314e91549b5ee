//! Conformance case for `kind = "webhook"`: its checks live in `main.rs`, written before the suite.

use earshot::config::{SinkConfig, SinkKind};
use serde_json::Value;
use wiremock::ResponseTemplate;

use crate::SinkCase;

pub struct Webhook;

impl SinkCase for Webhook {
    const KIND: SinkKind = SinkKind::Webhook;
    const SNAPSHOT: &'static str = "webhook.json";

    fn config(server: &str) -> SinkConfig {
        crate::config(SinkKind::Webhook, Some(format!("{server}{}", crate::HOOK_PATH)))
    }

    fn ok() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_string("ok")
    }

    fn check(case: &str, body: &Value) {
        crate::check_webhook(case, body, serde_json::to_vec(body).unwrap().len());
    }

    /// Data for a machine: the text as the mention had it, sanitized only.
    const LINKS: crate::Linker = crate::Linker::Data;
}
