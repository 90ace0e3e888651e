//! The frame header (SOF): the image's size and components, and the blocks each
//! component's coefficients are kept in while the scans are decoded.

use super::JpegError;

/// What is kept of a component's blocks while scans are decoded.
pub enum Blocks {
    Values(Vec<[i16; 64]>),
    /// Which coefficients are non-zero: all a progressive refinement scan needs to know.
    Nonzero(Vec<u64>),
    Discard,
}

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

/// Frames with fewer blocks than this decode every scan on one thread: a second
/// thread would cost more than it saves.
const BACKGROUND_BLOCKS: usize = 2048;

/// The frame being decoded.
pub struct Frame {
    pub progressive: bool,
    /// Whether the scans of components not kept are decoded in the background.
    pub background: bool,
    pub components: Vec<Component>,
    pub mcus_x: usize,
    pub mcus_y: usize,
    pub blocks: Vec<Blocks>,
    pub luma_quant: Option<[u16; 64]>,
}

/// Reads the SOF payload of a frame. `keep_luma` keeps the first component's
/// coefficients (when it is at full resolution).
pub fn read_frame(
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
                (0, true, _) => Blocks::Values(zeroed_blocks(c.stride * c.rows)),
                (_, _, true) => Blocks::Nonzero(vec![0; c.stride * c.rows]),
                (_, _, false) => Blocks::Discard,
            },
        )
        .collect();
    Ok(Frame {
        progressive,
        background: components[0].stride * components[0].rows >= BACKGROUND_BLOCKS,
        components,
        mcus_x,
        mcus_y,
        blocks,
        luma_quant: None,
    })
}

/// `count` blocks of zeros. Asked for as `[[i16; 16]; 4]`, a type `vec!` knows to
/// take from the allocator already zeroed (`[i16; 64]` it would fill with a loop,
/// touching every page up front); the two have the same layout.
fn zeroed_blocks(count: usize) -> Vec<[i16; 64]> {
    bytemuck::allocation::cast_vec::<[[i16; 16]; 4], [i16; 64]>(vec![[[0; 16]; 4]; count])
}
