//! Conformance case for `kind = "slack"`: its checks live in `main.rs`, written before the suite.

use earshot::config::{SinkConfig, SinkKind};
use serde_json::Value;
use wiremock::ResponseTemplate;

use crate::SinkCase;

pub struct Slack;

impl SinkCase for Slack {
    const KIND: SinkKind = SinkKind::Slack;
    const SNAPSHOT: &'static str = "slack.json";

    fn config(server: &str) -> SinkConfig {
        crate::config(SinkKind::Slack, Some(format!("{server}{}", crate::HOOK_PATH)))
    }

    fn ok() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_string("ok")
    }

    fn check(case: &str, body: &Value) {
        crate::check_slack(case, body);
    }
}
