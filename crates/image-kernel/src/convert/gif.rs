//! GIF: greyed by greying its palettes; frame data (palette indices) is copied as is.

use super::{ConvertError, Limits, Options, check_pixels};
use crate::cancel::Cancel;
use crate::colour::grey_palette;
use std::io::Cursor;

pub fn grey_gif(bytes: &[u8], options: &Options, cancel: &Cancel) -> Result<Vec<u8>, ConvertError> {
    let limits = &options.limits;
    let mut decode_options = gif::DecodeOptions::new();
    decode_options.set_color_output(gif::ColorOutput::Indexed);
    decode_options.set_memory_limit(gif::MemoryLimit::Bytes(
        std::num::NonZeroU64::new(limits.max_pixels.max(1)).unwrap_or(std::num::NonZeroU64::MIN),
    ));
    let mut decoder = decode_options
        .read_info(Cursor::new(bytes))
        .map_err(gif_error)?;
    let (width, height) = (decoder.width(), decoder.height());
    check_pixels(width.into(), height.into(), limits)?;
    check_animation(bytes, limits)?;
    let global = decoder
        .global_palette()
        .map(|p| grey_palette(p, options.luma))
        .unwrap_or_default();
    let mut out = Vec::new();
    {
        let encode_error = |e: gif::EncodingError| ConvertError::Encode(e.to_string());
        let mut encoder =
            gif::Encoder::new(&mut out, width, height, &global).map_err(encode_error)?;
        encoder.set_repeat(decoder.repeat()).map_err(encode_error)?;
        let mut frames = 0u32;
        loop {
            cancel.check()?;
            let Some(frame) = decoder.read_next_frame().map_err(gif_error)? else {
                break;
            };
            frames += 1;
            // A frame must be non-empty and inside the logical screen; decoders (image's
            // among them) refuse anything else, so we must not pass it on.
            let fits = frame.width > 0
                && frame.height > 0
                && u32::from(frame.left) + u32::from(frame.width) <= u32::from(width)
                && u32::from(frame.top) + u32::from(frame.height) <= u32::from(height);
            if !fits {
                return Err(ConvertError::Corrupt(format!(
                    "GIF frame {frames} lies outside the {width}x{height} image"
                )));
            }
            let mut frame = frame.clone();
            if let Some(palette) = frame.palette.as_mut() {
                *palette = grey_palette(palette, options.luma);
            }
            encoder.write_frame(&frame).map_err(encode_error)?;
        }
        if frames == 0 {
            return Err(ConvertError::Corrupt("GIF has no frames".into()));
        }
    }
    Ok(out)
}

/// Refuses an animation over `max_frames`, or whose frames hold more than
/// `max_animation_pixels` in all (decoding and encoding cost is per pixel of every
/// frame; imgproxy limits frames × resolution the same way), before any frame is
/// decoded: a walk over the frame headers that skips the LZW data.
fn check_animation(bytes: &[u8], limits: &Limits) -> Result<(), ConvertError> {
    let mut walk_options = gif::DecodeOptions::new();
    walk_options.skip_frame_decoding(true);
    let mut walk = walk_options
        .read_info(Cursor::new(bytes))
        .map_err(gif_error)?;
    let (mut frames, mut pixels) = (0u32, 0u64);
    while let Some(frame) = walk.next_frame_info().map_err(gif_error)? {
        frames += 1;
        if frames > limits.max_frames {
            return Err(ConvertError::TooManyFrames(limits.max_frames));
        }
        pixels += u64::from(frame.width) * u64::from(frame.height);
        if pixels > limits.max_animation_pixels {
            return Err(ConvertError::TooManyAnimationPixels {
                frames,
                limit: limits.max_animation_pixels,
            });
        }
    }
    Ok(())
}

fn gif_error(e: gif::DecodingError) -> ConvertError {
    ConvertError::Corrupt(e.to_string())
}
