//! VADER sentiment, faithful to the reference (Python vaderSentiment 3.3.2).
//!
//! The `vader_sentiment` crate's lexicons are right; its rules are not (see DEPENDENCIES.md):
//! this module keeps the crate's lexicons and implements the rules as the reference does.

use serde::{Deserialize, Serialize};

/// VADER's four scores.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Sentiment {
    /// Normalised overall score, -1 (most negative) to 1 (most positive).
    pub compound: f64,
    pub pos: f64,
    pub neu: f64,
    pub neg: f64,
}

/// Scores one text (a sentence, a post): same results as the reference's `polarity_scores`.
pub fn polarity_scores(_text: &str) -> Sentiment {
    todo!()
}
