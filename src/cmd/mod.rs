//! One module per subcommand; this one dispatches and holds what they share.

mod models;
mod speak;
mod transcribe;
mod translate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use linguastream::models::ModelStore;
use linguastream::stt::{WhisperModel, WhisperOptions};
use linguastream::vad::SegmenterOptions;

use crate::cli::{Cli, Command, RecognitionArgs};

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Translate(args) => translate::run(args),
        Command::Transcribe(args) => transcribe::run(args),
        Command::Speak(args) => speak::run(args),
        Command::Models(command) => models::run(command),
    }
}

/// The installed model files a run needs.
struct Runtime {
    store: ModelStore,
    onnx_runtime: PathBuf,
}

impl Runtime {
    fn open() -> Result<Self> {
        let store = ModelStore::open_default();
        let onnx_dir = store.require("onnxruntime")?;
        Ok(Self {
            onnx_runtime: onnx_dir.join("libonnxruntime.so"),
            store,
        })
    }

    fn vad_model(&self) -> Result<PathBuf> {
        Ok(self.store.require("silero-vad")?.join("silero_vad.onnx"))
    }

    fn voice(&self) -> Result<PathBuf> {
        Ok(self
            .store
            .require("piper-en-us-joe-medium")?
            .join("voice.onnx"))
    }

    /// `--whisper`: an installed size or a model directory.
    fn whisper_dir(&self, choice: &str) -> Result<PathBuf> {
        let path = Path::new(choice);
        if path.is_dir() {
            if !path.join("model.bin").is_file() {
                bail!(
                    "{} has no model.bin: not a CTranslate2 Whisper model directory",
                    path.display()
                );
            }
            return Ok(path.to_path_buf());
        }
        let id = format!("whisper-{choice}");
        if self.store.manifest().get(&id).is_none() {
            bail!("unknown Whisper model '{choice}': give a size (tiny, base, small, medium, large-v3, large-v3-turbo) or a model directory");
        }
        Ok(self.store.require(&id)?)
    }

    fn load_whisper(&self, args: &RecognitionArgs) -> Result<(Arc<WhisperModel>, String)> {
        let dir = self.whisper_dir(&args.whisper)?;
        let mut options = WhisperOptions::default();
        if let Some(threads) = args.threads {
            options.threads = threads.max(1);
        }
        let model = WhisperModel::load(&dir, options).context("loading Whisper")?;
        model.language_token(&args.from)?;
        Ok((Arc::new(model), dir.display().to_string()))
    }
}

fn segmenter_options(args: &RecognitionArgs) -> Result<SegmenterOptions> {
    if !(0.05..=0.95).contains(&args.vad_threshold) {
        bail!(
            "--vad-threshold must be between 0.05 and 0.95, got {}",
            args.vad_threshold
        );
    }
    if !(1.0..=29.0).contains(&args.max_utterance_s) {
        bail!("--max-utterance-s must be between 1 and 29 seconds (Whisper hears at most 30 s), got {}", args.max_utterance_s);
    }
    Ok(SegmenterOptions {
        threshold: args.vad_threshold,
        min_pause_ms: args.pause_ms,
        max_utterance_ms: (args.max_utterance_s * 1000.0) as u32,
        ..SegmenterOptions::default()
    })
}
