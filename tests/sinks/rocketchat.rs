//! Conformance case for `kind = "rocketchat"`. TODO: stub.

use earshot::config::{SinkConfig, SinkKind};
use serde_json::Value;
use wiremock::ResponseTemplate;

use crate::SinkCase;

pub struct RocketChat;

impl SinkCase for RocketChat {
    const KIND: SinkKind = SinkKind::RocketChat;
    const SNAPSHOT: &'static str = "rocketchat.json";

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
