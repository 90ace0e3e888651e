//! Decodes one scan's entropy-coded data (T.81 F.2.2 and G.1.2): sequential or
//! progressive, interleaved or not, with restart markers — into coefficients, into
//! non-zero masks (all a later refinement scan needs), or into nothing (to learn only
//! whether the data is whole).

use super::JpegError;
use super::block::{Coefficients, Pass, decode_block};
use super::frame::{Blocks, Component};
use super::huffman::{BitReader, DecodeTable};

/// The Huffman tables defined so far.
#[derive(Clone, Default)]
pub struct Tables {
    pub dc: [Option<DecodeTable>; 4],
    pub ac: [Option<DecodeTable>; 4],
}

/// One component's part in a scan.
pub struct ScanComponent {
    /// Its index in the frame.
    pub index: usize,
    /// Its Huffman tables.
    pub dc: usize,
    pub ac: usize,
    predictor: i32,
}

/// A scan header (SOS) read and checked against the frame and the tables.
pub struct Scan {
    pub components: Vec<ScanComponent>,
    pub pass: Pass,
}

impl Scan {
    /// Reads the SOS payload `header` of a scan of `components`.
    pub fn parse(
        header: &[u8],
        components: &[Component],
        progressive: bool,
        tables: &Tables,
    ) -> Result<Scan, JpegError> {
        let bad = |what: &str| JpegError::Corrupt(format!("bad scan header: {what}"));
        let count = usize::from(*header.first().ok_or_else(|| bad("empty"))?);
        let specs = header.get(1..1 + 2 * count).ok_or_else(|| bad("short"))?;
        let tail = header
            .get(1 + 2 * count..4 + 2 * count)
            .ok_or_else(|| bad("short"))?;
        let (ss, se, ah, al) = (
            usize::from(tail[0]),
            usize::from(tail[1]),
            u32::from(tail[2] >> 4),
            u32::from(tail[2] & 15),
        );
        let mut scan = Vec::with_capacity(count);
        for spec in specs.chunks_exact(2) {
            let index = components
                .iter()
                .position(|c| c.id == spec[0])
                .ok_or_else(|| bad("unknown component"))?;
            scan.push(ScanComponent {
                index,
                dc: usize::from(spec[1] >> 4),
                ac: usize::from(spec[1] & 15),
                predictor: 0,
            });
        }
        if scan.is_empty() || scan.len() > 4 {
            return Err(bad("component count"));
        }
        let pass = if !progressive {
            Pass::Sequential
        } else if ss == 0 {
            if se != 0 {
                return Err(bad("DC scan with AC coefficients"));
            }
            if ah == 0 {
                Pass::DcFirst { al }
            } else {
                Pass::DcRefine { al }
            }
        } else {
            if scan.len() != 1 || se > 63 || ss > se {
                return Err(bad("AC scan"));
            }
            if ah == 0 {
                Pass::AcFirst { ss, se, al }
            } else {
                Pass::AcRefine { ss, se, al }
            }
        };
        if al > 13 {
            return Err(bad("successive approximation"));
        }
        let needs_dc = matches!(pass, Pass::Sequential | Pass::DcFirst { .. });
        let needs_ac = matches!(
            pass,
            Pass::Sequential | Pass::AcFirst { .. } | Pass::AcRefine { .. }
        );
        for s in &scan {
            if (needs_dc && tables.dc.get(s.dc).is_none_or(Option::is_none))
                || (needs_ac && tables.ac.get(s.ac).is_none_or(Option::is_none))
            {
                return Err(JpegError::Corrupt(
                    "scan uses an undefined Huffman table".into(),
                ));
            }
        }
        Ok(Scan {
            components: scan,
            pass,
        })
    }

