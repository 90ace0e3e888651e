//! Huffman encoding for JPEG: optimal tables (ITU T.81 Annex K.2, as libjpeg builds
//! them), and the bit sinks coded symbols go to.

/// Code lengths and codes for one table, as a DHT segment and for encoding.
pub struct EncodeTable {
    pub counts: [u8; 16],
    pub symbols: Vec<u8>,
    /// `(code, length)` per symbol.
    codes: [(u16, u8); 256],
}

impl EncodeTable {
    /// The length of `symbol`'s code (0: it has none).
    pub fn code_length(&self, symbol: u8) -> u8 {
        self.codes[usize::from(symbol)].1
    }

    /// The optimal table for these symbol frequencies (libjpeg's jpeg_gen_optimal_table:
    /// codes at most 16 bits, and no code of all ones).
    pub fn optimal(frequencies: &[u32; 256]) -> EncodeTable {
        let mut freq = [0i64; 257];
        for (f, &v) in freq.iter_mut().zip(frequencies) {
            *f = i64::from(v);
        }
        freq[256] = 1; // reserves the all-ones code
        let mut code_size = [0usize; 257];
        let mut others = [-1i32; 257];
        loop {
            let smallest = |exclude: Option<usize>, freq: &[i64; 257]| {
                let mut best: Option<usize> = None;
                for i in 0..257 {
                    if freq[i] > 0 && Some(i) != exclude && best.is_none_or(|b| freq[i] <= freq[b])
                    {
                        best = Some(i);
                    }
                }
                best
            };
            let Some(c1) = smallest(None, &freq) else {
                break;
            };
            let Some(c2) = smallest(Some(c1), &freq) else {
                break;
            };
            freq[c1] += freq[c2];
            freq[c2] = 0;
            let mut c = c1;
            code_size[c] += 1;
            while others[c] >= 0 {
                c = others[c] as usize;
                code_size[c] += 1;
            }
            others[c] = c2 as i32;
            let mut c = c2;
            code_size[c] += 1;
            while others[c] >= 0 {
                c = others[c] as usize;
                code_size[c] += 1;
            }
        }
        let mut bits = [0u32; 33];
        for &size in &code_size {
            if size > 0 {
                bits[size.min(32)] += 1;
            }
        }
        for i in (17..=32).rev() {
            while bits[i] > 0 {
                let mut j = i - 2;
                while bits[j] == 0 {
                    j -= 1;
                }
                bits[i] -= 2;
                bits[i - 1] += 1;
                bits[j + 1] += 2;
                bits[j] -= 1;
            }
        }
        let mut i = 16;
        while bits[i] == 0 {
            i -= 1;
        }
        bits[i] -= 1; // drop the reserved code
        let mut counts = [0u8; 16];
        for (c, &b) in counts.iter_mut().zip(&bits[1..=16]) {
            *c = b as u8;
        }
        let mut symbols = Vec::new();
        for size in 1..=32 {
            for (symbol, &s) in code_size.iter().enumerate().take(256) {
                if s == size {
                    symbols.push(symbol as u8);
                }
            }
        }
        symbols.truncate(counts.iter().map(|&c| usize::from(c)).sum());
        let mut codes = [(0u16, 0u8); 256];
        let (mut code, mut index) = (0u32, 0usize);
        for length in 1..=16u8 {
            for _ in 0..counts[usize::from(length) - 1] {
                codes[usize::from(symbols[index])] = (code as u16, length);
                code += 1;
                index += 1;
            }
            code <<= 1;
        }
        EncodeTable {
            counts,
            symbols,
            codes,
        }
    }
}

/// Where coded bits go: the file itself ([`BitWriter`]) or a stretch to be joined to
/// it later ([`RawBits`]).
pub trait BitSink {
    /// Appends `length` bits (1 to 32): `value`, which has no bits set above them.
    fn put(&mut self, value: u32, length: u32);

    /// A symbol's code followed by `extra_length` extra bits (`extra`, nothing above
    /// them); the symbol has a code in `table`.
    #[inline(always)]
    fn symbol(&mut self, table: &EncodeTable, symbol: u8, extra: u32, extra_length: u32) {
        let (code, length) = table.codes[usize::from(symbol)];
        self.put(
            (u32::from(code) << extra_length) | extra,
            u32::from(length) + extra_length,
        );
    }
}

/// Bits not yet whole 32-bit words, MSB first.
#[derive(Default)]
struct Pending {
    buffer: u64,
    bits: u32,
}

impl Pending {
    /// Adds `length` bits (1 to 32, nothing set above them); returns the next whole
    /// word when there is one.
    #[inline(always)]
    fn push(&mut self, value: u32, length: u32) -> Option<u32> {
        debug_assert!((1..=32).contains(&length) && u64::from(value) >> length == 0);
        self.buffer = (self.buffer << length) | u64::from(value);
        self.bits += length;
        if self.bits < 32 {
            return None;
        }
        self.bits -= 32;
        Some((self.buffer >> self.bits) as u32)
    }

