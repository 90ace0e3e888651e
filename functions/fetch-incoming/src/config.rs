//! fetch-incoming's limits, read once from the environment.

use crate::guard::Guard;
use once_cell::sync::Lazy;
use openfaas_runtime::{number_setting, parse_duration};
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

static SETTINGS: Lazy<Settings> = Lazy::new(|| Settings::from_lookup(|k| std::env::var(k).ok()));

impl Settings {
    pub fn get() -> &'static Settings {
        &SETTINGS
    }

    /// Reads settings through `lookup`; an unreadable value keeps its default (logged).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Settings {
        let number = |name: &str, default: u64| number_setting(name, lookup(name), default);
        let duration = |name: &str, default: u64| -> Duration {
            match lookup(name).map(|v| parse_duration(&v)) {
                None => Duration::from_secs(default),
                Some(Ok(d)) if !d.is_zero() => d,
                Some(_) => {
                    tracing::warn!(name, default, "not a duration; using the default");
                    Duration::from_secs(default)
                }
            }
        };
        Settings {
            max_bytes: number("max_bytes", 32 << 20),
            connect_timeout: duration("connect_timeout", 5),
            fetch_timeout: duration("fetch_timeout", 30),
            max_redirects: number("max_redirects", 5).min(5) as usize,
            max_batch: number("max_batch", 16).max(1) as usize,
            max_json_bytes: number("max_json_bytes", 64 << 10),
            max_json_depth: number("max_json_depth", 8) as usize,
            guard: Guard::from_lookup(&lookup),
        }
    }
}
