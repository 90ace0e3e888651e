//! Lossless greyscale for JPEG. The luma of a YCbCr JPEG already is its greyscale
//! image, so the Y component's quantised DCT coefficients and quantisation table are
//! written back as a one-component JPEG and the chroma is dropped — what
//! `jpegtran -grayscale` does. Nothing is re-quantised: the output decodes to exactly
//! the input's luma, and converting the result again gives the same bytes.
//!
//! [`read`] decodes the entropy-coded data of every scan (baseline, extended or
//! progressive, any subsampling, restart markers) and tells a truncated file from a
//! whole one; [`write_grey`] re-codes the coefficients with optimal Huffman tables.

mod huffman;
mod read;
mod write;

pub use read::{Colour, read};
pub use write::write_grey;

use std::borrow::Cow;

/// Why a JPEG could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JpegError {
    #[error("JPEG data ends before its last block (a truncated file)")]
    Truncated,
    #[error("{0}")]
    Corrupt(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("a {width}x{height} JPEG is over the pixel limit")]
    TooManyPixels { width: usize, height: usize },
}

/// An APPn or COM segment: its marker byte (0xE0–0xEF, 0xFE) and payload.
#[derive(Debug, Clone)]
pub struct Segment<'a> {
    pub marker: u8,
    pub payload: Cow<'a, [u8]>,
}
