//! Decodes one block's part of a scan (T.81 F.2.2 and G.1.2), into coefficients or
//! into a mask of the non-zero ones.

use super::JpegError;
use super::huffman::{BitReader, DecodeTable};

/// What one scan codes.
#[derive(Debug, Clone, Copy)]
pub enum Pass {
    Sequential,
    DcFirst { al: u32 },
    DcRefine { al: u32 },
    AcFirst { ss: usize, se: usize, al: u32 },
    AcRefine { ss: usize, se: usize, al: u32 },
}

/// The coefficient operations a scan performs on one block.
pub trait Coefficients {
    fn set(&mut self, k: usize, value: i32);
    /// Sets coefficient `k` to the next `size` bits (non-zero, T.81 F.2.2.1) << `al`.
    fn set_read(&mut self, k: usize, size: u32, al: u32, reader: &mut BitReader);
    /// Reads a correction bit for each coefficient in `pending` (all non-zero), in
    /// order, and adds `bit` to the magnitude of those whose bit is set and whose
    /// magnitude has it clear.
    fn correct(&mut self, pending: u64, bit: i32, reader: &mut BitReader);
    /// Adds a refinement bit to the DC coefficient.
    fn or_dc(&mut self, bit: i32);
    /// Bit k set where coefficient k is non-zero.
    fn nonzero(&self) -> u64;
}

impl Coefficients for [i16; 64] {
    #[inline(always)]
    fn set_read(&mut self, k: usize, size: u32, al: u32, reader: &mut BitReader) {
        self.set(k, reader.signed(size) * (1 << al));
    }
    #[inline(always)]
    fn set(&mut self, k: usize, value: i32) {
        self[k] = value.clamp(i16::MIN.into(), i16::MAX.into()) as i16;
    }
    #[inline(always)]
    fn correct(&mut self, mut pending: u64, bit: i32, reader: &mut BitReader) {
        while pending != 0 {
            let k = pending.trailing_zeros() as usize;
            pending &= pending - 1;
            // Without branches: the bits, and the coefficients' signs, are random.
            let c = i32::from(self[k]);
            let sign = c >> 31; // 0 or -1
            let corrected = reader.bits(1) as i32 & i32::from(c & bit == 0);
            let step = ((bit ^ sign) - sign) * corrected; // ±bit, or 0
            self.set(k, c + step);
        }
    }
    #[inline(always)]
    fn or_dc(&mut self, bit: i32) {
        self[0] |= bit as i16;
    }
    #[inline(always)]
    fn nonzero(&self) -> u64 {
        super::nonzero_mask(self)
    }
}

impl Coefficients for u64 {
    /// The value read is not needed: a coefficient with a size is non-zero.
    #[inline(always)]
    fn set_read(&mut self, k: usize, size: u32, _: u32, reader: &mut BitReader) {
        reader.bits(size);
        *self |= 1 << k;
    }
    #[inline(always)]
    fn set(&mut self, k: usize, value: i32) {
        if value != 0 {
            *self |= 1 << k;
        }
    }
    /// Only which coefficients are non-zero is kept, and corrections do not change it.
    #[inline(always)]
    fn correct(&mut self, pending: u64, _: i32, reader: &mut BitReader) {
        reader.skip(pending.count_ones());
    }
    #[inline(always)]
    fn or_dc(&mut self, _: i32) {}
    #[inline(always)]
    fn nonzero(&self) -> u64 {
        *self
    }
}

