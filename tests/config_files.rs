//! The shipped configs load, and the example documents every key.

use std::path::Path;

use earshot::config::Config;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

#[test]
fn example_config_loads_and_documents_every_key() {
    let text = read("config/earshot.example.toml");
    let loaded =
        Config::parse(&text).unwrap_or_else(|p| panic!("example config has problems: {p:#?}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = &loaded.config;
    // One source of every kind at least.
    for kind in earshot_connectors::KINDS {
        assert!(
            c.sources.iter().any(|s| s.kind() == *kind),
            "no source of kind {kind} in the example config"
        );
    }
    // One sink of every kind at least.
    for kind in earshot::config::SINK_KINDS {
        assert!(
            c.sinks.iter().any(|s| s.kind == *kind),
            "no sink of kind {} in the example config",
            kind.as_str()
        );
    }
    // Every key earshot reads appears in the example (keep in step with src/config.rs).
    let keys = [
        "state_dir",
        "user_agent",
        "connect_timeout",
        "timeout",
        "max_body",
        "max_redirects",
        "per_host_rps",
        "max_backoff",
        "jitter",
        "shutdown_timeout",
        "delivery_give_up_after",
        "log",
        "phrases",
        "extra_phrases",
        "brands",
        "normal",
        "high",
        "critical",
        "id",
        "kind",
        "url",
        "every",
        "cron",
        "backfill",
        "enabled",
        "name",
        "query",
        "sources",
        "tags",
        "secret",
        "username",
        "format",
        "max_per_second",
        "watch",
        "sinks",
        "min_urgency",
        "source_kinds",
        "sentiment",
        "lang",
        "continue",
        "default",
        "token",
        "api_key",
        "chat_id",
        "topic_id",
        "email",
        "stream",
        "topic",
        "times",
        "weekdays",
        "location",
        "mute_time_intervals",
        "active_time_intervals",
        "critical_breaks_through",
        "max_alerts_per_hour",
        "group_wait",
        "group_interval",
        "escalate_to",
        "escalate_after",
        "escalate_times",
        "listen",
        "public_url",
        "ack_link_ttl",
    ];
    let platform_keys = earshot::config::all_platform_keys();
    for k in keys.iter().chain(platform_keys) {
        assert!(
            text.lines().any(|l| l
                .trim_start()
                .trim_start_matches("# ")
                .starts_with(&format!("{k} ="))),
            "key {k} is not shown in the example config"
        );
    }
    // Each key line is preceded by a comment the first time it appears.
    let lines: Vec<&str> = text.lines().collect();
    let mut seen = std::collections::HashSet::new();
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        if t.starts_with('#') || t.starts_with('[') || t.is_empty() {
            continue;
        }
        let key = t.split('=').next().unwrap().trim();
        if seen.insert(key.to_string()) {
            assert!(
                lines[i - 1].trim_start().starts_with('#'),
                "line {}: first use of {key} has no comment above",
                i + 1
            );
        }
    }
}

#[test]
fn demo_config_loads_and_points_at_the_bundled_feed() {
    let loaded = Config::parse(&read("config/demo.toml")).unwrap();
    let c = loaded.config;
    assert_eq!(c.daemon.state_dir, Path::new("./data"));
    let url = c.sources[0].platform.endpoint();
    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(&url).exists(),
        "{url}"
    );
    assert_eq!(c.sinks[0].kind, earshot::config::SinkKind::Stdout);
}
