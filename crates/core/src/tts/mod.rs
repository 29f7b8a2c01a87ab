//! Speech synthesis: Piper voices (VITS through ONNX Runtime) fed with espeak-ng phonemes.

mod espeak;
mod piper;

pub use espeak::{phonemize, PhonemizeError};
pub use piper::{voice_sample_rate, PiperSynthesizer, PiperVoice, PiperVoiceConfig};

/// Why speech could not be synthesised.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    #[error("cannot load voice {path}: {source}")]
    Load {
        path: String,
        #[source]
        source: crate::onnx::OnnxError,
    },
    #[error("cannot load voice {path}: {source}")]
    ConfigUnreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot load voice {path}: {source}")]
    ConfigInvalid {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Phonemize(#[from] PhonemizeError),
    #[error("speech synthesis failed: {0}")]
    Inference(#[from] ort::Error),
}

/// Turns text into speech, sentence by sentence so the first audio is available early.
pub trait Synthesizer: Send {
    fn sample_rate(&self) -> u32;
    /// Calls `on_sentence` with the audio of each sentence as soon as it is ready. `speed` above
    /// 1 speaks faster at the same pitch (to catch up when the English runs behind).
    fn synthesize(&mut self, text: &str, speed: f32, on_sentence: &mut dyn FnMut(&[f32])) -> Result<(), TtsError>;
}

/// Seconds of the [`unsure_cue`]: short enough not to delay the English it comes before.
pub const UNSURE_CUE_S: f64 = 0.3;

/// A soft falling two-tone cue (660 Hz then 440 Hz, 0.12 s each, 0.06 s apart) said before English
/// of low confidence: a sound a listener learns to read as "this may be wrong", unlike any word.
pub fn unsure_cue(rate: u32) -> Vec<f32> {
    let rate_f = rate as f32;
    let tone = |hz: f32| {
        let n = (0.12 * rate_f) as usize;
        (0..n).map(move |i| {
            let t = i as f32 / rate_f;
            // A raised-cosine envelope: no click at either end.
            let envelope = 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / n as f32).cos();
            0.25 * envelope * (2.0 * std::f32::consts::PI * hz * t).sin()
        })
    };
    let gap = |s: f32| std::iter::repeat_n(0.0, (s * rate_f) as usize);
    tone(660.0).chain(gap(0.06)).chain(tone(440.0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unsure_cue_is_short_soft_and_click_free() {
        let cue = unsure_cue(22_050);
        let seconds = cue.len() as f64 / 22_050.0;
        assert!((seconds - UNSURE_CUE_S).abs() < 0.01, "{seconds}");
        assert!(cue.iter().all(|s| s.abs() <= 0.25));
        assert!(cue[0].abs() < 1e-3 && cue[cue.len() - 1].abs() < 1e-3);
        assert!(cue.iter().map(|s| s.abs()).fold(0.0, f32::max) > 0.2);
    }
}
