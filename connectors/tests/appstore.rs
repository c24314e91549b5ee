//! The App Store connector against a local server replaying feed pages shaped as Apple serves
//! them (`tests/data/appstore/`): the review fields, `entry` as a list, one object or missing,
//! app metadata skipped, paging and its early stop per country, and the usual failures.

mod common;

use std::time::Duration;

use earshot_connectors::appstore::{AppStore, AppStoreConfig};
use earshot_connectors::{FetchError, MentionKind, SourceState};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use common::{data, fetcher};

const APP: u64 = 1234567890;

fn read(name: &str) -> String {
    std::fs::read_to_string(data(&format!("appstore/{name}"))).unwrap()
}

/// Apple serves the JSON feed as `text/javascript`.
fn reply(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "text/javascript; charset=utf-8")
}

fn page_path(cc: &str, n: u8) -> String {
    format!("/{cc}/rss/customerreviews/page={n}/id={APP}/sortby=mostrecent/json")
}

async fn mount_page(server: &MockServer, cc: &str, n: u8, body: String, times: u64) {
    Mock::given(method("GET"))
        .and(path(page_path(cc, n)))
        .respond_with(reply(body))
        .expect(times)
        .mount(server)
        .await;
}

fn connector(server: &MockServer, countries: &[&str], pages: u8) -> AppStore {
    AppStore::new(&AppStoreConfig {
        app_id: APP,
        countries: countries.iter().map(|c| c.to_string()).collect(),
        pages,
        base_url: Some(server.uri()),
    })
    .unwrap()
}

