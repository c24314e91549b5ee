//! `earshot eval`: measures the judgement on a labelled set (the JSON Lines format of the
//! shared judgement set: `id`, `text`, `lang`, `needs` = urgent | reply | none, `polarity` =
//! negative | neutral | positive). It scores each text as `earshot score` does and reports:
//!
//! * urgent recall: `needs = urgent` scored high or critical;
//! * reply recall: `needs = urgent` or `reply` scored normal or above;
//! * false alarms: `needs = none` scored normal or above;
//! * polarity: the judged sentiment equals the label;
//!
//! overall, for English and for the other languages, with the confusion of levels and every
//! miss with its reasons. Pure apart from the scoring function it is given.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::store::Scores;
use crate::urgency::Level;

/// One labelled item.
#[derive(Debug, Clone, Deserialize)]
pub struct Labelled {
    pub id: String,
    pub text: String,
    #[serde(default)]
    pub lang: Option<String>,
    pub needs: Needs,
    pub polarity: Polarity,
}

/// Whether the team has to answer, and how fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Needs {
    Urgent,
    Reply,
    None,
}

/// The author's stance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Polarity {
    Negative,
    Neutral,
    Positive,
}

impl Polarity {
    /// The stance the scores give: VADER's compound with its usual ±0.05 cut.
    pub fn judged(s: &Scores) -> Polarity {
        if s.sentiment.compound >= 0.05 {
            Polarity::Positive
        } else if s.sentiment.compound <= -0.05 {
            Polarity::Negative
        } else {
            Polarity::Neutral
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Polarity::Negative => "negative",
            Polarity::Neutral => "neutral",
            Polarity::Positive => "positive",
        }
    }
}

/// Reads a labelled set; each bad line is an error that names its line number.
pub fn read(text: &str) -> Result<Vec<Labelled>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l).map_err(|e| {
                format!(
                    "line {}: {e}: each line is one JSON object with id, text, needs (urgent, \
                     reply or none) and polarity (negative, neutral or positive)",
                    n + 1
                )
            })
        })
        .collect()
}

/// One ratio: `hits` of `of`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Ratio {
    pub hits: usize,
    pub of: usize,
}

impl Ratio {
    fn add(&mut self, hit: bool) {
        self.of += 1;
        self.hits += usize::from(hit);
    }

    /// The share in percent (0 for an empty set).
    pub fn percent(&self) -> f64 {
        if self.of == 0 {
            0.0
        } else {
            100.0 * self.hits as f64 / self.of as f64
        }
    }
}

/// The measures of one slice of the set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Measures {
    pub urgent_recall: Ratio,
    pub reply_recall: Ratio,
    pub false_alarms: Ratio,
    pub polarity: Ratio,
}

impl Measures {
    fn add(&mut self, item: &Labelled, level: Level, polarity: Polarity) {
        if item.needs == Needs::Urgent {
            self.urgent_recall.add(level >= Level::High);
        }
        if item.needs != Needs::None {
            self.reply_recall.add(level >= Level::Normal);
        } else {
            self.false_alarms.add(level >= Level::Normal);
        }
        self.polarity.add(polarity == item.polarity);
    }
}

/// One item the scoring got wrong, with what it said.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Miss {
    pub id: String,
    /// `urgent missed`, `reply missed`, `false alarm`, `polarity`.
    pub kind: &'static str,
    pub needs: Needs,
    pub level: Level,
    pub polarity: Polarity,
    pub judged: Polarity,
    pub reasons: Vec<String>,
    pub text: String,
}

/// The whole evaluation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub overall: Measures,
    pub english: Measures,
    pub other_languages: Measures,
    /// Rows: needs (urgent, reply, none); columns: level (low, normal, high, critical).
    pub confusion: [[usize; 4]; 3],
    pub misses: Vec<Miss>,
}

/// Scores every item with `score` and measures the result.
pub fn evaluate(items: &[Labelled], mut score: impl FnMut(&Labelled) -> Scores) -> Report {
    let mut r = Report::default();
    for item in items {
        let s = score(item);
        let judged = Polarity::judged(&s);
        r.overall.add(item, s.level, judged);
        if item.lang.as_deref().unwrap_or("en") == "en" {
            r.english.add(item, s.level, judged);
        } else {
            r.other_languages.add(item, s.level, judged);
        }
        let row = match item.needs {
            Needs::Urgent => 0,
            Needs::Reply => 1,
            Needs::None => 2,
        };
        r.confusion[row][s.level as usize] += 1;
        let miss = |kind| Miss {
            id: item.id.clone(),
            kind,
            needs: item.needs,
            level: s.level,
            polarity: item.polarity,
            judged,
            reasons: s.reasons.clone(),
            text: item.text.clone(),
        };
        match item.needs {
            Needs::Urgent if s.level < Level::High => r.misses.push(miss("urgent missed")),
            Needs::Reply if s.level < Level::Normal => r.misses.push(miss("reply missed")),
            Needs::None if s.level >= Level::Normal => r.misses.push(miss("false alarm")),
            _ => {}
        }
        if judged != item.polarity {
            r.misses.push(miss("polarity"));
        }
    }
    r
}

