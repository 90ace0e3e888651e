//! Reads a JPEG down to its quantised DCT coefficients: markers, tables, and every scan
//! (baseline, extended and progressive Huffman; interleaved or not; restart markers).
//! Only the first component's coefficients are kept; the others are decoded just far
//! enough to find where each scan ends and to notice a truncated file.

use super::huffman::{BitReader, DecodeTable};
use super::{JpegError, Segment};

/// One component of the frame.
#[derive(Debug, Clone)]
pub struct Component {
    pub id: u8,
    pub h: usize,
    pub v: usize,
    pub quant_table: usize,
    /// The component's own size in blocks (what a non-interleaved scan codes).
    pub blocks_w: usize,
    pub blocks_h: usize,
    /// The size in blocks padded to whole MCUs (what an interleaved scan codes).
    pub stride: usize,
    pub rows: usize,
}

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

/// What is kept of a component's blocks while scans are decoded.
enum Blocks {
    Values(Vec<[i16; 64]>),
    /// Which coefficients are non-zero: all a progressive refinement scan needs to know.
    Nonzero(Vec<u64>),
    Discard,
}

/// The coefficient operations a scan performs on one block.
trait Coefficients {
    fn is_set(&self, k: usize) -> bool;
    fn set(&mut self, k: usize, value: i32);
    fn refine(&mut self, k: usize, bit: i32);
    /// Adds a refinement bit to the DC coefficient.
    fn or_dc(&mut self, bit: i32);
    /// Bit k set where coefficient k is non-zero.
    fn nonzero(&self) -> u64;
}

impl Coefficients for [i16; 64] {
    fn is_set(&self, k: usize) -> bool {
        self[k] != 0
    }
    fn set(&mut self, k: usize, value: i32) {
        self[k] = value.clamp(i16::MIN.into(), i16::MAX.into()) as i16;
    }
    fn refine(&mut self, k: usize, bit: i32) {
        let c = i32::from(self[k]);
        if c & bit == 0 {
            self.set(k, if c >= 0 { c + bit } else { c - bit });
        }
    }
    fn or_dc(&mut self, bit: i32) {
        self[0] |= bit as i16;
    }
    fn nonzero(&self) -> u64 {
        super::nonzero_mask(self)
    }
}

impl Coefficients for u64 {
    fn is_set(&self, k: usize) -> bool {
        *self >> k & 1 == 1
    }
    fn set(&mut self, k: usize, value: i32) {
        if value != 0 {
            *self |= 1 << k;
        }
    }
    fn refine(&mut self, _: usize, _: i32) {}
    fn or_dc(&mut self, _: i32) {}
    fn nonzero(&self) -> u64 {
        *self
    }
}

/// What one scan codes.
#[derive(Clone, Copy)]
enum Pass {
    Sequential,
    DcFirst { al: u32 },
    DcRefine { al: u32 },
    AcFirst { ss: usize, se: usize, al: u32 },
    AcRefine { ss: usize, se: usize, al: u32 },
}

struct Tables {
    dc: [Option<DecodeTable>; 4],
    ac: [Option<DecodeTable>; 4],
}

/// One component's part in a scan.
struct ScanComponent {
    index: usize,
    dc: usize,
    ac: usize,
    predictor: i32,
}

struct Frame {
    progressive: bool,
    components: Vec<Component>,
    mcus_x: usize,
    mcus_y: usize,
    blocks: Vec<Blocks>,
    luma_quant: Option<[u16; 64]>,
}

/// Reads `data` as a JPEG. `keep_luma` keeps the first component's coefficients when
/// it is at full resolution; `max_pixels` is checked before anything is allocated.
pub fn read(data: &[u8], max_pixels: u64, keep_luma: bool) -> Result<Jpeg<'_>, JpegError> {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return Err(JpegError::Corrupt("no SOI marker".into()));
    }
    let mut pos = 2;
    let mut tables = Tables {
        dc: Default::default(),
        ac: Default::default(),
    };
    let mut quant: [Option<[u16; 64]>; 4] = [None; 4];
    let mut restart_interval = 0usize;
    let mut segments = Vec::new();
    let mut frame: Option<Frame> = None;
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
                let mut reader = BitReader::new(data, pos);
                let complete =
                    decode_scan(payload, f, &tables, &quant, restart_interval, &mut reader)?;
                if !complete {
                    break;
                }
                match reader.next_marker() {
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
        let table = DecodeTable::new(&counts, symbols)?;
        if class == 0 {
            tables.dc[id] = Some(table);
        } else {
            tables.ac[id] = Some(table);
        }
        payload = &payload[17 + total..];
    }
    Ok(())
}

