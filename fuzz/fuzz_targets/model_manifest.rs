//! Any text as a model manifest (`models/manifest.toml`'s format): parsed or refused, and
//! everything read from a parsed one is usable without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linguastream_core::models::Manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(manifest) = Manifest::parse(text) else {
        return;
    };
    for model in &manifest.models {
        for file in &model.files {
            for part in file.wheel_parts() {
                assert!(!part.requirement.contains(':'));
            }
        }
    }
    let _ = manifest.translation_model("fa", "en");
    let _ = manifest.defaults().count();
    let _ = manifest.ids();
});
