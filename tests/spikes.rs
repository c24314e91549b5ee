//! Spike alerts on synthetic histories, through the real store, the routes and a Slack sink:
//! a steady week raises nothing; a real spike raises exactly one alert (also across a restart)
//! and its end is noted once; a jump in the negative share alone is a spike; a backlog of old
//! posts and a new watch's first day are not.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use common::{posts, receiver, secret_file};
use earshot::config::Config;
use earshot::runtime::{Clock, Runtime};
use earshot::store::{NewMention, PollCommit, Scores, Store};
use earshot::urgency::Level;
use earshot_connectors::{Author, Mention, SourceState};
use tokio_util::sync::CancellationToken;
use wiremock::MockServer;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

const CALM: &[&str] = &[
    "Trying acme for our team's dashboards",
    "acme docs: how do I rotate an API key?",
    "acme release notes look good this week",
    "Our acme bill is fine, moving more projects over",
    "acme support answered in an hour, nice",
    "Is acme's status page down or is it me?",
];

const BROKEN: &[&str] = &[
    "acme charged twice this month, refund please",
    "acme charged twice again?! billing is broken",
    "Anyone else: acme charged twice for one plan",
];

struct World {
    store: Arc<Store>,
    cfg: Config,
    rt: Runtime,
    t: DateTime<Utc>,
    next: usize,
    rng: fastrand::Rng,
    _dir: tempfile::TempDir,
}

/// Mentions stored per ten-minute poll, for a rate per hour: random around it.
fn slice(rng: &mut fastrand::Rng, per_hour: f64) -> usize {
    let x = per_hour / 6.0 * (0.6 + 0.8 * rng.f64());
    x.floor() as usize + usize::from(rng.f64() < x.fract())
}

impl World {
    async fn new(extra: &str) -> (World, MockServer, MockServer) {
        let support = receiver(200).await;
        let marketing = receiver(200).await;
        let dir = tempfile::tempdir().unwrap();
        let s = secret_file(dir.path(), "s", &format!("{}/hook", support.uri()));
        let m = secret_file(dir.path(), "m", &format!("{}/hook", marketing.uri()));
        let text = format!(
            r#"
            [daemon]
            allow_private_networks = true
            [[source]]
            id = "blog"
            kind = "feed"
            url = "feed.xml"
            [[watch]]
            name = "acme"
            query = "acme"
            [[watch]]
            name = "rival"
            query = "rival"
            [[sink]]
            id = "support"
            kind = "slack"
            url = {{ file = "{s}" }}
            max_per_second = 100.0
            [[sink]]
            id = "marketing"
            kind = "slack"
            url = {{ file = "{m}" }}
            max_per_second = 100.0
            [[route]]
            watch = "acme"
            min_urgency = "high"
            sinks = ["support"]
            continue = true
            [[route]]
            sentiment = ["positive"]
            sinks = ["marketing"]
            {extra}
            "#
        );
        let cfg = Config::parse(&text).unwrap().config;
        let store = Arc::new(Store::open(&dir.path().join("earshot.db")).unwrap());
        let rt =
            Runtime::with_store(cfg.clone(), store.clone(), Clock::tokio_from(start())).unwrap();
        let w = World {
            store,
            cfg,
            rt,
            t: start(),
            next: 0,
            rng: fastrand::Rng::with_seed(7),
            _dir: dir,
        };
        (w, support, marketing)
    }

    /// Stores `n` mentions of `watch` seen now, each negative with probability `negative`,
    /// posted `age` before now, with texts from `texts`.
    fn poll(&mut self, watch: &str, n: usize, negative: f64, texts: &[&str], age: Duration) {
        if n == 0 {
            return;
        }
        let mentions: Vec<NewMention> = (0..n)
            .map(|_| {
                self.next += 1;
                let neg = self.rng.f64() < negative;
                let text = texts[self.rng.usize(..texts.len())];
                NewMention {
                    mention: Mention {
                        platform_id: format!("p{}", self.next),
                        text: text.to_string(),
                        url: Some(format!("https://example.com/{}", self.next)),
                        author: Author {
                            handle: Some(format!("user{}", self.next % 40)),
                            ..Default::default()
                        },
                        created_at: Some(self.t - age),
                        ..Default::default()
                    },
                    lang: Some("en".into()),
                    scores: Scores {
                        sentiment: earshot::sentiment::Sentiment {
                            compound: if neg { -0.6 } else { 0.3 },
                            ..Default::default()
                        },
                        urgency: if neg { 60 } else { 20 },
                        level: if neg { Level::High } else { Level::Low },
                        reasons: vec![],
                    },
                    silenced_by: None,
                    escalation: None,
                    watches: vec![watch.to_string()],
                    deliveries: vec![],
                }
            })
            .collect();
        let ids = mentions
            .iter()
            .map(|m| m.mention.platform_id.clone())
            .collect();
        self.store
            .commit_poll(&PollCommit {
                source_id: "blog",
                source_kind: "feed",
                now: self.t.timestamp(),
                state: &SourceState::default(),
                seen_ids: ids,
                mentions,
                next_poll_at: self.t.timestamp() + 600,
                notice: None,
            })
            .unwrap();
    }

