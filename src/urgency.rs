//! Urgency 0-100 with the reasons behind it.

use serde::{Deserialize, Serialize};

/// Urgency levels, in order. Thresholds are configurable (`[scoring.levels]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    #[default]
    Low,
    Normal,
    High,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Normal => "normal",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}
