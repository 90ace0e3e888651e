//! ICC profiles, as far as greyscale needs them: an RGB matrix/TRC profile (sRGB,
//! Display P3, Adobe RGB and most profiles on web images) is read into its primaries and
//! tone curves, so pixels can be taken to sRGB before they are greyed; a grey profile is
//! written for a lossless JPEG whose tone curve is not sRGB's.

/// What an input's embedded profile means for the conversion.
#[derive(Debug)]
pub enum Profile {
    /// sRGB, or no profile: the pixels are already what the greyscale formula expects.
    Srgb,
    /// An RGB matrix/TRC profile other than sRGB.
    Rgb(Box<RgbProfile>),
    /// A grey profile: it travels with the grey pixels unchanged.
    Grey,
    /// Anything else (CMYK, LUT-based, broken): read as sRGB.
    Unknown,
}

/// An RGB matrix/TRC profile.
#[derive(Debug, Clone)]
pub struct RgbProfile {
    /// Linear RGB → XYZ (D50), rows X, Y, Z.
    pub to_xyz: [[f64; 3]; 3],
    pub curves: [Curve; 3],
    /// The green tone curve tag as stored, to put on a grey profile.
    pub green_curve_tag: Vec<u8>,
}

/// A tone curve: encoded value in 0..=1 → linear light.
#[derive(Debug, Clone)]
pub enum Curve {
    Gamma(f64),
    Table(Vec<u16>),
    /// ICC parametric curve, type 0–4: g, a, b, c, d, e, f.
    Parametric([f64; 7]),
}

/// sRGB's primaries adapted to D50, as in the ICC sRGB profiles.
pub const SRGB_TO_XYZ_D50: [[f64; 3]; 3] = [
    [0.4360747, 0.3850649, 0.1430804],
    [0.2225045, 0.7168786, 0.0606169],
    [0.0139322, 0.0971045, 0.7141733],
];

/// sRGB's tone curve (IEC 61966-2-1).
pub fn srgb_to_linear(v: f64) -> f64 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

pub fn linear_to_srgb(v: f64) -> f64 {
    if v <= 0.0031308 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}

impl Curve {
    pub fn to_linear(&self, x: f64) -> f64 {
        match self {
            Curve::Gamma(g) => x.powf(*g),
            Curve::Table(t) if t.len() >= 2 => {
                let pos = x.clamp(0.0, 1.0) * (t.len() - 1) as f64;
                let i = (pos as usize).min(t.len() - 2);
                let frac = pos - i as f64;
                (f64::from(t[i]) * (1.0 - frac) + f64::from(t[i + 1]) * frac) / 65535.0
            }
            Curve::Table(_) => x,
            Curve::Parametric([g, a, b, c, d, e, f]) => {
                if x >= *d {
                    (a * x + b).max(0.0).powf(*g) + e
                } else {
                    c * x + f
                }
            }
        }
    }
}

/// Reads a profile's meaning for greyscale conversion.
pub fn parse(icc: &[u8]) -> Profile {
    match icc.get(16..20) {
        Some(b"GRAY") => Profile::Grey,
        Some(b"RGB ") => match read_rgb(icc) {
            Some(p) if is_srgb(&p) => Profile::Srgb,
            Some(p) => Profile::Rgb(Box::new(p)),
            None => Profile::Unknown,
        },
        _ => Profile::Unknown,
    }
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn s15(b: &[u8], at: usize) -> Option<f64> {
    Some(f64::from(be_u32(b, at)? as i32) / 65536.0)
}

fn tag<'a>(icc: &'a [u8], signature: &[u8; 4]) -> Option<&'a [u8]> {
    let count = be_u32(icc, 128)? as usize;
    (0..count.min(256)).find_map(|i| {
        let entry = 132 + 12 * i;
        if icc.get(entry..entry + 4)? != signature {
            return None;
        }
        let (offset, size) = (
            be_u32(icc, entry + 4)? as usize,
            be_u32(icc, entry + 8)? as usize,
        );
        icc.get(offset..offset.checked_add(size)?)
    })
}

