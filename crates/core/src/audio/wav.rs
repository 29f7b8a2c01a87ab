//! 16-bit PCM WAV output, written as it is produced and appearing whole at the end
//! (see [`crate::outfile`]).
//!
//! To a file, the header's sizes are filled in when the audio is complete. To standard output or
//! a FIFO, which cannot seek, the sizes are 0xFFFFFFFF, the "unknown length" every pipe writer
//! uses and readers (ours included) accept.

use std::path::Path;

use super::resample::StreamResampler;
use super::Audio;
use crate::outfile::{OutFile, OutputError};

const HEADER_BYTES: u64 = 44;
const UNKNOWN: u32 = u32::MAX;

/// A mono 16-bit WAV file being written.
pub struct WavWriter {
    out: OutFile,
    frames: u64,
    /// From the rate samples are given at to the file's rate.
    resampler: StreamResampler,
}

fn header(rate: u32, data_bytes: u32) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_BYTES as usize);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&data_bytes.saturating_add(36).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
    bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(rate * 2).to_le_bytes()); // bytes per second
    bytes.extend_from_slice(&2u16.to_le_bytes()); // bytes per frame
    bytes.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_bytes.to_le_bytes());
    bytes
}

impl WavWriter {
    /// Starts `path` (`-`: standard output) at `rate` Hz.
    pub fn create(path: &Path, rate: u32) -> Result<Self, OutputError> {
        Self::create_resampled(path, rate, rate)
    }

    /// Starts `path` at `rate` Hz, for samples given at `from` Hz.
    pub fn create_resampled(path: &Path, from: u32, rate: u32) -> Result<Self, OutputError> {
        let mut out = OutFile::create(path)?;
        out.write_all(&header(rate, UNKNOWN))?;
        Ok(Self { out, frames: 0, resampler: StreamResampler::new(from, rate) })
    }

    /// Appends samples, clipping those outside [-1, 1].
    pub fn write(&mut self, samples: &[f32]) -> Result<(), OutputError> {
        let mut resampled = Vec::with_capacity(samples.len() * 2);
        self.resampler.push(samples, &mut resampled);
        self.encode(&resampled)
    }

    fn encode(&mut self, samples: &[f32]) -> Result<(), OutputError> {
        let bytes: Vec<u8> = samples
            .iter()
            .flat_map(|&s| ((s.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16).to_le_bytes())
            .collect();
        self.frames += samples.len() as u64;
        self.out.write_all(&bytes)
    }

    /// Appends `frames` of silence.
    pub fn write_silence(&mut self, mut frames: u64) -> Result<(), OutputError> {
        const BLOCK: u64 = 8192;
        let zeros = [0.0f32; BLOCK as usize];
        while frames > 0 {
            let n = frames.min(BLOCK);
            self.write(&zeros[..n as usize])?;
            frames -= n;
        }
        Ok(())
    }

    /// Frames in the file so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Completes the audio and fills in the sizes (where the output can seek); the file appears
    /// when the returned [`OutFile`] is committed.
    pub fn finish(mut self) -> Result<OutFile, OutputError> {
        let resampler = std::mem::replace(&mut self.resampler, StreamResampler::new(1, 1));
        let mut tail = Vec::new();
        resampler.finish(&mut tail);
        self.encode(&tail)?;
        if self.out.can_rewrite() {
            // Past 4 GiB the sizes cannot be told; "unknown" is still readable.
            let data = u32::try_from(self.frames * 2).unwrap_or(UNKNOWN);
            self.out.write_at(4, &data.saturating_add(36).to_le_bytes())?;
            self.out.write_at(40, &data.to_le_bytes())?;
        }
        Ok(self.out)
    }
}

/// Writes `audio` as mono 16-bit PCM, whole or not at all.
pub fn write_wav(path: &Path, audio: &Audio) -> Result<(), OutputError> {
    let mut writer = WavWriter::create(path, audio.rate)?;
    writer.write(&audio.samples)?;
    writer.finish()?.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_files_read_back_with_their_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let mut writer = WavWriter::create(&path, 22_050).unwrap();
        writer.write(&[0.5, -2.0]).unwrap();
        writer.write_silence(10_000).unwrap();
        assert_eq!(writer.frames(), 10_002);
        writer.finish().unwrap().commit().unwrap();
        let mut reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.spec().sample_rate, 22_050);
        assert_eq!(reader.duration(), 10_002);
        let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(&samples[..3], &[16_384, -32_767, 0]);
    }

    #[test]
    fn resampled_output_has_the_duration_of_its_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.wav");
        let mut writer = WavWriter::create_resampled(&path, 22_050, 16_000).unwrap();
        writer.write_silence(11_025).unwrap();
        writer.write(&[0.25; 11_025]).unwrap();
        writer.finish().unwrap().commit().unwrap();
        assert_eq!(hound::WavReader::open(&path).unwrap().duration(), 16_000);
    }
}
