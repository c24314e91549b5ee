//! Conformance case for `kind = "appstore"`. TODO: stub, replace with real replies.

use wiremock::MockServer;

use crate::Conformance;

pub struct AppStore;

impl Conformance for AppStore {
    const KIND: &'static str = "appstore";
    const HAS_SECRET: bool = false;
    const SPENT: &'static [(&'static str, &'static str)] = &[];
    const ROUND1: usize = 0;
    const ROUND2_NEW: usize = 0;

    fn source(_base: &str, _secret_file: &str) -> String {
        todo!()
    }

    async fn mount(_server: &MockServer, _round: u8, _headers: &[(&str, &str)]) {
        todo!()
    }
}
