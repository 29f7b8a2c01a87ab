//! File decoding through symphonia: WAV, FLAC, MP3 and Ogg Vorbis, any rate and channel count.

use std::fs::File;
use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::DecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::{resample, Audio};

/// Why an audio file could not be used. Each names the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("cannot open {path}: {source}")]
    Open { path: String, source: std::io::Error },
    #[error("{path} is empty (0 bytes)")]
    EmptyFile { path: String },
    #[error("{path} is not a supported audio file (WAV, FLAC, MP3 or Ogg Vorbis): {reason}")]
    Unsupported { path: String, reason: String },
    #[error("{path} holds no audio samples")]
    NoSamples { path: String },
    #[error("{path} is truncated: its header promises {expected_s:.2} s of audio but the file holds {found_s:.2} s")]
    Truncated { path: String, expected_s: f64, found_s: f64 },
    #[error("{path} is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
}

/// Decodes `path`, mixes it down to mono and resamples it to `rate`.
pub fn decode_file(path: &Path, rate: u32) -> Result<Audio, DecodeError> {
    let (native, declared_frames) = decode_native(path)?;
    let shown = path.display().to_string();
    if native.samples.is_empty() {
        return Err(DecodeError::NoSamples { path: shown });
    }
    if let Some(expected) = declared_frames {
        // A few frames of slack: some encoders round the declared length.
        if (native.samples.len() as u64) + 64 < expected {
            return Err(DecodeError::Truncated {
                path: shown,
                expected_s: expected as f64 / f64::from(native.rate),
                found_s: native.duration_s(),
            });
        }
    }
    Ok(resample(&native, rate))
}

/// Decodes to mono at the file's own rate; also returns the frame count its header declares.
fn decode_native(path: &Path) -> Result<(Audio, Option<u64>), DecodeError> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|source| DecodeError::Open { path: shown.clone(), source })?;
    if file.metadata().map(|m| m.len() == 0).unwrap_or(false) {
        return Err(DecodeError::EmptyFile { path: shown });
    }
    let unsupported = |e: SymphoniaError| DecodeError::Unsupported { path: shown.clone(), reason: e.to_string() };
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(&hint, stream, &FormatOptions::default(), &MetadataOptions::default())
        .map_err(unsupported)?;
    let mut format = probed.format;
    let track = format
        .default_track()
        .ok_or_else(|| DecodeError::Unsupported { path: shown.clone(), reason: "no audio track".into() })?;
    let track_id = track.id;
    let declared_frames = track.codec_params.n_frames;
    let mut rate = track.codec_params.sample_rate;
    let mut decoder =
        symphonia::default::get_codecs().make(&track.codec_params, &DecoderOptions::default()).map_err(unsupported)?;

    let mut samples = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(packet) => packet,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) => return Err(DecodeError::Corrupt { path: shown, reason: e.to_string() }),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(decoded) => decoded,
            // One damaged packet costs a few milliseconds of audio, not the whole file.
            Err(SymphoniaError::DecodeError(_)) => continue,
            Err(e) => return Err(DecodeError::Corrupt { path: shown, reason: e.to_string() }),
        };
        let spec = *decoded.spec();
        rate = Some(spec.rate);
        let mut buffer = SampleBuffer::<f32>::new(decoded.capacity() as u64, spec);
        buffer.copy_interleaved_ref(decoded);
        downmix_into(buffer.samples(), spec.channels.count(), &mut samples);
    }
    let rate = rate.ok_or_else(|| DecodeError::Unsupported { path: shown, reason: "unknown sample rate".into() })?;
    Ok((Audio { samples, rate }, declared_frames))
}

fn downmix_into(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    let channels = channels.max(1);
    out.extend(interleaved.chunks_exact(channels).map(|frame| frame.iter().sum::<f32>() / channels as f32));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downmix_averages_channels() {
        let mut out = Vec::new();
        downmix_into(&[1.0, 0.0, 0.5, 0.5], 2, &mut out);
        assert_eq!(out, vec![0.5, 0.5]);
    }
}
