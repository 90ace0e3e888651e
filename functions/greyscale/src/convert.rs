//! The greyscale kernel: decode, convert, encode — in the input's own format, with
//! limits checked before any pixel buffer is allocated.
//!
//! - JPEG → 8-bit greyscale JPEG (one component).
//! - PNG → L8, LA8, L16 or LA16: alpha and 16-bit depth are kept.
//! - GIF → GIF with every palette mapped to grey: all frames, delays, loops and
//!   transparency stay exactly as they were, and no pixel is re-quantised.
//! - WebP → lossless WebP (L8, or LA8 with alpha); the pure-Rust encoder has no lossy mode.

use greyfaas_store::ImageFormat;
use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageReader};
use std::io::Cursor;

/// The limits every decode runs under.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `max_pixels`: width × height (per frame) above which an image is refused (413).
    pub max_pixels: u64,
    /// `max_frames`: GIF frames above which an animation is refused (413).
    pub max_frames: u32,
    /// `jpeg_quality`: the quality greyscale JPEGs are written at.
    pub jpeg_quality: u8,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pixels: 50_000_000,
            max_frames: 1000,
            jpeg_quality: 90,
        }
    }
}

/// A converted image.
#[derive(Debug)]
pub struct Converted {
    pub bytes: Vec<u8>,
    pub format: ImageFormat,
}

/// Why an image could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("not a supported image: send JPEG, PNG, GIF or WebP")]
    NotImage,
    #[error("image is {width}x{height} ({pixels} pixels), over the limit of {limit} pixels")]
    TooManyPixels {
        width: u64,
        height: u64,
        pixels: u64,
        limit: u64,
    },
    #[error("animation has more than {0} frames")]
    TooManyFrames(u32),
    #[error("image is corrupt or truncated: {0}")]
    Corrupt(String),
    #[error("image uses a feature we cannot decode: {0}")]
    Unsupported(String),
    #[error("cannot encode the result: {0}")]
    Encode(String),
}

/// Converts `bytes` to greyscale in their own format.
pub fn greyscale(bytes: &[u8], limits: &Limits) -> Result<Converted, ConvertError> {
    let format = ImageFormat::sniff(bytes).ok_or(ConvertError::NotImage)?;
    let bytes = match format {
        ImageFormat::Gif => grey_gif(bytes, limits)?,
        ImageFormat::Jpeg => match grey_jpeg_fast(bytes, limits)? {
            Some(out) => out,
            None => encode(&grey(decode(bytes, format, limits)?), format, limits)?,
        },
        _ => {
            let image = decode(bytes, format, limits)?;
            encode(&grey(image), format, limits)?
        }
    };
    Ok(Converted { bytes, format })
}

fn check_pixels(width: u64, height: u64, limits: &Limits) -> Result<(), ConvertError> {
    let pixels = width * height;
    if pixels > limits.max_pixels {
        return Err(ConvertError::TooManyPixels {
            width,
            height,
            pixels,
            limit: limits.max_pixels,
        });
    }
    Ok(())
}

/// Decodes after reading only the header: the dimensions are checked first, and the
/// decoder's allocation limit is set from them, so a small file claiming an enormous
/// size is refused without allocating.
fn decode(
    bytes: &[u8],
    format: ImageFormat,
    limits: &Limits,
) -> Result<DynamicImage, ConvertError> {
    let image_format = match format {
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        ImageFormat::Png => image::ImageFormat::Png,
        ImageFormat::Webp => image::ImageFormat::WebP,
        ImageFormat::Gif => image::ImageFormat::Gif,
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format);
    let mut decoder_limits = image::Limits::default();
    // 8 bytes per pixel covers RGBA16; the decoder refuses anything needing more.
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(1 << 20));
    reader.limits(decoder_limits);
    let decoder = reader.into_decoder().map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    check_pixels(width.into(), height.into(), limits)?;
    DynamicImage::from_decoder(decoder).map_err(decode_error)
}

