//! Reads a JPEG down to its quantised DCT coefficients: markers, tables, and every scan
//! (baseline, extended and progressive Huffman; interleaved or not; restart markers).
//! Only the first component's coefficients are kept; the others are decoded just far
//! enough to notice a truncated file — their non-interleaved scans in the background
//! (module `background`) while this thread skips to the next marker.

use super::background::{Background, Job};
use super::frame::Blocks;
use super::frame::{Frame, read_frame};
use super::huffman::{BitReader, DecodeTable};
use super::limits::{Limits, ScanWork, count_scans};
use super::scan::{Scan, SingleScan, Tables};
use super::{JpegError, Segment};
use crate::cancel::Cancel;
use std::thread;

/// How the components are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Grey,
    YCbCr,
    Rgb,
    Cmyk,
    Ycck,
}

/// The quantised coefficients of the first component, in zig-zag order per block.
pub struct Luma {
    pub blocks: Vec<[i16; 64]>,
    pub stride: usize,
    pub blocks_w: usize,
    pub blocks_h: usize,
    /// Its quantisation table, in zig-zag order.
    pub quant: [u16; 64],
}

/// A JPEG read to its coefficients.
pub struct Jpeg<'a> {
    pub width: usize,
    pub height: usize,
    pub colour: Colour,
    /// APPn and COM segments, in file order.
    pub segments: Vec<Segment<'a>>,
    /// Present when the first component's coefficients were asked for and it is at full
    /// resolution.
    pub luma: Option<Luma>,
    /// Whether the entropy-coded data ended before the last block, or EOI is missing.
    pub truncated: bool,
}

/// Reads `data` as a JPEG. `keep_luma` keeps the first component's coefficients when
/// it is at full resolution. The limits are checked before the work they bound: the
/// pixels before anything is allocated, the scan count before any scan is decoded, and
/// the blocks the scans visit before each scan (module `limits`).
pub fn read<'a>(
    data: &'a [u8],
    limits: &Limits,
    keep_luma: bool,
    cancel: &Cancel,
) -> Result<Jpeg<'a>, JpegError> {
    let scans = count_scans(data, limits.max_scans);
    if scans > limits.max_scans {
        return Err(JpegError::TooManyScans(limits.max_scans));
    }
    thread::scope(|scope| {
        let mut background = Background::new(scope, data, cancel);
        let read = read_markers(data, limits.max_pixels, keep_luma, cancel, &mut background);
        // The scans sent to the background all come before wherever reading stopped,
        // so their verdict goes first.
        let whole = background.finish()?;
        read.map(|jpeg| Jpeg {
            truncated: jpeg.truncated || !whole,
            ..jpeg
        })
    })
}

