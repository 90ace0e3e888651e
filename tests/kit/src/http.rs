//! Loopback HTTP for tests: free ports and blocking clients. Bounded: every call gives
//! up after 60 s, and no proxy is ever used (the traffic is for 127.0.0.1).

use std::time::Duration;

/// A loopback port that was free a moment ago (the OS may hand it out again before the
/// caller binds it: [`crate::Up`] retries a start that lost it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn builder() -> reqwest::blocking::ClientBuilder {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .no_proxy()
}

/// A client for the tests' calls; follows redirects as curl -L would.
pub fn client() -> reqwest::blocking::Client {
    builder().build().expect("a client")
}

/// A client that shows redirects instead of following them.
pub fn client_without_redirects() -> reqwest::blocking::Client {
    builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}
