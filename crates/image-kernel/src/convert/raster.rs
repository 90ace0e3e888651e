//! Images converted through their pixels: PNG and WebP, and JPEGs that cannot take
//! the lossless path. Decoded under the limits with their metadata read, greyed through
//! their ICC profile, and encoded with the metadata that travels.

use super::{ConvertError, Limits, Options, check_pixels, png_out};
use crate::cancel::Cancel;
use crate::colour::to_grey;
use crate::exif::{clean_exif, clean_xmp};
use crate::icc::{self, Profile, RgbProfile};
use greyfaas_image_format::ImageFormat;
use image::{DynamicImage, ImageDecoder, ImageReader};
use std::io::Cursor;

/// Decoded pixels and the metadata read beside them.
pub struct Decoded {
    pub image: DynamicImage,
    pub icc: Option<Vec<u8>>,
    pub exif: Option<Vec<u8>>,
    pub xmp: Option<Vec<u8>>,
}

/// What an ICC profile does in the conversion: the RGB profile pixels are converted
/// from, or the (grey) profile that travels with them.
pub fn apply_profile(icc: Option<Vec<u8>>) -> (Option<Box<RgbProfile>>, Option<Vec<u8>>) {
    match icc.as_deref().map(icc::parse) {
        Some(Profile::Rgb(p)) => (Some(p), None),
        Some(Profile::Grey) => (None, icc),
        _ => (None, None),
    }
}

/// The decoder of `bytes` with its header read and its dimensions checked against the
/// pixel limit; the decoder's allocation limit is set from that limit, so a small file
/// claiming an enormous size is refused without allocating. What [`decode`] decodes
/// with, and what the memory estimate (`memory`) reads the header through.
pub fn open<'a>(
    bytes: &'a [u8],
    format: ImageFormat,
    limits: &Limits,
) -> Result<impl ImageDecoder + use<'a>, ConvertError> {
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
    Ok(decoder)
}

/// Decodes after reading only the header (see [`open`]).
pub fn decode(bytes: &[u8], format: ImageFormat, limits: &Limits) -> Result<Decoded, ConvertError> {
    let mut decoder = open(bytes, format, limits)?;
    // Metadata a decoder cannot read is metadata we do not carry; the pixels still count.
    let icc = decoder.icc_profile().ok().flatten();
    let exif = decoder.exif_metadata().ok().flatten();
    let xmp = decoder.xmp_metadata().ok().flatten();
    let image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    Ok(Decoded {
        image,
        icc,
        exif,
        xmp,
    })
}

pub fn decode_error(err: image::ImageError) -> ConvertError {
    match err {
        image::ImageError::Limits(e) => {
            ConvertError::Corrupt(format!("over the decoding limits: {e}"))
        }
        image::ImageError::Unsupported(e) => ConvertError::Unsupported(e.to_string()),
        other => ConvertError::Corrupt(other.to_string()),
    }
}

/// PNG or WebP through its pixels.
pub fn grey_raster(
    bytes: &[u8],
    format: ImageFormat,
    options: &Options,
    cancel: &Cancel,
) -> Result<Vec<u8>, ConvertError> {
    let decoded = decode(bytes, format, &options.limits)?;
    cancel.check()?;
    let (profile, icc) = apply_profile(decoded.icc);
    let grey = to_grey(decoded.image, profile.as_deref(), options.luma);
    cancel.check()?;
    let exif = decoded
        .exif
        .as_deref()
        .and_then(|e| clean_exif(e, options.keep_gps));
    let xmp = decoded
        .xmp
        .as_deref()
        .and_then(|x| clean_xmp(x, options.keep_gps));
    let metadata = Metadata { icc, exif, xmp };
    match format {
        ImageFormat::Png => encode_png(&grey, metadata),
        _ => encode_webp(&grey, metadata),
    }
}

/// What travels from the input into the result: the colour profile (for a grey image,
/// a grey one) and the cleaned EXIF and XMP.
struct Metadata<'a> {
    icc: Option<Vec<u8>>,
    exif: Option<Vec<u8>>,
    xmp: Option<&'a [u8]>,
}

fn encode_error(e: impl std::fmt::Display) -> ConvertError {
    ConvertError::Encode(e.to_string())
}

