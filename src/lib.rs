//! earshot: hears what people say about a product and tells the team in chat.
//!
//! The pipeline runs one way: schedule → connector fetch ([`earshot_connectors`]) → match
//! watches ([`query`]) → score ([`sentiment`], [`urgency`]) → store, dedupe and outbox in one
//! transaction ([`store`]) → deliver ([`runtime`]) → chat target ([`sink`]). See DESIGN.md.

pub mod ack;
pub mod alert;
pub mod cli;
pub mod config;
pub mod digest;
pub mod duration;
pub mod eval;
pub mod health;
pub mod http;
pub mod lang;
pub mod metrics;
pub mod notify;
pub mod pipeline;
pub mod query;
pub mod quiet;
pub mod runtime;
pub mod secret;
pub mod sentiment;
pub mod sink;
pub mod spike;
pub mod store;
pub mod urgency;
pub mod web;
