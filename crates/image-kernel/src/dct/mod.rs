//! Lossless greyscale for JPEG. The luma of a YCbCr JPEG already is its greyscale
//! image, so the Y component's quantised DCT coefficients and quantisation table are
//! written back as a one-component JPEG and the chroma is dropped — what
//! `jpegtran -grayscale` does. Nothing is re-quantised: the output decodes to exactly
//! the input's luma, and converting the result again gives the same bytes.
//!
//! [`read`] parses the markers (`frame`: the SOF) and decodes the entropy-coded data of
//! every scan (`scan`, `block`, `huffman`: baseline, extended or progressive, any
//! subsampling, restart markers), the chroma on a second thread (`background`), and
//! tells a truncated file from a whole one; [`write_grey`] re-codes the coefficients
//! with optimal Huffman tables (`encode`).

mod background;
mod block;
mod encode;
mod frame;
mod huffman;
mod limits;
mod read;
mod scan;
mod write;

pub use limits::{Limits, frame_size};
pub use read::{Colour, Jpeg, Luma, read};
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
    #[error("a {width}x{height} JPEG is over the limit of {limit} pixels")]
    TooManyPixels {
        width: usize,
        height: usize,
        limit: u64,
    },
    #[error("the JPEG has more than {0} scans")]
    TooManyScans(u32),
    #[error("the JPEG's scans visit its blocks more than {limit} times each on average")]
    TooMuchScanWork { limit: u64 },
    #[error("the read was cancelled")]
    Cancelled,
}

impl From<crate::cancel::Cancelled> for JpegError {
    fn from(_: crate::cancel::Cancelled) -> Self {
        JpegError::Cancelled
    }
}

/// An APPn or COM segment: its marker byte (0xE0–0xEF, 0xFE) and payload.
#[derive(Debug, Clone)]
pub struct Segment<'a> {
    pub marker: u8,
    pub payload: Cow<'a, [u8]>,
}

/// Bit k set where coefficient k of a block is non-zero.
#[inline]
pub fn nonzero_mask(block: &[i16; 64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SSE2 is part of x86_64: compare eight coefficients at a time.
        use std::arch::x86_64::*;
        let mut mask = 0u64;
        // SAFETY: SSE2 is always available on x86_64, and each unaligned load reads
        // 8 of the block's 64 coefficients.
        unsafe {
            let zero = _mm_setzero_si128();
            for i in 0..4 {
                let a = _mm_loadu_si128(block.as_ptr().add(16 * i).cast());
                let b = _mm_loadu_si128(block.as_ptr().add(16 * i + 8).cast());
                let zeros = _mm_packs_epi16(_mm_cmpeq_epi16(a, zero), _mm_cmpeq_epi16(b, zero));
                let bits = !(_mm_movemask_epi8(zeros) as u32) & 0xFFFF;
                mask |= u64::from(bits) << (16 * i);
            }
        }
        mask
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut mask = 0u64;
        for (k, &c) in block.iter().enumerate() {
            mask |= u64::from(c != 0) << k;
        }
        mask
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nonzero_mask_marks_exactly_the_non_zero_coefficients() {
        let mut block = [0i16; 64];
        for k in [0usize, 1, 7, 8, 15, 16, 33, 62, 63] {
            block[k] = if k % 2 == 0 {
                -(k as i16) - 1
            } else {
                k as i16
            };
        }
        let want = [0u64, 1, 7, 8, 15, 16, 33, 62, 63]
            .iter()
            .fold(0, |m, k| m | 1 << k);
        assert_eq!(super::nonzero_mask(&block), want);
        assert_eq!(super::nonzero_mask(&[0; 64]), 0);
        assert_eq!(super::nonzero_mask(&[i16::MIN; 64]), u64::MAX);
    }
}
