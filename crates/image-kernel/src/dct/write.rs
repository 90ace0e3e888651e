//! Writes a one-component baseline JPEG from quantised coefficients, with Huffman
//! tables made for them. The blocks are walked twice — to count the symbols, then to
//! code them — and a large image is split at a block row into two halves, counted and
//! coded on two threads; the second half's bits are joined to the first's exactly, so
//! the bytes are the same however the work was split.

use super::encode::{BitSink, BitWriter, EncodeTable, RawBits, category, magnitude_bits};
use super::read::Luma;
use super::{JpegError, Segment, nonzero_mask};
use std::ops::Range;
use std::thread;

/// Below this many blocks a second thread costs more than it saves.
const BLOCKS_PER_THREAD: usize = 4096;

/// Where the symbols of a scan go: counted, or coded.
trait Symbols {
    /// A symbol of the DC table (a category) and its extra bits.
    fn dc(&mut self, symbol: u8, extra: u32, extra_length: u32);
    /// A symbol of the AC table (run and category) and its extra bits.
    fn ac(&mut self, symbol: u8, extra: u32, extra_length: u32);
}

/// Gives `out` every symbol of block rows `rows` in the order one non-interleaved scan
/// codes them (T.81 F.1.2), the DC predicted from the block before the first.
/// Coefficients too large for a baseline table are an error.
#[inline(always)]
fn walk(luma: &Luma, rows: Range<usize>, out: &mut impl Symbols) -> Result<(), JpegError> {
    let range = |what: &str| JpegError::Corrupt(format!("{what} coefficient out of range"));
    let mut predictor = match rows.start {
        0 => 0,
        row => i32::from(luma.blocks[(row - 1) * luma.stride + luma.blocks_w - 1][0]),
    };
    for by in rows {
        for block in &luma.blocks[by * luma.stride..by * luma.stride + luma.blocks_w] {
            let diff = i32::from(block[0]) - predictor;
            predictor = i32::from(block[0]);
            let size = category(diff);
            if size > 11 {
                return Err(range("DC"));
            }
            out.dc(size as u8, magnitude_bits(diff, size), size);
            // Visit only the non-zero AC coefficients.
            let mut nonzero = nonzero_mask(block) & !1;
            let mut last = 0u32; // the previous non-zero position
            while nonzero != 0 {
                let k = nonzero.trailing_zeros();
                nonzero &= nonzero - 1;
                let mut run = k - last - 1;
                while run > 15 {
                    out.ac(0xF0, 0, 0);
                    run -= 16;
                }
                let value = i32::from(block[k as usize]);
                let size = category(value);
                if size > 10 {
                    return Err(range("AC"));
                }
                out.ac(
                    ((run as u8) << 4) | size as u8,
                    magnitude_bits(value, size),
                    size,
                );
                last = k;
            }
            if last < 63 {
                out.ac(0x00, 0, 0);
            }
        }
    }
    Ok(())
}

/// How often each symbol occurs per table.
struct Counts {
    dc: [u32; 256],
    ac: [u32; 256],
}

impl Symbols for Counts {
    #[inline(always)]
    fn dc(&mut self, symbol: u8, _: u32, _: u32) {
        self.dc[usize::from(symbol)] += 1;
    }
    #[inline(always)]
    fn ac(&mut self, symbol: u8, _: u32, _: u32) {
        self.ac[usize::from(symbol)] += 1;
    }
}

impl Counts {
    fn of(luma: &Luma, rows: Range<usize>) -> Result<Counts, JpegError> {
        let mut counts = Counts {
            dc: [0; 256],
            ac: [0; 256],
        };
        walk(luma, rows, &mut counts)?;
        Ok(counts)
    }

    fn add(&mut self, more: &Counts) {
        for (all, more) in self.dc.iter_mut().zip(&more.dc) {
            *all += more;
        }
        for (all, more) in self.ac.iter_mut().zip(&more.ac) {
            *all += more;
        }
    }

    /// The bits these symbols take once coded with `dc` and `ac`, extra bits included
    /// (a symbol's category is the number of its extra bits).
    fn coded_bits(&self, dc: &EncodeTable, ac: &EncodeTable) -> u64 {
        (0..=255u8)
            .map(|s| {
                let dc_bits = u64::from(dc.code_length(s)) + u64::from(s);
                let ac_bits = u64::from(ac.code_length(s)) + u64::from(s & 15);
                u64::from(self.dc[usize::from(s)]) * dc_bits
                    + u64::from(self.ac[usize::from(s)]) * ac_bits
            })
            .sum()
    }
}

/// Codes symbols into a bit sink with the two tables.
struct Coder<'t, S> {
    dc: &'t EncodeTable,
    ac: &'t EncodeTable,
    sink: S,
}

impl<S: BitSink> Symbols for Coder<'_, S> {
    #[inline(always)]
    fn dc(&mut self, symbol: u8, extra: u32, extra_length: u32) {
        self.sink.symbol(self.dc, symbol, extra, extra_length);
    }
    #[inline(always)]
    fn ac(&mut self, symbol: u8, extra: u32, extra_length: u32) {
        self.sink.symbol(self.ac, symbol, extra, extra_length);
    }
}

