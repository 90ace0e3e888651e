//! Path and name validation: anything accepted is exactly `/<area>/<64 lowercase hex>`
//! and prints back as the input.
#![no_main]

use greyfaas_store::ObjectPath;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(path) = ObjectPath::parse(text) {
        assert_eq!(path.to_string(), text);
        let name = path.name.as_str();
        assert_eq!(name.len(), 64);
        assert!(name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }
});
