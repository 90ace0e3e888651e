//! greyscale's limits and its gateway, read once from the environment.

use crate::convert::Limits;
use once_cell::sync::Lazy;
use openfaas_runtime::number_setting;

#[derive(Debug)]
pub struct Settings {
    /// `gateway_url`: where fetch-incoming is reached for `{"url"}` (`http://gateway.openfaas:8080`).
    pub gateway_url: String,
    /// `max_image_bytes`: the largest image read from the store or a request (32 MiB).
    pub max_image_bytes: u64,
    /// `max_json_depth`: the deepest JSON nesting accepted (8).
    pub max_json_depth: usize,
    /// `max_json_bytes`: the largest JSON request (64 KiB).
    pub max_json_bytes: u64,
    /// `max_batch`: paths in one `{"paths": […]}` request (16).
    pub max_batch: usize,
    /// `max_pixels`, `max_frames`, `jpeg_quality`.
    pub limits: Limits,
}

static SETTINGS: Lazy<Settings> = Lazy::new(|| Settings::from_lookup(|k| std::env::var(k).ok()));

impl Settings {
    pub fn get() -> &'static Settings {
        &SETTINGS
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Settings {
        let number = |name: &str, default: u64| number_setting(name, lookup(name), default);
        let defaults = Limits::default();
        Settings {
            gateway_url: lookup("gateway_url")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "http://gateway.openfaas:8080".into())
                .trim_end_matches('/')
                .to_string(),
            max_image_bytes: number("max_image_bytes", 32 << 20),
            max_json_bytes: number("max_json_bytes", 64 << 10),
            max_json_depth: number("max_json_depth", 8) as usize,
            max_batch: number("max_batch", 16).max(1) as usize,
            limits: Limits {
                max_pixels: number("max_pixels", defaults.max_pixels),
                max_frames: number("max_frames", defaults.max_frames.into()).min(u32::MAX.into())
                    as u32,
                jpeg_quality: number("jpeg_quality", defaults.jpeg_quality.into()).clamp(1, 100)
                    as u8,
            },
        }
    }
}
