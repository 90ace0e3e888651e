//! Writes a one-component baseline JPEG from quantised coefficients, with Huffman
//! tables made for them (two passes: count the symbols, then code them).

use super::huffman::{BitWriter, EncodeTable, category, magnitude_bits};
use super::read::Luma;
use super::{JpegError, Segment};

/// Receives the symbols of the coefficient stream, once to count and once to write.
trait Sink {
    fn dc(&mut self, size: u32, diff: i32);
    fn ac(&mut self, symbol: u8, value: i32, size: u32);
}

struct Count {
    dc: [u32; 256],
    ac: [u32; 256],
}

impl Sink for Count {
    fn dc(&mut self, size: u32, _: i32) {
        self.dc[size as usize] += 1;
    }
    fn ac(&mut self, symbol: u8, _: i32, _: u32) {
        self.ac[usize::from(symbol)] += 1;
    }
}

struct Code<'a> {
    writer: BitWriter,
    dc: &'a EncodeTable,
    ac: &'a EncodeTable,
}

impl Sink for Code<'_> {
    fn dc(&mut self, size: u32, diff: i32) {
        self.writer.symbol(self.dc, size as u8);
        self.writer.put(magnitude_bits(diff, size), size);
    }
    fn ac(&mut self, symbol: u8, value: i32, size: u32) {
        self.writer.symbol(self.ac, symbol);
        self.writer.put(magnitude_bits(value, size), size);
    }
}

/// Walks the blocks in raster order as one non-interleaved scan (T.81 F.1.2).
fn walk(luma: &Luma, sink: &mut impl Sink) -> Result<(), JpegError> {
    let range = |what: &str| JpegError::Corrupt(format!("{what} coefficient out of range"));
    let mut predictor = 0i32;
    for by in 0..luma.blocks_h {
        for block in &luma.blocks[by * luma.stride..by * luma.stride + luma.blocks_w] {
            let diff = i32::from(block[0]) - predictor;
            predictor = i32::from(block[0]);
            let size = category(diff);
            if size > 11 {
                return Err(range("DC"));
            }
            sink.dc(size, diff);
            let mut run = 0u8;
            for &c in &block[1..] {
                if c == 0 {
                    run += 1;
                    continue;
                }
                while run > 15 {
                    sink.ac(0xF0, 0, 0);
                    run -= 16;
                }
                let value = i32::from(c);
                let size = category(value);
                if size > 10 {
                    return Err(range("AC"));
                }
                sink.ac((run << 4) | size as u8, value, size);
                run = 0;
            }
            if run > 0 {
                sink.ac(0x00, 0, 0);
            }
        }
    }
    Ok(())
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
    let mut count = Count {
        dc: [0; 256],
        ac: [0; 256],
    };
    walk(luma, &mut count)?;
    let dc = EncodeTable::optimal(&count.dc);
    let ac = EncodeTable::optimal(&count.ac);

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
    let mut code = Code {
        writer: BitWriter::new(out),
        dc: &dc,
        ac: &ac,
    };
    walk(luma, &mut code)?;
    let mut out = code.writer.finish();
    out.extend_from_slice(&[0xFF, 0xD9]);
    Ok(out)
}
