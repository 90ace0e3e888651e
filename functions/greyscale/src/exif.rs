//! EXIF and XMP as they travel from an input image to its greyscale output: the
//! orientation and camera data stay, the colour thumbnail goes, and the GPS position
//! goes too unless `keep_gps` is set (these are images from the web, re-served to
//! others).

/// The EXIF block (a TIFF structure) to write on the output, or `None` to write none.
/// The GPS IFD is zeroed and unlinked unless `keep_gps`; the thumbnail IFD is always
/// dropped. An EXIF block too broken to edit safely is dropped whole.
pub fn clean_exif(tiff: &[u8], keep_gps: bool) -> Option<Vec<u8>> {
    let tiff = tiff.strip_prefix(b"Exif\0\0").unwrap_or(tiff);
    let mut t = Tiff {
        bytes: tiff.to_vec(),
        little_endian: match tiff.get(..4)? {
            [b'I', b'I', 42, 0] => true,
            [b'M', b'M', 0, 42] => false,
            _ => return None,
        },
    };
    let ifd0 = t.u32(4)? as usize;
    let count = usize::from(t.u16(ifd0)?);
    let next_at = ifd0 + 2 + 12 * count;
    let ifd1 = t.u32(next_at)? as usize;
    if ifd1 != 0 {
        t.erase_ifd(ifd1);
        t.put_u32(next_at, 0);
    }
    let gps_entry = (0..count).find(|i| t.u16(ifd0 + 2 + 12 * i) == Some(0x8825));
    if let (false, Some(index)) = (keep_gps, gps_entry) {
        let gps = t.u32(ifd0 + 2 + 12 * index + 8)? as usize;
        if !t.erase_ifd(gps) {
            return None; // cannot be sure the position is gone
        }
        // Remove the pointer: later entries and the next-IFD offset move up.
        let entry = ifd0 + 2 + 12 * index;
        t.bytes.copy_within(entry + 12..next_at + 4, entry);
        t.bytes[next_at - 8..next_at + 4].fill(0);
        t.put_u16(ifd0, (count - 1) as u16);
    }
    Some(t.bytes)
}

/// The XMP packet to write on the output: dropped when it records a GPS position
/// and `keep_gps` is off.
pub fn clean_xmp(xmp: &[u8], keep_gps: bool) -> Option<&[u8]> {
    (keep_gps || !xmp_has_gps(xmp)).then_some(xmp)
}

/// Whether an XMP packet records a GPS position.
pub fn xmp_has_gps(xmp: &[u8]) -> bool {
    xmp.windows(6)
        .any(|w| w == b"GPSLat" || w == b"GPSLon" || w == b"GPSAlt")
}

/// A TIFF structure being edited in place.
struct Tiff {
    bytes: Vec<u8>,
    little_endian: bool,
}

