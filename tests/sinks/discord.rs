//! Conformance case for `kind = "discord"`: its checks live in `main.rs`, written before the suite.

use earshot::config::{SinkConfig, SinkKind};
use serde_json::Value;
use wiremock::ResponseTemplate;

use crate::SinkCase;

pub struct Discord;

impl SinkCase for Discord {
    const KIND: SinkKind = SinkKind::Discord;
    const SNAPSHOT: &'static str = "discord.json";

    fn config(server: &str) -> SinkConfig {
        crate::config(SinkKind::Discord, Some(format!("{server}{}", crate::HOOK_PATH)))
    }

    fn ok() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_string("ok")
    }

    fn check(case: &str, body: &Value) {
        crate::check_discord(case, body);
    }
}
