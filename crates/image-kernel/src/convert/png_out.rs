//! PNG output in the smallest layout that holds the grey image exactly, as oxipng and
//! ImageMagick choose one (issue 20): 16-bit samples that are all 8-bit values
//! (v = 257 × w) written at 8 bits; alpha that is all opaque dropped; at most 16 greys
//! written at 1, 2 or 4 bits (as grey where the levels fall on that depth's scale,
//! else as a palette of greys); grey+alpha with at most 256 distinct pairs written as
//! a palette with tRNS. Nothing is approximated: the output decodes to the same grey
//! and alpha as the image given, transparent pixels included.

use image::DynamicImage;
use png::{BitDepth, ColorType};

/// What is written: the PNG colour type and depth, the palette and its transparency
/// when there is one, and the packed rows.
pub struct Layout {
    pub color: ColorType,
    pub depth: BitDepth,
    pub palette: Option<Vec<u8>>,
    pub trns: Option<Vec<u8>>,
    pub rows: Vec<u8>,
}

/// The smallest exact layout of a grey image (L8, LA8, L16 or LA16).
pub fn smallest(image: &DynamicImage) -> Layout {
    let width = image.width() as usize;
    match image {
        DynamicImage::ImageLuma16(grey) => match eight_bit(grey.as_raw()) {
            Some(grey) => grey8(&grey, width),
            None => raw16(grey.as_raw(), ColorType::Grayscale),
        },
        DynamicImage::ImageLumaA16(pairs) => match eight_bit(pairs.as_raw()) {
            Some(pairs) => grey_alpha8(&pairs, width),
            None if pairs.as_raw().chunks_exact(2).all(|p| p[1] == u16::MAX) => {
                let grey: Vec<u16> = pairs.as_raw().chunks_exact(2).map(|p| p[0]).collect();
                raw16(&grey, ColorType::Grayscale)
            }
            None => raw16(pairs.as_raw(), ColorType::GrayscaleAlpha),
        },
        DynamicImage::ImageLumaA8(pairs) => grey_alpha8(pairs.as_raw(), width),
        other => grey8(other.to_luma8().as_raw(), width),
    }
}

/// The samples as 8-bit values, if every one is an 8-bit value scaled to 16 bits.
fn eight_bit(samples: &[u16]) -> Option<Vec<u8>> {
    samples
        .iter()
        .map(|&v| ((v >> 8) == (v & 0xFF)).then_some((v >> 8) as u8))
        .collect()
}

/// 16-bit samples as PNG stores them, big-endian.
fn raw16(samples: &[u16], color: ColorType) -> Layout {
    Layout {
        color,
        depth: BitDepth::Sixteen,
        palette: None,
        trns: None,
        rows: samples.iter().flat_map(|v| v.to_be_bytes()).collect(),
    }
}

/// 8-bit grey: at a lower depth when it has few levels.
fn grey8(grey: &[u8], width: usize) -> Layout {
    let mut seen = [false; 256];
    for &v in grey {
        seen[usize::from(v)] = true;
    }
    let levels: Vec<u8> = (0..=255u8).filter(|&v| seen[usize::from(v)]).collect();
    let Some(bits) = index_bits(levels.len()) else {
        return Layout {
            color: ColorType::Grayscale,
            depth: BitDepth::Eight,
            palette: None,
            trns: None,
            rows: grey.to_vec(),
        };
    };
    // On the scale of some depth up to 4 bits (255 / (2^d - 1) apart): grey at that depth.
    for depth in [1u32, 2, 4].into_iter().filter(|&d| d >= bits) {
        let step = 255 / ((1u16 << depth) - 1) as u8;
        if levels.iter().all(|v| v % step == 0) {
            let values: Vec<u8> = grey.iter().map(|v| v / step).collect();
            return Layout {
                color: ColorType::Grayscale,
                depth: bit_depth(depth),
                palette: None,
                trns: None,
                rows: pack(&values, width, depth),
            };
        }
    }
    let mut index = [0u8; 256];
    for (i, &v) in levels.iter().enumerate() {
        index[usize::from(v)] = i as u8;
    }
    let values: Vec<u8> = grey.iter().map(|&v| index[usize::from(v)]).collect();
    Layout {
        color: ColorType::Indexed,
        depth: bit_depth(bits),
        palette: Some(levels.iter().flat_map(|&v| [v, v, v]).collect()),
        trns: None,
        rows: pack(&values, width, bits),
    }
}

/// 8-bit grey+alpha: without alpha when all opaque, as a palette when it has at most
/// 256 distinct (grey, alpha) pairs.
fn grey_alpha8(pairs: &[u8], width: usize) -> Layout {
    if pairs.chunks_exact(2).all(|p| p[1] == 255) {
        let grey: Vec<u8> = pairs.chunks_exact(2).map(|p| p[0]).collect();
        return grey8(&grey, width);
    }
    let mut seen = vec![false; 1 << 16];
    let mut entries = Vec::new();
    for p in pairs.chunks_exact(2) {
        let key = usize::from(p[1]) << 8 | usize::from(p[0]);
        if !seen[key] {
            seen[key] = true;
            entries.push(key);
            if entries.len() > 256 {
                return Layout {
                    color: ColorType::GrayscaleAlpha,
                    depth: BitDepth::Eight,
                    palette: None,
                    trns: None,
                    rows: pairs.to_vec(),
                };
            }
        }
    }
    // Sorted by alpha, then grey: the translucent entries come first, so tRNS ends at
    // the last of them, and indices follow the greys, which keeps rows filterable.
    entries.sort_unstable();
    let bits = index_bits(entries.len()).unwrap_or(8);
    let mut index = vec![0u8; 1 << 16];
    for (i, &key) in entries.iter().enumerate() {
        index[key] = i as u8;
    }
    let values: Vec<u8> = pairs
        .chunks_exact(2)
        .map(|p| index[usize::from(p[1]) << 8 | usize::from(p[0])])
        .collect();
    let translucent = entries.iter().filter(|&&key| key >> 8 != 255).count();
    Layout {
        color: ColorType::Indexed,
        depth: bit_depth(bits),
        palette: Some(entries.iter().flat_map(|&k| [k as u8; 3]).collect()),
        trns: Some(
            entries[..translucent]
                .iter()
                .map(|&k| (k >> 8) as u8)
                .collect(),
        ),
        rows: pack(&values, width, bits),
    }
}

/// The fewest bits (1, 2 or 4) that index `count` values; None past 16.
fn index_bits(count: usize) -> Option<u32> {
    match count {
        0..=2 => Some(1),
        3..=4 => Some(2),
        5..=16 => Some(4),
        _ => None,
    }
}

fn bit_depth(bits: u32) -> BitDepth {
    match bits {
        1 => BitDepth::One,
        2 => BitDepth::Two,
        4 => BitDepth::Four,
        _ => BitDepth::Eight,
    }
}

/// Rows of `width` values of `bits` bits each, packed most significant first, each row
/// starting on a byte.
fn pack(values: &[u8], width: usize, bits: u32) -> Vec<u8> {
    if bits == 8 {
        return values.to_vec();
    }
    let per_byte = (8 / bits) as usize;
    let mut rows = Vec::with_capacity(values.len() / per_byte + values.len() / width.max(1) + 1);
    for row in values.chunks(width.max(1)) {
        for group in row.chunks(per_byte) {
            let mut byte = 0u8;
            for (i, &v) in group.iter().enumerate() {
                byte |= v << (8 - bits as usize * (i + 1));
            }
            rows.push(byte);
        }
    }
    rows
}