    /// Decodes an interleaved scan: MCU by MCU, `mcus` = (across, down).
    /// `Ok(false)`: its data ended before its last block.
    pub fn decode_interleaved(
        &mut self,
        components: &[Component],
        blocks: &mut [Blocks],
        tables: &Tables,
        mcus: (usize, usize),
        restart_interval: usize,
        reader: &mut BitReader,
    ) -> Result<bool, JpegError> {
        let pass = self.pass;
        let mut eob_run = 0u32;
        let mut scratch = [0i16; 64];
        for unit in 0..mcus.0 * mcus.1 {
            if restart_interval > 0 && unit > 0 && unit.is_multiple_of(restart_interval) {
                if !restart(reader) {
                    return Ok(false);
                }
                eob_run = 0;
                for s in &mut self.components {
                    s.predictor = 0;
                }
            }
            let (mx, my) = (unit % mcus.0, unit / mcus.0);
            for s in &mut self.components {
                let c = &components[s.index];
                let (h, v, stride) = (c.h, c.v, c.stride);
                let dc = tables.dc.get(s.dc).and_then(Option::as_ref);
                let ac = tables.ac.get(s.ac).and_then(Option::as_ref);
                let p = &mut s.predictor;
                for y in 0..v {
                    for x in 0..h {
                        let block = (my * v + y) * stride + mx * h + x;
                        let e = &mut eob_run;
                        match &mut blocks[s.index] {
                            Blocks::Values(b) => {
                                decode_block(pass, reader, dc, ac, &mut b[block], p, e)
                            }
                            Blocks::Nonzero(m) => {
                                decode_block(pass, reader, dc, ac, &mut m[block], p, e)
                            }
                            Blocks::Discard => {
                                decode_block(pass, reader, dc, ac, &mut scratch, p, e)
                            }
                        }?;
                    }
                }
            }
        }
        Ok(!reader.overran())
    }
}

/// Moves past the restart marker due now; `false` if the data ended instead.
fn restart(reader: &mut BitReader) -> bool {
    if reader.overran() {
        return false;
    }
    match reader.next_marker() {
        Some(at) if (0xD0..=0xD7).contains(&reader.byte(at + 1)) => {
            reader.pos = at + 2;
            true
        }
        _ => false,
    }
}

/// A scan of one component, which codes its blocks in raster order: what decoding it
/// needs, owned or borrowed from the frame.
pub struct SingleScan<'a> {
    pub component: &'a Component,
    pub dc: Option<&'a DecodeTable>,
    pub ac: Option<&'a DecodeTable>,
    pub pass: Pass,
    pub restart_interval: usize,
}

impl SingleScan<'_> {
    /// Decodes the scan into `blocks`. `Ok(false)`: its data ended before its last block.
    pub fn decode(&self, blocks: &mut Blocks, reader: &mut BitReader) -> Result<bool, JpegError> {
        match blocks {
            Blocks::Values(v) => self.decode_into(v, false, reader),
            Blocks::Nonzero(m) => self.decode_into(m, false, reader),
            Blocks::Discard => self.decode_into(&mut [[0i16; 64]], true, reader),
        }
    }

    /// `discard`: decode every block into `blocks[0]`.
    fn decode_into<C: Coefficients>(
        &self,
        blocks: &mut [C],
        discard: bool,
        reader: &mut BitReader,
    ) -> Result<bool, JpegError> {
        let (dc, ac) = (self.dc, self.ac);
        // One loop per kind of pass, so that the block decoder is specialised to it.
        macro_rules! each_block {
            ($pass:expr) => {
                self.each_block(blocks, discard, reader, |r, b, p, e| {
                    decode_block($pass, r, dc, ac, b, p, e)
                })
            };
        }
        match self.pass {
            Pass::Sequential => each_block!(Pass::Sequential),
            Pass::DcFirst { al } => each_block!(Pass::DcFirst { al }),
            Pass::DcRefine { al } => each_block!(Pass::DcRefine { al }),
            Pass::AcFirst { ss, se, al } => each_block!(Pass::AcFirst { ss, se, al }),
            Pass::AcRefine { ss, se, al } => each_block!(Pass::AcRefine { ss, se, al }),
        }
    }

    /// Calls `decode(reader, block, predictor, eob_run)` for each block in scan order,
    /// minding restart intervals.
    #[inline(always)]
    fn each_block<C>(
        &self,
        blocks: &mut [C],
        discard: bool,
        reader: &mut BitReader,
        mut decode: impl FnMut(&mut BitReader, &mut C, &mut i32, &mut u32) -> Result<(), JpegError>,
    ) -> Result<bool, JpegError> {
        let c = self.component;
        let (mut predictor, mut eob_run) = (0i32, 0u32);
        let mut unit = 0usize;
        for by in 0..c.blocks_h {
            for bx in 0..c.blocks_w {
                if self.restart_interval > 0
                    && unit > 0
                    && unit.is_multiple_of(self.restart_interval)
                {
                    if !restart(reader) {
                        return Ok(false);
                    }
                    eob_run = 0;
                    predictor = 0;
                }
                unit += 1;
                let block = if discard { 0 } else { by * c.stride + bx };
                decode(reader, &mut blocks[block], &mut predictor, &mut eob_run)?;
            }
        }
        Ok(!reader.overran())
    }
}
