//! Placeholder for the signed acknowledge links (replaced by the full module).

use std::path::Path;

pub struct AckKey([u8; 32]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckLinkError {
    #[error("malformed")]
    Malformed,
}

impl AckKey {
    pub fn load_or_create(_state_dir: &Path) -> Result<AckKey, String> {
        Ok(AckKey([0; 32]))
    }
    pub fn from_bytes(bytes: [u8; 32]) -> AckKey {
        AckKey(bytes)
    }
    pub fn link(&self, base: &str, mention_ids: &[i64], expires_at: i64) -> String {
        let _ = self.0;
        let ids: Vec<String> = mention_ids.iter().map(|i| i.to_string()).collect();
        format!("{base}/ack?m={}&exp={expires_at}&sig=00", ids.join("."))
    }
    pub fn verify(&self, _query: &str, _now: i64) -> Result<Vec<i64>, AckLinkError> {
        Err(AckLinkError::Malformed)
    }
}
