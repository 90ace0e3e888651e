//! Huffman decoding for JPEG: decoding tables and the bit reader over entropy-coded
//! data. The encoding side is [`super::encode`].

use super::JpegError;

/// Codes up to this many bits are decoded with one table lookup.
const LOOKUP_BITS: u32 = 11;

/// A decoding table built from a DHT segment.
#[derive(Clone)]
pub struct DecodeTable {
    /// `(length << 8) | symbol` for every `LOOKUP_BITS`-bit prefix; 0 = a longer code.
    lookup: Vec<u16>,
    /// The largest code of each length (-1: none), and the offset from a code of that
    /// length to its symbol's index.
    max_code: [i32; 17],
    offset: [i32; 17],
    symbols: Vec<u8>,
}

impl DecodeTable {
    /// `counts[i]` codes of length `i + 1`, for `symbols` in order. The table is checked
    /// as libjpeg's `jpeg_make_d_derived_tbl` checks it ("Bogus Huffman table
    /// definition") before any entry is written: at most 256 symbols, the codes of each
    /// length fit in that many bits with the all-ones code left unused, and a DC table
    /// (`dc`) codes difference sizes of at most 15 bits.
    pub fn new(counts: &[u8; 16], symbols: &[u8], dc: bool) -> Result<DecodeTable, JpegError> {
        let bogus = |why: &str| JpegError::Corrupt(format!("bad Huffman table: {why}"));
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        if total != symbols.len() || total > 256 {
            return Err(bogus("its counts do not add up"));
        }
        if dc && symbols.iter().any(|&s| s > 15) {
            return Err(bogus("a DC size over 15 bits"));
        }
        let mut lookup = vec![0u16; 1 << LOOKUP_BITS];
        let (mut max_code, mut offset) = ([-1i32; 17], [0i32; 17]);
        let (mut code, mut index) = (0u32, 0usize);
        for length in 1..=16u32 {
            let count = usize::from(counts[length as usize - 1]);
            // Checked before the lookup table is filled: a length with more codes than
            // it has room for would index past the table. `code` ends one past the
            // last code of this length, and must still fit in `length` bits, since no
            // code may be all ones (T.81 C; libjpeg refuses the same).
            if code + count as u32 >= 1 << length {
                return Err(bogus("more codes of one length than fit"));
            }
            offset[length as usize] = index as i32 - code as i32;
            for _ in 0..count {
                if length <= LOOKUP_BITS {
                    let shift = LOOKUP_BITS - length;
                    let first = (code << shift) as usize;
                    let entry = ((length as u16) << 8) | u16::from(symbols[index]);
                    lookup[first..first + (1 << shift)].fill(entry);
                }
                code += 1;
                index += 1;
            }
            if count > 0 {
                max_code[length as usize] = code as i32 - 1;
            }
            code <<= 1;
        }
        Ok(DecodeTable {
            lookup,
            max_code,
            offset,
            symbols: symbols.to_vec(),
        })
    }
}

