//! Conformance case for `kind = "googlechat"`. TODO: stub.

use earshot::config::{SinkConfig, SinkKind};
use serde_json::Value;
use wiremock::ResponseTemplate;

use crate::SinkCase;

pub struct GoogleChat;

impl SinkCase for GoogleChat {
    const KIND: SinkKind = SinkKind::GoogleChat;
    const SNAPSHOT: &'static str = "googlechat.json";

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
