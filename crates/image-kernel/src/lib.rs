//! greyfaas's image kernel: the bytes of a JPEG, PNG, GIF or WebP in, the greyscale
//! image in the same format out. No HTTP and no store: `functions/greyscale` is the
//! handler on top of it, and the benchmarks, fuzz targets and fidelity tests call it
//! directly.
//!
//! - [`convert`]: the entry point, [`greyscale`], with its [`Options`] and [`Limits`],
//!   and what each format becomes.
//! - `dct`: lossless JPEG greyscale in the DCT domain (the luma's coefficients kept).
//! - `colour`: the greyscale formula; `icc`: RGB profiles applied to the pixels.
//! - `exif`: EXIF and XMP carried to the output, GPS dropped unless asked.
//! - [`Cancel`]: stops a conversion whose request has ended.
//! - [`jpeg_coefficients`]: the lossless path's JPEG reader and writer on their own,
//!   for the fuzz target that drives them directly.

mod cancel;
mod colour;
pub mod convert;
mod dct;
mod exif;
mod icc;

pub use cancel::Cancel;
pub use convert::{
    ConvertError, Converted, Limits, LumaMode, Options, greyscale, greyscale_cancellable,
    peak_bytes,
};
pub use greyfaas_image_format::ImageFormat;

/// The lossless JPEG path's two halves: [`read`](jpeg_coefficients::read) a JPEG to its
/// quantised coefficients under the limits, [`write_grey`](jpeg_coefficients::write_grey)
/// the luma back as a one-component JPEG. [`greyscale`] is the way to convert; this is
/// for tests and fuzzing of the coefficient reader alone.
pub mod jpeg_coefficients {
    pub use crate::dct::{Colour, Jpeg, JpegError, Limits, Luma, Segment, read, write_grey};
}
