//! The watch query language: terms, "exact phrases", implicit AND, `OR`, `NOT` / `-term`,
//! parentheses, `prefix*`, and the field filters `title:`, `author:`, `site:`, `lang:`, `type:`.

use earshot_connectors::MentionKind;

/// The fields of a mention a query can look at.
#[derive(Debug, Clone, Copy)]
pub struct DocFields<'a> {
    pub title: &'a str,
    pub text: &'a str,
    /// Handle and display name, space separated.
    pub author: &'a str,
    /// The link's host (`www.example.com`).
    pub site: &'a str,
    /// Two-letter language code, given by the platform or detected.
    pub lang: Option<&'a str>,
    pub kind: MentionKind,
}

/// A mention prepared once for matching against many queries.
#[derive(Debug, Clone)]
pub struct Document {}

impl Document {
    pub fn new(_fields: DocFields<'_>) -> Document {
        todo!()
    }
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {}

/// A query that does not parse: where (1-based column, in characters) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct QueryError {
    pub column: usize,
    pub message: String,
}

impl Query {
    pub fn parse(_input: &str) -> Result<Query, QueryError> {
        todo!()
    }

    pub fn matches(&self, _doc: &Document) -> bool {
        todo!()
    }
}
