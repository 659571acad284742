//! The generator's whole path on arbitrary text, its promises checked
//! (`palisade_taskdef::selfcheck::whole_path`): never a panic; a protected result protects to
//! itself again and unprotects to the normalized input.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        palisade_taskdef::selfcheck::whole_path(text);
    }
});