fn read_curve(data: &[u8]) -> Option<Curve> {
    match data.get(..4)? {
        b"curv" => {
            let n = be_u32(data, 8)? as usize;
            match n {
                0 => Some(Curve::Gamma(1.0)),
                1 => Some(Curve::Gamma(
                    f64::from(u16::from_be_bytes(data.get(12..14)?.try_into().ok()?)) / 256.0,
                )),
                _ => {
                    let table = data.get(12..12 + 2 * n)?;
                    Some(Curve::Table(
                        table
                            .chunks_exact(2)
                            .map(|c| u16::from_be_bytes([c[0], c[1]]))
                            .collect(),
                    ))
                }
            }
        }
        b"para" => {
            let kind = u16::from_be_bytes(data.get(8..10)?.try_into().ok()?);
            let count = [1, 3, 4, 5, 7].get(usize::from(kind)).copied()?;
            let mut p = [0.0; 7];
            for (i, v) in p.iter_mut().enumerate().take(count) {
                *v = s15(data, 12 + 4 * i)?;
            }
            let [g, a, b, c, d, e, f] = p;
            // Every type as type 4: y = (a·x + b)^g + e for x ≥ d, else c·x + f.
            Some(Curve::Parametric(match kind {
                0 => [g, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                1 => [g, a, b, 0.0, -b / a, 0.0, 0.0],
                2 => [g, a, b, 0.0, -b / a, c, c],
                3 => [g, a, b, c, d, 0.0, 0.0],
                _ => [g, a, b, c, d, e, f],
            }))
        }
        _ => None,
    }
}

fn read_rgb(icc: &[u8]) -> Option<RgbProfile> {
    let xyz = |sig: &[u8; 4]| -> Option<[f64; 3]> {
        let d = tag(icc, sig)?;
        (d.get(..4)? == b"XYZ ").then_some(())?;
        Some([s15(d, 8)?, s15(d, 12)?, s15(d, 16)?])
    };
    let (r, g, b) = (xyz(b"rXYZ")?, xyz(b"gXYZ")?, xyz(b"bXYZ")?);
    let green_curve_tag = tag(icc, b"gTRC")?.to_vec();
    Some(RgbProfile {
        to_xyz: [[r[0], g[0], b[0]], [r[1], g[1], b[1]], [r[2], g[2], b[2]]],
        curves: [
            read_curve(tag(icc, b"rTRC")?)?,
            read_curve(&green_curve_tag)?,
            read_curve(tag(icc, b"bTRC")?)?,
        ],
        green_curve_tag,
    })
}

fn is_srgb(p: &RgbProfile) -> bool {
    let matrix = p
        .to_xyz
        .iter()
        .flatten()
        .zip(SRGB_TO_XYZ_D50.iter().flatten())
        .all(|(a, b)| (a - b).abs() < 0.003);
    matrix && p.curves.iter().all(curve_is_srgb)
}

/// Whether a tone curve is sRGB's, within a fraction of an 8-bit step.
pub fn curve_is_srgb(c: &Curve) -> bool {
    (0..=32).all(|i| {
        let x = f64::from(i) / 32.0;
        (c.to_linear(x) - srgb_to_linear(x)).abs() < 0.002
    })
}

/// A minimal ICC v2 grey display profile whose tone curve is `curve_tag` (a `curv` or
/// `para` tag as stored in the source profile).
pub fn grey_profile(curve_tag: &[u8]) -> Vec<u8> {
    let d50 = |out: &mut Vec<u8>| {
        for v in [0.9642f64, 1.0, 0.8249] {
            out.extend_from_slice(&((v * 65536.0).round() as i32).to_be_bytes());
        }
    };
    let mut desc = b"desc\0\0\0\0".to_vec();
    let name = b"greyfaas grey\0";
    desc.extend_from_slice(&(name.len() as u32).to_be_bytes());
    desc.extend_from_slice(name);
    desc.extend_from_slice(&[0; 4 + 4 + 2 + 1 + 67]);
    let mut wtpt = b"XYZ \0\0\0\0".to_vec();
    d50(&mut wtpt);
    let mut cprt = b"text\0\0\0\0".to_vec();
    cprt.extend_from_slice(b"No copyright, use freely\0");
    let tags: [(&[u8; 4], &[u8]); 4] = [
        (b"desc", &desc),
        (b"wtpt", &wtpt),
        (b"kTRC", curve_tag),
        (b"cprt", &cprt),
    ];
    let mut body = Vec::new();
    let mut table = (tags.len() as u32).to_be_bytes().to_vec();
    let data_start = 128 + 4 + 12 * tags.len();
    for (sig, data) in tags {
        while body.len() % 4 != 0 {
            body.push(0);
        }
        table.extend_from_slice(sig);
        table.extend_from_slice(&((data_start + body.len()) as u32).to_be_bytes());
        table.extend_from_slice(&(data.len() as u32).to_be_bytes());
        body.extend_from_slice(data);
    }
    let size = 128 + table.len() + body.len();
    let mut icc = Vec::with_capacity(size);
    icc.extend_from_slice(&(size as u32).to_be_bytes());
    icc.extend_from_slice(&[0; 4]); // CMM
    icc.extend_from_slice(&[2, 0x10, 0, 0]); // version 2.1
    icc.extend_from_slice(b"mntrGRAYXYZ ");
    icc.extend_from_slice(&[0; 12]); // date
    icc.extend_from_slice(b"acsp");
    icc.extend_from_slice(&[0; 24]); // platform, flags, manufacturer, model, attributes
    icc.extend_from_slice(&[0; 4 + 4]); // attributes (cont.), rendering intent
    d50(&mut icc);
    icc.resize(128, 0);
    icc.extend_from_slice(&table);
    icc.extend_from_slice(&body);
    icc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parametric_srgb_is_recognised_and_gamma_22_is_not() {
        let srgb = Curve::Parametric([
            2.4,
            1.0 / 1.055,
            0.055 / 1.055,
            1.0 / 12.92,
            0.04045,
            0.0,
            0.0,
        ]);
        assert!(curve_is_srgb(&srgb));
        assert!(!curve_is_srgb(&Curve::Gamma(563.0 / 256.0)));
    }

    #[test]
    fn the_grey_profile_reads_back_as_grey_with_its_curve() {
        let mut curve = b"curv\0\0\0\0".to_vec();
        curve.extend_from_slice(&1u32.to_be_bytes());
        curve.extend_from_slice(&563u16.to_be_bytes());
        let icc = grey_profile(&curve);
        assert_eq!(be_u32(&icc, 0).unwrap() as usize, icc.len());
        assert!(matches!(parse(&icc), Profile::Grey));
        let k = read_curve(tag(&icc, b"kTRC").unwrap()).unwrap();
        assert!((k.to_linear(0.5) - 0.5f64.powf(563.0 / 256.0)).abs() < 1e-9);
    }
}