impl Tiff {
    fn u16(&self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.bytes.get(at..at + 2)?.try_into().ok()?;
        Some(if self.little_endian {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if self.little_endian {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    fn put_u16(&mut self, at: usize, v: u16) {
        let b = if self.little_endian {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        };
        self.bytes[at..at + 2].copy_from_slice(&b);
    }

    fn put_u32(&mut self, at: usize, v: u32) {
        let b = if self.little_endian {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        };
        self.bytes[at..at + 4].copy_from_slice(&b);
    }

    fn zero(&mut self, at: usize, len: usize) {
        let end = at.saturating_add(len).min(self.bytes.len());
        if at < end {
            self.bytes[at..end].fill(0);
        }
    }

    /// Zeroes an IFD, the values it points to and, for a thumbnail IFD, the thumbnail.
    /// `false` if the IFD itself lies outside the block.
    fn erase_ifd(&mut self, at: usize) -> bool {
        let Some(count) = self.u16(at).map(usize::from) else {
            return false;
        };
        if at + 2 + 12 * count + 4 > self.bytes.len() {
            return false;
        }
        let (mut thumbnail_at, mut thumbnail_len) = (0, 0);
        for i in 0..count {
            let entry = at + 2 + 12 * i;
            let (tag, kind, n) = (
                self.u16(entry).unwrap_or(0),
                self.u16(entry + 2).unwrap_or(0),
                self.u32(entry + 4).unwrap_or(0) as usize,
            );
            let value = self.u32(entry + 8).unwrap_or(0) as usize;
            let unit = match kind {
                1 | 2 | 6 | 7 => 1,
                3 | 8 => 2,
                4 | 9 | 11 => 4,
                5 | 10 | 12 => 8,
                _ => 0,
            };
            let size = unit * n;
            if size > 4 {
                self.zero(value, size);
            }
            match tag {
                0x0201 => thumbnail_at = value,
                0x0202 => thumbnail_len = value,
                _ => {}
            }
        }
        if thumbnail_len > 0 {
            self.zero(thumbnail_at, thumbnail_len);
        }
        self.zero(at, 2 + 12 * count + 4);
        true
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A little-endian EXIF block: IFD0 with Orientation and a GPS pointer, a GPS IFD
    /// with a latitude, and a thumbnail IFD.
    pub fn sample_exif(orientation: u16) -> Vec<u8> {
        let mut t = b"II*\0".to_vec();
        t.extend_from_slice(&8u32.to_le_bytes());
        // IFD0 at 8: 2 entries.
        t.extend_from_slice(&2u16.to_le_bytes());
        t.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0]);
        t.extend_from_slice(&u32::from(orientation).to_le_bytes());
        t.extend_from_slice(&[0x25, 0x88, 4, 0, 1, 0, 0, 0]);
        t.extend_from_slice(&38u32.to_le_bytes()); // GPS IFD
        t.extend_from_slice(&72u32.to_le_bytes()); // IFD1
        // GPS IFD at 38: GPSLatitude, 3 rationals at 56.
        t.extend_from_slice(&1u16.to_le_bytes());
        t.extend_from_slice(&[2, 0, 5, 0, 3, 0, 0, 0]);
        t.extend_from_slice(&56u32.to_le_bytes());
        t.extend_from_slice(&0u32.to_le_bytes());
        for v in [48u32, 1, 51, 1, 30, 1] {
            t.extend_from_slice(&v.to_le_bytes()); // 48° 51' 30" at 56..80
        }
        t.truncate(80);
        // IFD1 at 80: no entries (moved to keep offsets simple).
        t.extend_from_slice(&0u16.to_le_bytes());
        t.extend_from_slice(&0u32.to_le_bytes());
        let ifd1 = 80u32.to_le_bytes();
        t[34..38].copy_from_slice(&ifd1);
        t
    }

    #[test]
    fn gps_and_thumbnail_go_orientation_stays() {
        let exif = sample_exif(6);
        let cleaned = clean_exif(&exif, false).unwrap();
        assert_eq!(cleaned.len(), exif.len());
        // IFD0 now holds one entry, the orientation, and no next IFD.
        assert_eq!(&cleaned[8..10], &1u16.to_le_bytes());
        assert_eq!(&cleaned[10..12], &[0x12, 0x01]);
        assert_eq!(&cleaned[18..20], &6u16.to_le_bytes());
        assert_eq!(&cleaned[22..26], &0u32.to_le_bytes());
        assert!(
            cleaned[38..80].iter().all(|&b| b == 0),
            "GPS IFD and values zeroed"
        );

        let kept = clean_exif(&exif, true).unwrap();
        assert_eq!(&kept[8..10], &2u16.to_le_bytes());
        assert_eq!(kept[38..80], exif[38..80]);
    }

    #[test]
    fn broken_exif_is_dropped() {
        assert!(clean_exif(b"II*\0\xff\xff\xff\xff", false).is_none());
        assert!(clean_exif(b"not exif", false).is_none());
        assert!(xmp_has_gps(b"<x exif:GPSLatitude='1'/>"));
        assert!(!xmp_has_gps(b"<x exif:DateTime='1'/>"));
    }
}