#[tokio::test]
async fn reviews_are_normalised_across_entry_shapes() {
    let server = MockServer::start().await;
    mount_page(&server, "us", 1, read("us_page1.json"), 1).await;
    mount_page(&server, "us", 2, read("us_page2_single.json"), 1).await;
    mount_page(&server, "us", 3, read("no_entries.json"), 1).await;
    // An empty page ends the country: page 4 is never asked for.
    mount_page(&server, "us", 4, read("us_page1.json"), 0).await;

    let out = connector(&server, &["us"], 4)
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    let ids: Vec<_> = out
        .mentions
        .iter()
        .map(|m| m.platform_id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["11223344556", "11223344001", "11223340000"],
        "the app's metadata entry is skipped; a single-object entry is read"
    );
    assert_eq!(out.notice, None);

    let m = &out.mentions[0];
    assert_eq!(m.kind, MentionKind::Post);
    assert_eq!(m.title.as_deref(), Some("Love acme"));
    assert_eq!(
        m.text,
        "Acme keeps everything in sync. Worth it & more!\nFive stars."
    );
    assert_eq!(m.rating, Some(5));
    assert_eq!(m.author.handle.as_deref(), Some("happyuser42"));
    assert_eq!(
        m.author.url.as_deref(),
        Some("https://itunes.apple.com/us/reviews/id123456789")
    );
    assert_eq!(m.author.reach, None);
    assert_eq!(
        m.url.as_deref(),
        Some("https://itunes.apple.com/us/review?id=1234567890&type=Purple%20Software")
    );
    assert_eq!(m.created_at, Some("2026-04-30T21:22:11Z".parse().unwrap()));
    assert_eq!(m.engagement.likes, Some(3));
    assert_eq!(m.engagement.score, Some(2), "3 helpful, 1 not");
    assert_eq!(m.lang, None);

    let low = &out.mentions[1];
    assert_eq!(low.rating, Some(1));
    assert_eq!(
        low.text, "Since 3.2 acme crashes when I open settings. Please fix <3",
        "plain text is kept as is"
    );
    assert_eq!(low.engagement.score, Some(-2));
    assert_eq!(out.mentions[2].rating, Some(3));

    assert_eq!(
        out.state.cursor.as_deref(),
        Some(r#"{"us":"2026-04-30T21:22:11Z"}"#)
    );
}

#[tokio::test]
async fn paging_stops_at_a_page_with_nothing_newer_per_country() {
    let server = MockServer::start().await;
    // `us` was read up to its newest review: page 1 has nothing newer, page 2 is not read.
    mount_page(&server, "us", 1, read("us_page1.json"), 1).await;
    mount_page(&server, "us", 2, read("us_page2_single.json"), 0).await;
    // `gb` has no cursor yet: it pages on until the empty page.
    mount_page(&server, "gb", 1, read("us_page2_single.json"), 1).await;
    mount_page(&server, "gb", 2, read("no_entries.json"), 1).await;
    mount_page(&server, "gb", 3, read("us_page1.json"), 0).await;

    let state = SourceState {
        cursor: Some(r#"{"us":"2026-04-30T21:22:11Z"}"#.to_string()),
        ..Default::default()
    };
    let out = connector(&server, &["us", "GB"], 3)
        .fetch(&fetcher(), &state)
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 3, "what was read is returned");
    assert_eq!(
        out.state.cursor.as_deref(),
        Some(r#"{"gb":"2026-04-01T17:00:00Z","us":"2026-04-30T21:22:11Z"}"#)
    );

    // A newer review on page 1 lets paging go on to page 2.
    server.verify().await;
    server.reset().await;
    mount_page(&server, "us", 1, read("us_page1.json"), 1).await;
    mount_page(&server, "us", 2, read("us_page2_single.json"), 1).await;
    let older = SourceState {
        cursor: Some(r#"{"us":"2026-04-29T15:01:00Z"}"#.to_string()),
        ..Default::default()
    };
    connector(&server, &["us"], 2)
        .fetch(&fetcher(), &older)
        .await
        .unwrap();
}

#[tokio::test]
async fn no_reviews_is_an_empty_result() {
    let server = MockServer::start().await;
    mount_page(&server, "us", 1, read("no_entries.json"), 1).await;
    mount_page(&server, "us", 2, read("no_entries.json"), 0).await;
    let out = connector(&server, &["us"], 2)
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert!(out.mentions.is_empty());
    assert_eq!(out.state.cursor, None);
}

async fn error_of(server: &MockServer, reply: ResponseTemplate) -> FetchError {
    server.verify().await;
    server.reset().await;
    Mock::given(path(page_path("us", 1)))
        .respond_with(reply)
        .mount(server)
        .await;
    connector(server, &["us"], 1)
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn failures_are_errors_not_crashes() {
    let server = MockServer::start().await;
    for status in [401, 403, 404, 502] {
        let e = error_of(&server, ResponseTemplate::new(status)).await;
        assert_eq!(
            e,
            FetchError::Status {
                status,
                retry_after: None
            }
        );
    }
    let e = error_of(
        &server,
        ResponseTemplate::new(429).insert_header("retry-after", "300"),
    )
    .await;
    assert_eq!(
        e,
        FetchError::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(300))
        }
    );
    let e = error_of(&server, reply(String::new())).await;
    assert!(
        matches!(&e, FetchError::Parse(m) if m.contains("empty")),
        "{e:?}"
    );
    let e = error_of(&server, reply(r#"{"feed": {"entry": [{"id": {"#.into())).await;
    assert!(
        matches!(&e, FetchError::Parse(m) if m.contains("stops early")),
        "{e:?}"
    );
    let e = error_of(
        &server,
        ResponseTemplate::new(200).set_body_raw(
            "<!DOCTYPE html><html><head><title>Apple - Page Not Found</title></head></html>",
            "text/html",
        ),
    )
    .await;
    assert!(matches!(e, FetchError::Unexpected(_)), "{e:?}");
    let e = error_of(
        &server,
        reply(r#"{"resultCount": 0, "results": []}"#.into()),
    )
    .await;
    assert!(
        matches!(&e, FetchError::Parse(m) if m.contains("feed")),
        "{e:?}"
    );
}
