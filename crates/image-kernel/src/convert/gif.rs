//! GIF: greyed by greying its palettes. Colours that become the same grey are merged
//! into one palette entry and the frames' indices remapped to them, so the LZW data
//! codes fewer distinct indices (runs of "different" colours of one grey become runs of
//! one index) and the smallest code size follows from the fewer entries. A transparent
//! index always keeps an entry of its own: merged with an opaque colour of the same
//! grey, it would make that colour's pixels transparent.

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
    let (global_transparent, _) = check_animation(bytes, limits)?;
    let global_grey = decoder
        .global_palette()
        .map(|p| grey_palette(p, options.luma))
        .unwrap_or_default();
    let global = merge_greys(&global_grey, &global_transparent);
    let mut out = Vec::new();
    {
        let encode_error = |e: gif::EncodingError| ConvertError::Encode(e.to_string());
        let mut encoder =
            gif::Encoder::new(&mut out, width, height, &global.rgb).map_err(encode_error)?;
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
            match frame.palette.take() {
                Some(local) => {
                    let grey = grey_palette(&local, options.luma);
                    let apart: Vec<u8> = frame.transparent.into_iter().collect();
                    let merged = merge_greys(&grey, &apart);
                    frame.palette = Some(match merged.remap(&mut frame) {
                        true => merged.rgb,
                        false => grey,
                    });
                }
                // An index past the global palette means what it meant only beside
                // the palette it was coded for: such a frame takes that one, unmerged.
                None if !global.remap(&mut frame) => frame.palette = Some(global_grey.clone()),
                None => {}
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
/// decoded: a walk over the frame headers that skips the LZW data. Returns the
/// transparent indices of the frames that use the global palette and the area of the
/// largest frame.
pub(super) fn check_animation(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(Vec<u8>, u64), ConvertError> {
    let mut walk_options = gif::DecodeOptions::new();
    walk_options.skip_frame_decoding(true);
    let mut walk = walk_options
        .read_info(Cursor::new(bytes))
        .map_err(gif_error)?;
    let (mut frames, mut pixels, mut largest) = (0u32, 0u64, 0u64);
    let mut global_transparent = Vec::new();
    while let Some(frame) = walk.next_frame_info().map_err(gif_error)? {
        frames += 1;
        if let (None, Some(index)) = (&frame.palette, frame.transparent)
            && !global_transparent.contains(&index)
        {
            global_transparent.push(index);
        }
        if frames > limits.max_frames {
            return Err(ConvertError::TooManyFrames(limits.max_frames));
        }
        let area = u64::from(frame.width) * u64::from(frame.height);
        largest = largest.max(area);
        pixels += area;
        if pixels > limits.max_animation_pixels {
            return Err(ConvertError::TooManyAnimationPixels {
                frames,
                limit: limits.max_animation_pixels,
            });
        }
    }
    Ok((global_transparent, largest))
}

/// A palette of greys with each grey once (but for the entries kept apart), and where
/// each index of the palette it was made from went.
struct MergedPalette {
    rgb: Vec<u8>,
    map: [u8; 256],
    /// How many entries the palette it was made from has.
    from_len: usize,
}

/// Merges the entries of `grey` (a greyed palette, `[y, y, y]` an entry) that show the
/// same grey, in order of first appearance; the indices in `apart` (transparent ones)
/// keep entries of their own.
fn merge_greys(grey: &[u8], apart: &[u8]) -> MergedPalette {
    let mut map = [0u8; 256];
    let mut rgb = Vec::with_capacity(grey.len());
    let mut entry_of_grey: [Option<u8>; 256] = [None; 256];
    for (index, entry) in grey.chunks_exact(3).take(256).enumerate() {
        let kept_apart = apart.contains(&(index as u8));
        let shared = entry_of_grey[usize::from(entry[0])].filter(|_| !kept_apart);
        map[index] = shared.unwrap_or_else(|| {
            let new = (rgb.len() / 3) as u8;
            rgb.extend_from_slice(entry);
            if !kept_apart {
                entry_of_grey[usize::from(entry[0])] = Some(new);
            }
            new
        });
    }
    MergedPalette {
        rgb,
        map,
        from_len: grey.len().min(256 * 3) / 3,
    }
}

impl MergedPalette {
    /// Remaps `frame`'s indices (and its transparent index) to the merged palette;
    /// `false`, and the frame untouched, when an index lies past the old palette.
    fn remap(&self, frame: &mut gif::Frame) -> bool {
        let inside = |index: &u8| usize::from(*index) < self.from_len;
        if !frame.buffer.iter().all(inside) || !frame.transparent.iter().all(inside) {
            return false;
        }
        for index in frame.buffer.to_mut().iter_mut() {
            *index = self.map[usize::from(*index)];
        }
        frame.transparent = frame.transparent.map(|t| self.map[usize::from(t)]);
        true
    }
}

fn gif_error(e: gif::DecodingError) -> ConvertError {
    ConvertError::Corrupt(e.to_string())
}
