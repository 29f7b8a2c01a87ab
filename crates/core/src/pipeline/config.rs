//! What a run is made of: the engine of each stage and the settings that decide how audio
//! arrives and what the listener gets ([`PipelineConfig`]).

use std::sync::Arc;

use serde::Serialize;

use super::PipelineError;
use crate::mt::Translator;
use crate::stt::Recognizer;
use crate::tts::Synthesizer;
use crate::vad::{SegmenterOptions, SpeechDetector};

/// Makes one stage's engine. Called once per run, inside the stage's thread.
pub type Factory<T> = Arc<dyn Fn() -> Result<Box<T>, PipelineError> + Send + Sync>;

/// The engine of every stage.
#[derive(Clone)]
pub struct StageFactories {
    pub detector: Factory<dyn SpeechDetector>,
    pub recognizer: Factory<dyn Recognizer>,
    pub translator: Factory<dyn Translator>,
    /// The voice; none when the session only captions (no voice speaks its target language).
    pub synthesizer: Option<Factory<dyn Synthesizer>>,
}

/// Everything a run needs. Cheap to clone: runs (sessions) can share one.
#[derive(Clone)]
pub struct PipelineConfig {
    pub stages: StageFactories,
    pub segmenter: SegmenterOptions,
    /// How audio arrives, and with it what the listener gets while it does.
    pub pace: Pace,
    /// The translator is Whisper's own speech translation (`direct`): decode the English first,
    /// so the listener does not wait for the transcript, which follows it.
    pub english_first: bool,
    /// What happens to English of low confidence ([`crate::confidence`]).
    pub unsure: UnsurePolicy,
}

impl PipelineConfig {
    /// Refuses the one combination the types allow that cannot work: English said early is
    /// continued from Whisper's own translation (a text engine would translate half a clause).
    pub fn check(&self) -> Result<(), ConfigError> {
        match self.pace.ahead().speak_early && !self.english_first {
            true => Err(ConfigError::SpeakEarlyNeedsDirect),
            false => Ok(()),
        }
    }
}

/// A [`PipelineConfig`] that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("--speak-early needs Whisper's own translation (--mt direct)")]
    SpeakEarlyNeedsDirect,
}

/// How audio arrives, which decides how its English is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pace {
    /// A file read as fast as it goes: every utterance is spoken in full, its speech collected
    /// into its [`TranslatedSegment`](crate::output::TranslatedSegment) (`translate`, the server's uploads).
    #[default]
    Batch,
    /// A file read as fast as it goes, each sentence's speech sent as soon as it is synthesised
    /// ([`Event::Speech`](super::Event::Speech)), so that a benchmark times it without waiting for the clock.
    Streamed,
    /// Audio arrives as it is spoken (a microphone, a paced file), speech streamed. An
    /// utterance is recognised speculatively while its pause is still being confirmed (the work
    /// is discarded if speech resumes), and speech is paced as a listener hears it: spoken
    /// faster when it falls behind, captioned only when too far behind.
    RealTime(Ahead),
}

impl Pace {
    pub fn real_time(self) -> bool {
        matches!(self, Pace::RealTime(_))
    }

    /// Whether each sentence's speech is sent as soon as it is synthesised.
    pub fn streams_speech(self) -> bool {
        !matches!(self, Pace::Batch)
    }

    /// What is said before an utterance is over (nothing unless in real time).
    pub fn ahead(self) -> Ahead {
        match self {
            Pace::RealTime(ahead) => ahead,
            Pace::Batch | Pace::Streamed => Ahead::default(),
        }
    }
}

/// What a real-time run says before an utterance is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ahead {
    /// Recognise the utterance under way every second of new speech and report it as
    /// [`Event::Partial`](super::Event::Partial). It takes the recognizer's idle time, so the final transcript can wait
    /// for a partial decode to finish.
    pub partial_captions: bool,
    /// Say English while the speaker is still talking: the utterance under way is translated
    /// every second of new speech and each clause two passes agree on is said at once (the
    /// utterance's final English is forced to continue it, so nothing said is taken back). Only
    /// with [`PipelineConfig::english_first`] ([`PipelineConfig::check`]); with
    /// `partial_captions` the partial captions are then the English.
    pub speak_early: bool,
}

/// What the pipeline does with English it has low confidence in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnsurePolicy {
    /// Speak it like any other English.
    Speak,
    /// Speak it after a short two-tone cue, so the listener knows it may be wrong.
    #[default]
    Cue,
    /// Caption it, marked, and do not speak it; the speaker is told so they can say it again.
    CaptionOnly,
}
