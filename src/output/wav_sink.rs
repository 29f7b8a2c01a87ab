//! A WAV file as a live output: the English speech as it is spoken, back to back.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use hound::{SampleFormat, WavSpec, WavWriter};

use super::sink::{AudioSink, SinkError, Written};

/// Writes mono 16-bit PCM at the rate it was created with.
pub struct WavFileSink {
    path: String,
    rate: u32,
    writer: Option<WavWriter<BufWriter<File>>>,
}

impl WavFileSink {
    /// Creates (or truncates) `path` now, so an unwritable path fails before the run starts.
    pub fn create(path: &Path, rate: u32) -> Result<Self, SinkError> {
        let shown = path.display().to_string();
        let spec = WavSpec { channels: 1, sample_rate: rate, bits_per_sample: 16, sample_format: SampleFormat::Int };
        let writer = WavWriter::create(path, spec).map_err(|e| file_error(&shown, e))?;
        Ok(Self { path: shown, rate, writer: Some(writer) })
    }
}

fn file_error(path: &str, error: hound::Error) -> SinkError {
    SinkError::File { path: path.to_string(), reason: error.to_string() }
}

impl AudioSink for WavFileSink {
    fn name(&self) -> &str {
        &self.path
    }

    fn write(&mut self, samples: &[f32], rate: u32) -> Result<Written, SinkError> {
        if rate != self.rate {
            return Err(SinkError::File {
                path: self.path.clone(),
                reason: format!("speech at {rate} Hz cannot go into a {} Hz WAV file", self.rate),
            });
        }
        let Some(writer) = self.writer.as_mut() else {
            return Err(SinkError::File { path: self.path.clone(), reason: "already finished".into() });
        };
        for &sample in samples {
            let value = (sample.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16;
            writer.write_sample(value).map_err(|e| file_error(&self.path, e))?;
        }
        Ok(Written::Done)
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        match self.writer.take() {
            Some(writer) => writer.finalize().map_err(|e| file_error(&self.path, e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_is_stored_at_its_rate_and_another_rate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("speech.wav");
        let mut sink = WavFileSink::create(&path, 22_050).unwrap();
        assert_eq!(sink.write(&[0.5; 100], 22_050).unwrap(), Written::Done);
        assert_eq!(sink.write(&[-0.5; 50], 22_050).unwrap(), Written::Done);
        let error = sink.write(&[0.0; 10], 16_000).unwrap_err().to_string();
        assert!(error.contains("16000 Hz") && error.contains("22050 Hz"), "{error}");
        sink.finish().unwrap();
        let reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.spec().sample_rate, 22_050);
        assert_eq!(reader.len(), 150);
    }

    #[test]
    fn an_unwritable_path_fails_at_creation() {
        let error = WavFileSink::create(Path::new("/nonexistent/dir/x.wav"), 22_050).err().unwrap().to_string();
        assert!(error.contains("/nonexistent/dir/x.wav"), "{error}");
    }
}
