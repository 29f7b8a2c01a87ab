//! A WAV file as a live output: the English speech as it is spoken, back to back.
//!
//! Like every output file it is streamed to a temporary file beside its target and appears
//! whole when the sink is finished (see [`crate::outfile`]); a run that fails first leaves the
//! previous file as it was.

use std::path::Path;

use super::sink::{AudioSink, SinkError, Written};
use crate::audio::WavWriter;
use crate::outfile::OutputError;

/// Writes mono 16-bit PCM at the rate it was created with.
pub struct WavFileSink {
    path: String,
    rate: u32,
    writer: Option<WavWriter>,
}

impl WavFileSink {
    /// Starts the file now, so an unwritable path fails before the run starts.
    pub fn create(path: &Path, rate: u32) -> Result<Self, SinkError> {
        let shown = path.display().to_string();
        let writer = WavWriter::create(path, rate).map_err(|e| file_error(&shown, e))?;
        Ok(Self { path: shown, rate, writer: Some(writer) })
    }
}

fn file_error(path: &str, error: OutputError) -> SinkError {
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
        writer.write(samples).map_err(|e| file_error(&self.path, e))?;
        Ok(Written::Done)
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        match self.writer.take() {
            Some(writer) => writer.finish().and_then(|file| file.commit()).map_err(|e| file_error(&self.path, e)),
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
        assert!(!path.exists(), "the file appears when it is complete");
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
    fn an_unfinished_file_leaves_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("speech.wav");
        std::fs::write(&path, b"before").unwrap();
        let mut sink = WavFileSink::create(&path, 22_050).unwrap();
        sink.write(&[0.5; 100], 22_050).unwrap();
        drop(sink);
        assert_eq!(std::fs::read(&path).unwrap(), b"before");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file is left");
    }

    #[test]
    fn an_unwritable_path_fails_at_creation() {
        let error = WavFileSink::create(Path::new("/nonexistent/dir/x.wav"), 22_050).err().unwrap().to_string();
        assert!(error.contains("/nonexistent/dir/x.wav"), "{error}");
    }
}
