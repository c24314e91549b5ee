//! Route matchers end to end, on explicit clocks: `sources` and `source_kinds` send each
//! mention where the routes say, `continue` lets a mention take more than one route, and the
//! default route takes what no other route matched.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{Item, item, posts, receiver, rss, secret_file};
use earshot::config::Config;
use earshot::runtime::{Clock, Runtime};
use earshot::store::Store;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SINKS: [&str; 4] = ["audit", "ab", "forums", "rest"];

/// The texts each sink got, in order.
async fn texts(hooks: &[(&str, MockServer)], sink: &str) -> Vec<String> {
    let server = &hooks.iter().find(|(id, _)| *id == sink).unwrap().1;
    posts(server)
        .await
        .iter()
        .map(|p| p["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_and_source_kinds_send_each_mention_where_the_routes_say() {
    let server = MockServer::start().await;
    let feeds: [(&str, Vec<Item>); 3] = [
        ("a", vec![item("a1", "Acme from a", "acme is slow on a")]),
        ("b", vec![item("b1", "Acme from b", "acme is slow on b")]),
        ("c", vec![item("c1", "Acme from c", "acme is slow on c")]),
    ];
    for (id, items) in &feeds {
        Mock::given(method("GET"))
            .and(path(format!("/{id}.xml")))
            .respond_with(ResponseTemplate::new(200).set_body_string(rss(items)))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/d/posts.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "latest_posts": [{
                "id": 41, "username": "kim", "topic_id": 7, "topic_slug": "acme",
                "topic_title": "Acme from d", "post_number": 1,
                "raw": "acme is slow on d", "created_at": "2026-11-23T09:59:00Z"
            }]
        })))
        .mount(&server)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let mut hooks = Vec::new();
    let mut sinks = String::new();
    for id in SINKS {
        let hook = receiver(200).await;
        let url = secret_file(dir.path(), id, &format!("{}/hook", hook.uri()));
        sinks.push_str(&format!(
            "[[sink]]\nid = \"{id}\"\nkind = \"slack\"\nurl = {{ file = \"{url}\" }}\nmax_per_second = 100.0\n"
        ));
        hooks.push((id, hook));
    }
    let base = server.uri();
    let text = format!(
        r#"
        # All four sources are on one local server: no need to pace them.
        [daemon]
        allow_private_networks = true
        per_host_rps = 100.0
        [[source]]
        id = "a"
        kind = "feed"
        url = "{base}/a.xml"
        backfill = true
        [[source]]
        id = "b"
        kind = "feed"
        url = "{base}/b.xml"
        backfill = true
        [[source]]
        id = "c"
        kind = "feed"
        url = "{base}/c.xml"
        backfill = true
        [[source]]
        id = "d"
        kind = "discourse"
        base_url = "{base}/d"
        backfill = true
        [[watch]]
        name = "acme"
        query = "acme"
        {sinks}
        # Both matchers must hold: only b, which then goes on to the next routes.
        [[route]]
        sources = ["b"]
        source_kinds = ["feed"]
        min_urgency = "low"
        sinks = ["audit"]
        continue = true
        [[route]]
        watch = "acme"
        sources = ["a", "b"]
        min_urgency = "low"
        sinks = ["ab"]
        [[route]]
        source_kinds = ["discourse", "hackernews"]
        min_urgency = "low"
        sinks = ["forums"]
        [[route]]
        default = true
        min_urgency = "low"
        sinks = ["rest"]
        "#
    );
    let cfg = Config::parse(&text).unwrap().config;
    let store = Store::open(&dir.path().join("earshot.db")).unwrap();
    let now = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let rt = Runtime::with_store(cfg.clone(), Arc::new(store), Clock::tokio_from(now)).unwrap();
    for s in &cfg.sources {
        let r = rt.poll(s, now).await.unwrap();
        assert!(r.error.is_none(), "{r:?}");
        assert_eq!(r.commit.new_mentions, 1, "{r:?}");
    }
    let r = rt
        .deliver_all_due(now, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(r.sent, 5, "{r:?}");

    let want: [(&str, &[&str]); 4] = [
        ("audit", &["Acme from b"]),
        ("ab", &["Acme from a", "Acme from b"]),
        ("forums", &["Acme from d"]),
        ("rest", &["Acme from c"]),
    ];
    for (sink, titles) in want {
        let got = texts(&hooks, sink).await;
        assert_eq!(got.len(), titles.len(), "{sink}: {got:#?}");
        for t in titles {
            assert_eq!(
                got.iter().filter(|g| g.contains(t)).count(),
                1,
                "{sink} should have {t:?} once: {got:#?}"
            );
        }
    }

    // The same mentions polled again go nowhere a second time.
    for s in &cfg.sources {
        rt.poll(s, now + chrono::Duration::minutes(5))
            .await
            .unwrap();
    }
    let r = rt
        .deliver_all_due(
            now + chrono::Duration::minutes(5),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(r.sent, 0);
}