/// Decodes one block of one scan (T.81 F.2.2 and G.1.2; refinement as libjpeg does it).
#[inline(always)]
pub fn decode_block<C: Coefficients>(
    pass: Pass,
    reader: &mut BitReader,
    dc: Option<&DecodeTable>,
    ac: Option<&DecodeTable>,
    block: &mut C,
    predictor: &mut i32,
    eob_run: &mut u32,
) -> Result<(), JpegError> {
    fn table(t: Option<&DecodeTable>) -> Result<&DecodeTable, JpegError> {
        t.ok_or_else(|| JpegError::Corrupt("missing Huffman table".into()))
    }
    match pass {
        Pass::Sequential | Pass::DcFirst { .. } => {
            let size = u32::from(reader.decode(table(dc)?)?);
            if size > 16 {
                return Err(JpegError::Corrupt("DC difference out of range".into()));
            }
            *predictor = predictor.wrapping_add(reader.signed(size));
            let al = if let Pass::DcFirst { al } = pass {
                al
            } else {
                0
            };
            block.set(0, *predictor << al);
            if let Pass::Sequential = pass {
                let ac = table(ac)?;
                let mut k = 1;
                while k < 64 {
                    let rs = reader.decode(ac)?;
                    let (run, size) = (usize::from(rs >> 4), u32::from(rs & 15));
                    if size == 0 {
                        if run != 15 {
                            break;
                        }
                        k += 16;
                        continue;
                    }
                    k += run;
                    if k > 63 {
                        return Err(JpegError::Corrupt("AC coefficients past the block".into()));
                    }
                    block.set_read(k, size, 0, reader);
                    k += 1;
                }
            }
        }
        Pass::DcRefine { al } => {
            if reader.bit() {
                block.or_dc(1 << al);
            }
        }
        Pass::AcFirst { ss, se, al } => {
            if *eob_run > 0 {
                *eob_run -= 1;
                return Ok(());
            }
            let ac = table(ac)?;
            let mut k = ss;
            while k <= se {
                let rs = reader.decode(ac)?;
                let (run, size) = (u32::from(rs >> 4), u32::from(rs & 15));
                if size == 0 {
                    if run < 15 {
                        *eob_run = (1 << run) - 1 + reader.bits(run);
                        break;
                    }
                    k += 16;
                    continue;
                }
                k += run as usize;
                if k > 63 {
                    return Err(JpegError::Corrupt("AC coefficients past the block".into()));
                }
                block.set_read(k, size, al, reader);
                k += 1;
            }
        }
        Pass::AcRefine { ss, se, al } => {
            let (plus, minus) = (1i32 << al, -1i32 << al);
            // Which coefficients are non-zero: those take a correction bit, and the
            // zero ones are what a run counts.
            let mut nonzero = block.nonzero();
            let band_to_se = u64::MAX >> (63 - se);
            let mut k = ss;
            if *eob_run == 0 {
                let ac = table(ac)?;
                while k <= se {
                    let rs = reader.decode(ac)?;
                    let (run, size) = (u32::from(rs >> 4), rs & 15);
                    let mut value = 0;
                    if size != 0 {
                        if size != 1 {
                            return Err(JpegError::Corrupt("bad refinement code".into()));
                        }
                        value = std::hint::select_unpredictable(reader.bit(), plus, minus);
                    } else if run != 15 {
                        *eob_run = (1 << run) + reader.bits(run);
                        break;
                    }
                    // The new coefficient goes at the zero `run` zeros on (past the
                    // band if there are not that many); the non-zero ones on the way
                    // are corrected.
                    let from_k = band_to_se & (u64::MAX << k);
                    let mut zeros = !nonzero & from_k;
                    for _ in 0..run {
                        zeros &= zeros.wrapping_sub(1);
                    }
                    // 64 when there are not that many zeros.
                    let at = zeros.trailing_zeros() as usize;
                    let below_at = zeros.wrapping_sub(1) & !zeros;
                    block.correct(nonzero & from_k & below_at, plus, reader);
                    if value != 0 && at <= se {
                        block.set(at, value);
                        nonzero |= 1 << at;
                    }
                    k = at + 1;
                }
            }
            if *eob_run > 0 {
                // Only the coefficients already non-zero take a correction bit.
                if k <= se {
                    block.correct(nonzero & band_to_se & (u64::MAX << k), plus, reader);
                }
                *eob_run -= 1;
            }
        }
    }
    Ok(())
}
