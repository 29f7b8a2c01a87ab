//! File decoding through symphonia: WAV, FLAC, MP3 and Ogg Vorbis, any rate and channel count,
//! from files, pipes, FIFOs or standard input (`-`).
//!
//! [`AudioReader`] streams: it hands out 16 kHz mono pieces as it decodes, so a long recording
//! never sits in memory whole. Samples that are not finite numbers (NaN, infinity) are repaired
//! (replaced by the last good sample) and counted, so they cannot silence a whole file.

use std::cell::Cell;
use std::fs::File;
use std::io::Cursor;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Once;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CodecParameters, CodecType, Decoder, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::resample::StreamResampler;
use super::Audio;

/// Sample rates a recording may have; outside this a header is damaged, not unusual.
const NATIVE_RATES: std::ops::RangeInclusive<u32> = 1_000..=768_000;

/// Why an audio file could not be used. Each names the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("cannot open {path}: {source}")]
    Open { path: String, source: std::io::Error },
    #[error("{path} is a directory, not an audio file")]
    IsDirectory { path: String },
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

/// Decodes `path` (`-`: standard input), mixes it down to mono and resamples it to `rate`.
pub fn decode_file(path: &Path, rate: u32) -> Result<Audio, DecodeError> {
    let mut reader = AudioReader::open(path, rate)?;
    let mut samples = Vec::new();
    while let Some(piece) = reader.next_chunk()? {
        samples.extend_from_slice(&piece);
    }
    Ok(Audio { samples, rate })
}

/// A recording decoded piece by piece, as 16 kHz (or any `rate`) mono.
pub struct AudioReader {
    shown: String,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    rate: u32,
    /// Created at the first decoded packet, when the file's rate is certain.
    resampler: Option<StreamResampler>,
    native_rate: Option<u32>,
    declared_frames: Option<u64>,
    frames: u64,
    /// Samples decoded, every channel counted.
    samples: u64,
    non_finite: u64,
    /// Each channel's last finite sample, which stands in for a non-finite one.
    last: Vec<f32>,
    finished: bool,
}

impl AudioReader {
    /// Opens a file, a FIFO, or standard input (`-`), and reads its header.
    pub fn open(path: &Path, rate: u32) -> Result<Self, DecodeError> {
        let shown = path.display().to_string();
        if path.as_os_str() == "-" {
            let source = Box::new(ReadOnlySource::new(std::io::stdin()));
            return Self::from_source(source, "standard input", None, rate);
        }
        let file = File::open(path).map_err(|source| DecodeError::Open { path: shown.clone(), source })?;
        let meta = file.metadata().map_err(|source| DecodeError::Open { path: shown.clone(), source })?;
        if meta.is_dir() {
            return Err(DecodeError::IsDirectory { path: shown });
        }
        // A pipe or FIFO reports 0 bytes whatever it will deliver.
        if meta.is_file() && meta.len() == 0 {
            return Err(DecodeError::EmptyFile { path: shown });
        }
        let extension = path.extension().and_then(|e| e.to_str());
        let reader = Self::from_source(Box::new(file), &shown, extension, rate)?;
        if meta.is_file() {
            reader.check_length(meta.len())?;
        }
        Ok(reader)
    }

    /// Decodes audio held in memory (`name` is used in messages).
    pub fn from_bytes(bytes: Vec<u8>, name: &str, rate: u32) -> Result<Self, DecodeError> {
        Self::from_source(Box::new(Cursor::new(bytes)), name, None, rate)
    }

    fn from_source(
        source: Box<dyn MediaSource>,
        shown: &str,
        extension: Option<&str>,
        rate: u32,
    ) -> Result<Self, DecodeError> {
        contained(shown, || Self::probe(source, shown, extension, rate))
    }