fn read_frame(
    payload: &[u8],
    progressive: bool,
    max_pixels: u64,
    keep_luma: bool,
) -> Result<Frame, JpegError> {
    let short = || JpegError::Corrupt("short frame header".into());
    let header = payload.get(..6).ok_or_else(short)?;
    if header[0] != 8 {
        return Err(JpegError::Unsupported(format!("{}-bit samples", header[0])));
    }
    let height = usize::from(u16::from_be_bytes([header[1], header[2]]));
    let width = usize::from(u16::from_be_bytes([header[3], header[4]]));
    if height == 0 || width == 0 {
        return Err(JpegError::Unsupported(
            "height given by a DNL marker".into(),
        ));
    }
    if (width * height) as u64 > max_pixels {
        return Err(JpegError::TooManyPixels {
            width,
            height,
            limit: max_pixels,
        });
    }
    let count = usize::from(header[5]);
    let specs = payload.get(6..6 + 3 * count).ok_or_else(short)?;
    if count == 0 || count > 4 {
        return Err(JpegError::Unsupported(format!("{count} components")));
    }
    let mut components: Vec<Component> = specs
        .chunks_exact(3)
        .map(|c| Component {
            id: c[0],
            h: usize::from(c[1] >> 4),
            v: usize::from(c[1] & 15),
            quant_table: usize::from(c[2]),
            blocks_w: 0,
            blocks_h: 0,
            stride: 0,
            rows: 0,
        })
        .collect();
    if components
        .iter()
        .any(|c| !(1..=4).contains(&c.h) || !(1..=4).contains(&c.v) || c.quant_table > 3)
    {
        return Err(JpegError::Corrupt("bad sampling factors or table".into()));
    }
    let h_max = components.iter().map(|c| c.h).max().unwrap_or(1);
    let v_max = components.iter().map(|c| c.v).max().unwrap_or(1);
    let (mcus_x, mcus_y) = (width.div_ceil(8 * h_max), height.div_ceil(8 * v_max));
    for c in &mut components {
        c.blocks_w = (width * c.h).div_ceil(h_max).div_ceil(8);
        c.blocks_h = (height * c.v).div_ceil(v_max).div_ceil(8);
        c.stride = mcus_x * c.h;
        c.rows = mcus_y * c.v;
    }
    let full_resolution = components[0].h == h_max && components[0].v == v_max;
    let blocks = components
        .iter()
        .enumerate()
        .map(
            |(i, c)| match (i, keep_luma && full_resolution, progressive) {
                (0, true, _) => Blocks::Values(vec![[0; 64]; c.stride * c.rows]),
                (_, _, true) => Blocks::Nonzero(vec![0; c.stride * c.rows]),
                (_, _, false) => Blocks::Discard,
            },
        )
        .collect();
    Ok(Frame {
        progressive,
        components,
        mcus_x,
        mcus_y,
        blocks,
        luma_quant: None,
    })
}

