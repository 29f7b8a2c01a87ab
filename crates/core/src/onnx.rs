//! The process-wide ONNX Runtime environment shared by the VAD and TTS stages.
//!
//! ONNX Runtime is loaded at run time from the library installed by `models fetch` (the `ort`
//! crate's own download of the library cannot work offline), and `ort` allows one environment
//! per process, so every session is created through [`session`].

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::Session;

static ENVIRONMENT: OnceLock<Environment> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

/// Errors from loading ONNX Runtime or a model into it.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("cannot load the ONNX Runtime library {path}: file not found (run `linguastream models fetch`)")]
    NoLibrary { path: String },
    #[error("cannot load the ONNX Runtime library {path}: {source} (run `linguastream models fetch`)")]
    Library {
        path: String,
        #[source]
        source: ort::LoadDynamicError,
    },
    #[error("cannot load the ONNX Runtime library {path}: {source} (run `linguastream models fetch`)")]
    Environment {
        path: String,
        #[source]
        source: ort::Error,
    },
    #[error("cannot load ONNX model {path}: {source}")]
    Model {
        path: String,
        #[source]
        source: ort::Error,
    },
}

fn environment(library: &Path) -> Result<&'static Environment, OnnxError> {
    let _guard = INIT.lock().unwrap_or_else(|poison| poison.into_inner());
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let path = library.display().to_string();
    if !library.is_file() {
        return Err(OnnxError::NoLibrary { path });
    }
    let env = ort::init_from(library)
        .map_err(|source| OnnxError::Library { path: path.clone(), source })?
        .with_name("linguastream")
        .build()
        .map_err(|source| OnnxError::Environment { path, source })?;
    Ok(ENVIRONMENT.get_or_init(|| env))
}

/// Opens `model` with `threads` intra-op threads, loading ONNX Runtime from `library` on first use.
pub fn session(library: &Path, model: &Path, threads: usize) -> Result<Session, OnnxError> {
    let env = environment(library)?;
    // The builder's own errors hand the builder back; only the error is kept.
    let model_error = |source: ort::Error| OnnxError::Model { path: model.display().to_string(), source };
    Session::builder(env)
        .map_err(model_error)?
        // ONNX Runtime keeps a memory plan for every input shape it has seen; a voice sees a new
        // sentence length almost every time, so with plans kept its memory grew by ~290 MB over
        // 400 sentences (~120 MB without them, then flat), at the same speed.
        .with_memory_pattern(false)
        .map_err(|e| model_error(e.into()))?
        .with_intra_threads(threads)
        .map_err(|e| model_error(e.into()))?
        // Its own arena grows to the largest sentence seen and never gives memory back: the voice
        // held 292 MB over 600 sentences with it, 150–190 MB without, at the same speed (150
        // sentences, alternating runs: 72 and 90 s with the arena, 90 and 80 s without).
        .with_execution_providers([ort::ep::CPU::default().with_arena_allocator(false).build()])
        .map_err(|e| model_error(e.into()))?
        .commit_from_file(model)
        .map_err(model_error)
}
