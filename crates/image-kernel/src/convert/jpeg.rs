//! JPEG: the lossless path (luma coefficients kept, see `crate::dct`) where it applies,
//! the re-encode path otherwise; both carry the metadata segments across.

use super::raster::{apply_profile, decode};
use super::{ConvertError, Options};
use crate::cancel::Cancel;
use crate::colour::{LumaMode, to_grey};
use crate::dct::{self, Colour, JpegError, Segment};
use crate::exif::{clean_exif, xmp_has_gps};
use crate::icc::{self, Profile, curve_is_srgb};
use greyfaas_image_format::ImageFormat;

const EXIF: &[u8] = b"Exif\0\0";
const XMP: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
const XMP_EXTENSION: &[u8] = b"http://ns.adobe.com/xmp/extension/\0";
const ICC: &[u8] = b"ICC_PROFILE\0";

impl From<JpegError> for ConvertError {
    fn from(e: JpegError) -> Self {
        match e {
            JpegError::Truncated => ConvertError::Corrupt(e.to_string()),
            JpegError::Corrupt(m) => ConvertError::Corrupt(m),
            JpegError::Unsupported(m) => ConvertError::Unsupported(m),
            JpegError::TooManyPixels {
                width,
                height,
                limit,
            } => ConvertError::TooManyPixels {
                width: width as u64,
                height: height as u64,
                pixels: (width * height) as u64,
                limit,
            },
            JpegError::TooManyScans(limit) => ConvertError::TooManyScans(limit),
            JpegError::TooMuchScanWork { .. } => ConvertError::TooMuchWork(e.to_string()),
            JpegError::Cancelled => ConvertError::Cancelled,
        }
    }
}

pub fn grey_jpeg(
    bytes: &[u8],
    options: &Options,
    cancel: &Cancel,
) -> Result<Vec<u8>, ConvertError> {
    let lossless = options.jpeg_lossless && options.luma == LumaMode::Gamma;
    let limits = dct::Limits {
        max_pixels: options.limits.max_pixels,
        max_scans: options.limits.max_scans,
    };
    // Every JPEG is read here first, whichever path converts it: the scan limits hold
    // on the re-encode path too.
    let jpeg = dct::read(bytes, &limits, lossless, cancel)?;
    if jpeg.truncated && !options.accept_partial {
        return Err(JpegError::Truncated.into());
    }
    let icc = assemble_icc(&jpeg.segments);
    let profile = icc.as_deref().map(icc::parse);
    if let (true, Some(luma), Colour::YCbCr | Colour::Grey) = (lossless, &jpeg.luma, jpeg.colour) {
        // The luma is kept as coded, so only its tone curve can be described: a grey
        // profile with the source's curve when that is not sRGB's.
        let icc_out = match profile {
            Some(Profile::Grey) => icc,
            Some(Profile::Rgb(p)) if !curve_is_srgb(&p.curves[1]) => {
                Some(icc::grey_profile(&p.green_curve_tag))
            }
            _ => None,
        };
        let segments = output_segments(&jpeg.segments, icc_out, options.keep_gps);
        cancel.check()?;
        return Ok(dct::write_grey(luma, jpeg.width, jpeg.height, &segments)?);
    }
    // Re-encode: through the pixels, greyed via the profile.
    cancel.check()?;
    let decoded = decode(bytes, ImageFormat::Jpeg, &options.limits)?;
    cancel.check()?;
    let (rgb_profile, icc_out) = apply_profile(icc);
    let grey = to_grey(decoded.image, rgb_profile.as_deref(), options.luma).to_luma8();
    cancel.check()?;
    let mut out = Vec::with_capacity(grey.len() / 4);
    let (w, h) = (grey.width() as u16, grey.height() as u16);
    jpeg_encoder::Encoder::new(&mut out, options.jpeg_quality)
        .encode(grey.as_raw(), w, h, jpeg_encoder::ColorType::Luma)
        .map_err(|e| ConvertError::Encode(e.to_string()))?;
    let segments = output_segments(&jpeg.segments, icc_out, options.keep_gps);
    Ok(replace_segments(&out, &segments))
}

