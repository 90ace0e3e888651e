//! gallery's settings, read once from the environment.

use openfaas_runtime::{FunctionSettings, SettingReader};

/// Every setting of gallery.
#[derive(Debug)]
pub struct Settings {
    /// `page_size`: results per gallery page (12).
    pub page_size: usize,
    /// `max_image_bytes`: the largest upload (32 MiB, as greyscale's).
    pub max_image_bytes: u64,
}

/// Every environment name [`Settings`] reads (the runtime's and the
/// store's are `openfaas_runtime::CONFIG_NAMES` and `greyfaas_store::config::NAMES`).
pub const NAMES: &[&str] = &["page_size", "max_image_bytes"];

impl FunctionSettings for Settings {
    const NAMES: &'static [&'static str] = NAMES;

    fn read(read: &SettingReader) -> Settings {
        let positive = |name: &str, default: u64| match read.parsed(name, default) {
            0 => default,
            n => n,
        };
        Settings {
            page_size: positive("page_size", 12) as usize,
            max_image_bytes: positive("max_image_bytes", 32 << 20),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_unreadable_keep_the_default() {
        let s = Settings::from_lookup(|k| (k == "page_size").then(|| "0".into()));
        assert_eq!(s.page_size, 12);
        let s = Settings::from_lookup(|k| (k == "page_size").then(|| "3".into()));
        assert_eq!(s.page_size, 3);
    }
}
