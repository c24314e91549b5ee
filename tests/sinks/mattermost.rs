//! Conformance case for `kind = "mattermost"`. TODO: stub.

use earshot::config::{SinkConfig, SinkKind};
use serde_json::Value;
use wiremock::ResponseTemplate;

use crate::SinkCase;

pub struct Mattermost;

impl SinkCase for Mattermost {
    const KIND: SinkKind = SinkKind::Mattermost;
    const SNAPSHOT: &'static str = "mattermost.json";

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
