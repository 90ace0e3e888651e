//! The lossless path's JPEG reader on its own (issue 18): arbitrary bytes read to their
//! quantised coefficients under the limits must never panic, and a luma that was read
//! and written as a grey JPEG must read back the same, coefficient for coefficient.
//! Seeds: 64x64 crops of the corpus JPEGs, baseline, progressive, with restart markers
//! and grey (fuzz/seeds/jpeg_coefficients.sh).
#![no_main]

use greyfaas_image_kernel::Cancel;
use greyfaas_image_kernel::jpeg_coefficients::{Limits, Luma, read, write_grey};
use libfuzzer_sys::fuzz_target;

/// The coefficients of the blocks inside the image (row by row, without the stride's padding).
fn visible(luma: &Luma) -> impl Iterator<Item = &[i16; 64]> {
    (0..luma.blocks_h)
        .flat_map(move |row| &luma.blocks[row * luma.stride..row * luma.stride + luma.blocks_w])
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_pixels: 1 << 22, max_scans: 64 };
    let cancel = Cancel::new();
    let Ok(jpeg) = read(data, &limits, true, &cancel) else { return };
    let Some(luma) = jpeg.luma.as_ref() else { return };
    // Coefficients a baseline Huffman code cannot carry are refused by the writer (the
    // conversion then re-encodes from pixels); whatever it writes must read back.
    let Ok(grey) = write_grey(luma, jpeg.width, jpeg.height, &[]) else { return };
    let back = read(&grey, &limits, true, &cancel).expect("the grey JPEG we wrote reads");
    assert_eq!((back.width, back.height), (jpeg.width, jpeg.height), "size kept");
    assert!(!back.truncated, "the grey JPEG we wrote is whole");
    let back = back.luma.expect("the grey JPEG's luma");
    assert_eq!(back.quant, luma.quant, "quantisation table kept");
    assert_eq!((back.blocks_w, back.blocks_h), (luma.blocks_w, luma.blocks_h));
    assert!(visible(&back).eq(visible(luma)), "coefficients kept");
});
