//! earshot: hears what people say about a product and tells the team in chat.
//!
//! The pipeline runs one way: schedule → connector fetch → match watches → score →
//! store (dedupe) + outbox, in one transaction → deliver → sink. See DESIGN.md.

pub mod alert;
pub mod config;
pub mod query;
pub mod secret;
pub mod sentiment;
pub mod sink;
pub mod urgency;
