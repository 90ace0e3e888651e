//! greyscale's limits and its gateway, read once from the environment.

use crate::slots::{Slots, cgroup_memory_limit, default_budget, worst_case_bytes};
use greyfaas_image_kernel::{Limits, LumaMode, Options};
use openfaas_runtime::{FunctionSettings, SettingReader};
use std::time::Duration;

/// Every limit and switch of greyscale, and where its gateway is.
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
    /// `max_pixels`, `max_frames`, `max_animation_pixels`, `max_scans`, `jpeg_quality`, `jpeg_mode`, `keep_gps`, `luma`,
    /// `accept_partial_images`.
    pub convert: Options,
    /// `max_conversions` (default: the cores), `memory_budget` (bytes; default: from
    /// the memory limit) and `conversion_wait` (10s): see `slots`.
    pub slots: Slots,
}

/// Every environment name [`Settings`] reads (the runtime's and the
/// store's are `openfaas_runtime::CONFIG_NAMES` and `greyfaas_store::config::NAMES`).
pub const NAMES: &[&str] = &[
    "gateway_url",
    "max_image_bytes",
    "max_json_bytes",
    "max_json_depth",
    "max_batch",
    "max_pixels",
    "max_frames",
    "max_animation_pixels",
    "max_scans",
    "jpeg_quality",
    "jpeg_mode",
    "keep_gps",
    "luma",
    "accept_partial_images",
    "max_conversions",
    "memory_budget",
    "conversion_wait",
];

impl FunctionSettings for Settings {
    const NAMES: &'static [&'static str] = NAMES;

    fn read(read: &SettingReader) -> Settings {
        let defaults = Options::default();
        let max_image_bytes = read.parsed("max_image_bytes", 32 << 20);
        let convert = Options {
            limits: Limits {
                max_pixels: read.parsed("max_pixels", defaults.limits.max_pixels),
                max_frames: read
                    .parsed("max_frames", u64::from(defaults.limits.max_frames))
                    .min(u32::MAX.into()) as u32,
                max_animation_pixels: read
                    .parsed("max_animation_pixels", defaults.limits.max_animation_pixels),
                max_scans: read
                    .parsed("max_scans", u64::from(defaults.limits.max_scans))
                    .min(u32::MAX.into()) as u32,
            },
            jpeg_quality: read
                .parsed("jpeg_quality", u64::from(defaults.jpeg_quality))
                .clamp(1, 100) as u8,
            // `lossless` keeps a JPEG's luma coefficients; `reencode` decodes and
            // encodes at `jpeg_quality`.
            jpeg_lossless: read.choice(
                "jpeg_mode",
                &[("lossless", true), ("reencode", false)],
                true,
            ),
            keep_gps: read.parsed("keep_gps", false),
            luma: read.choice("luma", &LumaMode::WORDS, LumaMode::Gamma),
            accept_partial: read.parsed("accept_partial_images", false),
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        // More conversions at once than cores only queue for the CPU; memory is the
        // budget's to bound.
        let slots = match read.parsed("max_conversions", 0usize) {
            0 => cores,
            n => n,
        };
        let budget = match read.parsed("memory_budget", 0u64) {
            0 => default_budget(
                cgroup_memory_limit(),
                slots,
                max_image_bytes,
                worst_case_bytes(&convert.limits, max_image_bytes),
            ),
            n => n,
        };
        let wait = read.duration("conversion_wait", Duration::from_secs(10));
        Settings {
            gateway_url: read
                .text("gateway_url")
                .unwrap_or_else(|| "http://gateway.openfaas:8080".into())
                .trim_end_matches('/')
                .to_string(),
            max_image_bytes,
            max_json_bytes: read.parsed("max_json_bytes", 64 << 10),
            max_json_depth: read.parsed("max_json_depth", 8),
            max_batch: read.parsed("max_batch", 16usize).max(1),
            slots: Slots::new(slots, budget, wait),
            convert,
        }
    }
}