/// JPEG in YCbCr or grey: decode only the luma channel (no chroma upsampling, no colour
/// conversion) and encode it. `None` for CMYK/YCCK and other rarities, which take the
/// general path.
fn grey_jpeg_fast(bytes: &[u8], limits: &Limits) -> Result<Option<Vec<u8>>, ConvertError> {
    use zune_core::colorspace::ColorSpace;
    let options = zune_core::options::DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::Luma)
        .set_max_width(usize::MAX)
        .set_max_height(usize::MAX);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(
        zune_core::bytestream::ZCursor::new(bytes),
        options,
    );
    decoder
        .decode_headers()
        .map_err(|e| ConvertError::Corrupt(format!("{e:?}")))?;
    let (width, height) = decoder
        .dimensions()
        .ok_or_else(|| ConvertError::Corrupt("no JPEG frame header".into()))?;
    check_pixels(width as u64, height as u64, limits)?;
    if !matches!(
        decoder.input_colorspace(),
        Some(ColorSpace::YCbCr | ColorSpace::Luma)
    ) {
        return Ok(None);
    }
    let luma = decoder
        .decode()
        .map_err(|e| ConvertError::Corrupt(format!("{e:?}")))?;
    if luma.len() != width * height {
        return Err(ConvertError::Corrupt(
            "JPEG decoded to an unexpected size".into(),
        ));
    }
    encode_jpeg_luma(&luma, width, height, limits.jpeg_quality).map(Some)
}

/// Encodes 8-bit luma as a one-component baseline JPEG.
fn encode_jpeg_luma(
    luma: &[u8],
    width: usize,
    height: usize,
    quality: u8,
) -> Result<Vec<u8>, ConvertError> {
    let (w, h) = match (u16::try_from(width), u16::try_from(height)) {
        (Ok(w), Ok(h)) => (w, h),
        _ => {
            return Err(ConvertError::Encode(format!(
                "{width}x{height} is beyond JPEG's 65535 limit"
            )));
        }
    };
    let mut out = Vec::with_capacity(luma.len() / 4);
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(luma, w, h, jpeg_encoder::ColorType::Luma)
        .map_err(|e| ConvertError::Encode(e.to_string()))?;
    Ok(out)
}

fn decode_error(err: image::ImageError) -> ConvertError {
    match err {
        image::ImageError::Limits(e) => {
            ConvertError::Corrupt(format!("over the decoding limits: {e}"))
        }
        image::ImageError::Unsupported(e) => ConvertError::Unsupported(e.to_string()),
        other => ConvertError::Corrupt(other.to_string()),
    }
}

/// The greyscale image, keeping alpha and 16-bit depth where the input has them.
fn grey(image: DynamicImage) -> DynamicImage {
    let color = image.color();
    match (
        color.has_alpha(),
        color.bytes_per_pixel() / color.channel_count() > 1,
    ) {
        (false, false) if color == image::ColorType::L8 => image,
        (true, false) if color == image::ColorType::La8 => image,
        (false, false) => DynamicImage::ImageLuma8(image.to_luma8()),
        (true, false) => DynamicImage::ImageLumaA8(image.to_luma_alpha8()),
        (false, true) => DynamicImage::ImageLuma16(image.to_luma16()),
        (true, true) => DynamicImage::ImageLumaA16(image.to_luma_alpha16()),
    }
}

fn encode(
    image: &DynamicImage,
    format: ImageFormat,
    limits: &Limits,
) -> Result<Vec<u8>, ConvertError> {
    let mut out = Vec::new();
    let (w, h, color) = (image.width(), image.height(), image.color().into());
    let pixels = image.as_bytes();
    let result = match format {
        ImageFormat::Jpeg => {
            let luma = image.to_luma8(); // JPEG has no alpha and no 16-bit baseline
            return encode_jpeg_luma(luma.as_raw(), w as usize, h as usize, limits.jpeg_quality);
        }
        ImageFormat::Png => image::codecs::png::PngEncoder::new_with_quality(
            &mut out,
            image::codecs::png::CompressionType::Fast,
            image::codecs::png::FilterType::Adaptive,
        )
        .write_image(pixels, w, h, color),
        ImageFormat::Webp => {
            let eight_bit = match image {
                DynamicImage::ImageLuma16(_) => DynamicImage::ImageLuma8(image.to_luma8()),
                DynamicImage::ImageLumaA16(_) => DynamicImage::ImageLumaA8(image.to_luma_alpha8()),
                other => other.clone(),
            };
            image::codecs::webp::WebPEncoder::new_lossless(&mut out).write_image(
                eight_bit.as_bytes(),
                w,
                h,
                eight_bit.color().into(),
            )
        }
        ImageFormat::Gif => unreachable!("GIFs are converted palette by palette"),
    };
    result.map_err(|e| ConvertError::Encode(e.to_string()))?;
    Ok(out)
}

