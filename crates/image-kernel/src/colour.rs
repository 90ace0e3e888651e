//! The greyscale formula. By default (`luma=gamma`) a pixel's grey is the BT.709
//! weighted sum of its gamma-encoded sRGB values (what `image` and most tools do); with
//! `luma=linear` it is CIE Y computed from linear light and encoded with sRGB's curve
//! (what libvips' `b-w` does). Pixels in another RGB space (an ICC profile: Display P3,
//! Adobe RGB, …) are first taken to sRGB through their profile. Alpha is kept as is.

use crate::icc::{RgbProfile, SRGB_TO_XYZ_D50, linear_to_srgb, srgb_to_linear};
use image::{DynamicImage, ImageBuffer, Luma as Grey, LumaA};

/// Which greyscale formula (`luma` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LumaMode {
    #[default]
    Gamma,
    Linear,
}

const ENCODE_STEPS: usize = 4096;

impl LumaMode {
    /// The `luma` setting's words.
    pub const WORDS: [(&'static str, LumaMode); 2] =
        [("gamma", LumaMode::Gamma), ("linear", LumaMode::Linear)];
}

/// BT.709 / sRGB luminance weights.
const WEIGHTS: [f64; 3] = [0.2126, 0.7152, 0.0722];

/// RGB (as `u16` full scale) → grey (full scale 1.0), for one source space and mode.
struct Formula {
    /// Encoded channel value (index at 16-bit scale, step `scale`) → linear light.
    to_linear: [Vec<f32>; 3],
    /// Linear light in 0..=1 (4096 steps) → sRGB-encoded, interpolated.
    encode: Vec<f32>,
    /// Source linear RGB → linear sRGB.
    matrix: [[f64; 3]; 3],
    mode: LumaMode,
}

impl Formula {
    fn new(profile: Option<&RgbProfile>, mode: LumaMode, sixteen_bit: bool) -> Formula {
        let (size, scale) = if sixteen_bit { (65536, 1) } else { (256, 257) };
        let curve = |c: usize| -> Vec<f32> {
            (0..size)
                .map(|i| {
                    let x = (i * scale) as f64 / 65535.0;
                    match profile {
                        Some(p) => p.curves[c].to_linear(x) as f32,
                        None => srgb_to_linear(x) as f32,
                    }
                })
                .collect()
        };
        let matrix = match profile {
            Some(p) => multiply(&invert(&SRGB_TO_XYZ_D50), &p.to_xyz),
            None => [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        };
        Formula {
            to_linear: [curve(0), curve(1), curve(2)],
            encode: (0..=ENCODE_STEPS)
                .map(|i| linear_to_srgb(i as f64 / ENCODE_STEPS as f64) as f32)
                .collect(),
            matrix,
            mode,
        }
    }

    fn encode(&self, linear: f64) -> f64 {
        let pos = linear.clamp(0.0, 1.0) * ENCODE_STEPS as f64;
        let i = (pos as usize).min(ENCODE_STEPS - 1);
        let frac = pos - i as f64;
        f64::from(self.encode[i]) * (1.0 - frac) + f64::from(self.encode[i + 1]) * frac
    }

    /// Grey in 0..=1 for encoded `rgb` at the formula's depth (index into the tables).
    fn grey(&self, rgb: [usize; 3]) -> f64 {
        let lin = [0, 1, 2].map(|c| f64::from(self.to_linear[c][rgb[c]]));
        let srgb = self
            .matrix
            .map(|row| row[0] * lin[0] + row[1] * lin[1] + row[2] * lin[2]);
        match self.mode {
            LumaMode::Gamma => srgb
                .iter()
                .zip(WEIGHTS)
                .map(|(v, w)| w * self.encode(*v))
                .sum(),
            LumaMode::Linear => {
                let y: f64 = srgb.iter().zip(WEIGHTS).map(|(v, w)| w * v).sum();
                self.encode(y)
            }
        }
    }
}

fn multiply(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    m
}

fn invert(m: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let [[a, b, c], [d, e, f], [g, h, i]] = *m;
    let det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
    [
        [
            (e * i - f * h) / det,
            (c * h - b * i) / det,
            (b * f - c * e) / det,
        ],
        [
            (f * g - d * i) / det,
            (a * i - c * g) / det,
            (c * d - a * f) / det,
        ],
        [
            (d * h - e * g) / det,
            (b * g - a * h) / det,
            (a * e - b * d) / det,
        ],
    ]
}

/// Greys palette entries (RGB triples) by the same formula as pixels.
pub fn grey_palette(rgb: &[u8], mode: LumaMode) -> Vec<u8> {
    let formula = (mode != LumaMode::Gamma).then(|| Formula::new(None, mode, false));
    rgb.chunks_exact(3)
        .flat_map(|c| {
            let y = match &formula {
                Some(f) => (f.grey([c[0], c[1], c[2]].map(usize::from)) * 255.0).round() as u8,
                None => {
                    ((2126 * u32::from(c[0])
                        + 7152 * u32::from(c[1])
                        + 722 * u32::from(c[2])
                        + 5000)
                        / 10000) as u8
                }
            };
            [y, y, y]
        })
        .collect()
}

/// The greyscale image, keeping alpha and 16-bit depth where the input has them.
/// `profile`: the input's RGB profile when it is not sRGB.
pub fn to_grey(image: DynamicImage, profile: Option<&RgbProfile>, mode: LumaMode) -> DynamicImage {
    let color = image.color();
    if color.channel_count() <= 2 {
        // Already grey: the pixels are the grey values (a grey profile travels with them).
        return image;
    }
    let sixteen = color.bytes_per_pixel() / color.channel_count() > 1;
    let alpha = color.has_alpha();
    if profile.is_none() && mode == LumaMode::Gamma {
        // image's own conversion is this formula, and fast.
        return match (alpha, sixteen) {
            (false, false) => DynamicImage::ImageLuma8(image.to_luma8()),
            (true, false) => DynamicImage::ImageLumaA8(image.to_luma_alpha8()),
            (false, true) => DynamicImage::ImageLuma16(image.to_luma16()),
            (true, true) => DynamicImage::ImageLumaA16(image.to_luma_alpha16()),
        };
    }
    let formula = Formula::new(profile, mode, sixteen);
    let grey = |rgb: [usize; 3], full_scale: f64| formula.grey(rgb) * full_scale;
    if sixteen {
        grey_pixels(&image.into_rgba16(), alpha, |p| {
            grey([p[0], p[1], p[2]].map(usize::from), 65535.0).round() as u16
        })
    } else {
        grey_pixels(&image.into_rgba8(), alpha, |p| {
            grey([p[0], p[1], p[2]].map(usize::from), 255.0).round() as u8
        })
    }
}

/// Each pixel's grey by `grey`, with its alpha when `alpha`, at the input's depth.
fn grey_pixels<P>(
    rgba: &ImageBuffer<image::Rgba<P>, Vec<P>>,
    alpha: bool,
    grey: impl Fn(&image::Rgba<P>) -> P,
) -> DynamicImage
where
    P: image::Primitive,
    image::Rgba<P>: image::Pixel<Subpixel = P>,
    LumaA<P>: image::Pixel<Subpixel = P>,
    Grey<P>: image::Pixel<Subpixel = P>,
    DynamicImage: From<ImageBuffer<LumaA<P>, Vec<P>>> + From<ImageBuffer<Grey<P>, Vec<P>>>,
{
    let (w, h) = rgba.dimensions();
    if alpha {
        let pixel = |x, y| {
            let p = rgba.get_pixel(x, y);
            LumaA([grey(p), p[3]])
        };
        ImageBuffer::from_fn(w, h, pixel).into()
    } else {
        ImageBuffer::from_fn(w, h, |x, y| Grey([grey(rgba.get_pixel(x, y))])).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_luma_of_srgb_green_matches_cie_y() {
        let f = Formula::new(None, LumaMode::Linear, false);
        // Pure sRGB green: Y = 0.7152, encoded ≈ 0.8607 (219.5 / 255).
        assert!((f.grey([0, 255, 0]) - linear_to_srgb(0.7152)).abs() < 1e-6);
        let g = Formula::new(None, LumaMode::Gamma, false);
        assert!((g.grey([0, 255, 0]) - 0.7152).abs() < 1e-6);
        assert!((g.grey([255, 255, 255]) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn depth_and_alpha_are_kept_by_the_formula() {
        let rgba16 = ImageBuffer::from_pixel(2, 1, image::Rgba([30000u16, 30000, 30000, 1234]));
        let out = to_grey(DynamicImage::ImageRgba16(rgba16), None, LumaMode::Linear);
        let DynamicImage::ImageLumaA16(grey) = out else {
            panic!("16-bit grey with alpha, not {:?}", out.color());
        };
        let p = grey.get_pixel(1, 0);
        assert_eq!(p[1], 1234, "alpha kept");
        assert!(
            p[0].abs_diff(30000) <= 40,
            "a grey pixel stays itself: {}",
            p[0]
        );

        let rgb8 = ImageBuffer::from_pixel(1, 1, image::Rgb([200u8, 200, 200]));
        let out = to_grey(DynamicImage::ImageRgb8(rgb8), None, LumaMode::Linear);
        let DynamicImage::ImageLuma8(grey) = out else {
            panic!("8-bit grey, not {:?}", out.color());
        };
        assert!(grey.get_pixel(0, 0)[0].abs_diff(200) <= 1);
    }
}
