//! Where earshot reads the time: the one place in the code that reads the system clock.
//!
//! The daemon and the command line run on [`Clock::System`]. Tests run on [`Clock::tokio_from`]:
//! a chosen instant that advances with tokio's (pausable) clock, so that a day of activity takes
//! milliseconds and a test passes on any date. Everything else takes a `now` from a clock (the
//! runtime's, the fetcher's) or as an explicit argument; nothing calls `Utc::now()` itself.

use chrono::{DateTime, Utc};

/// A source of the current time. Cheap to copy; clones read the same time.
#[derive(Debug, Clone, Copy, Default)]
pub enum Clock {
    /// The system's wall clock.
    #[default]
    System,
    /// `base` at tokio's `start`, advancing with tokio's (pausable) clock.
    Tokio {
        base: DateTime<Utc>,
        start: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock that reads `base` now and advances with tokio's clock.
    pub fn tokio_from(base: DateTime<Utc>) -> Clock {
        Clock::Tokio {
            base,
            start: tokio::time::Instant::now(),
        }
    }

    /// The time now, as this clock reads it.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Tokio { base, start } => {
                *base + chrono::Duration::from_std(start.elapsed()).unwrap_or_default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_tokio_clock_starts_at_its_base_and_follows_paused_time() {
        let base = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let c = Clock::tokio_from(base);
        assert_eq!(c.now(), base);
        tokio::time::advance(std::time::Duration::from_secs(90)).await;
        assert_eq!(c.now(), base + chrono::Duration::seconds(90));
    }
}