/// Greys a GIF by greying its palettes: frame data (palette indices) is copied as is.
fn grey_gif(bytes: &[u8], limits: &Limits) -> Result<Vec<u8>, ConvertError> {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    options.set_memory_limit(gif::MemoryLimit::Bytes(
        std::num::NonZeroU64::new(limits.max_pixels.max(1)).unwrap_or(std::num::NonZeroU64::MIN),
    ));
    let gif_error = |e: gif::DecodingError| match e {
        gif::DecodingError::Io(e) => ConvertError::Corrupt(e.to_string()),
        other => ConvertError::Corrupt(other.to_string()),
    };
    let mut decoder = options.read_info(Cursor::new(bytes)).map_err(gif_error)?;
    let (width, height) = (decoder.width(), decoder.height());
    check_pixels(width.into(), height.into(), limits)?;
    let global = decoder
        .global_palette()
        .map(grey_palette)
        .unwrap_or_default();
    let mut out = Vec::new();
    {
        let encode_error = |e: gif::EncodingError| ConvertError::Encode(e.to_string());
        let mut encoder =
            gif::Encoder::new(&mut out, width, height, &global).map_err(encode_error)?;
        encoder.set_repeat(decoder.repeat()).map_err(encode_error)?;
        let mut frames = 0u32;
        while let Some(frame) = decoder.read_next_frame().map_err(gif_error)? {
            frames += 1;
            if frames > limits.max_frames {
                return Err(ConvertError::TooManyFrames(limits.max_frames));
            }
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
                *palette = grey_palette(palette);
            }
            encoder.write_frame(&frame).map_err(encode_error)?;
        }
        if frames == 0 {
            return Err(ConvertError::Corrupt("GIF has no frames".into()));
        }
    }
    Ok(out)
}

