//! Conformance case for `kind = "telegram"`. TODO: stub.

use earshot::config::{SinkConfig, SinkKind};
use serde_json::Value;
use wiremock::ResponseTemplate;

use crate::SinkCase;

pub struct Telegram;

impl SinkCase for Telegram {
    const KIND: SinkKind = SinkKind::Telegram;
    const SNAPSHOT: &'static str = "telegram.json";

    fn config(_server: &str) -> SinkConfig {
        todo!()
    }

    fn ok() -> ResponseTemplate {
        ResponseTemplate::new(200)
    }

    fn check(_case: &str, _body: &Value) {
        todo!()
    }
}