/// Runs `first` and `second`: at once, `second` on another thread, if `parallel` (and
/// a thread can be started).
fn both<A, B: Send>(
    parallel: bool,
    first: impl FnOnce() -> A,
    second: impl FnOnce() -> B + Send,
) -> (A, B) {
    if !parallel {
        return (first(), second());
    }
    // Where `second` waits, so that this thread can still run it if no thread starts.
    let waiting = std::sync::Mutex::new(Some(second));
    let take = || {
        waiting
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .map(|second| second())
    };
    thread::scope(|scope| {
        let spawned = thread::Builder::new().spawn_scoped(scope, take);
        let first = first();
        let second = spawned
            .ok()
            .and_then(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .or_else(take)
            .expect("run on one thread or the other");
        (first, second)
    })
}

fn segment(out: &mut Vec<u8>, marker: u8, payload: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&(payload.len() as u16 + 2).to_be_bytes());
    out.extend_from_slice(payload);
}

fn huffman_segment(class_id: u8, table: &EncodeTable) -> Vec<u8> {
    let mut payload = vec![class_id];
    payload.extend_from_slice(&table.counts);
    payload.extend_from_slice(&table.symbols);
    payload
}

/// A greyscale JPEG of `width` × `height` from the luma coefficients, with `segments`
/// (metadata, already edited) after SOI.
pub fn write_grey(
    luma: &Luma,
    width: usize,
    height: usize,
    segments: &[Segment],
) -> Result<Vec<u8>, JpegError> {
    let split = if luma.blocks_w * luma.blocks_h >= 2 * BLOCKS_PER_THREAD {
        luma.blocks_h / 2
    } else {
        luma.blocks_h
    };
    write_split(luma, (width, height), segments, split)
}

/// [`write_grey`], with block rows from `split` on counted and coded on a second
/// thread (none if it is the last row).
fn write_split(
    luma: &Luma,
    (width, height): (usize, usize),
    segments: &[Segment],
    split: usize,
) -> Result<Vec<u8>, JpegError> {
    let parallel = split < luma.blocks_h;
    let (top, bottom) = (0..split, split..luma.blocks_h);
    let (counts, bottom_counts) = both(
        parallel,
        || Counts::of(luma, top.clone()),
        || Counts::of(luma, bottom.clone()),
    );
    let (mut counts, bottom_counts) = (counts?, bottom_counts?);
    counts.add(&bottom_counts);
    let dc = EncodeTable::optimal(&counts.dc);
    let ac = EncodeTable::optimal(&counts.ac);
    let bottom_bits = bottom_counts.coded_bits(&dc, &ac);
    // Stuffing adds about one byte in 256.
    let capacity = (counts.coded_bits(&dc, &ac) / 8) as usize * 257 / 256 + 4096;

    let mut out =
        Vec::with_capacity(capacity + segments.iter().map(|s| s.payload.len() + 4).sum::<usize>());
    out.extend_from_slice(&[0xFF, 0xD8]);
    for s in segments {
        segment(&mut out, s.marker, &s.payload);
    }
    let eight_bit = luma.quant.iter().all(|&q| q <= 255);
    let mut dqt = vec![if eight_bit { 0x00 } else { 0x10 }];
    for &q in &luma.quant {
        if eight_bit {
            dqt.push(q as u8);
        } else {
            dqt.extend_from_slice(&q.to_be_bytes());
        }
    }
    segment(&mut out, 0xDB, &dqt);
    let (w, h) = (width as u16, height as u16);
    let mut sof = vec![8];
    sof.extend_from_slice(&h.to_be_bytes());
    sof.extend_from_slice(&w.to_be_bytes());
    sof.extend_from_slice(&[1, 1, 0x11, 0]);
    // Baseline needs 8-bit tables; extended sequential (SOF1) allows 16-bit ones.
    segment(&mut out, if eight_bit { 0xC0 } else { 0xC1 }, &sof);
    segment(&mut out, 0xC4, &huffman_segment(0x00, &dc));
    segment(&mut out, 0xC4, &huffman_segment(0x10, &ac));
    segment(&mut out, 0xDA, &[1, 1, 0x00, 0, 63, 0]);
    let mut top_coder = Coder {
        dc: &dc,
        ac: &ac,
        sink: BitWriter::new(out),
    };
    let (top_coded, bottom) = both(
        parallel,
        || walk(luma, top, &mut top_coder),
        || {
            let mut bottom_coder = Coder {
                dc: &dc,
                ac: &ac,
                sink: RawBits::with_capacity(bottom_bits),
            };
            walk(luma, bottom, &mut bottom_coder).map(|()| bottom_coder.sink)
        },
    );
    top_coded?;
    let mut writer = top_coder.sink;
    writer.append(&bottom?);
    let mut out = writer.finish();
    out.extend_from_slice(&[0xFF, 0xD9]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bytes_are_the_same_wherever_the_work_is_split() {
        let (blocks_w, blocks_h) = (7, 9);
        let mut blocks = vec![[0i16; 64]; blocks_w * blocks_h];
        for (i, block) in blocks.iter_mut().enumerate() {
            for (k, c) in block.iter_mut().enumerate() {
                let x = (i * 131 + k * 71) % 97;
                *c = match x {
                    0..=40 => 0,
                    _ => (x as i16 - 68) * if k == 0 { 37 } else { 5 },
                };
            }
        }
        let luma = Luma {
            blocks,
            stride: blocks_w,
            blocks_w,
            blocks_h,
            quant: [1; 64],
        };
        let size = (blocks_w * 8, blocks_h * 8);
        let whole = write_split(&luma, size, &[], blocks_h).unwrap();
        for split in [0, 1, 4, blocks_h - 1] {
            assert!(
                whole == write_split(&luma, size, &[], split).unwrap(),
                "split at {split}"
            );
        }
        let decoded = image::load_from_memory(&whole).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (56, 72));
    }
}