/// PNG in the smallest exact layout (`png_out`), rows filtered adaptively (the
/// per-row heuristic libpng and ImageMagick use), deflated twice at once, on two
/// threads: with fdeflate (png's `Fast`) and with zlib level 6 (`Balanced`), keeping
/// the smaller. Neither wins everywhere: on the corpus, level 6 makes the grey+alpha
/// PNGs 37 % and 9 % smaller, fdeflate the astronaut 5 % smaller (issue 20's note).
fn encode_png(image: &DynamicImage, metadata: Metadata) -> Result<Vec<u8>, ConvertError> {
    let Metadata { icc, exif, xmp } = metadata;
    let layout = png_out::smallest(image);
    let (width, height) = (image.width(), image.height());
    let write = |compression| {
        write_png(
            &layout,
            width,
            height,
            icc.as_deref(),
            exif.as_deref(),
            compression,
        )
    };
    let (fast, balanced) = std::thread::scope(|scope| {
        let fast = scope.spawn(|| write(png::Compression::Fast));
        let balanced = write(png::Compression::Balanced);
        (fast.join(), balanced)
    });
    let fast = fast.map_err(|_| ConvertError::Encode("the PNG encoder panicked".into()))?;
    let mut out = match (fast?, balanced?) {
        (fast, balanced) if fast.len() <= balanced.len() => fast,
        (_, balanced) => balanced,
    };
    if let Some(xmp) = xmp {
        insert_png_xmp(&mut out, xmp);
    }
    Ok(out)
}

fn write_png(
    layout: &png_out::Layout,
    width: u32,
    height: u32,
    icc: Option<&[u8]>,
    exif: Option<&[u8]>,
    compression: png::Compression,
) -> Result<Vec<u8>, ConvertError> {
    let mut info = png::Info::with_size(width, height);
    info.color_type = layout.color;
    info.bit_depth = layout.depth;
    info.palette = layout.palette.as_deref().map(Into::into);
    info.trns = layout.trns.as_deref().map(Into::into);
    info.icc_profile = icc.map(Into::into);
    info.exif_metadata = exif.map(Into::into);
    let mut out = Vec::new();
    let mut encoder = png::Encoder::with_info(&mut out, info).map_err(encode_error)?;
    encoder.set_compression(compression);
    encoder.set_filter(png::Filter::Adaptive);
    let mut writer = encoder.write_header().map_err(encode_error)?;
    writer
        .write_image_data(&layout.rows)
        .map_err(encode_error)?;
    writer.finish().map_err(encode_error)?;
    Ok(out)
}

/// Adds XMP as the iTXt chunk `XML:com.adobe.xmp`, just before IEND.
fn insert_png_xmp(png: &mut Vec<u8>, xmp: &[u8]) {
    let mut chunk = b"iTXt".to_vec();
    chunk.extend_from_slice(b"XML:com.adobe.xmp\0\0\0\0\0");
    chunk.extend_from_slice(xmp);
    let mut bytes = ((chunk.len() - 4) as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&chunk);
    bytes.extend_from_slice(&crc32fast::hash(&chunk).to_be_bytes());
    let iend = png.len() - 12;
    png.splice(iend..iend, bytes);
}

fn encode_webp(image: &DynamicImage, metadata: Metadata) -> Result<Vec<u8>, ConvertError> {
    let Metadata { icc, exif, xmp } = metadata;
    let eight_bit = match image {
        DynamicImage::ImageLuma16(_) => DynamicImage::ImageLuma8(image.to_luma8()),
        DynamicImage::ImageLumaA16(_) => DynamicImage::ImageLumaA8(image.to_luma_alpha8()),
        other => other.clone(),
    };
    let color = match eight_bit {
        DynamicImage::ImageLumaA8(_) => image_webp::ColorType::La8,
        _ => image_webp::ColorType::L8,
    };
    let mut out = Vec::new();
    let mut encoder = image_webp::WebPEncoder::new(&mut out);
    if let Some(icc) = icc {
        encoder.set_icc_profile(icc);
    }
    if let Some(exif) = exif {
        encoder.set_exif_metadata(exif);
    }
    if let Some(xmp) = xmp {
        encoder.set_xmp_metadata(xmp.to_vec());
    }
    encoder
        .encode(
            eight_bit.as_bytes(),
            eight_bit.width(),
            eight_bit.height(),
            color,
        )
        .map_err(encode_error)?;
    Ok(out)
}