    /// The bits left over (fewer than 32) and how many they are, if any.
    fn rest(&self) -> Option<(u32, u32)> {
        (self.bits > 0).then(|| {
            let value = (self.buffer as u32) & (u32::MAX >> (32 - self.bits));
            (value, self.bits)
        })
    }
}

/// Writes bits MSB first, stuffing a zero byte after every 0xFF.
pub struct BitWriter {
    pub out: Vec<u8>,
    pending: Pending,
}

impl BitSink for BitWriter {
    #[inline(always)]
    fn put(&mut self, value: u32, length: u32) {
        let Some(word) = self.pending.push(value, length) else {
            return;
        };
        let inverted = !word;
        // No 0xFF byte in `word` (no zero byte in its inverse): copy it whole.
        if inverted.wrapping_sub(0x0101_0101) & !inverted & 0x8080_8080 == 0 {
            self.out.extend_from_slice(&word.to_be_bytes());
        } else {
            for byte in word.to_be_bytes() {
                self.push_byte(byte);
            }
        }
    }
}

impl BitWriter {
    pub fn new(out: Vec<u8>) -> BitWriter {
        BitWriter {
            out,
            pending: Pending::default(),
        }
    }

    fn push_byte(&mut self, byte: u8) {
        self.out.push(byte);
        if byte == 0xFF {
            self.out.push(0);
        }
    }

    /// Appends bits coded elsewhere, stuffing them as this writer's own.
    pub fn append(&mut self, raw: &RawBits) {
        for &word in &raw.words {
            self.put(word, 32);
        }
        if let Some((value, length)) = raw.pending.rest() {
            self.put(value, length);
        }
    }

    /// Pads the last byte with one bits and returns the output.
    pub fn finish(mut self) -> Vec<u8> {
        let pad = (8 - self.pending.bits % 8) % 8;
        if pad > 0 {
            self.put((1 << pad) - 1, pad);
        }
        // Whole bytes still buffered.
        let Pending { buffer, mut bits } = self.pending;
        while bits >= 8 {
            bits -= 8;
            self.push_byte((buffer >> bits) as u8);
        }
        self.out
    }
}

/// Bits kept as they are coded, in 32-bit words, unstuffed: a stretch of a scan coded
/// apart from the rest (on another thread) and joined with [`BitWriter::append`].
pub struct RawBits {
    words: Vec<u32>,
    pending: Pending,
}

impl RawBits {
    /// Room for about `bits` bits.
    pub fn with_capacity(bits: u64) -> RawBits {
        RawBits {
            words: Vec::with_capacity((bits / 32 + 1) as usize),
            pending: Pending::default(),
        }
    }
}

impl BitSink for RawBits {
    #[inline(always)]
    fn put(&mut self, value: u32, length: u32) {
        if let Some(word) = self.pending.push(value, length) {
            self.words.push(word);
        }
    }
}

/// The magnitude category of a coefficient (the number of bits it needs).
/// Without a branch on the sign: signs are random, and a mispredicted branch per
/// coefficient costs more than the arithmetic.
#[inline(always)]
pub fn category(value: i32) -> u32 {
    let sign = value >> 31; // 0 or -1
    let magnitude = ((value ^ sign).wrapping_sub(sign)) as u32;
    32 - magnitude.leading_zeros()
}

/// The low `category` bits that follow a category symbol (T.81 F.1.2.1).
#[inline(always)]
pub fn magnitude_bits(value: i32, category: u32) -> u32 {
    // value - 1 when negative, without a branch (see `category`).
    let v = value.wrapping_add(value >> 31);
    (v as u32) & ((1u32 << category) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dct::huffman::{BitReader, DecodeTable};

    #[test]
    fn optimal_codes_round_trip_through_the_decoder() {
        let mut frequencies = [0u32; 256];
        for (i, f) in frequencies.iter_mut().enumerate().take(200) {
            *f = (i as u32 * 7919) % 1000 + 1;
        }
        let table = EncodeTable::optimal(&frequencies);
        assert!(table.counts.iter().map(|&c| usize::from(c)).sum::<usize>() == 200);
        let decode = DecodeTable::new(&table.counts, &table.symbols, false).unwrap();
        let mut writer = BitWriter::new(Vec::new());
        for symbol in 0..200u8 {
            writer.symbol(&table, symbol, magnitude_bits(-5, 3), 3);
            writer.put(0xFF, 8); // stuffed
        }
        let data = writer.finish();
        let mut reader = BitReader::new(&data, 0);
        for symbol in 0..200u8 {
            assert_eq!(reader.decode(&decode).unwrap(), symbol);
            assert_eq!(reader.signed(3), -5);
            assert_eq!(reader.bits(8), 0xFF);
        }
        assert!(!reader.overran());
    }

    #[test]
    fn categories() {
        assert_eq!(category(0), 0);
        assert_eq!(category(1), 1);
        assert_eq!(category(-1), 1);
        assert_eq!(category(-1023), 10);
        assert_eq!(category(2047), 11);
        assert_eq!(magnitude_bits(-1, 1), 0);
        assert_eq!(magnitude_bits(1, 1), 1);
        assert_eq!(magnitude_bits(-3, 2), 0);
        assert_eq!(magnitude_bits(-2, 2), 1);
    }
}
