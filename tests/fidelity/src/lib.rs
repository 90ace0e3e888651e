//! Image-fidelity tests of the greyscale kernel; see `tests/fidelity.rs`.
