//! One module per subcommand; this one dispatches and holds what they share.

mod bench;
mod devices;
mod live;
mod models;
mod speak;
mod transcribe;
mod translate;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use linguastream::ct2;
use linguastream::models::ModelStore;
use linguastream::pipeline::{MtEngine, PipelineConfig};
use linguastream::stt::{WhisperModel, WhisperOptions};
use linguastream::vad::SegmenterOptions;

use crate::cli::{Cli, Command, MtChoice, RecognitionArgs};

/// Default pause that ends an utterance: files favour whole sentences, live favours latency.
pub const TRANSLATE_PAUSE_MS: u32 = 400;
pub const LIVE_PAUSE_MS: u32 = 300;

/// Which models a run uses, for reports.
pub struct ModelNames {
    pub whisper_dir: String,
    pub mt: String,
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Translate(args) => translate::run(args),
        Command::Transcribe(args) => transcribe::run(args),
        Command::Speak(args) => speak::run(args),
        Command::Models(command) => models::run(command),
        Command::Live(args) => live::run(args),
        Command::Devices => devices::run(),
        Command::Bench(args) => bench::run(args),
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
        Ok(Self { onnx_runtime: onnx_dir.join("libonnxruntime.so"), store })
    }

    fn vad_model(&self) -> Result<PathBuf> {
        Ok(self.store.require("silero-vad")?.join("silero_vad.onnx"))
    }

    fn voice(&self) -> Result<PathBuf> {
        Ok(self.store.require("piper-en-us-joe-medium")?.join("voice.onnx"))
    }

    /// `--whisper`: an installed size or a model directory.
    fn whisper_dir(&self, choice: &str) -> Result<PathBuf> {
        let path = Path::new(choice);
        if path.is_dir() {
            if !path.join("model.bin").is_file() {
                bail!("{} has no model.bin: not a CTranslate2 Whisper model directory", path.display());
            }
            return Ok(path.to_path_buf());
        }
        let id = format!("whisper-{choice}");
        if self.store.manifest().get(&id).is_none() {
            bail!("unknown Whisper model '{choice}': give a size (tiny, base, small, medium, large-v3, large-v3-turbo) or a model directory");
        }
        Ok(self.store.require(&id)?)
    }

    /// `real_time`: audio arrives as it is spoken, so decoding must also keep up with the clock.
    fn load_whisper(&self, args: &RecognitionArgs, real_time: bool) -> Result<(Arc<WhisperModel>, String)> {
        let dir = self.whisper_dir(&args.whisper)?;
        let mut options = WhisperOptions { real_time, ..WhisperOptions::default() };
        if let Some(threads) = args.threads {
            options.threads = threads.max(1);
        }
        if !(0.01..=10.0).contains(&args.decode_budget) {
            bail!(
                "--decode-budget must be between 0.01 and 10 (seconds per second of audio), got {}",
                args.decode_budget
            );
        }
        options.transcribe_budget = args.decode_budget;
        options.translate_budget = args.decode_budget / 2.0;
        let ctranslate2 = self.store.require("ctranslate2")?.join(ct2::LIBRARY_FILE);
        let model = WhisperModel::load(&ctranslate2, &dir, options).context("loading Whisper")?;
        model.language_token(&args.from)?;
        Ok((Arc::new(model), dir.display().to_string()))
    }
}

impl Runtime {
    /// Loads Whisper and resolves every model the pipeline needs.
    fn pipeline_config(
        &self,
        args: &RecognitionArgs,
        default_pause_ms: u32,
        mt: MtChoice,
        stream_speech: bool,
        real_time: bool,
    ) -> Result<(PipelineConfig, ModelNames)> {
        let segmenter = segmenter_options(args, default_pause_ms)?;
        let (engine, mt_name) = self.choose_engine(&args.from, mt)?;
        let (whisper, whisper_dir) = self.load_whisper(args, real_time)?;
        let config = PipelineConfig {
            language: args.from.clone(),
            whisper,
            mt: engine,
            onnx_runtime: self.onnx_runtime.clone(),
            vad_model: self.vad_model()?,
            voice: self.voice()?,
            segmenter,
            translation_cache: NonZeroUsize::new(1024).expect("non-zero"),
            tts_threads: 2,
            stream_speech,
        };
        Ok((config, ModelNames { whisper_dir, mt: mt_name }))
    }

    /// `--mt`: the Firefox model for the pair when asked for or installed, else direct.
    fn choose_engine(&self, from: &str, choice: MtChoice) -> Result<(MtEngine, String)> {
        let entry = self.store.manifest().translation_model(from, "en");
        let installed = entry.and_then(|e| self.store.require(&e.id).ok().map(|dir| (e.id.clone(), dir)));
        match (choice, installed) {
            (MtChoice::Direct, _) => Ok((MtEngine::Direct, "direct (Whisper translate task)".into())),
            (MtChoice::Firefox | MtChoice::Auto, Some((id, dir))) => {
                Ok((MtEngine::Firefox(dir), format!("firefox ({id})")))
            }
            (MtChoice::Firefox, None) => match entry {
                Some(e) => Err(self.store.require(&e.id).unwrap_err().into()),
                None => {
                    bail!("there is no Firefox-Translations model for {from}→en; use --mt direct")
                }
            },
            (MtChoice::Auto, None) => {
                eprintln!(
                    "note: no Firefox-Translations {from}→en model installed, so Whisper translates directly (weak with Whisper base); see `linguastream models list`"
                );
                Ok((MtEngine::Direct, "direct (Whisper translate task)".into()))
            }
        }
    }
}

fn segmenter_options(args: &RecognitionArgs, default_pause_ms: u32) -> Result<SegmenterOptions> {
    if !(0.05..=0.95).contains(&args.vad_threshold) {
        bail!("--vad-threshold must be between 0.05 and 0.95, got {}", args.vad_threshold);
    }
    if !(1.0..=29.0).contains(&args.max_utterance_s) {
        bail!(
            "--max-utterance-s must be between 1 and 29 seconds (Whisper hears at most 30 s), got {}",
            args.max_utterance_s
        );
    }
    Ok(SegmenterOptions {
        threshold: args.vad_threshold,
        min_pause_ms: args.pause_ms.unwrap_or(default_pause_ms),
        max_utterance_ms: (args.max_utterance_s * 1000.0) as u32,
        ..SegmenterOptions::default()
    })
}
