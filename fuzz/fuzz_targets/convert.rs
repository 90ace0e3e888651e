//! decode → greyscale → encode on arbitrary bytes, with the limits on: it must never
//! panic, never allocate past the limits, and whatever it accepts must come out as an
//! image that decodes again, in the same format and size.
#![no_main]

use greyfaas_image_kernel::{Limits, Options, greyscale};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = Options {
        limits: Limits { max_pixels: 1 << 20, max_frames: 16, ..Limits::default() },
        jpeg_quality: 80,
        ..Options::default()
    };
    if let Ok(out) = greyscale(data, &options) {
        let back = image::load_from_memory(&out.bytes).expect("our output decodes");
        if let Ok(input) = image::load_from_memory(data) {
            assert_eq!((back.width(), back.height()), (input.width(), input.height()), "size kept");
        }
    }
});
