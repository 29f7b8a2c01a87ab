//! CTranslate2, loaded at run time.
//!
//! The library is the one inside the PyPI `ctranslate2` wheel (the `ctranslate2` model,
//! installed by `models fetch`): Intel MKL and oneDNN are built into it, which decodes Whisper
//! about 4× faster per token than a source build with ruy, and nothing has to be compiled here.
//! Its C++ API is reached through `shim.cc`, a small C surface (declared once, in `shim.h`; bound
//! in [`shim`]) that build.rs compiles into a shared object embedded in this binary. Loading
//! order: the library with `RTLD_GLOBAL` (its OpenMP runtime comes from the same folder), then
//! the shim, whose CTranslate2 symbols resolve against it. So the binary starts, and everything
//! but Whisper works, before the library is installed; one library is loaded per process, like
//! ONNX Runtime in [`crate::onnx`].

mod shim;

use std::ffi::{c_char, CStr, CString};
use std::path::Path;
use std::ptr::NonNull;

pub use shim::GenerateOptions;
use shim::{api, Api, Loader, LsEncoded, LsTranslator, LsWhisper, LsWhisperResult};

/// The file name of the CTranslate2 library inside the `ctranslate2` model folder.
pub const LIBRARY_FILE: &str = "libctranslate2.so";

/// Errors from loading CTranslate2, a model into it, or running one.
#[derive(Debug, thiserror::Error)]
pub enum Ct2Error {
    #[error(
        "cannot load the CTranslate2 library {path}: file not found (run `linguastream models fetch ctranslate2`)"
    )]
    NoLibrary { path: String },
    #[error("cannot load the CTranslate2 library {path}: {source} (run `linguastream models fetch ctranslate2`)")]
    Library {
        path: String,
        #[source]
        source: libloading::Error,
    },
    #[error("cannot load LinguaStream's CTranslate2 glue: {0}")]
    Shim(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// `reason` is CTranslate2's own message, a string across the C boundary.
    #[error("cannot load the CTranslate2 model {path}: {reason}")]
    Model { path: String, reason: String },
    #[error("{0}")]
    Run(String),
}

/// What one `generate` call returns for its one prompt.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    /// One token sequence per hypothesis, best first.
    pub sequences: Vec<Vec<String>>,
    /// The length-normalised log-probability of each sequence, when asked for.
    pub scores: Vec<f32>,
    pub no_speech_prob: f32,
}

/// A CTranslate2 Whisper model on the CPU, int8, with one replica per core sharing the weights:
/// calls from several threads (`serve`'s sessions, `transcribe`'s inputs) run side by side, each
/// on its own `threads`.
pub struct Whisper {
    api: &'static Api,
    raw: NonNull<LsWhisper>,
}

// SAFETY: CTranslate2's Whisper (a ReplicaPool) queues calls from any thread onto its workers.
unsafe impl Send for Whisper {}
unsafe impl Sync for Whisper {}

impl Whisper {
    /// Loads the model in `dir` with `threads` compute threads, loading CTranslate2 from
    /// `library` on first use.
    pub fn load(library: &Path, dir: &Path, threads: usize) -> Result<Self, Ct2Error> {
        let api = api(library)?;
        let replicas = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Self { api, raw: load_model(api, api.whisper_load, dir, threads, replicas)? })
    }

    /// The mel bands the encoder expects (80; 128 for large-v3).
    pub fn n_mels(&self) -> usize {
        // SAFETY: `raw` is a live model.
        unsafe { (self.api.whisper_n_mels)(self.raw.as_ptr()) }
    }

    /// Runs the encoder on log-mel `features`: `n_mels` rows of `frames` values.
    pub fn encode(&self, features: &[f32], n_mels: usize, frames: usize) -> Result<EncoderOutput, Ct2Error> {
        if features.len() != n_mels * frames {
            return Err(Ct2Error::Run(format!("{} feature values for {n_mels}×{frames}", features.len())));
        }
        let mut raw = std::ptr::null_mut();
        // SAFETY: `features` holds n_mels × frames values and outlives the call (CTranslate2
        // copies them); `raw` receives a new encoder output we own.
        self.api
            .check(unsafe { (self.api.whisper_encode)(self.raw.as_ptr(), features.as_ptr(), n_mels, frames, &mut raw) })
            .map_err(Ct2Error::Run)?;
        let raw = NonNull::new(raw).ok_or_else(|| Ct2Error::Run("no encoder output".into()))?;
        Ok(EncoderOutput { api: self.api, raw })
    }

    /// Decodes `encoded` after the prompt tokens `prompt`.
    pub fn generate(
        &self,
        encoded: &EncoderOutput,
        prompt: &[String],
        options: &GenerateOptions,
    ) -> Result<Generated, Ct2Error> {
        let prompt = c_strings(prompt)?;
        let pointers: Vec<*const c_char> = prompt.iter().map(|token| token.as_ptr()).collect();
        let mut raw = std::ptr::null_mut();
        // SAFETY: all pointers are valid for the call; `raw` receives a new result we own.
        self.api
            .check(unsafe {
                (self.api.whisper_generate)(
                    self.raw.as_ptr(),
                    encoded.raw.as_ptr(),
                    pointers.as_ptr(),
                    pointers.len(),
                    options,
                    &mut raw,
                )
            })
            .map_err(Ct2Error::Run)?;
        let raw = NonNull::new(raw).ok_or_else(|| Ct2Error::Run("no result".into()))?;
        let generated = self.read_result(raw);
        // SAFETY: freed once, after everything was copied out of it.
        unsafe { (self.api.result_free)(raw.as_ptr()) };
        Ok(generated)
    }

    fn read_result(&self, result: NonNull<LsWhisperResult>) -> Generated {
        let api = self.api;
        let result = result.as_ptr();
        let mut generated = Generated::default();
        // SAFETY: `result` is live; token pointers are NUL-terminated strings owned by it.
        unsafe {
            for index in 0..(api.result_count)(result) {
                let mut len = 0;
                let tokens = (api.result_tokens)(result, index, &mut len);
                let tokens = if len == 0 { &[] } else { std::slice::from_raw_parts(tokens, len) };
                generated
                    .sequences
                    .push(tokens.iter().map(|&t| CStr::from_ptr(t).to_string_lossy().into_owned()).collect());
                let mut score = 0.0;
                if (api.result_score)(result, index, &mut score) {
                    generated.scores.push(score);
                }
            }
            generated.no_speech_prob = (api.result_no_speech_prob)(result);
        }
        generated
    }
}

