//! Log setup: tracing to stderr, as text or (`log_format=json`) as one JSON object per line.

use std::str::FromStr;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// Installs the global subscriber once; later calls do nothing. `RUST_LOG` filters
/// (default `info`) with per-target levels, `info,handler=debug,hyper=warn`: the
/// `target=level` directives of tracing's `EnvFilter` without its span and field
/// filters, whose regex engine was a tenth of a first build's CPU time. A value
/// that does not parse is reported and `info` used.
pub fn init_logging(json: bool) {
    let (filter, bad) = filter_from(std::env::var("RUST_LOG").ok().as_deref());
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter);
    let installed = if json {
        let fmt = fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false);
        registry.with(fmt).try_init()
    } else {
        registry.with(fmt).try_init()
    };
    if let (Ok(()), Some(bad)) = (installed, bad) {
        tracing::warn!(rust_log = %bad, "RUST_LOG is not a list of target=level directives; logging at info");
    }
}

/// The filter `RUST_LOG` asks for, or `info` and the value that did not parse.
fn filter_from(rust_log: Option<&str>) -> (Targets, Option<String>) {
    let default = || Targets::new().with_default(tracing::Level::INFO);
    match rust_log.map(str::trim).filter(|v| !v.is_empty()) {
        None => (default(), None),
        Some(value) => match Targets::from_str(value) {
            Ok(targets) => (targets, None),
            Err(_) => (default(), Some(value.to_owned())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::filter_from;
    use tracing::Level;

    #[test]
    fn rust_log_sets_a_default_level_and_per_target_levels() {
        let (filter, bad) = filter_from(Some("warn,handler=debug"));
        assert!(bad.is_none());
        assert!(filter.would_enable("handler", &Level::DEBUG));
        assert!(filter.would_enable("hyper", &Level::WARN));
        assert!(!filter.would_enable("hyper", &Level::INFO));
    }

    #[test]
    fn an_unset_or_unparsable_rust_log_means_info() {
        let (unset, bad) = filter_from(None);
        assert!(bad.is_none());
        assert!(unset.would_enable("anything", &Level::INFO));
        assert!(!unset.would_enable("anything", &Level::DEBUG));
        let (fallback, bad) = filter_from(Some("handler=loudest"));
        assert_eq!(bad.as_deref(), Some("handler=loudest"));
        assert!(fallback.would_enable("handler", &Level::INFO));
        assert!(!fallback.would_enable("handler", &Level::DEBUG));
    }
}
