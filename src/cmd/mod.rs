//! One module per subcommand; this one dispatches and holds what they share.

mod bench;
mod devices;
mod generate;
mod live;
mod models;
mod recommend;
mod serve;
mod speak;
mod transcribe;
mod translate;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use linguastream_core::lanes::Lane;
use linguastream_core::outfile;
use linguastream_core::pipeline::{Ahead, Pace, PipelineConfig, UnsurePolicy};
use linguastream_core::runtime::{ModelNames, RecognitionOptions, Runtime, SessionOptions};
use linguastream_core::vad::SegmenterOptions;

use crate::cli::{Cli, Command, RecognitionArgs, TranslationArgs, UnsureChoice};

/// How a command cuts speech unless told otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Cuts {
    pub pause_ms: u32,
    pub max_utterance_s: f32,
    /// Pauses inside an utterance where it is cut again if Whisper cannot read it whole.
    pub piece_pause_ms: u32,
}

/// The causes of `error` worth saying after it: a cause whose message the error before it already
/// includes (core errors say `…: {source}`) is not said twice.
pub fn causes(error: &anyhow::Error) -> Vec<String> {
    let mut said = error.to_string();
    let mut causes = Vec::new();
    for cause in error.chain().skip(1).map(|cause| cause.to_string()) {
        if !said.contains(&cause) {
            causes.push(cause.clone());
        }
        said = cause;
    }
    causes
}

/// `error` and its causes on one line, as `{error:#}` writes them but each said once.
pub fn one_line(error: &anyhow::Error) -> String {
    std::iter::once(error.to_string()).chain(causes(error)).collect::<Vec<_>>().join(": ")
}

/// Files favour context: Whisper was trained on 30 s windows and hears a passage of several
/// sentences better than each sentence alone (`transcribe` of the long-form set: CER 0.384 cut at
/// 400 ms pauses and 15 s, 0.351 at 2 s pauses and 25 s; colloquial 0.302 → 0.311, digits
/// unchanged), as WhisperX's merging of voice-activity segments into 30 s chunks does. A passage
/// Whisper cannot read whole is read in the pieces that 400 ms pauses would have cut.
pub const FILE_CUTS: Cuts = Cuts { pause_ms: 2000, max_utterance_s: 25.0, piece_pause_ms: 400 };
/// Live favours latency: each utterance is translated as soon as its pause is heard.
pub const LIVE_CUTS: Cuts = Cuts { pause_ms: 300, max_utterance_s: 15.0, piece_pause_ms: 0 };

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Translate(args) => translate::run(args),
        Command::Transcribe(args) => transcribe::run(args),
        Command::Speak(args) => speak::run(args),
        Command::Models(command) => models::run(command),
        Command::Live(args) => live::run(args),
        Command::Devices => devices::run(),
        Command::Bench(args) => bench::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Generate(args) => generate::run(args),
    }
}

/// Refuses, before any model loads, outputs that cannot be written, that would overwrite the
/// input, or that name the same file twice. `outputs` pairs a description with each path.
fn check_outputs(input: Option<&Path>, outputs: &[(&str, &Path)]) -> Result<()> {
    outfile::check_distinct(input, outputs)?;
    for (what, path) in outputs {
        outfile::check_writable(what, path)?;
    }
    Ok(())
}

/// The flags' ranges were checked when they were parsed.
fn recognition_options(args: &RecognitionArgs) -> RecognitionOptions {
    RecognitionOptions {
        language: args.from.clone(),
        whisper: args.whisper.clone(),
        threads: args.threads,
        decode_budget: args.decode_budget,
        fixed_decode_tokens: args.fixed_decode_tokens,
    }
}

/// What a pipeline command asks the runtime for.
fn session_options(
    args: &RecognitionArgs,
    target: &str,
    cuts: Cuts,
    translation: &TranslationArgs,
    pace: Pace,
) -> SessionOptions {
    SessionOptions {
        unsure: translation.unsure.into(),
        recognition: recognition_options(args),
        target: target.into(),
        mt: translation.mt,
        segmenter: segmenter_options(args, cuts),
        pace,
        lane: Lane::User,
    }
}

impl From<UnsureChoice> for UnsurePolicy {
    fn from(choice: UnsureChoice) -> Self {
        match choice {
            UnsureChoice::Speak => UnsurePolicy::Speak,
            UnsureChoice::Cue => UnsurePolicy::Cue,
            UnsureChoice::CaptionOnly => UnsurePolicy::CaptionOnly,
        }
    }
}

/// Resolves the models of a pipeline command and loads Whisper; tells the user when the
/// translation engine is not the one they may expect.
fn pipeline_config(
    runtime: &Runtime,
    args: &RecognitionArgs,
    target: &str,
    cuts: Cuts,
    translation: &TranslationArgs,
    pace: Pace,
) -> Result<(PipelineConfig, ModelNames)> {
    configure(runtime, &session_options(args, target, cuts, translation, pace))
}

/// The session `options` describe, with the notes its user should see (see [`pipeline_config`]).
fn configure(runtime: &Runtime, options: &SessionOptions) -> Result<(PipelineConfig, ModelNames)> {
    let (config, names) = runtime.pipeline_config(options)?;
    tell(runtime, &names);
    Ok((config, names))
}

/// What `auto` chose and why, and a better Whisper to install if there is one.
fn tell(runtime: &Runtime, names: &ModelNames) {
    if let Some(note) = &names.note {
        eprintln!("note: {note}");
    }
    if let Some(hint) = recommend::hint(runtime.store(), &names.stt.model) {
        eprintln!("hint: {hint}");
    }
}

/// What a live listener asks to hear before an utterance is over.
fn live_pace(partial_captions: bool, speak_early: bool) -> Pace {
    Pace::RealTime(Ahead { partial_captions, speak_early })
}

/// How speech is cut; the flags' ranges were checked when they were parsed.
fn segmenter_options(args: &RecognitionArgs, cuts: Cuts) -> SegmenterOptions {
    SegmenterOptions {
        threshold: args.vad_threshold,
        min_pause_ms: args.pause_ms.unwrap_or(cuts.pause_ms),
        max_utterance_ms: (args.max_utterance_s.unwrap_or(cuts.max_utterance_s) * 1000.0) as u32,
        piece_pause_ms: cuts.piece_pause_ms,
        ..SegmenterOptions::default()
    }
}

#[cfg(test)]
mod tests {
    use linguastream_core::ct2::Ct2Error;
    use linguastream_core::models::StoreError;
    use linguastream_core::stt::SttError;

    #[test]
    fn a_cause_its_error_already_says_is_said_once() {
        let error = anyhow::Error::from(SttError::from(Ct2Error::Run("out of memory".into())));
        let error = error.context("cannot transcribe a.wav");
        assert_eq!(super::causes(&error), ["Whisper decoding failed: out of memory"]);
        assert_eq!(super::one_line(&error), "cannot transcribe a.wav: Whisper decoding failed: out of memory");
    }

    #[test]
    fn load_errors_with_their_sources_are_said_once() {
        let missing = Ct2Error::NoLibrary { path: "/models/libctranslate2.so".into() };
        let error = anyhow::Error::from(SttError::Library { path: "/models/whisper".into(), source: missing });
        assert_eq!(error.chain().count(), 2);
        assert!(super::causes(&error).is_empty(), "{:?}", super::causes(&error));
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let said = denied.to_string();
        let error = anyhow::Error::from(StoreError::Io { path: "/models/x".into(), source: denied });
        assert_eq!(error.chain().count(), 2);
        assert_eq!(super::one_line(&error), format!("cannot read model files in /models/x: {said}"));
    }
}
