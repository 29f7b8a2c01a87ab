//! 16-bit PCM WAV output.

use std::path::Path;

use super::Audio;

/// Why a WAV file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WavWriteError {
    #[error("cannot write {path}: disk full")]
    DiskFull { path: String },
    #[error("cannot write {path}: {reason}")]
    Io { path: String, reason: String },
}

/// Writes `audio` as mono 16-bit PCM, clipping samples outside [-1, 1].
pub fn write_wav(path: &Path, audio: &Audio) -> Result<(), WavWriteError> {
    let shown = path.display().to_string();
    let to_error = |e: hound::Error| match e {
        hound::Error::IoError(io) if io.kind() == std::io::ErrorKind::StorageFull => {
            WavWriteError::DiskFull { path: shown.clone() }
        }
        other => WavWriteError::Io { path: shown.clone(), reason: other.to_string() },
    };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: audio.rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(to_error)?;
    for &sample in &audio.samples {
        let value = (sample.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16;
        writer.write_sample(value).map_err(to_error)?;
    }
    writer.finalize().map_err(to_error)
}
