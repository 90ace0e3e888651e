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
    /// `N` bytes at `at`, in little-endian order whatever the block's order.
    fn read<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        let mut b: [u8; N] = self.bytes.get(at..at + N)?.try_into().ok()?;
        if !self.little_endian {
            b.reverse();
        }
        Some(b)
    }

    /// Writes little-endian `b` at `at` in the block's order.
    fn write<const N: usize>(&mut self, at: usize, mut b: [u8; N]) {
        if !self.little_endian {
            b.reverse();
        }
        self.bytes[at..at + N].copy_from_slice(&b);
    }

    fn u16(&self, at: usize) -> Option<u16> {
        self.read(at).map(u16::from_le_bytes)
    }

    fn u32(&self, at: usize) -> Option<u32> {
        self.read(at).map(u32::from_le_bytes)
    }

    fn put_u16(&mut self, at: usize, v: u16) {
        self.write(at, v.to_le_bytes());
    }

    fn put_u32(&mut self, at: usize, v: u32) {
        self.write(at, v.to_le_bytes());
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
mod tests {
    use super::*;

    /// An EXIF block in either byte order (`II` little-endian, `MM` big-endian): IFD0
    /// with Orientation and a GPS pointer, a GPS IFD with a latitude, and a thumbnail IFD.
    fn sample_exif(orientation: u16, little: bool) -> Vec<u8> {
        let u16b = |v: u16| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let u32b = |v: u32| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let entry = |tag: u16, kind: u16, count: u32| {
            [u16b(tag).as_slice(), &u16b(kind), &u32b(count)].concat()
        };
        let mut t = if little {
            b"II*\0".to_vec()
        } else {
            b"MM\0*".to_vec()
        };
        t.extend(u32b(8));
        // IFD0 at 8: Orientation (a SHORT, left-justified in its 4 bytes), GPS pointer.
        t.extend(u16b(2));
        t.extend(entry(0x0112, 3, 1));
        t.extend([u16b(orientation), [0, 0]].concat());
        t.extend(entry(0x8825, 4, 1));
        t.extend(u32b(38)); // GPS IFD
        t.extend(u32b(80)); // IFD1
        // GPS IFD at 38: GPSLatitude, 3 rationals at 56.
        t.extend(u16b(1));
        t.extend(entry(2, 5, 3));
        t.extend(u32b(56));
        t.extend(u32b(0));
        for v in [48u32, 1, 51, 1, 30, 1] {
            t.extend(u32b(v)); // 48° 51' 30" at 56..80
        }
        // IFD1 at 80: no entries.
        t.extend(u16b(0));
        t.extend(u32b(0));
        t
    }

    #[test]
    fn gps_and_thumbnail_go_orientation_stays_in_either_byte_order() {
        for little in [true, false] {
            let u16b = |v: u16| {
                if little {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                }
            };
            let exif = sample_exif(6, little);
            let cleaned = clean_exif(&exif, false).unwrap();
            assert_eq!(cleaned.len(), exif.len());
            // IFD0 now holds one entry, the orientation, and no next IFD.
            assert_eq!(cleaned[8..10], u16b(1));
            assert_eq!(cleaned[10..12], u16b(0x0112));
            assert_eq!(cleaned[18..20], u16b(6));
            assert_eq!(cleaned[22..26], [0; 4]);
            assert!(
                cleaned[38..80].iter().all(|&b| b == 0),
                "GPS IFD and values zeroed (little-endian: {little})"
            );

            let kept = clean_exif(&exif, true).unwrap();
            assert_eq!(kept[8..10], u16b(2));
            assert_eq!(kept[38..80], exif[38..80]);
        }
    }

    #[test]
    fn broken_exif_is_dropped() {
        assert!(clean_exif(b"II*\0\xff\xff\xff\xff", false).is_none());
        assert!(clean_exif(b"not exif", false).is_none());
        assert!(xmp_has_gps(b"<x exif:GPSLatitude='1'/>"));
        assert!(!xmp_has_gps(b"<x exif:DateTime='1'/>"));
    }
}
