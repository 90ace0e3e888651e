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

mod cancel;
mod colour;
pub mod convert;
mod dct;
mod exif;
mod icc;

pub use cancel::Cancel;
pub use convert::{
    ConvertError, Converted, Limits, LumaMode, Options, greyscale, greyscale_cancellable,
};
pub use greyfaas_image_format::ImageFormat;
