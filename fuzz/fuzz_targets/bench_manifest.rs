//! Any text as a bench manifest: clips or a message, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linguastream_core::bench::read_manifest;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.wav"), b"").unwrap();
    let path = dir.path().join("manifest.tsv");
    std::fs::write(&path, data).unwrap();
    if let Ok(clips) = read_manifest(&path) {
        assert!(!clips.is_empty());
        assert!(clips.iter().all(|c| c.audio.is_file() && c.line >= 2));
    }
});
