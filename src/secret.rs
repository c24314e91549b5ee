//! Secrets live in the connectors crate, which needs them for platform credentials; this is
//! the same type under its old path.

pub use earshot_connectors::secret::*;