/// Reads bits from entropy-coded data, undoing 0xFF00 stuffing and stopping at the
/// next marker. Past a marker it supplies zero bits, and counts them: a scan that
/// consumed any of them ended before its last block (a truncated file).
pub struct BitReader<'a> {
    data: &'a [u8],
    pub pos: usize,
    buffer: u64,
    bits: u32,
    /// Zero bits supplied after the data ended.
    virtual_bits: u32,
    at_marker: bool,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8], pos: usize) -> BitReader<'a> {
        BitReader {
            data,
            pos,
            buffer: 0,
            bits: 0,
            virtual_bits: 0,
            at_marker: false,
        }
    }

    fn refill(&mut self) {
        // Eight bytes at once when none of them is 0xFF (no stuffing, no marker): the
        // whole bytes that fit are taken, and the bits of a partial one below them
        // are the same ones the next refill puts there.
        if let Some(chunk) = self.data.get(self.pos..self.pos + 8) {
            let word = u64::from_be_bytes(chunk.try_into().expect("eight bytes"));
            let inverted = !word;
            if !self.at_marker
                && inverted.wrapping_sub(0x0101_0101_0101_0101) & !inverted & 0x8080_8080_8080_8080
                    == 0
            {
                let taken = (64 - self.bits) / 8;
                self.buffer |= word >> self.bits;
                self.bits += 8 * taken;
                self.pos += taken as usize;
                return;
            }
        }
        while self.bits <= 56 {
            let byte = if self.at_marker {
                self.virtual_bits += 8;
                0
            } else {
                match self.data.get(self.pos) {
                    Some(0xFF) => match self.data.get(self.pos + 1) {
                        Some(0x00) => {
                            self.pos += 2;
                            0xFF
                        }
                        _ => {
                            self.at_marker = true;
                            self.virtual_bits += 8;
                            0
                        }
                    },
                    Some(&b) => {
                        self.pos += 1;
                        b
                    }
                    None => {
                        self.at_marker = true;
                        self.virtual_bits += 8;
                        0
                    }
                }
            };
            self.buffer |= u64::from(byte) << (56 - self.bits);
            self.bits += 8;
        }
    }

    /// The byte at `at` (0 past the end).
    pub fn byte(&self, at: usize) -> u8 {
        self.data.get(at).copied().unwrap_or(0)
    }

    /// Whether bits beyond the data were consumed.
    pub fn overran(&self) -> bool {
        self.virtual_bits > self.bits
    }

    #[inline(always)]
    pub fn bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        if self.bits < n {
            self.refill();
        }
        let value = (self.buffer >> (64 - n)) as u32;
        self.buffer <<= n;
        self.bits -= n;
        value
    }

    #[inline(always)]
    pub fn bit(&mut self) -> bool {
        self.bits(1) == 1
    }

    /// Skips `n` bits (at most 64).
    #[inline(always)]
    pub fn skip(&mut self, mut n: u32) {
        if n > 48 {
            self.bits(32);
            n -= 32;
        }
        if self.bits < n {
            self.refill(); // to at least 57 bits
        }
        self.buffer <<= n;
        self.bits -= n;
    }

    /// `n` bits as a signed coefficient (T.81 F.2.2.1 EXTEND).
    #[inline(always)]
    pub fn signed(&mut self, n: u32) -> i32 {
        if n == 0 {
            return 0;
        }
        let value = self.bits(n) as i32;
        // Below 2^(n-1) (top bit clear) it is negative: value - 2^n + 1. Without a
        // branch, as signs are random.
        let negative = (value >> (n - 1)) ^ 1;
        value - negative * ((1 << n) - 1)
    }

    #[inline(always)]
    pub fn decode(&mut self, table: &DecodeTable) -> Result<u8, JpegError> {
        if self.bits < 16 {
            self.refill();
        }
        let entry = table.lookup[(self.buffer >> (64 - LOOKUP_BITS)) as usize];
        if entry != 0 {
            let length = u32::from(entry >> 8);
            self.buffer <<= length;
            self.bits -= length;
            return Ok(entry as u8);
        }
        let peek = (self.buffer >> 48) as i32;
        for length in LOOKUP_BITS + 1..=16 {
            let code = peek >> (16 - length);
            if code <= table.max_code[length as usize] {
                self.buffer <<= length;
                self.bits -= length;
                let index = (code + table.offset[length as usize]) as usize;
                return table
                    .symbols
                    .get(index)
                    .copied()
                    .ok_or_else(|| JpegError::Corrupt("bad Huffman code".into()));
            }
        }
        if self.at_marker {
            return Err(JpegError::Truncated);
        }
        Err(JpegError::Corrupt("bad Huffman code".into()))
    }

    /// Skips to the marker that ends this stretch of entropy-coded data and returns its
    /// position (the 0xFF); `None` if the data ends first.
    pub fn next_marker(&mut self) -> Option<usize> {
        self.buffer = 0;
        self.bits = 0;
        self.virtual_bits = 0;
        self.at_marker = false;
        while self.pos + 1 < self.data.len() {
            if self.data[self.pos] == 0xFF && self.data[self.pos + 1] != 0 {
                return Some(self.pos);
            }
            self.pos += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipping_bits_is_reading_them() {
        let data: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37) | 1).collect();
        for n in [0, 1, 7, 31, 48, 49, 63, 64] {
            let (mut skipped, mut read) = (BitReader::new(&data, 0), BitReader::new(&data, 0));
            read.bits(3);
            skipped.bits(3);
            skipped.skip(n);
            for _ in 0..n / 16 {
                read.bits(16);
            }
            read.bits(n % 16);
            assert_eq!(skipped.bits(32), read.bits(32), "skip {n}");
        }
    }

    /// T.81 K.3's luminance DC table: a real one, which must still be accepted.
    const LUMA_DC_COUNTS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];

    #[test]
    fn tables_are_checked_as_libjpeg_checks_them_before_any_entry_is_written() {
        let symbols: Vec<u8> = (0..12).collect();
        assert!(DecodeTable::new(&LUMA_DC_COUNTS, &symbols, true).is_ok());
        let refused = |counts: [u8; 16], symbols: &[u8], dc: bool| {
            matches!(
                DecodeTable::new(&counts, symbols, dc),
                Err(JpegError::Corrupt(m)) if m.starts_with("bad Huffman table")
            )
        };
        // Three 1-bit codes: used to index past the lookup table and panic.
        let mut three_one_bit = [0u8; 16];
        three_one_bit[0] = 3;
        assert!(refused(three_one_bit, &[0, 1, 2], false));
        // Two 1-bit codes: the second is all ones, which no code may be.
        let mut two_one_bit = [0u8; 16];
        two_one_bit[0] = 2;
        assert!(refused(two_one_bit, &[0, 1], false));
        // One code of each length up to 12 bits leaves room for one 13-bit code only
        // (the other would be all ones): past the lookup's 11 bits too.
        let mut long = [1u8; 16];
        long[12] = 2;
        long[13..].fill(0);
        assert!(refused(long, &[7; 14], false));
        long[12] = 1;
        assert!(DecodeTable::new(&long, &[7; 13], false).is_ok());
        // More than 256 symbols, counts that do not match, a DC size over 15 bits.
        assert!(refused(
            [255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[0; 510],
            false
        ));
        assert!(refused(LUMA_DC_COUNTS, &symbols[..11], true));
        let mut big_dc = symbols.clone();
        big_dc[11] = 16;
        assert!(refused(LUMA_DC_COUNTS, &big_dc, true));
        assert!(
            DecodeTable::new(&LUMA_DC_COUNTS, &big_dc, false).is_ok(),
            "AC may"
        );
    }

    #[test]
    fn reading_past_the_end_is_noticed() {
        let mut reader = BitReader::new(&[0xAB, 0xFF, 0xD9], 0);
        assert_eq!(reader.bits(8), 0xAB);
        assert!(!reader.overran());
        reader.bits(1);
        assert!(reader.overran());
    }
}