/// Decodes one scan. `Ok(false)`: its data ended before its last block.
fn decode_scan(
    header: &[u8],
    frame: &mut Frame,
    tables: &Tables,
    quant: &[Option<[u16; 64]>; 4],
    restart_interval: usize,
    reader: &mut BitReader,
) -> Result<bool, JpegError> {
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
        let index = frame
            .components
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
    let pass = if !frame.progressive {
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
    for s in &scan {
        let needs_dc = matches!(pass, Pass::Sequential | Pass::DcFirst { .. });
        let needs_ac = matches!(
            pass,
            Pass::Sequential | Pass::AcFirst { .. } | Pass::AcRefine { .. }
        );
        if (needs_dc && tables.dc.get(s.dc).is_none_or(Option::is_none))
            || (needs_ac && tables.ac.get(s.ac).is_none_or(Option::is_none))
        {
            return Err(JpegError::Corrupt(
                "scan uses an undefined Huffman table".into(),
            ));
        }
        if s.index == 0 && frame.luma_quant.is_none() {
            let table = frame.components[0].quant_table;
            frame.luma_quant = Some(quant[table].ok_or_else(|| {
                JpegError::Corrupt("component uses an undefined quantisation table".into())
            })?);
        }
    }
    if let [single] = &mut scan[..] {
        // Non-interleaved (every progressive AC scan): one store type for the whole scan.
        let component = &frame.components[single.index];
        let mut scratch = [[0i16; 64]];
        let scan = SingleScan {
            component,
            tables,
            pass,
            restart_interval,
        };
        return match &mut frame.blocks[single.index] {
            Blocks::Values(v) => scan.decode(v, false, single, reader),
            Blocks::Nonzero(m) => scan.decode(m, false, single, reader),
            Blocks::Discard => scan.decode(&mut scratch, true, single, reader),
        };
    }
    let mut eob_run = 0u32;
    let mut scratch = [0i16; 64];
    for unit in 0..frame.mcus_x * frame.mcus_y {
        if restart_interval > 0 && unit > 0 && unit.is_multiple_of(restart_interval) {
            if !restart(reader) {
                return Ok(false);
            }
            eob_run = 0;
            for s in &mut scan {
                s.predictor = 0;
            }
        }
        let (mx, my) = (unit % frame.mcus_x, unit / frame.mcus_x);
        for s in &mut scan {
            let c = &frame.components[s.index];
            let (h, v, stride) = (c.h, c.v, c.stride);
            let dc = tables.dc.get(s.dc).and_then(Option::as_ref);
            let ac = tables.ac.get(s.ac).and_then(Option::as_ref);
            let p = &mut s.predictor;
            for y in 0..v {
                for x in 0..h {
                    let block = (my * v + y) * stride + mx * h + x;
                    let e = &mut eob_run;
                    match &mut frame.blocks[s.index] {
                        Blocks::Values(b) => {
                            decode_block(pass, reader, dc, ac, &mut b[block], p, e)
                        }
                        Blocks::Nonzero(m) => {
                            decode_block(pass, reader, dc, ac, &mut m[block], p, e)
                        }
                        Blocks::Discard => decode_block(pass, reader, dc, ac, &mut scratch, p, e),
                    }?;
                }
            }
        }
    }
    Ok(!reader.overran())
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

/// A scan of one component, which codes its blocks in raster order.
struct SingleScan<'a> {
    component: &'a Component,
    tables: &'a Tables,
    pass: Pass,
    restart_interval: usize,
}

impl SingleScan<'_> {
    /// `discard`: decode every block into `blocks[0]`.
    fn decode<C: Coefficients>(
        &self,
        blocks: &mut [C],
        discard: bool,
        s: &mut ScanComponent,
        reader: &mut BitReader,
    ) -> Result<bool, JpegError> {
        let c = self.component;
        let dc = self.tables.dc.get(s.dc).and_then(Option::as_ref);
        let ac = self.tables.ac.get(s.ac).and_then(Option::as_ref);
        let mut eob_run = 0u32;
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
                    s.predictor = 0;
                }
                unit += 1;
                let block = if discard { 0 } else { by * c.stride + bx };
                decode_block(
                    self.pass,
                    reader,
                    dc,
                    ac,
                    &mut blocks[block],
                    &mut s.predictor,
                    &mut eob_run,
                )?;
            }
        }
        Ok(!reader.overran())
    }
}

/// Decodes one block of one scan (T.81 F.2.2 and G.1.2; refinement as libjpeg does it).
fn decode_block<C: Coefficients>(
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
                    block.set(k, reader.signed(size));
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
                block.set(k, reader.signed(size) * (1 << al));
                k += 1;
            }
        }
        Pass::AcRefine { ss, se, al } => {
            let (plus, minus) = (1i32 << al, -1i32 << al);
            let mut k = ss;
            if *eob_run == 0 {
                let ac = table(ac)?;
                while k <= se {
                    let rs = reader.decode(ac)?;
                    let (mut run, size) = (i32::from(rs >> 4), rs & 15);
                    let mut value = 0;
                    if size != 0 {
                        if size != 1 {
                            return Err(JpegError::Corrupt("bad refinement code".into()));
                        }
                        value = if reader.bit() { plus } else { minus };
                    } else if run != 15 {
                        *eob_run = (1 << run) + reader.bits(run as u32);
                        break;
                    }
                    while k <= se {
                        if block.is_set(k) {
                            if reader.bit() {
                                block.refine(k, plus);
                            }
                        } else {
                            run -= 1;
                            if run < 0 {
                                break;
                            }
                        }
                        k += 1;
                    }
                    if value != 0 && k <= se {
                        block.set(k, value);
                    }
                    k += 1;
                }
            }
            if *eob_run > 0 {
                // Only the coefficients already non-zero take a correction bit.
                if k <= se {
                    let band = (u64::MAX >> (63 - se)) & (u64::MAX << k);
                    let mut pending = block.nonzero() & band;
                    while pending != 0 {
                        let at = pending.trailing_zeros() as usize;
                        pending &= pending - 1;
                        if reader.bit() {
                            block.refine(at, plus);
                        }
                    }
                }
                *eob_run -= 1;
            }
        }
    }
    Ok(())
}