impl Drop for Whisper {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe { (self.api.whisper_free)(self.raw.as_ptr()) }
    }
}

/// The encoder's output for one utterance, decoded as often as needed.
pub struct EncoderOutput {
    api: &'static Api,
    raw: NonNull<LsEncoded>,
}

// SAFETY: immutable after creation; `generate` only reads (copies) it.
unsafe impl Send for EncoderOutput {}
unsafe impl Sync for EncoderOutput {}

impl Drop for EncoderOutput {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe { (self.api.encoded_free)(self.raw.as_ptr()) }
    }
}

/// A CTranslate2 sequence-to-sequence model (`Translator`) on the CPU, int8.
pub struct Translator {
    api: &'static Api,
    raw: NonNull<LsTranslator>,
}

// SAFETY: CTranslate2's Translator (a ReplicaPool) queues calls from any thread onto its workers.
unsafe impl Send for Translator {}
unsafe impl Sync for Translator {}

impl Translator {
    /// Loads the model in `dir` with `threads` compute threads, loading CTranslate2 from
    /// `library` on first use.
    pub fn load(library: &Path, dir: &Path, threads: usize) -> Result<Self, Ct2Error> {
        let api = api(library)?;
        Ok(Self { api, raw: load_model(api, api.translator_load, dir, threads, 1)? })
    }

    /// The best target tokens for `source`, starting with the forced `prefix` (as CTranslate2
    /// returns them, prefix included).
    pub fn translate(
        &self,
        source: &[String],
        prefix: &[String],
        beam_size: usize,
        max_length: usize,
    ) -> Result<Vec<String>, Ct2Error> {
        let source = c_strings(source)?;
        let prefix = c_strings(prefix)?;
        let source_pointers: Vec<*const c_char> = source.iter().map(|token| token.as_ptr()).collect();
        let prefix_pointers: Vec<*const c_char> = prefix.iter().map(|token| token.as_ptr()).collect();
        let mut raw = std::ptr::null_mut();
        // SAFETY: all pointers are valid for the call; `raw` receives a new result we own.
        self.api
            .check(unsafe {
                (self.api.translator_translate)(
                    self.raw.as_ptr(),
                    source_pointers.as_ptr(),
                    source_pointers.len(),
                    prefix_pointers.as_ptr(),
                    prefix_pointers.len(),
                    beam_size,
                    max_length,
                    &mut raw,
                )
            })
            .map_err(Ct2Error::Run)?;
        let raw = NonNull::new(raw).ok_or_else(|| Ct2Error::Run("no result".into()))?;
        let mut len = 0;
        // SAFETY: `raw` is live; its tokens are NUL-terminated strings it owns, copied out here
        // before it is freed once.
        let tokens = unsafe {
            let tokens = (self.api.translation_tokens)(raw.as_ptr(), &mut len);
            let tokens = if len == 0 { &[] } else { std::slice::from_raw_parts(tokens, len) };
            let owned = tokens.iter().map(|&t| CStr::from_ptr(t).to_string_lossy().into_owned()).collect();
            (self.api.translation_free)(raw.as_ptr());
            owned
        };
        Ok(tokens)
    }
}

impl Drop for Translator {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe { (self.api.translator_free)(self.raw.as_ptr()) }
    }
}

/// Loads the model in `dir` with `load`, `replicas` times over `threads` threads each; the model
/// is ours to free.
fn load_model<T>(
    api: &Api,
    load: Loader<T>,
    dir: &Path,
    threads: usize,
    replicas: usize,
) -> Result<NonNull<T>, Ct2Error> {
    let model_error = |reason: String| Ct2Error::Model { path: dir.display().to_string(), reason };
    let path = CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(|_| model_error("the path holds a NUL byte".into()))?;
    let mut raw = std::ptr::null_mut();
    // SAFETY: valid C string and out-pointer; on success `raw` is a new model we own.
    api.check(unsafe { load(path.as_ptr(), threads, replicas, &mut raw) }).map_err(model_error)?;
    NonNull::new(raw).ok_or_else(|| model_error("no model returned".into()))
}

fn c_strings(tokens: &[String]) -> Result<Vec<CString>, Ct2Error> {
    tokens
        .iter()
        .map(|token| CString::new(token.as_str()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Ct2Error::Run(format!("token: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_foreign_library_is_a_clear_error() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let missing = Whisper::load(&dir.join("no-such-library.so"), dir, 1).err().unwrap().to_string();
        assert!(missing.contains("no-such-library.so: file not found"), "{missing}");
        let foreign = Whisper::load(&dir.join("Cargo.toml"), dir, 1).err().unwrap().to_string();
        assert!(foreign.contains("Cargo.toml") && foreign.contains("models fetch ctranslate2"), "{foreign}");
    }
}
