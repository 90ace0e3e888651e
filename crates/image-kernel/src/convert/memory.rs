//! What a conversion will need at its peak, from the image's header alone, so that a
//! server can admit conversions by the memory they take (greyscale's `memory_budget`)
//! rather than count them against the worst case. The figures are upper bounds of what
//! each path holds at once; `tests/fidelity`'s `peak_memory` measures the real peak
//! of every corpus image with a counting allocator and holds it under this one.

use super::{ConvertError, Options, check_pixels, gif, raster};
use crate::dct;
use greyfaas_image_format::ImageFormat;
use image::{ColorType, ImageDecoder};

/// Fixed costs of any conversion: decoder state, tables, metadata copies.
const OVERHEAD: u64 = 1 << 20;

/// The most memory converting `bytes` under `options` holds at once, in bytes: its
/// pixels as the path it takes keeps them, the input and the encoded output. Reads the
/// header only, and refuses, as the conversion would, what is not an image or is over
/// the pixel limit.
pub fn peak_bytes(bytes: &[u8], options: &Options) -> Result<u64, ConvertError> {
    let format = ImageFormat::sniff(bytes).ok_or(ConvertError::NotImage)?;
    let input = bytes.len() as u64;
    let (pixels_held, output) = match format {
        // One frame's palette indices at a time (the decoder's buffer and the encoder's
        // copy), and the LZW-coded frames, about the input's.
        ImageFormat::Gif => {
            let (_, largest_frame) = gif::check_animation(bytes, &options.limits)?;
            (largest_frame * 2, input * 2)
        }
        // The frame header, found as the JPEG reader would find it (a file without one
        // is refused by the reader before it allocates). The re-encoding path holds
        // the decode (up to CMYK, 4 bytes a pixel, then RGB) and the grey copy; the
        // lossless path's 2-byte coefficients of each component are less than that.
        // The output keeps the input's coding or codes the grey pixels.
        ImageFormat::Jpeg => match dct::frame_size(bytes) {
            Some((width, height)) => {
                let (width, height) = (u64::from(width), u64::from(height));
                check_pixels(width, height, &options.limits)?;
                let pixels = width * height;
                (pixels * 8, (pixels * 2).max(input))
            }
            None => (0, input),
        },
        ImageFormat::Png | ImageFormat::Webp => {
            let decoder = raster::open(bytes, format, &options.limits)?;
            let (width, height) = decoder.dimensions();
            let (width, height) = (u64::from(width), u64::from(height));
            // The decode, the grey (+ alpha) copy at the input's depth, and the raw rows
            // the encoder filters; the output codes the grey pixels.
            let colour = decoder.color_type();
            let per_pixel = u64::from(colour.bytes_per_pixel()) + 2 * grey_bytes_per_pixel(colour);
            let pixels = width * height;
            // PNG is deflated twice at once, and the smaller kept.
            let outputs = if format == ImageFormat::Png { 2 } else { 1 };
            (pixels * per_pixel, outputs * (pixels * 2).max(input))
        }
    };
    Ok(pixels_held + input + output + OVERHEAD)
}

/// Bytes a pixel of the grey result takes: grey, and alpha where the input has it, at
/// the input's depth.
fn grey_bytes_per_pixel(colour: ColorType) -> u64 {
    let channels = if colour.has_alpha() { 2 } else { 1 };
    let depth = u64::from(colour.bytes_per_pixel()) / u64::from(colour.channel_count());
    channels * depth.max(1)
}
