//! Conformance case for `kind = "teams"`. TODO: stub.

use earshot::config::{SinkConfig, SinkKind};
use serde_json::Value;
use wiremock::ResponseTemplate;

use crate::SinkCase;

pub struct Teams;

impl SinkCase for Teams {
    const KIND: SinkKind = SinkKind::Teams;
    const SNAPSHOT: &'static str = "teams.json";

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
