//! Any bytes through the audio decoder (every format symphonia probes: WAV, FLAC, MP3, Ogg):
//! an error or audio, never a panic, a hang or non-finite samples.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linguastream_core::audio::AudioReader;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = AudioReader::from_bytes(data.to_vec(), "fuzz input", 16_000) else {
        return;
    };
    // A few MB of input cannot honestly hold more than this many pieces.
    for _ in 0..100_000 {
        match reader.next_chunk() {
            Ok(Some(piece)) => assert!(piece.iter().all(|s| s.is_finite()), "non-finite sample"),
            Ok(None) | Err(_) => return,
        }
    }
});
