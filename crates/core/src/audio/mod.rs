//! Audio in and out: decoding any common file format to 16 kHz mono, resampling, writing WAV,
//! capturing from the sound server, and the timestamped [`Chunk`]s every source produces.

use std::time::Instant;

pub mod capture;
mod decode;
pub mod pulse;
mod resample;
mod wav;

pub use decode::{decode_file, AudioReader, DecodeError};
pub use resample::{resample, StreamResampler};
pub use wav::{write_wav, WavWriter};

/// Sample rate every recognition stage works at.
pub const STT_RATE: u32 = 16_000;

/// Mono PCM samples in [-1, 1] with their rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    pub samples: Vec<f32>,
    pub rate: u32,
}

impl Audio {
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.rate)
    }
}

/// A piece of 16 kHz mono input and the instant its last sample was captured, so latency can be
/// measured from the moment speech really ended.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub samples: Vec<f32>,
    pub captured_at: Instant,
}

/// A whole recording (16 kHz) as one-second chunks, for sources that are not live.
pub fn chunks_of(samples: Vec<f32>) -> impl Iterator<Item = Chunk> + Send + 'static {
    let mut offset = 0;
    std::iter::from_fn(move || {
        if offset >= samples.len() {
            return None;
        }
        let end = (offset + STT_RATE as usize).min(samples.len());
        let chunk = Chunk { samples: samples[offset..end].to_vec(), captured_at: Instant::now() };
        offset = end;
        Some(chunk)
    })
}
