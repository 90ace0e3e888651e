//! The greyscale kernel: decode, convert, encode — in the input's own format, with
//! limits checked before any pixel buffer is allocated, and the input's orientation
//! and metadata carried across.
//!
//! - JPEG → one-component JPEG. YCbCr and grey JPEGs are converted losslessly in the
//!   DCT domain (module `dct`): the output decodes to exactly the input's luma.
//!   CMYK/YCCK/RGB JPEGs, `luma=linear` and `jpeg_mode=reencode` decode and re-encode
//!   at `jpeg_quality`. A truncated JPEG is refused unless `accept_partial_images`.
//! - PNG → grey, at the smallest exact layout (module `png_out`): 16-bit depth and
//!   alpha are kept where they carry anything; few greys go to 1, 2 or 4 bits or a
//!   palette; grey+alpha with few pairs to a palette with tRNS.
//! - GIF → GIF with every palette mapped to grey and its equal greys merged: all
//!   frames, delays, loops and transparency stay exactly as they were, and no pixel is
//!   re-quantised.
//! - WebP → lossless WebP (L8, or LA8 with alpha); the pure-Rust encoder has no lossy mode.
//!
//! EXIF (orientation included) and XMP travel to the output, without GPS position
//! unless `keep_gps` (module `exif`); an RGB ICC profile is applied to the pixels
//! rather than copied (modules `icc`, `colour`).

mod gif;
mod jpeg;
mod memory;
mod png_out;
mod raster;

pub use memory::peak_bytes;

use crate::cancel::{Cancel, Cancelled};
pub use crate::colour::LumaMode;
use greyfaas_image_format::ImageFormat;

/// The limits every decode runs under.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `max_pixels`: width × height (per frame) above which an image is refused (413).
    pub max_pixels: u64,
    /// `max_frames`: GIF frames above which an animation is refused (413).
    pub max_frames: u32,
    /// `max_animation_pixels`: the pixels of all of a GIF's frames together above which
    /// it is refused (413), before the frame that crosses it is decoded.
    pub max_animation_pixels: u64,
    /// `max_scans`: JPEG scans above which a file is refused (413), before any is
    /// decoded: a progressive file of many near-empty scans costs a walk over the
    /// image per scan.
    pub max_scans: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pixels: 50_000_000,
            max_frames: 1000,
            // Five times an image at `max_pixels`: a few seconds of LZW on one core.
            max_animation_pixels: 250_000_000,
            // libjpeg-turbo's tools take `-maxscans`; its own fuzzers use 500. An encoder's
            // progressive script has 10 or so.
            max_scans: 1000,
        }
    }
}

/// How images are converted: the limits, and the settings that choose between
/// fidelity paths.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub limits: Limits,
    /// `jpeg_quality`: the quality of re-encoded JPEGs (90).
    pub jpeg_quality: u8,
    /// `jpeg_mode=lossless` (default) keeps a YCbCr/grey JPEG's luma coefficients;
    /// `reencode` decodes and encodes at `jpeg_quality`.
    pub jpeg_lossless: bool,
    /// `keep_gps`: keep the GPS position in EXIF and XMP (false: strip it).
    pub keep_gps: bool,
    /// `luma`: the greyscale formula.
    pub luma: LumaMode,
    /// `accept_partial_images`: convert a truncated JPEG as far as it goes instead of
    /// refusing it (422).
    pub accept_partial: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limits: Limits::default(),
            jpeg_quality: 90,
            jpeg_lossless: true,
            keep_gps: false,
            luma: LumaMode::Gamma,
            accept_partial: false,
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
    #[error("animation's first {frames} frames hold more than {limit} pixels in all")]
    TooManyAnimationPixels { frames: u32, limit: u64 },
    #[error("JPEG has more than {0} scans")]
    TooManyScans(u32),
    /// Over a limit on the work an image's structure asks for (not its size).
    #[error("image asks for too much work: {0}")]
    TooMuchWork(String),
    #[error("image is corrupt or truncated: {0}")]
    Corrupt(String),
    #[error("image uses a feature we cannot decode: {0}")]
    Unsupported(String),
    #[error("cannot encode the result: {0}")]
    Encode(String),
    /// Stopped through its [`Cancel`]: nobody waits for the result any more.
    #[error("the conversion was stopped: its request ended")]
    Cancelled,
}

