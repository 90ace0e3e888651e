//! Log setup: tracing to stderr, as text or (`log_format=json`) as one JSON object per line.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing. `RUST_LOG` filters (default `info`).
pub fn init_logging(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}
