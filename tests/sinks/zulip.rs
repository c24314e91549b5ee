//! Conformance case for `kind = "zulip"`. TODO: stub.

use earshot::config::{SinkConfig, SinkKind};
use serde_json::Value;
use wiremock::ResponseTemplate;

use crate::SinkCase;

pub struct Zulip;

impl SinkCase for Zulip {
    const KIND: SinkKind = SinkKind::Zulip;
    const SNAPSHOT: &'static str = "zulip.json";

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