    /// `hours` of ordinary traffic for acme (busier by day, about a fifth negative) and a
    /// little for the rival, ten minutes at a time, checking for spikes after each poll.
    /// Returns how many spikes started and ended.
    fn steady(&mut self, hours: i64) -> (usize, usize) {
        self.run(hours, |w| {
            let h = w.t.format("%H").to_string().parse::<u32>().unwrap();
            let rate = if (8..20).contains(&h) { 12.0 } else { 3.0 };
            (slice(&mut w.rng, rate), 0.2)
        })
    }

    /// Like [`World::steady`], with `each` giving (acme mentions, negative share) per poll.
    fn run(
        &mut self,
        hours: i64,
        mut each: impl FnMut(&mut World) -> (usize, f64),
    ) -> (usize, usize) {
        let (mut started, mut ended) = (0, 0);
        for _ in 0..hours * 6 {
            let (n, neg) = each(self);
            let texts = if neg > 0.5 { BROKEN } else { CALM };
            self.poll("acme", n, neg, texts, Duration::minutes(5));
            let r = slice(&mut self.rng, 2.0);
            self.poll("rival", r, 0.2, &["rival news"], Duration::minutes(5));
            let c = self.rt.check_spikes(self.t).unwrap();
            started += c.started.len();
            ended += c.ended.len();
            self.t += Duration::minutes(10);
        }
        (started, ended)
    }