/// [`read`], with the scans of components not kept handed to `background`.
fn read_markers<'a>(
    data: &'a [u8],
    max_pixels: u64,
    keep_luma: bool,
    cancel: &Cancel,
    background: &mut Background<'_, 'a>,
) -> Result<Jpeg<'a>, JpegError> {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return Err(JpegError::Corrupt("no SOI marker".into()));
    }
    let mut pos = 2;
    let mut tables = Tables::default();
    let mut quant: [Option<[u16; 64]>; 4] = [None; 4];
    let mut restart_interval = 0usize;
    let mut segments = Vec::new();
    let mut frame: Option<Frame> = None;
    let mut work: Option<ScanWork> = None;
    let (mut width, mut height) = (0usize, 0usize);
    let (mut adobe_transform, mut jfif) = (None, false);
    let mut truncated = true;
    loop {
        // A marker: 0xFF, any fill 0xFF bytes, then the code.
        if data.get(pos) != Some(&0xFF) {
            if pos >= data.len() {
                break; // ended without EOI
            }
            return Err(JpegError::Corrupt(format!(
                "expected a marker at byte {pos}"
            )));
        }
        while data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let Some(&marker) = data.get(pos + 1) else {
            break;
        };
        pos += 2;
        match marker {
            0xD9 => {
                truncated = false;
                break;
            }
            0xD0..=0xD7 | 0x01 => continue, // stray restart or TEM: no payload
            _ => {}
        }
        let Some(length) = data
            .get(pos..pos + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        else {
            break;
        };
        if length < 2 {
            return Err(JpegError::Corrupt(
                "a segment shorter than its length field".into(),
            ));
        }
        let Some(payload) = data.get(pos + 2..pos + length) else {
            break; // the file ends inside a segment
        };
        pos += length;
        match marker {
            0xE0..=0xEF | 0xFE => {
                if marker == 0xE0 && payload.starts_with(b"JFIF\0") {
                    jfif = true;
                }
                if marker == 0xEE && payload.starts_with(b"Adobe") && payload.len() >= 12 {
                    adobe_transform = Some(payload[11]);
                }
                segments.push(Segment {
                    marker,
                    payload: payload.into(),
                });
            }
            0xDB => read_quant(payload, &mut quant)?,
            0xC4 => read_huffman(payload, &mut tables)?,
            0xDD => {
                let b = payload
                    .get(..2)
                    .ok_or_else(|| JpegError::Corrupt("short DRI".into()))?;
                restart_interval = usize::from(u16::from_be_bytes([b[0], b[1]]));
            }
            0xC0..=0xC2 => {
                if frame.is_some() {
                    return Err(JpegError::Corrupt("two frame headers".into()));
                }
                let f = read_frame(payload, marker == 0xC2, max_pixels, keep_luma)?;
                width = usize::from(u16::from_be_bytes([payload[3], payload[4]]));
                height = usize::from(u16::from_be_bytes([payload[1], payload[2]]));
                work = Some(ScanWork::new(&f));
                frame = Some(f);
            }
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err(JpegError::Unsupported(
                    "lossless, hierarchical or arithmetic-coded JPEG".into(),
                ));
            }
            0xDC => return Err(JpegError::Unsupported("DNL marker".into())),
            0xDA => {
                let f = frame
                    .as_mut()
                    .ok_or_else(|| JpegError::Corrupt("scan before the frame header".into()))?;
                let scan = Scan::parse(payload, &f.components, f.progressive, &tables)?;
                if let Some(work) = work.as_mut() {
                    work.add(&scan, f)?;
                }
                cancel.check()?;
                let coded = Coded {
                    data,
                    start: pos,
                    tables: &tables,
                    restart_interval,
                };
                match decode_scan(scan, f, &quant, coded, background)? {
                    Some(next) => pos = next,
                    None => break,
                }
            }
            _ => {} // other segments carry nothing we need
        }
    }
    let frame = frame.ok_or_else(|| JpegError::Corrupt("no frame header".into()))?;
    let colour = match frame.components.len() {
        1 => Colour::Grey,
        3 => match adobe_transform {
            Some(0) => Colour::Rgb,
            Some(_) => Colour::YCbCr,
            None if !jfif && frame.components.iter().map(|c| c.id).eq(*b"RGB") => Colour::Rgb,
            None => Colour::YCbCr,
        },
        4 => match adobe_transform {
            Some(2) => Colour::Ycck,
            _ => Colour::Cmyk,
        },
        n => return Err(JpegError::Unsupported(format!("{n} colour components"))),
    };
    let first = frame.components[0].clone();
    let luma = match (frame.blocks.into_iter().next(), frame.luma_quant) {
        (Some(Blocks::Values(blocks)), Some(quant)) => Some(Luma {
            blocks,
            stride: first.stride,
            blocks_w: first.blocks_w,
            blocks_h: first.blocks_h,
            quant,
        }),
        _ => None,
    };
    Ok(Jpeg {
        width,
        height,
        colour,
        segments,
        luma,
        truncated,
    })
}

fn read_quant(mut payload: &[u8], quant: &mut [Option<[u16; 64]>; 4]) -> Result<(), JpegError> {
    while let Some(&pq_tq) = payload.first() {
        let (precision, id) = (pq_tq >> 4, usize::from(pq_tq & 15));
        let size = if precision == 0 { 64 } else { 128 };
        let values = payload
            .get(1..1 + size)
            .filter(|_| id < 4 && precision < 2)
            .ok_or_else(|| JpegError::Corrupt("bad DQT segment".into()))?;
        let mut table = [0u16; 64];
        for (k, t) in table.iter_mut().enumerate() {
            *t = if precision == 0 {
                u16::from(values[k])
            } else {
                u16::from_be_bytes([values[2 * k], values[2 * k + 1]])
            };
        }
        quant[id] = Some(table);
        payload = &payload[1 + size..];
    }
    Ok(())
}