/// RGB triples → grey triples with Rec. 709 luma, the weights `image` uses.
fn grey_palette(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .flat_map(|c| {
            let y =
                ((2126 * u32::from(c[0]) + 7152 * u32::from(c[1]) + 722 * u32::from(c[2]) + 5000)
                    / 10000) as u8;
            [y, y, y]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GenericImageView, ImageBuffer, Rgba};

    fn png_of(image: &DynamicImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn gradient_rgba8(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgba8(ImageBuffer::from_fn(w, h, |x, y| {
            Rgba([(x * 7) as u8, (y * 5) as u8, 200, (x * 255 / w) as u8])
        }))
    }

    fn decoded(converted: &Converted) -> DynamicImage {
        image::load_from_memory(&converted.bytes).unwrap()
    }

    #[test]
    fn rgba_png_becomes_grey_with_alpha_kept() {
        let source = gradient_rgba8(40, 30);
        let out = greyscale(&png_of(&source), &Limits::default()).unwrap();
        assert_eq!(out.format, ImageFormat::Png);
        let result = decoded(&out);
        assert_eq!(result.color(), image::ColorType::La8);
        assert_eq!(result.dimensions(), (40, 30));
        for (x, y, px) in result.pixels().take(200) {
            assert_eq!(px[3], source.get_pixel(x, y)[3], "alpha kept at {x},{y}");
        }
    }

    #[test]
    fn sixteen_bit_png_stays_sixteen_bit() {
        let source = DynamicImage::ImageRgb16(ImageBuffer::from_fn(16, 8, |x, y| {
            image::Rgb([x as u16 * 4000, y as u16 * 8000, 1234])
        }));
        let result = decoded(&greyscale(&png_of(&source), &Limits::default()).unwrap());
        assert_eq!(result.color(), image::ColorType::L16);
        let grey_alpha16 = DynamicImage::ImageLumaA16(ImageBuffer::from_fn(4, 4, |x, _| {
            image::LumaA([x as u16 * 9000, 40000])
        }));
        assert_eq!(
            decoded(&greyscale(&png_of(&grey_alpha16), &Limits::default()).unwrap()).color(),
            image::ColorType::La16
        );
    }

    #[test]
    fn grey_alpha_png_is_kept_as_is() {
        let source = DynamicImage::ImageLumaA8(ImageBuffer::from_fn(8, 8, |x, y| {
            image::LumaA([(x * 30) as u8, (y * 30) as u8])
        }));
        let result = decoded(&greyscale(&png_of(&source), &Limits::default()).unwrap());
        assert_eq!(result.to_luma_alpha8(), source.to_luma_alpha8());
    }

    #[test]
    fn cmyk_jpeg_becomes_a_one_channel_jpeg() {
        let (w, h) = (32u16, 24u16);
        let cmyk: Vec<u8> = (0..u32::from(w) * u32::from(h))
            .flat_map(|i| [(i % 255) as u8, 40, 90, 10])
            .collect();
        let mut jpeg = Vec::new();
        jpeg_encoder::Encoder::new(&mut jpeg, 90)
            .encode(&cmyk, w, h, jpeg_encoder::ColorType::Cmyk)
            .unwrap();
        let out = greyscale(&jpeg, &Limits::default()).unwrap();
        assert_eq!(out.format, ImageFormat::Jpeg);
        let result = decoded(&out);
        assert_eq!(result.color(), image::ColorType::L8);
        assert_eq!(result.dimensions(), (32, 24));
    }

    #[test]
    fn animated_gif_keeps_every_frame_and_turns_grey() {
        let mut gif_bytes = Vec::new();
        {
            let palette = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30];
            let mut encoder = gif::Encoder::new(&mut gif_bytes, 6, 4, &palette).unwrap();
            encoder.set_repeat(gif::Repeat::Infinite).unwrap();
            for i in 0..3u8 {
                let frame = gif::Frame {
                    width: 6,
                    height: 4,
                    delay: 7,
                    buffer: vec![i; 24].into(),
                    ..gif::Frame::default()
                };
                encoder.write_frame(&frame).unwrap();
            }
        }
        let out = greyscale(&gif_bytes, &Limits::default()).unwrap();
        let mut decoder = gif::DecodeOptions::new()
            .read_info(Cursor::new(&out.bytes))
            .unwrap();
        assert_eq!(decoder.repeat(), gif::Repeat::Infinite);
        let mut frames = 0;
        while let Some(frame) = decoder.read_next_frame().unwrap() {
            frames += 1;
            assert_eq!(frame.delay, 7);
            assert!(
                frame
                    .buffer
                    .chunks(4)
                    .all(|px| px[0] == px[1] && px[1] == px[2]),
                "grey RGBA"
            );
        }
        assert_eq!(frames, 3);
        let too_many = Limits {
            max_frames: 2,
            ..Limits::default()
        };
        assert!(matches!(
            greyscale(&gif_bytes, &too_many),
            Err(ConvertError::TooManyFrames(2))
        ));
    }

    /// Found by the `convert` fuzz target: a frame outside the logical screen used to be
    /// copied into an output no decoder accepts.
    #[test]
    fn a_gif_frame_outside_the_image_is_corrupt() {
        let bytes = include_bytes!("../testdata/gif-frame-outside-screen.gif");
        assert!(matches!(
            greyscale(bytes, &Limits::default()),
            Err(ConvertError::Corrupt(_))
        ));
    }

    #[test]
    fn webp_stays_webp() {
        let source = gradient_rgba8(20, 10);
        let mut webp = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
            .write_image(source.as_bytes(), 20, 10, image::ExtendedColorType::Rgba8)
            .unwrap();
        let out = greyscale(&webp, &Limits::default()).unwrap();
        assert_eq!(out.format, ImageFormat::Webp);
        let result = decoded(&out);
        assert_eq!(result.dimensions(), (20, 10));
        assert!(
            result
                .to_rgba8()
                .pixels()
                .all(|p| p[0] == p[1] && p[1] == p[2])
        );
    }

    #[test]
    fn a_tiny_png_claiming_a_huge_size_is_refused_before_allocating() {
        // A valid PNG signature and IHDR for 100000 x 100000 RGBA, then a few bytes.
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
        png.extend_from_slice(&13u32.to_be_bytes());
        png.extend_from_slice(&ihdr);
        png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        png.extend_from_slice(&[0, 0, 0, 0, b'I', b'D', b'A', b'T', 0x35, 0xaf, 0x06, 0x1e]);
        match greyscale(&png, &Limits::default()) {
            Err(ConvertError::TooManyPixels { pixels, .. }) => assert_eq!(pixels, 10_000_000_000),
            other => panic!("expected TooManyPixels, got {other:?}"),
        }
    }

    #[test]
    fn truncated_and_foreign_bytes_are_refused() {
        let png = png_of(&gradient_rgba8(64, 64));
        assert!(matches!(
            greyscale(&png[..png.len() / 2], &Limits::default()),
            Err(ConvertError::Corrupt(_))
        ));
        assert!(matches!(
            greyscale(b"%PDF-1.7 not an image", &Limits::default()),
            Err(ConvertError::NotImage)
        ));
        assert!(matches!(
            greyscale(b"\xFF\xD8\xFF\xE0garbage", &Limits::default()),
            Err(ConvertError::Corrupt(_))
        ));
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