    fn probe(
        source: Box<dyn MediaSource>,
        shown: &str,
        extension: Option<&str>,
        rate: u32,
    ) -> Result<Self, DecodeError> {
        let shown = shown.to_string();
        let unsupported = |e: SymphoniaError| DecodeError::Unsupported { path: shown.clone(), reason: e.to_string() };
        let stream = MediaSourceStream::new(source, Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = extension {
            hint.with_extension(ext);
        }
        let probed = symphonia::default::get_probe()
            .format(&hint, stream, &FormatOptions::default(), &MetadataOptions::default())
            .map_err(unsupported)?;
        let format = probed.format;
        let track = format
            .default_track()
            .ok_or_else(|| DecodeError::Unsupported { path: shown.clone(), reason: "no audio track".into() })?;
        let params = track.codec_params.clone();
        if let Some(native) = params.sample_rate.filter(|r| !NATIVE_RATES.contains(r)) {
            return Err(DecodeError::Corrupt {
                path: shown,
                reason: format!("its header gives a sample rate of {native} Hz"),
            });
        }
        let decoder =
            symphonia::default::get_codecs().make(&params, &DecoderOptions::default()).map_err(unsupported)?;
        Ok(Self {
            track_id: track.id,
            declared_frames: declared_frames(&params),
            native_rate: None,
            format,
            decoder,
            shown,
            rate,
            resampler: None,
            frames: 0,
            samples: 0,
            non_finite: 0,
            last: Vec::new(),
            finished: false,
        })
    }

    /// Catches a truncated PCM file before any work is done: its header's length against the
    /// file's size. (Other codecs are checked when their end is reached.)
    fn check_length(&self, file_bytes: u64) -> Result<(), DecodeError> {
        let params = &self.decoder.codec_params();
        if !is_pcm(params.codec) {
            return Ok(());
        }
        let (Some(frames), Some(frame_bytes), Some(rate)) =
            (self.declared_frames, pcm_frame_bytes(params), params.sample_rate)
        else {
            return Ok(());
        };
        let needed = frames.saturating_mul(frame_bytes);
        // A few frames of slack: some encoders round the declared length.
        if file_bytes.saturating_add(64 * frame_bytes) < needed {
            return Err(DecodeError::Truncated {
                path: self.shown.clone(),
                expected_s: frames as f64 / f64::from(rate),
                found_s: (file_bytes / frame_bytes) as f64 / f64::from(rate),
            });
        }
        Ok(())
    }

    /// The length the header declares, when it declares one.
    pub fn declared_duration_s(&self) -> Option<f64> {
        let rate = self.decoder.codec_params().sample_rate?;
        Some(self.declared_frames? as f64 / f64::from(rate))
    }

    /// Seconds of audio decoded so far.
    pub fn duration_s(&self) -> f64 {
        self.native_rate.map_or(0.0, |rate| self.frames as f64 / f64::from(rate))
    }

    /// Samples (every channel counted) that were NaN or infinite and were replaced by silence,
    /// and all samples decoded so far.
    pub fn non_finite_samples(&self) -> (u64, u64) {
        (self.non_finite, self.samples)
    }

    /// The next piece of audio at the requested rate, or `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<f32>>, DecodeError> {
        if self.finished {
            return Ok(None);
        }
        let shown = self.shown.clone();
        let result = contained(&shown, || self.decode_next());
        if result.is_err() {
            self.finished = true;
        }
        result
    }

    fn decode_next(&mut self) -> Result<Option<Vec<f32>>, DecodeError> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(packet) => packet,
                Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return self.finish()
                }
                Err(SymphoniaError::ResetRequired) => return self.finish(),
                Err(e) => return Err(self.corrupt(e)),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(decoded) => decoded,
                // One damaged packet costs a few milliseconds of audio, not the whole file.
                Err(SymphoniaError::DecodeError(_)) => continue,
                Err(e) => return Err(self.corrupt(e)),
            };
            let spec = *decoded.spec();
            if decoded.frames() == 0 {
                continue;
            }
            let native = *self.native_rate.get_or_insert(spec.rate);
            if !NATIVE_RATES.contains(&native) {
                return Err(DecodeError::Corrupt {
                    path: self.shown.clone(),
                    reason: format!("it decodes at a sample rate of {native} Hz"),
                });
            }
            let mut buffer = SampleBuffer::<f32>::new(decoded.capacity() as u64, spec);
            buffer.copy_interleaved_ref(decoded);
            let mut mono = Vec::with_capacity(buffer.samples().len() / spec.channels.count().max(1));
            self.non_finite += downmix_into(buffer.samples(), spec.channels.count(), &mut self.last, &mut mono);
            self.samples += buffer.samples().len() as u64;
            self.frames += mono.len() as u64;
            let rate = self.rate;
            let resampler = self.resampler.get_or_insert_with(|| StreamResampler::new(native, rate));
            let mut out = Vec::new();
            resampler.push(&mono, &mut out);
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
    }

    fn corrupt(&self, e: SymphoniaError) -> DecodeError {
        DecodeError::Corrupt { path: self.shown.clone(), reason: e.to_string() }
    }

    /// The end: the resampler's tail, and the checks only the end can make.
    fn finish(&mut self) -> Result<Option<Vec<f32>>, DecodeError> {
        self.finished = true;
        let Some(resampler) = self.resampler.take() else {
            return Err(DecodeError::NoSamples { path: self.shown.clone() });
        };
        if let (Some(expected), Some(rate)) = (self.declared_frames, self.native_rate) {
            if self.frames + 64 < expected {
                return Err(DecodeError::Truncated {
                    path: self.shown.clone(),
                    expected_s: expected as f64 / f64::from(rate),
                    found_s: self.duration_s(),
                });
            }
        }
        let mut out = Vec::new();
        resampler.finish(&mut out);
        Ok(if out.is_empty() { None } else { Some(out) })
    }
}