fn read_huffman(mut payload: &[u8], tables: &mut Tables) -> Result<(), JpegError> {
    while let Some(&tc_th) = payload.first() {
        let (class, id) = (tc_th >> 4, usize::from(tc_th & 15));
        let counts: [u8; 16] = payload
            .get(1..17)
            .and_then(|c| c.try_into().ok())
            .filter(|_| class < 2 && id < 4)
            .ok_or_else(|| JpegError::Corrupt("bad DHT segment".into()))?;
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        let symbols = payload
            .get(17..17 + total)
            .ok_or_else(|| JpegError::Corrupt("short DHT segment".into()))?;
        let table = DecodeTable::new(&counts, symbols, class == 0)?;
        if class == 0 {
            tables.dc[id] = Some(table);
        } else {
            tables.ac[id] = Some(table);
        }
        payload = &payload[17 + total..];
    }
    Ok(())
}

/// A scan's entropy-coded data and what it was coded with.
struct Coded<'a, 't> {
    data: &'a [u8],
    start: usize,
    tables: &'t Tables,
    restart_interval: usize,
}

/// Decodes a scan, or hands it to `background` and skips it. Returns where the next
/// marker is; `None` if the data ends first, or this scan's data did.
fn decode_scan<'a>(
    mut scan: Scan,
    frame: &mut Frame,
    quant: &[Option<[u16; 64]>; 4],
    coded: Coded<'a, '_>,
    background: &mut Background<'_, 'a>,
) -> Result<Option<usize>, JpegError> {
    if scan.components.iter().any(|s| s.index == 0) && frame.luma_quant.is_none() {
        let table = frame.components[0].quant_table;
        frame.luma_quant = Some(quant[table].ok_or_else(|| {
            JpegError::Corrupt("component uses an undefined quantisation table".into())
        })?);
    }
    let Coded {
        data,
        start,
        tables,
        restart_interval,
    } = coded;
    let mut reader = BitReader::new(data, start);
    let complete = if let [single] = &scan.components[..] {
        let dc = tables.dc.get(single.dc).and_then(Option::as_ref);
        let ac = tables.ac.get(single.ac).and_then(Option::as_ref);
        let index = single.index;
        let blocks = &mut frame.blocks[index];
        if frame.background && !matches!(blocks, Blocks::Values(_)) {
            background.send(Job {
                index,
                component: frame.components[index].clone(),
                // Handed over once; this thread keeps decoding DC scans into nothing.
                blocks: match std::mem::replace(blocks, Blocks::Discard) {
                    Blocks::Discard => None,
                    kept => Some(kept),
                },
                pass: scan.pass,
                dc: dc.cloned(),
                ac: ac.cloned(),
                restart_interval,
                start,
            });
            return Ok(end_of_entropy_data(data, start));
        }
        let scan = SingleScan {
            component: &frame.components[index],
            dc,
            ac,
            pass: scan.pass,
            restart_interval,
        };
        scan.decode(blocks, &mut reader)?
    } else {
        let mcus = (frame.mcus_x, frame.mcus_y);
        scan.decode_interleaved(
            &frame.components,
            &mut frame.blocks,
            tables,
            mcus,
            restart_interval,
            &mut reader,
        )?
    };
    Ok(if complete { reader.next_marker() } else { None })
}

/// Where the marker that ends the entropy-coded data from `start` is (not a stuffed
/// 0xFF00, not a restart marker); `None` if the data ends first.
pub(super) fn end_of_entropy_data(data: &[u8], start: usize) -> Option<usize> {
    let mut pos = start;
    loop {
        pos += data.get(pos..)?.iter().position(|&b| b == 0xFF)?;
        match data.get(pos + 1)? {
            0x00 | 0xD0..=0xD7 => pos += 2,
            _ => return Some(pos),
        }
    }
}
