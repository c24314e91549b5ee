//! The feed connector end to end: served by a local HTTP server or read from disk.

mod common;

use earshot_connectors::feed::FeedConnector;
use earshot_connectors::{Connector, FetchError, MentionKind, SourceState};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use common::{fetcher, header_is, rss};

const LAST_MODIFIED: &str = "Fri, 01 May 2026 12:00:00 GMT";

#[tokio::test]
async fn conditional_get_round_trip() {
    let server = MockServer::start().await;
    // The conditional request gets a 304 with a body that is no feed at all: were it parsed,
    // the poll would fail.
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .and(header_is("if-none-match", "\"v1\""))
        .and(header_is("if-modified-since", LAST_MODIFIED))
        .respond_with(ResponseTemplate::new(304).set_body_string("<html>not a feed"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("etag", "\"v1\"")
                .insert_header("last-modified", LAST_MODIFIED)
                .set_body_raw(rss(2), "application/rss+xml"),
        )
        .expect(1)
        .mount(&server)
        .await;

    let http = fetcher();
    let feed = Connector::Feed(FeedConnector {
        url: format!("{}/feed.xml", server.uri()),
    });
    let first = feed
        .fetch(&http, &SourceState::default())
        .await
        .expect("first poll");
    assert!(!first.not_modified);
    assert_eq!(first.mentions.len(), 2);
    assert_eq!(first.state.etag.as_deref(), Some("\"v1\""));
    assert_eq!(first.state.last_modified.as_deref(), Some(LAST_MODIFIED));

    let m = &first.mentions[0];
    assert_eq!(m.platform_id, "item-1");
    assert_eq!(m.title.as_deref(), Some("Item 1 about Acme"));
    assert_eq!(m.text, "Text 1");
    // Relative links resolve against where the feed was fetched from.
    assert_eq!(
        m.url.as_deref(),
        Some(format!("{}/posts/1", server.uri()).as_str())
    );
    assert_eq!(m.kind, MentionKind::Post);
    assert_eq!(
        m.created_at.map(|t| t.to_rfc3339()),
        Some("2026-05-01T12:00:01+00:00".to_string())
    );

    // The daemon adds its cursor; a 304 must hand everything back unchanged.
    let mut kept = first.state.clone();
    kept.cursor = Some("opaque".to_string());
    let second = feed.fetch(&http, &kept).await.expect("second poll");
    assert!(second.not_modified);
    assert!(second.mentions.is_empty());
    assert_eq!(second.state, kept);
}

#[tokio::test]
async fn html_page_is_unexpected() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Log in</body></html>",
            "text/html; charset=utf-8",
        ))
        .mount(&server)
        .await;
    let got = FeedConnector { url: server.uri() }
        .fetch(&fetcher(), &SourceState::default())
        .await;
    assert_eq!(
        got,
        Err(FetchError::Unexpected(
            "got an HTML page, not a feed: check the URL".to_string()
        ))
    );
    assert!(got.unwrap_err().is_long_lived());
}

#[tokio::test]
async fn garbage_is_a_parse_error_that_says_what_to_do() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("hello", "application/rss+xml"))
        .mount(&server)
        .await;
    match (FeedConnector { url: server.uri() })
        .fetch(&fetcher(), &SourceState::default())
        .await
    {
        Err(FetchError::Parse(msg)) => assert!(msg.contains("check the URL"), "{msg}"),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

/// What the Google Alerts fixture must give, wherever it is read from.
fn check_google_alerts(mentions: &[earshot_connectors::Mention]) {
    assert!(!mentions.is_empty());
    let first = &mentions[0];
    assert_eq!(
        first.platform_id,
        "tag:google.com,2013:googlealerts/feed:8974135267215335962"
    );
    assert_eq!(
        first.url.as_deref(),
        Some(
            "https://www.aglobalmarketresearch.com/report-offers-prediction-of-automotive-slack-market-by-top-key-players-like-haldex-meritor-bendix-mei-wabco-accuride-stemco-tbk-febi-aydinsan/"
        )
    );
    assert_eq!(
        first.title.as_deref(),
        Some(
            "Report offers Prediction of Automotive Slack Market by Top key players like Haldex, Meritor, Bendix ..."
        )
    );
    assert!(
        first.text.starts_with("Automotive Slack Market reports"),
        "{}",
        first.text
    );
    assert_eq!(
        first.author.handle, None,
        "Google Alerts' author names are empty"
    );
    assert!(first.created_at.is_some());
    assert!(
        mentions[1].text.contains("Company's decision"),
        "{}",
        mentions[1].text
    );
    for m in mentions {
        let url = m.url.as_deref().unwrap_or_default();
        assert!(!url.contains("google.com/url"), "not unwrapped: {url}");
        assert!(url.starts_with("http"), "{url}");
        for text in [m.title.as_deref().unwrap_or_default(), m.text.as_str()] {
            assert!(
                !text.contains('<') && !text.contains("&nbsp;") && !text.contains("&#"),
                "{text}"
            );
        }
    }
}

#[tokio::test]
async fn google_alerts_from_disk_and_over_http() {
    let path = common::data("google_alerts_atom.xml");
    let from_disk = FeedConnector {
        url: path.display().to_string(),
    }
    .fetch(&fetcher(), &SourceState::default())
    .await
    .expect("fixture parses");
    check_google_alerts(&from_disk.mentions);
    assert_eq!(from_disk.state, SourceState::default());

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(std::fs::read(&path).unwrap(), "application/atom+xml"),
        )
        .mount(&server)
        .await;
    let served = FeedConnector {
        url: format!("{}/alerts/feeds/1/2", server.uri()),
    }
    .fetch(&fetcher(), &SourceState::default())
    .await
    .expect("served fixture parses");
    assert_eq!(served.mentions, from_disk.mentions);
}

#[tokio::test]
async fn file_url_feed() {
    let path = common::data("google_alerts_atom.xml");
    let got = FeedConnector {
        url: format!("file://{}", path.display()),
    }
    .fetch(&fetcher(), &SourceState::default())
    .await
    .expect("file:// feed parses");
    check_google_alerts(&got.mentions);
    assert!(!got.not_modified);
}
