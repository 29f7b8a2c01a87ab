//! Audio in and out: decoding any common file format to 16 kHz mono, resampling, writing WAV,
//! capturing from the sound server.

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