    async fn deliver(&self) {
        self.rt
            .deliver_all_due(self.t, &CancellationToken::new())
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_week_raises_nothing() {
    let (mut w, support, marketing) = World::new("[spikes]").await;
    let r = w.steady(8 * 24);
    assert_eq!(r, (0, 0), "{:#?}", w.store.spikes(0, i64::MAX).unwrap());
    w.deliver().await;
    assert!(posts(&support).await.is_empty());
    assert!(posts(&marketing).await.is_empty());
    assert!(w.store.spikes(0, i64::MAX).unwrap().is_empty());
    // The history was real: about 1,400 acme mentions in the week.
    let (n, _, neg) = w
        .store
        .mention_counts(&earshot::store::MentionFilter {
            watch: Some("acme".into()),
            ..Default::default()
        })
        .unwrap();
    assert!((1000..2000).contains(&n), "{n}");
    assert!(neg * 10 > n && neg * 10 < 3 * n, "{neg} of {n}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_spike_raises_exactly_one_alert_and_its_end_is_noted() {
    let (mut w, support, marketing) = World::new("[spikes]").await;
    assert_eq!(w.steady(8 * 24), (0, 0));
    let before = w.t;
    // Two hours of trouble: about 60 an hour, most of them about double charges.
    let (started, ended) = w.run(1, |w| (slice(&mut w.rng, 60.0), 0.8));
    assert_eq!((started, ended), (1, 0));
    // A restart in the middle of it: the spike is remembered, not raised again.
    w.rt = Runtime::with_store(w.cfg.clone(), w.store.clone(), Clock::tokio_from(start())).unwrap();
    assert_eq!(w.run(1, |w| (slice(&mut w.rng, 60.0), 0.8)), (0, 0));
    w.deliver().await;
    let sent = posts(&support).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let msg = sent[0].to_string();
    assert!(msg.contains("Spike · acme"), "{msg}");
    assert!(msg.contains("in the last hour"), "{msg}");
    assert!(
        msg.contains("\\\"charged twice\\\" "),
        "the terms behind it: {msg}"
    );
    assert!(msg.contains("Behind it:"), "{msg}");
    assert!(
        msg.contains("example.\u{200B}com/"),
        "the mentions behind it: {msg}"
    );
    assert!(msg.contains("negative share"), "{msg}");
    assert!(
        posts(&marketing).await.is_empty(),
        "a negative spike is not praise"
    );

    let spikes = w.store.spikes(0, i64::MAX).unwrap();
    assert_eq!(spikes.len(), 1);
    let s = &spikes[0];
    assert_eq!(s.watch, "acme");
    let mut kinds = s.kinds.clone();
    kinds.sort();
    assert_eq!(kinds, ["negative", "volume"], "both rose while it lasted");
    assert!(
        s.started_at >= before.timestamp()
            && s.started_at < (before + Duration::hours(1)).timestamp()
    );
    assert!(s.peak >= 40 && s.peak > s.threshold as i64, "{s:?}");
    assert_eq!(s.sinks, ["support"]);
    assert_eq!(s.ended_at, None);

    // Back to normal: the end is noted once, within a few hours, and nothing else is sent.
    let (started, ended) = w.steady(6);
    assert_eq!((started, ended), (0, 1));
    w.deliver().await;
    let sent = posts(&support).await;
    assert_eq!(sent.len(), 2);
    let end = sent[1].to_string();
    assert!(end.contains("Spike over: acme"), "{end}");
    assert!(end.contains("at its peak"), "{end}");
    let s = &w.store.spikes(0, i64::MAX).unwrap()[0];
    let lasted = s.ended_at.unwrap() - s.started_at;
    assert!((3600..=4 * 3600).contains(&lasted), "{lasted}");

    // The day's digest lists it; a digest of the rival does not.
    let day = |watches: &[&str]| {
        earshot::digest::compute(
            &w.store,
            &earshot::digest::Request {
                from: w.t - Duration::hours(24),
                to: w.t,
                watches: watches.iter().map(|x| x.to_string()).collect(),
            },
        )
        .unwrap()
    };
    let d = day(&["acme"]);
    assert_eq!(d.spikes.len(), 1);
    assert_eq!(
        d.spikes[0].ended_at.unwrap().timestamp(),
        s.ended_at.unwrap()
    );
    let md = earshot::digest::render_markdown(&d);
    assert!(md.contains("**Spikes:**"), "{md}");
    assert!(
        md.contains("volume and negative share") || md.contains("negative share and volume"),
        "{md}"
    );
    assert!(earshot::digest::render_text(&d).contains("\nSpikes:\nacme: from "));
    assert!(day(&["rival"]).spikes.is_empty());

    // A day later nothing more.
    assert_eq!(w.steady(24), (0, 0));
    w.deliver().await;
    assert_eq!(posts(&support).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_negative_share_alone_is_a_spike() {
    let (mut w, support, _) = World::new("[spikes]").await;
    assert_eq!(w.steady(8 * 24), (0, 0));
    // Midday, the usual volume, but 85% negative.
    while w.t.format("%H").to_string() != "12" {
        w.steady(1);
    }
    assert_eq!(w.run(2, |w| (slice(&mut w.rng, 12.0), 0.85)), (1, 0));
    w.deliver().await;
    let sent = posts(&support).await;
    assert_eq!(sent.len(), 1);
    let msg = sent[0].to_string();
    assert!(
        msg.contains("of acme's mentions negative in the last hour"),
        "{msg}"
    );
    assert_eq!(w.store.spikes(0, i64::MAX).unwrap()[0].kinds, ["negative"]);

    // Switched off, the same is nothing.
    let (mut w, support, _) = World::new("[spikes]\nnegative_share = false").await;
    w.steady(8 * 24);
    while w.t.format("%H").to_string() != "12" {
        w.steady(1);
    }
    assert_eq!(w.run(2, |w| (slice(&mut w.rng, 12.0), 0.85)), (0, 0));
    w.deliver().await;
    assert!(posts(&support).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_and_a_new_watch_are_no_spike() {
    let (mut w, support, _) = World::new("[spikes]").await;
    // A new install: its first day has no baseline.
    w.poll("acme", 300, 0.2, CALM, Duration::minutes(1));
    assert_eq!(w.steady(20), (0, 0));
    let r = w.steady(8 * 24);
    assert_eq!(r, (0, 0), "{:#?}", w.store.spikes(0, i64::MAX).unwrap());
    // Back after two days down: 300 mentions posted while it was down arrive at once.
    w.poll("acme", 300, 0.5, BROKEN, Duration::hours(30));
    assert_eq!(w.steady(3), (0, 0));
    w.deliver().await;
    assert!(posts(&support).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_muted_route_holds_the_spike_and_its_end_after_it() {
    let (mut w, support, _) = World::new(
        r#"
        [spikes]
        watches = ["acme"]
        [[time_interval]]
        name = "always"
        "#,
    )
    .await;
    // The support route muted all the time: add the mute to the first route.
    let mut cfg = w.cfg.clone();
    cfg.routes[0].mute_time_intervals = vec!["always".into()];
    w.rt = Runtime::with_store(cfg, w.store.clone(), Clock::tokio_from(start())).unwrap();
    w.steady(8 * 24);
    assert_eq!(w.run(1, |w| (slice(&mut w.rng, 80.0), 0.8)), (1, 0));
    assert_eq!(w.steady(6).1, 1);
    w.deliver().await;
    assert!(posts(&support).await.is_empty(), "held by the mute");
    let held = w.store.due_deliveries("support", i64::MAX, 10).unwrap();
    assert_eq!(held.len(), 2, "{held:#?}");
    assert!(held.iter().all(|d| d.held != 0));
    assert_eq!(held[0].alert.form, earshot::alert::Form::Spike);
    assert!(held[1].next_attempt_at >= held[0].next_attempt_at);
}