impl From<Cancelled> for ConvertError {
    fn from(_: Cancelled) -> Self {
        ConvertError::Cancelled
    }
}

/// Converts `bytes` to greyscale in their own format.
pub fn greyscale(bytes: &[u8], options: &Options) -> Result<Converted, ConvertError> {
    greyscale_cancellable(bytes, options, &Cancel::new())
}

/// [`greyscale`], stopped with [`ConvertError::Cancelled`] soon after `cancel` is
/// cancelled (see [`Cancel`] for how soon).
pub fn greyscale_cancellable(
    bytes: &[u8],
    options: &Options,
    cancel: &Cancel,
) -> Result<Converted, ConvertError> {
    let format = ImageFormat::sniff(bytes).ok_or(ConvertError::NotImage)?;
    let bytes = match format {
        ImageFormat::Gif => gif::grey_gif(bytes, options, cancel)?,
        ImageFormat::Jpeg => jpeg::grey_jpeg(bytes, options, cancel)?,
        ImageFormat::Png | ImageFormat::Webp => {
            raster::grey_raster(bytes, format, options, cancel)?
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

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, GenericImageView, ImageBuffer, ImageEncoder, Rgba};
    use std::io::Cursor;

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
        let out = greyscale(&png_of(&source), &Options::default()).unwrap();
        assert_eq!(out.format, ImageFormat::Png);
        let result = decoded(&out);
        assert!(result.color().has_alpha());
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
        let result = decoded(&greyscale(&png_of(&source), &Options::default()).unwrap());
        assert_eq!(result.color(), image::ColorType::L16);
        let grey_alpha16 = DynamicImage::ImageLumaA16(ImageBuffer::from_fn(4, 4, |x, _| {
            image::LumaA([x as u16 * 9000, 40000])
        }));
        assert_eq!(
            decoded(&greyscale(&png_of(&grey_alpha16), &Options::default()).unwrap()).color(),
            image::ColorType::La16
        );
    }

    #[test]
    fn grey_alpha_png_is_kept_as_is() {
        let source = DynamicImage::ImageLumaA8(ImageBuffer::from_fn(8, 8, |x, y| {
            image::LumaA([(x * 30) as u8, (y * 30) as u8])
        }));
        let result = decoded(&greyscale(&png_of(&source), &Options::default()).unwrap());
        assert_eq!(grey_alpha_of(&result), source.to_luma_alpha8().into_raw());
    }

    /// The grey and alpha of a decoded grey image, whatever layout it was stored in
    /// (a palette of greys decodes as RGB(A) with R = G = B).
    fn grey_alpha_of(image: &DynamicImage) -> Vec<u8> {
        image
            .to_rgba8()
            .pixels()
            .flat_map(|p| {
                assert!(p[0] == p[1] && p[1] == p[2], "not grey: {p:?}");
                [p[0], p[3]]
            })
            .collect()
    }

    /// The colour type and depth in a PNG's header.
    fn png_layout(png: &[u8]) -> (png::ColorType, png::BitDepth) {
        let reader = png::Decoder::new(Cursor::new(png)).read_info().unwrap();
        (reader.info().color_type, reader.info().bit_depth)
    }

    /// A PNG of `color` at `depth` bits, written by the png crate itself, with an
    /// optional palette and tRNS: inputs of every colour type and depth PNG allows.
    fn png_raw(
        color: png::ColorType,
        depth: png::BitDepth,
        width: u32,
        rows: &[u8],
        palette: Option<Vec<u8>>,
        trns: Option<Vec<u8>>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let row_len = rows.len() / 5;
        assert_eq!(rows.len(), row_len * 5);
        let mut encoder = png::Encoder::new(&mut out, width, 5);
        encoder.set_color(color);
        encoder.set_depth(depth);
        if let Some(palette) = palette {
            encoder.set_palette(palette);
        }
        if let Some(trns) = trns {
            encoder.set_trns(trns);
        }
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(rows).unwrap();
        writer.finish().unwrap();
        out
    }

    /// Issue 20: a PNG of any colour type and depth whose pixels are already grey comes
    /// out decoding to exactly the same samples, alpha included (compared at 16 bits a
    /// channel, as image expands them), whatever layout the output takes.
    #[test]
    fn grey_pngs_of_every_colour_type_and_depth_come_out_exact() {
        use png::{BitDepth as D, ColorType as C};
        let w = 16u32;
        let bytes = |f: &dyn Fn(usize) -> Vec<u8>, per_row: usize| -> Vec<u8> {
            (0..5)
                .flat_map(|y| (0..per_row).flat_map(move |x| f(y * per_row + x)))
                .collect()
        };
        let greys = [0u8, 17, 34, 100, 200, 255, 7, 128];
        let palette: Vec<u8> = greys.iter().flat_map(|&g| [g, g, g]).collect();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "grey 1-bit",
                png_raw(
                    C::Grayscale,
                    D::One,
                    w,
                    &bytes(&|i| vec![(i * 37) as u8], 2),
                    None,
                    None,
                ),
            ),
            (
                "grey 2-bit",
                png_raw(
                    C::Grayscale,
                    D::Two,
                    w,
                    &bytes(&|i| vec![(i * 53) as u8], 4),
                    None,
                    None,
                ),
            ),
            (
                "grey 4-bit",
                png_raw(
                    C::Grayscale,
                    D::Four,
                    w,
                    &bytes(&|i| vec![(i * 71) as u8], 8),
                    None,
                    None,
                ),
            ),
            (
                "grey 8-bit",
                png_raw(
                    C::Grayscale,
                    D::Eight,
                    w,
                    &bytes(&|i| vec![(i * 3) as u8], 16),
                    None,
                    None,
                ),
            ),
            (
                "grey 8-bit with tRNS",
                png_raw(
                    C::Grayscale,
                    D::Eight,
                    w,
                    &bytes(&|i| vec![(i % 7) as u8 * 40], 16),
                    None,
                    Some(vec![0, 80]),
                ),
            ),
            (
                "grey 16-bit",
                png_raw(
                    C::Grayscale,
                    D::Sixteen,
                    w,
                    &bytes(&|i| ((i * 997) as u16).to_be_bytes().to_vec(), 16),
                    None,
                    None,
                ),
            ),
            (
                "grey+alpha 8-bit",
                png_raw(
                    C::GrayscaleAlpha,
                    D::Eight,
                    w,
                    &bytes(&|i| vec![(i * 3) as u8, (i * 11) as u8], 16),
                    None,
                    None,
                ),
            ),
            (
                "grey+alpha 16-bit",
                png_raw(
                    C::GrayscaleAlpha,
                    D::Sixteen,
                    w,
                    &bytes(
                        &|i| {
                            [
                                ((i * 997) as u16).to_be_bytes(),
                                ((i * 401) as u16).to_be_bytes(),
                            ]
                            .concat()
                        },
                        16,
                    ),
                    None,
                    None,
                ),
            ),
            (
                "RGB 8-bit, grey",
                png_raw(
                    C::Rgb,
                    D::Eight,
                    w,
                    &bytes(&|i| vec![(i * 3) as u8; 3], 16),
                    None,
                    None,
                ),
            ),
            (
                "RGB 16-bit, grey",
                png_raw(
                    C::Rgb,
                    D::Sixteen,
                    w,
                    &bytes(&|i| ((i * 997) as u16).to_be_bytes().repeat(3), 16),
                    None,
                    None,
                ),
            ),
            (
                "RGBA 8-bit, grey",
                png_raw(
                    C::Rgba,
                    D::Eight,
                    w,
                    &bytes(
                        &|i| {
                            let g = (i * 3) as u8;
                            vec![g, g, g, (i * 7) as u8]
                        },
                        16,
                    ),
                    None,
                    None,
                ),
            ),
            (
                "RGBA 16-bit, grey",
                png_raw(
                    C::Rgba,
                    D::Sixteen,
                    w,
                    &bytes(
                        &|i| {
                            [
                                ((i * 997) as u16).to_be_bytes().repeat(3),
                                ((i * 401) as u16).to_be_bytes().to_vec(),
                            ]
                            .concat()
                        },
                        16,
                    ),
                    None,
                    None,
                ),
            ),
            (
                "palette 1-bit",
                png_raw(
                    C::Indexed,
                    D::One,
                    w,
                    &bytes(&|i| vec![(i * 37) as u8], 2),
                    Some(palette[..6].to_vec()),
                    None,
                ),
            ),
            (
                "palette 2-bit",
                png_raw(
                    C::Indexed,
                    D::Two,
                    w,
                    &bytes(&|i| vec![(i * 53) as u8], 4),
                    Some(palette[..12].to_vec()),
                    None,
                ),
            ),
            (
                "palette 4-bit + tRNS",
                png_raw(
                    C::Indexed,
                    D::Four,
                    w,
                    &bytes(&|i| vec![((i % 8) * 17) as u8], 8),
                    Some(palette.clone()),
                    Some(vec![0, 128, 255, 3]),
                ),
            ),
            (
                "palette 8-bit + tRNS",
                png_raw(
                    C::Indexed,
                    D::Eight,
                    w,
                    &bytes(&|i| vec![(i % 8) as u8], 16),
                    Some(palette.clone()),
                    Some(vec![255, 0, 90]),
                ),
            ),
        ];
        for (what, input) in cases {
            let before = image::load_from_memory(&input).unwrap().to_rgba16();
            let out = greyscale(&input, &Options::default()).unwrap();
            assert_eq!(out.format, ImageFormat::Png, "{what}");
            let after = image::load_from_memory(&out.bytes).unwrap().to_rgba16();
            assert_eq!(after.dimensions(), before.dimensions(), "{what}");
            assert_eq!(after.as_raw(), before.as_raw(), "{what}");
        }
    }

    /// Issue 20: each grey image is written in the smallest PNG layout that holds it
    /// exactly, and decodes back to the same grey and alpha, transparent pixels too.
    #[test]
    fn png_output_takes_the_smallest_exact_layout() {
        use png::{BitDepth as D, ColorType as C};
        let grey = |f: fn(u32, u32) -> u8| {
            DynamicImage::ImageLuma8(ImageBuffer::from_fn(37, 9, move |x, y| {
                image::Luma([f(x, y)])
            }))
        };
        let grey_alpha = |f: fn(u32, u32) -> [u8; 2]| {
            DynamicImage::ImageLumaA8(ImageBuffer::from_fn(37, 9, move |x, y| {
                image::LumaA(f(x, y))
            }))
        };
        let cases: Vec<(&str, DynamicImage, (C, D))> = vec![
            (
                "black and white",
                grey(|x, y| if (x + y) % 3 == 0 { 255 } else { 0 }),
                (C::Grayscale, D::One),
            ),
            (
                "four levels on the 2-bit scale",
                grey(|x, _| (x % 4) as u8 * 85),
                (C::Grayscale, D::Two),
            ),
            (
                "three levels off the scale",
                grey(|x, _| [3, 100, 201][(x % 3) as usize]),
                (C::Indexed, D::Two),
            ),
            (
                "sixteen levels off the scale",
                grey(|x, y| ((x + y) % 16) as u8 * 13 + 1),
                (C::Indexed, D::Four),
            ),
            (
                "a gradient",
                grey(|x, y| (x * 6 + y) as u8),
                (C::Grayscale, D::Eight),
            ),
            (
                "all opaque",
                grey_alpha(|x, y| [(x * 6 + y) as u8, 255]),
                (C::Grayscale, D::Eight),
            ),
            (
                "few grey-alpha pairs",
                grey_alpha(|x, y| [(x % 5) as u8 * 50, [0, 128, 255][(y % 3) as usize]]),
                (C::Indexed, D::Four),
            ),
            (
                "many grey-alpha pairs",
                grey_alpha(|x, y| [(x * 6) as u8, (y * 25) as u8]),
                (C::GrayscaleAlpha, D::Eight),
            ),
        ];
        for (what, image, layout) in cases {
            let bytes = png_of(&image);
            let out = greyscale(&bytes, &Options::default()).unwrap();
            assert_eq!(png_layout(&out.bytes), layout, "{what}");
            let back = decoded(&out);
            assert_eq!(back.dimensions(), (37, 9), "{what}");
            assert_eq!(grey_alpha_of(&back), grey_alpha_of(&image), "{what}");
        }

        // 16-bit samples that are 8-bit values go to 8 bits; others stay 16-bit, exact.
        let wide = |f: fn(u32) -> [u16; 2]| {
            DynamicImage::ImageLumaA16(ImageBuffer::from_fn(20, 3, move |x, _| image::LumaA(f(x))))
        };
        for (what, image, layout) in [
            (
                "8-bit values",
                wide(|x| [x as u16 * 12 * 257, 65535]),
                (C::Grayscale, D::Eight),
            ),
            (
                "opaque 16-bit",
                wide(|x| [x as u16 * 3001, 65535]),
                (C::Grayscale, D::Sixteen),
            ),
            (
                "16-bit with alpha",
                wide(|x| [x as u16 * 3001, 40000]),
                (C::GrayscaleAlpha, D::Sixteen),
            ),
        ] {
            let out = greyscale(&png_of(&image), &Options::default()).unwrap();
            assert_eq!(png_layout(&out.bytes), layout, "{what}");
            assert_eq!(
                decoded(&out).to_luma_alpha16(),
                image.to_luma_alpha16(),
                "{what}"
            );
        }
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
        let out = greyscale(&jpeg, &Options::default()).unwrap();
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
            let mut encoder = ::gif::Encoder::new(&mut gif_bytes, 6, 4, &palette).unwrap();
            encoder.set_repeat(::gif::Repeat::Infinite).unwrap();
            for i in 0..3u8 {
                let frame = ::gif::Frame {
                    width: 6,
                    height: 4,
                    delay: 7,
                    buffer: vec![i; 24].into(),
                    ..::gif::Frame::default()
                };
                encoder.write_frame(&frame).unwrap();
            }
        }
        let out = greyscale(&gif_bytes, &Options::default()).unwrap();
        let mut decoder = ::gif::DecodeOptions::new()
            .read_info(Cursor::new(&out.bytes))
            .unwrap();
        assert_eq!(decoder.repeat(), ::gif::Repeat::Infinite);
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
        let too_many = Options {
            limits: Limits {
                max_frames: 2,
                ..Limits::default()
            },
            ..Options::default()
        };
        assert!(matches!(
            greyscale(&gif_bytes, &too_many),
            Err(ConvertError::TooManyFrames(2))
        ));
    }

    /// Greys that repeat share one palette entry; a transparent index whose grey an
    /// opaque colour also has keeps its own, so no opaque pixel turns transparent.
    #[test]
    fn gif_colours_of_one_grey_share_an_entry_and_transparency_stays_apart() {
        // Entries 0 and 1 are one grey, as are 2 and 3; 4 is transparent and has
        // entry 0's grey; 5 is its own grey.
        let palette = [
            90, 90, 90, 90, 90, 90, 200, 10, 10, 200, 10, 10, 90, 90, 90, 0, 0, 255,
        ];
        let buffer: Vec<u8> = (0..48).map(|i| (i % 6) as u8).collect();
        let mut gif_bytes = Vec::new();
        {
            let mut encoder = ::gif::Encoder::new(&mut gif_bytes, 8, 6, &palette).unwrap();
            let frame = ::gif::Frame {
                width: 8,
                height: 6,
                transparent: Some(4),
                buffer: buffer.clone().into(),
                ..::gif::Frame::default()
            };
            encoder.write_frame(&frame).unwrap();
        }
        let out = greyscale(&gif_bytes, &Options::default()).unwrap();
        let mut indexed = ::gif::DecodeOptions::new();
        indexed.set_color_output(::gif::ColorOutput::Indexed);
        let mut decoder = indexed.read_info(Cursor::new(&out.bytes)).unwrap();
        let frame = decoder.read_next_frame().unwrap().unwrap().clone();
        let mut used: Vec<u8> = frame.buffer.to_vec();
        used.sort_unstable();
        used.dedup();
        assert_eq!(
            used.len(),
            4,
            "four entries: two shared greys, transparent, blue's grey"
        );
        let transparent = frame.transparent.expect("transparency kept");
        for (old, new) in buffer.iter().zip(frame.buffer.iter()) {
            assert_eq!(*old == 4, *new == transparent, "index {old} became {new}");
        }
        // And as a decoder shows it: the same greys, transparent exactly where it was.
        let rgba = |bytes: &[u8]| {
            let mut options = ::gif::DecodeOptions::new();
            options.set_color_output(::gif::ColorOutput::RGBA);
            let mut decoder = options.read_info(Cursor::new(bytes)).unwrap();
            decoder.read_next_frame().unwrap().unwrap().buffer.to_vec()
        };
        let (before, after) = (rgba(&gif_bytes), rgba(&out.bytes));
        for (b, a) in before.chunks(4).zip(after.chunks(4)) {
            assert_eq!(a[3], b[3], "alpha");
            assert!(a[0] == a[1] && a[1] == a[2], "grey");
        }
    }

    /// Found by the `convert` fuzz target: a frame outside the logical screen used to be
    /// copied into an output no decoder accepts.
    #[test]
    fn a_gif_frame_outside_the_image_is_corrupt() {
        let bytes = include_bytes!("../../testdata/gif-frame-outside-screen.gif");
        assert!(matches!(
            greyscale(bytes, &Options::default()),
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
        let out = greyscale(&webp, &Options::default()).unwrap();
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
        png.extend_from_slice(&crc32fast::hash(&ihdr).to_be_bytes());
        png.extend_from_slice(&[0, 0, 0, 0, b'I', b'D', b'A', b'T', 0x35, 0xaf, 0x06, 0x1e]);
        match greyscale(&png, &Options::default()) {
            Err(ConvertError::TooManyPixels { pixels, .. }) => assert_eq!(pixels, 10_000_000_000),
            other => panic!("expected TooManyPixels, got {other:?}"),
        }
    }

    #[test]
    fn truncated_and_foreign_bytes_are_refused() {
        let png = png_of(&gradient_rgba8(64, 64));
        assert!(matches!(
            greyscale(&png[..png.len() / 2], &Options::default()),
            Err(ConvertError::Corrupt(_))
        ));
        assert!(matches!(
            greyscale(b"%PDF-1.7 not an image", &Options::default()),
            Err(ConvertError::NotImage)
        ));
        assert!(matches!(
            greyscale(b"\xFF\xD8\xFF\xE0garbage", &Options::default()),
            Err(ConvertError::Corrupt(_))
        ));
    }
}
