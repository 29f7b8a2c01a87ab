//! The WAV writer's output read back by the decoder: any samples at any supported rate come back
//! with the same length and within 16-bit rounding (clipped to [-1, 1]).
#![no_main]

use libfuzzer_sys::fuzz_target;
use linguastream_core::audio::{AudioReader, WavWriter};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let rate = 8_000 + u32::from(u16::from_le_bytes([data[0], data[1]])) % 40_000;
    let samples: Vec<f32> =
        data[2..].chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 16_384.0).collect();
    if samples.is_empty() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.wav");
    let mut writer = WavWriter::create(&path, rate).unwrap();
    writer.write(&samples).unwrap();
    writer.finish().unwrap().commit().unwrap();
    let mut reader = AudioReader::open(&path, rate).unwrap_or_else(|e| panic!("own output unreadable: {e}"));
    let mut back = Vec::new();
    while let Some(piece) = reader.next_chunk().unwrap_or_else(|e| panic!("own output undecodable: {e}")) {
        back.extend(piece);
    }
    assert_eq!(back.len(), samples.len());
    for (written, read) in samples.iter().zip(&back) {
        assert!((written.clamp(-1.0, 1.0) - read).abs() <= 1.0 / 16_000.0, "{written} came back as {read}");
    }
});
