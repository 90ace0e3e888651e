//! fetch-incoming's limits, read once from the environment.

use greyfaas_ssrf_guard::Guard;
use openfaas_runtime::{FunctionSettings, SettingReader};
use std::time::Duration;

/// Every limit and switch of fetch-incoming.
#[derive(Debug)]
pub struct Settings {
    /// `max_bytes`: the largest download, enforced while streaming (32 MiB).
    pub max_bytes: u64,
    /// `connect_timeout`: to open a connection to the image's host (5 s).
    pub connect_timeout: Duration,
    /// `fetch_timeout`: for the whole download, redirects included (30 s).
    pub fetch_timeout: Duration,
    /// `max_redirects`: redirects followed, at most 5 (5).
    pub max_redirects: usize,
    /// `max_batch`: URLs in one `{"urls": […]}` request (16).
    pub max_batch: usize,
    /// `max_json_depth`: the deepest JSON nesting accepted (8).
    pub max_json_depth: usize,
    /// `max_json_bytes`: the largest request document (64 KiB).
    pub max_json_bytes: u64,
    /// Which addresses may be fetched (`allow_private_networks`, `allow_cidrs`).
    pub guard: Guard,
}

/// Every environment name [`Settings`] reads (the runtime's and the
/// store's are `openfaas_runtime::CONFIG_NAMES` and `greyfaas_store::config::NAMES`).
pub const NAMES: &[&str] = &[
    "max_bytes",
    "connect_timeout",
    "fetch_timeout",
    "max_redirects",
    "max_batch",
    "max_json_bytes",
    "max_json_depth",
    "allow_private_networks",
    "allow_cidrs",
];

impl FunctionSettings for Settings {
    const NAMES: &'static [&'static str] = NAMES;

    fn read(read: &SettingReader) -> Settings {
        let seconds = Duration::from_secs;
        Settings {
            max_bytes: read.parsed("max_bytes", 32 << 20),
            connect_timeout: read.nonzero_duration("connect_timeout", seconds(5)),
            fetch_timeout: read.nonzero_duration("fetch_timeout", seconds(30)),
            max_redirects: read.parsed("max_redirects", 5usize).min(5),
            max_batch: read.parsed("max_batch", 16usize).max(1),
            max_json_bytes: read.parsed("max_json_bytes", 64 << 10),
            max_json_depth: read.parsed("max_json_depth", 8),
            guard: Guard::from_lookup(&|name| read.text(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_values_keep_their_defaults() {
        let s = Settings::from_lookup(|k| match k {
            "max_redirects" => Some("9".into()),
            "fetch_timeout" => Some("0".into()),
            "connect_timeout" => Some("2s".into()),
            "max_batch" => Some("many".into()),
            _ => None,
        });
        assert_eq!(s.max_redirects, 5, "capped at 5");
        assert_eq!(s.fetch_timeout, Duration::from_secs(30));
        assert_eq!(s.connect_timeout, Duration::from_secs(2));
        assert_eq!(s.max_batch, 16);
    }
}