/// The ICC profile of a JPEG, from its APP2 chunks in sequence order.
fn assemble_icc(segments: &[Segment]) -> Option<Vec<u8>> {
    let mut chunks: Vec<(u8, &[u8])> = segments
        .iter()
        .filter(|s| s.marker == 0xE2 && s.payload.starts_with(ICC) && s.payload.len() > 14)
        .map(|s| (s.payload[12], &s.payload[14..]))
        .collect();
    if chunks.is_empty() {
        return None;
    }
    chunks.sort_by_key(|c| c.0);
    Some(
        chunks
            .into_iter()
            .flat_map(|c| c.1.iter().copied())
            .collect(),
    )
}

/// The input's APPn/COM segments as the output carries them: EXIF without GPS (unless
/// kept) and without its colour thumbnail; XMP unless it records a position; `icc` in
/// place of the input's profile; nothing that describes colour or other images (Adobe
/// APP14, MPF and other APP2 data), since the output is one grey image.
fn output_segments<'a>(
    input: &[Segment<'a>],
    icc: Option<Vec<u8>>,
    keep_gps: bool,
) -> Vec<Segment<'a>> {
    let mut icc = icc;
    let mut out = Vec::with_capacity(input.len());
    let mut xmp_dropped = false;
    for s in input {
        let p = &s.payload[..];
        match s.marker {
            0xE1 if p.starts_with(EXIF) => {
                if let Some(tiff) = clean_exif(&p[EXIF.len()..], keep_gps) {
                    out.push(Segment {
                        marker: 0xE1,
                        payload: [EXIF, &tiff].concat().into(),
                    });
                }
            }
            0xE1 if p.starts_with(XMP) => {
                xmp_dropped = !keep_gps && xmp_has_gps(p);
                if !xmp_dropped {
                    out.push(s.clone());
                }
            }
            0xE1 if p.starts_with(XMP_EXTENSION) => {
                if !xmp_dropped && (keep_gps || !xmp_has_gps(p)) {
                    out.push(s.clone());
                }
            }
            0xE2 if p.starts_with(ICC) => {
                if let Some(profile) = icc.take() {
                    out.extend(icc_segments(&profile));
                }
            }
            0xE2 | 0xEE => {}
            _ => out.push(s.clone()),
        }
    }
    out
}

/// A profile split into APP2 chunks (at most 65,519 bytes of profile each), numbered
/// from 1 in one byte each: a profile that needs more than 255 chunks cannot be written
/// and is left out (the pixels are grey already; the profile only describes them).
fn icc_segments(profile: &[u8]) -> Vec<Segment<'static>> {
    let chunks: Vec<&[u8]> = profile.chunks(65_519).collect();
    let Ok(total) = u8::try_from(chunks.len()) else {
        tracing::warn!(
            bytes = profile.len(),
            "ICC profile too large for 255 APP2 chunks: left out"
        );
        return Vec::new();
    };
    (1..=total)
        .zip(chunks)
        .map(|(number, chunk)| Segment {
            marker: 0xE2,
            payload: [ICC, &[number, total], chunk].concat().into(),
        })
        .collect()
}

/// `jpeg` with the APPn/COM segments right after SOI replaced by `segments`.
fn replace_segments(jpeg: &[u8], segments: &[Segment]) -> Vec<u8> {
    let mut pos = 2;
    while pos + 4 <= jpeg.len()
        && jpeg[pos] == 0xFF
        && (matches!(jpeg[pos + 1], 0xE0..=0xEF | 0xFE))
    {
        pos += 2 + usize::from(u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]));
    }
    let mut out = Vec::with_capacity(jpeg.len() + 1024);
    out.extend_from_slice(&jpeg[..2]);
    for s in segments {
        out.extend_from_slice(&[0xFF, s.marker]);
        out.extend_from_slice(&(s.payload.len() as u16 + 2).to_be_bytes());
        out.extend_from_slice(&s.payload);
    }
    out.extend_from_slice(&jpeg[pos.min(jpeg.len())..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icc_chunks_are_numbered_from_one_and_a_profile_past_255_chunks_is_left_out() {
        let most = vec![7u8; 255 * 65_519];
        let segments = icc_segments(&most);
        assert_eq!(segments.len(), 255);
        for (i, segment) in segments.iter().enumerate() {
            let numbers = &segment.payload[ICC.len()..ICC.len() + 2];
            assert_eq!(numbers, [i as u8 + 1, 255]);
        }
        // One byte more needs a 256th chunk, whose number would wrap to 0 (and the
        // count to 0): nothing is written rather than a profile no reader accepts.
        assert!(icc_segments(&vec![7u8; 255 * 65_519 + 1]).is_empty());
    }
}
