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

/// Calls `emit(dc, symbol, extra, extra_length)` for every symbol of block rows `rows`
/// in the order one non-interleaved scan codes them (T.81 F.1.2), the DC predicted
/// from the block before the first.
#[inline(always)]
fn walk(
    luma: &Luma,
    rows: Range<usize>,
    mut emit: impl FnMut(bool, u8, u32, u32),
) -> Result<(), JpegError> {
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
            emit(true, size as u8, magnitude_bits(diff, size), size);
            // Visit only the non-zero AC coefficients.
            let mut nonzero = nonzero_mask(block) & !1;
            let mut last = 0u32; // the previous non-zero position
            while nonzero != 0 {
                let k = nonzero.trailing_zeros();
                nonzero &= nonzero - 1;
                let mut run = k - last - 1;
                while run > 15 {
                    emit(false, 0xF0, 0, 0);
                    run -= 16;
                }
                let value = i32::from(block[k as usize]);
                let size = category(value);
                if size > 10 {
                    return Err(range("AC"));
                }
                emit(
                    false,
                    ((run as u8) << 4) | size as u8,
                    magnitude_bits(value, size),
                    size,
                );
                last = k;
            }
            if last < 63 {
                emit(false, 0x00, 0, 0);
            }
        }
    }
    Ok(())
}

/// How often each symbol occurs per table in some block rows, and their extra bits.
struct Counts {
    dc: [u32; 256],
    ac: [u32; 256],
    extra_bits: u64,
}

fn count(luma: &Luma, rows: Range<usize>) -> Result<Counts, JpegError> {
    let mut counts = Counts {
        dc: [0; 256],
        ac: [0; 256],
        extra_bits: 0,
    };
    walk(luma, rows, |dc, symbol, _, extra_length| {
        let table = if dc { &mut counts.dc } else { &mut counts.ac };
        table[usize::from(symbol)] += 1;
        counts.extra_bits += u64::from(extra_length);
    })?;
    Ok(counts)
}

/// The bits `counts` will take once coded with `dc` and `ac`.
fn coded_bits(counts: &Counts, dc: &EncodeTable, ac: &EncodeTable) -> u64 {
    let table_bits = |counts: &[u32; 256], table: &EncodeTable| -> u64 {
        (0..256)
            .map(|s| u64::from(counts[s]) * u64::from(table.code_length(s as u8)))
            .sum()
    };
    counts.extra_bits + table_bits(&counts.dc, dc) + table_bits(&counts.ac, ac)
}

fn code(
    luma: &Luma,
    rows: Range<usize>,
    tables: (&EncodeTable, &EncodeTable),
    sink: &mut impl BitSink,
) -> Result<(), JpegError> {
    walk(luma, rows, |dc, symbol, extra, extra_length| {
        let table = if dc { tables.0 } else { tables.1 };
        sink.symbol(table, symbol, extra, extra_length);
    })
}

/// Runs `first` and `second`: at once, `second` on another thread, if `parallel`.
fn both<A, B: Send>(
    parallel: bool,
    first: impl FnOnce() -> A,
    second: impl FnOnce() -> B + Send,
) -> (A, B) {
    if !parallel {
        return (first(), second());
    }
    thread::scope(|scope| {
        let second = scope.spawn(second);
        let first = first();
        let second = second
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
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
    let parallel = luma.blocks_w * luma.blocks_h >= 2 * BLOCKS_PER_THREAD;
    let split = if parallel {
        luma.blocks_h / 2
    } else {
        luma.blocks_h
    };
    let (top, bottom) = (0..split, split..luma.blocks_h);
    let (counts, bottom_counts) = both(
        parallel,
        || count(luma, top.clone()),
        || count(luma, bottom.clone()),
    );
    let (mut counts, bottom_counts) = (counts?, bottom_counts?);
    for (all, more) in counts.dc.iter_mut().zip(&bottom_counts.dc) {
        *all += more;
    }
    for (all, more) in counts.ac.iter_mut().zip(&bottom_counts.ac) {
        *all += more;
    }
    let dc = EncodeTable::optimal(&counts.dc);
    let ac = EncodeTable::optimal(&counts.ac);
    let tables = (&dc, &ac);
    let bottom_bits = coded_bits(&bottom_counts, &dc, &ac);
    // Stuffing adds about one byte in 256.
    let capacity = (coded_bits(&counts, &dc, &ac) / 8) as usize * 257 / 256 + 4096;

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
    let mut writer = BitWriter::new(out);
    let (top_coded, bottom) = both(
        parallel,
        || code(luma, top, tables, &mut writer),
        || {
            let mut raw = RawBits::with_capacity(bottom_bits);
            code(luma, bottom, tables, &mut raw).map(|()| raw)
        },
    );
    top_coded?;
    writer.append(&bottom?);
    let mut out = writer.finish();
    out.extend_from_slice(&[0xFF, 0xD9]);
    Ok(out)
}
