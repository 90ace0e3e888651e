//! greyscale's limits and its gateway, read once from the environment.

use crate::convert::{Limits, LumaMode, Options};
use crate::slots::{Slots, cgroup_memory_limit, default_slots, worst_case_bytes};
use once_cell::sync::Lazy;
use openfaas_runtime::{number_setting, parse_duration};
use std::time::Duration;

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
    /// `max_pixels`, `max_frames`, `jpeg_quality`, `jpeg_mode`, `keep_gps`, `luma`,
    /// `accept_partial_images`.
    pub convert: Options,
    /// `max_conversions` (default: what the memory limit holds, else the cores) and
    /// `conversion_wait` (10s): see `slots`.
    pub slots: Slots,
}

static SETTINGS: Lazy<Settings> = Lazy::new(|| Settings::from_lookup(|k| std::env::var(k).ok()));

impl Settings {
    pub fn get() -> &'static Settings {
        &SETTINGS
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Settings {
        let number = |name: &str, default: u64| number_setting(name, lookup(name), default);
        let defaults = Options::default();
        let max_image_bytes = number("max_image_bytes", 32 << 20);
        let convert = Options {
            limits: Limits {
                max_pixels: number("max_pixels", defaults.limits.max_pixels),
                max_frames: number("max_frames", defaults.limits.max_frames.into())
                    .min(u32::MAX.into()) as u32,
            },
            jpeg_quality: number("jpeg_quality", defaults.jpeg_quality.into()).clamp(1, 100) as u8,
            jpeg_lossless: number_setting("jpeg_mode", lookup("jpeg_mode"), JpegMode::Lossless)
                == JpegMode::Lossless,
            keep_gps: number_setting("keep_gps", lookup("keep_gps"), false),
            luma: number_setting("luma", lookup("luma"), LumaMode::Gamma),
            accept_partial: number_setting(
                "accept_partial_images",
                lookup("accept_partial_images"),
                false,
            ),
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let slots = match number("max_conversions", 0) {
            0 => default_slots(
                cgroup_memory_limit(),
                worst_case_bytes(&convert.limits, max_image_bytes),
                cores,
            ),
            n => n as usize,
        };
        let wait = lookup("conversion_wait")
            .and_then(|v| parse_duration(&v).ok())
            .unwrap_or(Duration::from_secs(10));
        Settings {
            gateway_url: lookup("gateway_url")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "http://gateway.openfaas:8080".into())
                .trim_end_matches('/')
                .to_string(),
            max_image_bytes,
            max_json_bytes: number("max_json_bytes", 64 << 10),
            max_json_depth: number("max_json_depth", 8) as usize,
            max_batch: number("max_batch", 16).max(1) as usize,
            slots: Slots::new(slots, wait),
            convert,
        }
    }
}

/// `jpeg_mode`: `lossless` keeps a JPEG's luma coefficients; `reencode` decodes and
/// encodes at `jpeg_quality`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JpegMode {
    Lossless,
    Reencode,
}

impl std::str::FromStr for JpegMode {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "lossless" => Ok(JpegMode::Lossless),
            "reencode" => Ok(JpegMode::Reencode),
            _ => Err(()),
        }
    }
}

impl std::fmt::Display for JpegMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JpegMode::Lossless => "lossless",
            JpegMode::Reencode => "reencode",
        })
    }
}
