//! What reading a JPEG may cost. A progressive JPEG can be a long run of scans of
//! end-of-band codes, a few bytes each, every one of which walks every block of its
//! component: 10,000 of them on a 4000×4000 image took 4.7 s of CPU from 350 KB. So:
//!
//! - the scans are counted before any is decoded (a walk over the markers, as fast as
//!   finding the 0xFF bytes), and a file with more than `max_scans` is refused — the
//!   limit libjpeg-turbo's tools take as `-maxscans`;
//! - the blocks all the scans together visit are counted before each scan is decoded,
//!   and may be at most [`VISITS_PER_BLOCK`] times the frame's blocks: however the scans
//!   are cut, a file costs at most that many walks over its image.

use super::JpegError;
use super::frame::Frame;
use super::scan::Scan;

/// The limits a JPEG is read under.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `max_pixels`: width × height, checked from the frame header before allocating.
    pub max_pixels: u64,
    /// `max_scans`: SOS segments in one file.
    pub max_scans: u32,
}

/// How many times, on average, the scans may visit each block of the frame. The
/// corpus's progressive photos (10 scans each, libjpeg's default script) visit each
/// block 4.7 and 5.3 times, a baseline file once, and a grey image coded one
/// coefficient band per scan 64 times; a stream of scans that do nothing but skip
/// blocks is refused once past this.
pub const VISITS_PER_BLOCK: u64 = 100;

/// The segments of a JPEG from its header on: each marker with where its payload
/// starts, the entropy-coded data after a scan skipped by
/// looking for its closing marker. A file that breaks off or is malformed ends the
/// walk: the reader that follows reports it. Stops after EOI.
struct Segments<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Iterator for Segments<'_> {
    /// (marker, start of the payload)
    type Item = (u8, usize);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let &[0xFF, marker] = self.data.get(self.pos..self.pos + 2)? else {
                return None;
            };
            match marker {
                0xFF => self.pos += 1, // fill byte
                0xD9 => return None,
                0xD0..=0xD7 | 0x01 => self.pos += 2,
                _ => {
                    let length = self.data.get(self.pos + 2..self.pos + 4)?;
                    let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
                    let start = self.pos + 4;
                    self.pos += 2 + length;
                    if marker == 0xDA {
                        // An unfinished scan ends the walk after this segment.
                        self.pos = super::read::end_of_entropy_data(self.data, self.pos)
                            .unwrap_or(self.data.len());
                    }
                    return Some((marker, start));
                }
            }
        }
    }
}

fn segments(data: &[u8]) -> Segments<'_> {
    Segments { data, pos: 2 }
}

/// Counts the scans (SOS markers) of `data`, stopping once there are more than `limit`.
pub fn count_scans(data: &[u8], limit: u32) -> u32 {
    let mut scans = 0;
    for (marker, _) in segments(data) {
        if marker == 0xDA {
            scans += 1;
            if scans > limit {
                break;
            }
        }
    }
    scans
}

/// The width and height in the first frame header (SOFn) of `data`, read without
/// reading anything else: what a conversion's memory is estimated from.
pub fn frame_size(data: &[u8]) -> Option<(u16, u16)> {
    segments(data).find_map(|(marker, start)| {
        let is_frame = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        let header = data.get(start..start + 5).filter(|_| is_frame)?;
        let height = u16::from_be_bytes([header[1], header[2]]);
        let width = u16::from_be_bytes([header[3], header[4]]);
        Some((width, height))
    })
}

/// The block visits of the scans read so far, against the frame's budget.
pub struct ScanWork {
    visits: u64,
    budget: u64,
}

impl ScanWork {
    pub fn new(frame: &Frame) -> ScanWork {
        let blocks: u64 = frame
            .components
            .iter()
            .map(|c| (c.stride * c.rows) as u64)
            .sum();
        ScanWork {
            visits: 0,
            budget: blocks.saturating_mul(VISITS_PER_BLOCK),
        }
    }

    /// Adds the blocks `scan` visits, or refuses it if they take the total over budget.
    pub fn add(&mut self, scan: &Scan, frame: &Frame) -> Result<(), JpegError> {
        let blocks: u64 = match &scan.components[..] {
            // One component: its own blocks, in raster order.
            [single] => {
                let c = &frame.components[single.index];
                (c.blocks_w * c.blocks_h) as u64
            }
            // Interleaved: every MCU, each holding h × v blocks of each component.
            many => many
                .iter()
                .map(|s| {
                    let c = &frame.components[s.index];
                    (frame.mcus_x * frame.mcus_y * c.h * c.v) as u64
                })
                .sum(),
        };
        self.visits += blocks;
        if self.visits > self.budget {
            return Err(JpegError::TooMuchScanWork {
                limit: VISITS_PER_BLOCK,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_are_counted_past_their_entropy_data_and_restart_markers() {
        // SOI, a segment, two scans (the first with a restart marker and a stuffed
        // 0xFF in its data), EOI.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 1, 2];
        for _ in 0..2 {
            jpeg.extend_from_slice(&[0xFF, 0xDA, 0, 3, 9]);
            jpeg.extend_from_slice(&[1, 0xFF, 0x00, 2, 0xFF, 0xD0, 3, 0xFF, 0xFF]);
        }
        jpeg.extend_from_slice(&[0xFF, 0xD9, 0xFF, 0xDA, 0, 2]);
        assert_eq!(count_scans(&jpeg, 10), 2, "nothing after EOI counts");
        assert_eq!(count_scans(&jpeg, 0), 1, "stops once over the limit");
        assert_eq!(count_scans(&jpeg[..20], 10), 1, "a file that breaks off");
    }
}
