//! Writes a one-component baseline JPEG from quantised coefficients, with Huffman
//! tables made for them: the symbols are listed and counted once, then coded.

use super::huffman::{BitWriter, EncodeTable, category, magnitude_bits};
use super::read::Luma;
use super::{JpegError, Segment, nonzero_mask};

/// One coded symbol with its extra bits, packed: symbol in bits 0–7, the number of
/// extra bits in 8–11, the extra bits from 16. `DC` marks a DC symbol.
type Coded = u32;
const DC: u32 = 1 << 12;

fn coded(symbol: u8, extra: u32, length: u32) -> Coded {
    u32::from(symbol) | (length << 8) | (extra << 16)
}

/// The coded symbols of a scan, and how often each symbol occurs per table.
struct Symbols {
    coded: Vec<Coded>,
    dc_count: [u32; 256],
    ac_count: [u32; 256],
}

/// The symbols of the blocks in raster order, as one non-interleaved scan (T.81 F.1.2).
fn symbols(luma: &Luma) -> Result<Symbols, JpegError> {
    let range = |what: &str| JpegError::Corrupt(format!("{what} coefficient out of range"));
    let (mut dc_count, mut ac_count) = ([0u32; 256], [0u32; 256]);
    let mut out = Vec::with_capacity(luma.blocks_w * luma.blocks_h * 16);
    let mut predictor = 0i32;
    for by in 0..luma.blocks_h {
        for block in &luma.blocks[by * luma.stride..by * luma.stride + luma.blocks_w] {
            let diff = i32::from(block[0]) - predictor;
            predictor = i32::from(block[0]);
            let size = category(diff);
            if size > 11 {
                return Err(range("DC"));
            }
            dc_count[size as usize] += 1;
            out.push(coded(size as u8, magnitude_bits(diff, size), size) | DC);
            // Visit only the non-zero AC coefficients.
            let mut nonzero = nonzero_mask(block) & !1;
            let mut last = 0u32; // the previous non-zero position
            while nonzero != 0 {
                let k = nonzero.trailing_zeros();
                nonzero &= nonzero - 1;
                let mut run = k - last - 1;
                while run > 15 {
                    ac_count[0xF0] += 1;
                    out.push(coded(0xF0, 0, 0));
                    run -= 16;
                }
                let value = i32::from(block[k as usize]);
                let size = category(value);
                if size > 10 {
                    return Err(range("AC"));
                }
                let symbol = ((run as u8) << 4) | size as u8;
                ac_count[usize::from(symbol)] += 1;
                out.push(coded(symbol, magnitude_bits(value, size), size));
                last = k;
            }
            if last < 63 {
                ac_count[0] += 1;
                out.push(coded(0x00, 0, 0));
            }
        }
    }
    Ok(Symbols {
        coded: out,
        dc_count,
        ac_count,
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
    let Symbols {
        coded,
        dc_count,
        ac_count,
    } = symbols(luma)?;
    let dc = EncodeTable::optimal(&dc_count);
    let ac = EncodeTable::optimal(&ac_count);

    let mut out = Vec::with_capacity(luma.blocks.len() * 16);
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
    for c in coded {
        let table = if c & DC != 0 { &dc } else { &ac };
        writer.symbol(table, c as u8, c >> 16, (c >> 8) & 15);
    }
    let mut out = writer.finish();
    out.extend_from_slice(&[0xFF, 0xD9]);
    Ok(out)
}