thread_local! {
    /// Set while a decoder call runs whose panics are turned into errors.
    static CONTAINING: Cell<bool> = const { Cell::new(false) };
}

/// Runs a decoder call, turning a panic into a [`DecodeError::Corrupt`]: symphonia panics on some
/// malformed headers (a sample rate of 0, say), and a bad file must not bring the program down.
/// The panic's message is not printed; the error names the file instead.
fn contained<T>(shown: &str, call: impl FnOnce() -> Result<T, DecodeError>) -> Result<T, DecodeError> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CONTAINING.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = CONTAINING.with(|c| c.replace(true));
    let result = std::panic::catch_unwind(AssertUnwindSafe(call));
    CONTAINING.with(|c| c.set(was));
    result.unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown failure".into());
        Err(DecodeError::Corrupt { path: shown.to_string(), reason: format!("the decoder gave up on it ({what})") })
    })
}

fn is_pcm(codec: CodecType) -> bool {
    use symphonia::core::codecs::*;
    [
        CODEC_TYPE_PCM_S16LE,
        CODEC_TYPE_PCM_F32LE,
        CODEC_TYPE_PCM_S8,
        CODEC_TYPE_PCM_U8,
        CODEC_TYPE_PCM_S24LE,
        CODEC_TYPE_PCM_S32LE,
        CODEC_TYPE_PCM_F64LE,
        CODEC_TYPE_PCM_ALAW,
        CODEC_TYPE_PCM_MULAW,
    ]
    .contains(&codec)
}

fn pcm_frame_bytes(params: &CodecParameters) -> Option<u64> {
    let bits = params.bits_per_coded_sample.or(params.bits_per_sample)?;
    let channels = params.channels?.count() as u64;
    Some((u64::from(bits) / 8 * channels).max(1))
}

/// The frame count a header declares, unless it is the "unknown length" that streaming writers
/// (ffmpeg to a pipe, say) put there: a data size of 0xFFFFFFFF.
fn declared_frames(params: &CodecParameters) -> Option<u64> {
    let frames = params.n_frames?;
    match pcm_frame_bytes(params) {
        Some(frame_bytes) if frames.saturating_add(1).saturating_mul(frame_bytes) > u64::from(u32::MAX) => None,
        _ => Some(frames),
    }
}

/// Averages each frame's channels onto `out`; returns how many samples were not finite. Each
/// of those is replaced by its channel's last finite sample (`last`, carried across calls):
/// scattered bad samples then leave the speech almost untouched, where zeroing them would add
/// a buzz that changes what Whisper hears. Float samples beyond full scale are clipped to it, as
/// a sound card would: near `f32::MAX` (a damaged float WAV, found by fuzzing) their sum or the
/// resampler's would overflow to infinity.
fn downmix_into(interleaved: &[f32], channels: usize, last: &mut Vec<f32>, out: &mut Vec<f32>) -> u64 {
    let channels = channels.max(1);
    last.resize(channels, 0.0);
    let mut non_finite = 0;
    out.extend(interleaved.chunks_exact(channels).map(|frame| {
        let mut sum = 0.0;
        for (&s, held) in frame.iter().zip(last.iter_mut()) {
            if s.is_finite() {
                *held = s.clamp(-1.0, 1.0);
            } else {
                non_finite += 1;
            }
            sum += *held;
        }
        sum / channels as f32
    }));
    non_finite
}

#[cfg(test)]
mod tests;
