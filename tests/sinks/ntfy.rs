//! Conformance case for `kind = "ntfy"`. TODO: stub.

use earshot::config::{SinkConfig, SinkKind};
use serde_json::Value;
use wiremock::ResponseTemplate;

use crate::SinkCase;

pub struct Ntfy;

impl SinkCase for Ntfy {
    const KIND: SinkKind = SinkKind::Ntfy;
    const SNAPSHOT: &'static str = "ntfy.json";

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