/// Picks one measure of a slice.
type Pick = fn(&Measures) -> &Ratio;

/// The report for a person: the measures table, the confusion of levels, then each miss.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let cell = |x: &Ratio| format!("{:5.1}% ({}/{})", x.percent(), x.hits, x.of);
    let _ = writeln!(
        out,
        "{:<46} {:>18} {:>18} {:>18}",
        "measure", "overall", "English", "other languages"
    );
    let rows: [(&str, Pick); 4] = [
        ("urgent recall (urgent scored high or critical)", |m| {
            &m.urgent_recall
        }),
        ("reply recall (urgent/reply scored normal+)", |m| {
            &m.reply_recall
        }),
        ("false alarms (none scored normal+)", |m| &m.false_alarms),
        ("polarity (judged sentiment = label)", |m| &m.polarity),
    ];
    for (name, get) in rows {
        let _ = writeln!(
            out,
            "{name:<46} {:>18} {:>18} {:>18}",
            cell(get(&r.overall)),
            cell(get(&r.english)),
            cell(get(&r.other_languages))
        );
    }
    let _ = writeln!(out, "\nlevels by needs   low  normal  high  critical");
    for (name, row) in ["urgent", "reply", "none"].iter().zip(&r.confusion) {
        let _ = writeln!(
            out,
            "{name:<14} {:>6} {:>7} {:>5} {:>9}",
            row[0], row[1], row[2], row[3]
        );
    }
    if !r.misses.is_empty() {
        let _ = writeln!(out, "\n{} misses:", r.misses.len());
    }
    for m in &r.misses {
        let text: String = m.text.chars().take(100).collect();
        let _ = writeln!(
            out,
            "{} {}: needs {:?}, scored {}; polarity {}, judged {}; reasons [{}]\n    {}",
            m.id,
            m.kind,
            m.needs,
            m.level.as_str(),
            m.polarity.as_str(),
            m.judged.as_str(),
            m.reasons.join("; "),
            text.replace('\n', " ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentiment::Sentiment;

    fn item(id: &str, lang: &str, needs: Needs, polarity: Polarity) -> Labelled {
        Labelled {
            id: id.into(),
            text: format!("text of {id}"),
            lang: Some(lang.into()),
            needs,
            polarity,
        }
    }

    fn scored(level: Level, compound: f64) -> Scores {
        Scores {
            sentiment: Sentiment {
                compound,
                ..Default::default()
            },
            level,
            reasons: vec!["because".into()],
            ..Default::default()
        }
    }

    #[test]
    fn the_measures_count_what_the_rubric_says() {
        let items = [
            item("a", "en", Needs::Urgent, Polarity::Negative),
            item("b", "en", Needs::Urgent, Polarity::Negative),
            item("c", "de", Needs::Reply, Polarity::Neutral),
            item("d", "en", Needs::None, Polarity::Positive),
            item("e", "fr", Needs::None, Polarity::Neutral),
        ];
        let r = evaluate(&items, |i| match i.id.as_str() {
            "a" => scored(Level::Critical, -0.8),
            "b" => scored(Level::Normal, -0.6),
            "c" => scored(Level::Normal, 0.0),
            "d" => scored(Level::Normal, 0.9),
            _ => scored(Level::Low, 0.3),
        });
        assert_eq!(r.overall.urgent_recall, Ratio { hits: 1, of: 2 });
        assert_eq!(r.overall.reply_recall, Ratio { hits: 3, of: 3 });
        assert_eq!(r.overall.false_alarms, Ratio { hits: 1, of: 2 });
        assert_eq!(r.overall.polarity, Ratio { hits: 4, of: 5 });
        assert_eq!(r.english.urgent_recall, Ratio { hits: 1, of: 2 });
        assert_eq!(r.other_languages.polarity, Ratio { hits: 1, of: 2 });
        assert_eq!(r.confusion, [[0, 1, 0, 1], [0, 1, 0, 0], [1, 1, 0, 0]]);
        let kinds: Vec<(&str, &str)> = r.misses.iter().map(|m| (m.id.as_str(), m.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("b", "urgent missed"),
                ("d", "false alarm"),
                ("e", "polarity")
            ]
        );
        let text = render(&r);
        assert!(text.contains(" 50.0% (1/2)"), "{text}");
        assert!(
            text.contains("b urgent missed: needs Urgent, scored normal"),
            "{text}"
        );
    }

    #[test]
    fn a_bad_line_is_named() {
        let e = read("{\"id\":\"x\",\"text\":\"t\",\"needs\":\"urgent\",\"polarity\":\"negative\"}\n{\"id\":\"y\"}\n")
            .unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        assert!(read("\n").unwrap().is_empty());
    }
}
