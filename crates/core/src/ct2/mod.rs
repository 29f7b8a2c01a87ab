//! CTranslate2, loaded at run time.
//!
//! The library is the one inside the PyPI `ctranslate2` wheel (the `ctranslate2` model,
//! installed by `models fetch`): Intel MKL and oneDNN are built into it, which decodes Whisper
//! about 4× faster per token than a source build with ruy, and nothing has to be compiled here.
//! Its C++ API is reached through `shim.cc`, a small C surface (declared once, in `shim.h`) that
//! build.rs compiles into a shared object embedded in this binary. Loading order: the library with `RTLD_GLOBAL` (its
//! OpenMP runtime comes from the same folder), then the shim, whose CTranslate2 symbols resolve
//! against it. So the binary starts, and everything but Whisper works, before the library is
//! installed; one library is loaded per process, like ONNX Runtime in [`crate::onnx`].

use std::ffi::{c_char, CStr, CString};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::{Mutex, OnceLock};

use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_LOCAL, RTLD_NOW};

/// The file name of the CTranslate2 library inside the `ctranslate2` model folder.
pub const LIBRARY_FILE: &str = "libctranslate2.so";

static SHIM_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libls_ct2.so"));
static API: OnceLock<Api> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

/// Errors from loading CTranslate2, a model into it, or running one.
#[derive(Debug, thiserror::Error)]
pub enum Ct2Error {
    #[error("cannot load the CTranslate2 library {path}: {reason} (run `linguastream models fetch ctranslate2`)")]
    Library { path: String, reason: String },
    #[error("cannot load LinguaStream's CTranslate2 glue: {0}")]
    Shim(String),
    #[error("cannot load the CTranslate2 model {path}: {reason}")]
    Model { path: String, reason: String },
    #[error("{0}")]
    Run(String),
}

enum LsWhisper {}
enum LsEncoded {}
enum LsWhisperResult {}
enum LsTranslator {}
enum LsTranslation {}

/// The shim's functions, as `shim.h` declares them (see there for what each does); a test checks
/// that the names bound here are the ones it declares.
struct Api {
    free_error: unsafe extern "C" fn(*mut c_char),
    whisper_load: Loader<LsWhisper>,
    whisper_free: unsafe extern "C" fn(*mut LsWhisper),
    whisper_n_mels: unsafe extern "C" fn(*const LsWhisper) -> usize,
    whisper_encode: unsafe extern "C" fn(*mut LsWhisper, *const f32, usize, usize, *mut *mut LsEncoded) -> *mut c_char,
    encoded_free: unsafe extern "C" fn(*mut LsEncoded),
    whisper_generate: unsafe extern "C" fn(
        *mut LsWhisper,
        *const LsEncoded,
        *const *const c_char,
        usize,
        *const GenerateOptions,
        *mut *mut LsWhisperResult,
    ) -> *mut c_char,
    result_count: unsafe extern "C" fn(*const LsWhisperResult) -> usize,
    result_tokens: unsafe extern "C" fn(*const LsWhisperResult, usize, *mut usize) -> *const *const c_char,
    result_score: unsafe extern "C" fn(*const LsWhisperResult, usize, *mut f32) -> bool,
    result_no_speech_prob: unsafe extern "C" fn(*const LsWhisperResult) -> f32,
    result_free: unsafe extern "C" fn(*mut LsWhisperResult),
    translator_load: Loader<LsTranslator>,
    translator_free: unsafe extern "C" fn(*mut LsTranslator),
    translator_translate: unsafe extern "C" fn(
        *mut LsTranslator,
        *const *const c_char,
        usize,
        *const *const c_char,
        usize,
        usize,
        usize,
        *mut *mut LsTranslation,
    ) -> *mut c_char,
    translation_tokens: unsafe extern "C" fn(*const LsTranslation, *mut usize) -> *const *const c_char,
    translation_free: unsafe extern "C" fn(*mut LsTranslation),
    // Both libraries stay loaded for the life of the process.
    _ctranslate2: Library,
    _shim: Library,
}

impl Api {
    /// Turns a shim error (NULL: none) into a message, freeing it.
    fn check(&self, error: *mut c_char) -> Result<(), String> {
        if error.is_null() {
            return Ok(());
        }
        // SAFETY: a non-NULL error is a NUL-terminated string from strdup, freed once here.
        let message = unsafe { CStr::from_ptr(error) }.to_string_lossy().into_owned();
        unsafe { (self.free_error)(error) };
        Err(message)
    }
}

/// Loads CTranslate2 from `library` and the shim over it, once per process.
fn api(library: &Path) -> Result<&'static Api, Ct2Error> {
    let _guard = INIT.lock().unwrap_or_else(|poison| poison.into_inner());
    if let Some(api) = API.get() {
        return Ok(api);
    }
    let library_error = |reason: String| Ct2Error::Library { path: library.display().to_string(), reason };
    if !library.is_file() {
        return Err(library_error("file not found".into()));
    }
    // SAFETY: the library is CTranslate2 as pinned by the manifest; its initialisers only set up
    // its own state. RTLD_GLOBAL lets the shim resolve its symbols.
    let ctranslate2 =
        unsafe { Library::open(Some(library), RTLD_NOW | RTLD_GLOBAL) }.map_err(|e| library_error(e.to_string()))?;
    let shim = open_shim().map_err(|e| Ct2Error::Shim(e.to_string()))?;
    let api = bind(ctranslate2, shim).map_err(|e| Ct2Error::Shim(e.to_string()))?;
    Ok(API.get_or_init(|| api))
}

/// dlopen needs a file: the embedded shim goes into an anonymous in-memory one.
fn open_shim() -> Result<Library, Box<dyn std::error::Error>> {
    // SAFETY: memfd_create with a valid name; the descriptor is owned by `file` from here on.
    let fd = unsafe { libc::memfd_create(c"linguastream-ct2-shim".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(format!("memfd_create: {}", std::io::Error::last_os_error()).into());
    }
    let mut file = unsafe { File::from_raw_fd(fd) };
    file.write_all(SHIM_BYTES)?;
    let path = format!("/proc/self/fd/{}", file.as_raw_fd());
    // SAFETY: the shim only defines functions; its undefined symbols are in the library loaded
    // before it (RTLD_NOW reports any that are not, instead of failing later).
    Ok(unsafe { Library::open(Some(path.as_str()), RTLD_NOW | RTLD_LOCAL) }?)
}

fn bind(ctranslate2: Library, shim: Library) -> Result<Api, libloading::Error> {
    // SAFETY: each type matches the function's declaration in shim.h.
    unsafe {
        Ok(Api {
            free_error: *shim.get(b"ls_ct2_free_error\0")?,
            whisper_load: *shim.get(b"ls_whisper_load\0")?,
            whisper_free: *shim.get(b"ls_whisper_free\0")?,
            whisper_n_mels: *shim.get(b"ls_whisper_n_mels\0")?,
            whisper_encode: *shim.get(b"ls_whisper_encode\0")?,
            encoded_free: *shim.get(b"ls_encoded_free\0")?,
            whisper_generate: *shim.get(b"ls_whisper_generate\0")?,
            result_count: *shim.get(b"ls_whisper_result_count\0")?,
            result_tokens: *shim.get(b"ls_whisper_result_tokens\0")?,
            result_score: *shim.get(b"ls_whisper_result_score\0")?,
            result_no_speech_prob: *shim.get(b"ls_whisper_result_no_speech_prob\0")?,
            result_free: *shim.get(b"ls_whisper_result_free\0")?,
            translator_load: *shim.get(b"ls_translator_load\0")?,
            translator_free: *shim.get(b"ls_translator_free\0")?,
            translator_translate: *shim.get(b"ls_translator_translate\0")?,
            translation_tokens: *shim.get(b"ls_translation_tokens\0")?,
            translation_free: *shim.get(b"ls_translation_free\0")?,
            _ctranslate2: ctranslate2,
            _shim: shim,
        })
    }
}

/// Decoding settings passed to CTranslate2's `Whisper::generate`; the others keep its defaults.
/// `LsWhisperOptions` in shim.h, with the layout asserted below (and in shim.cc).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct GenerateOptions {
    pub beam_size: usize,
    pub num_hypotheses: usize,
    /// 0 samples from the full distribution, 1 is greedy.
    pub sampling_topk: usize,
    pub sampling_temperature: f32,
    /// CTranslate2 stops at min(max_length / 2, max_length − prompt length) new tokens.
    pub max_length: usize,
    pub return_scores: bool,
    pub return_no_speech_prob: bool,
    /// A sequence of this many tokens may occur only once (0: no limit).
    pub no_repeat_ngram_size: usize,
}

// The layout of `LsWhisperOptions`: its size (`LS_WHISPER_OPTIONS_SIZE` in shim.h) and the
// offsets shim.cc asserts, on the 64-bit targets CTranslate2's wheels are built for.
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<GenerateOptions>() == 56);
    assert!(offset_of!(GenerateOptions, beam_size) == 0);
    assert!(offset_of!(GenerateOptions, num_hypotheses) == 8);
    assert!(offset_of!(GenerateOptions, sampling_topk) == 16);
    assert!(offset_of!(GenerateOptions, sampling_temperature) == 24);
    assert!(offset_of!(GenerateOptions, max_length) == 32);
    assert!(offset_of!(GenerateOptions, return_scores) == 40);
    assert!(offset_of!(GenerateOptions, return_no_speech_prob) == 41);
    assert!(offset_of!(GenerateOptions, no_repeat_ngram_size) == 48);
};

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

/// The shim's loader for one kind of model (`ls_whisper_load`, `ls_translator_load`).
type Loader<T> = unsafe extern "C" fn(*const c_char, usize, usize, *mut *mut T) -> *mut c_char;

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
    let path = CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|e| model_error(e.to_string()))?;
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
    use std::collections::BTreeSet;

    use super::*;

    /// The `ls_` names in `source` followed by `after`.
    fn shim_names<'a>(source: &'a str, after: &str) -> BTreeSet<&'a str> {
        source
            .match_indices("ls_")
            .filter(|&(at, _)| !source[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
            .filter_map(|(at, _)| {
                let name = &source[at..];
                let end = name.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(name.len());
                name[end..].starts_with(after).then_some(&name[..end])
            })
            .collect()
    }

    #[test]
    fn the_shim_is_bound_as_its_header_declares_it() {
        let header = include_str!("shim.h");
        let declared = shim_names(header, "(");
        let bound = shim_names(include_str!("mod.rs"), "\\0\"");
        assert!(declared.contains("ls_whisper_generate") && declared.contains("ls_ct2_free_error"), "{declared:?}");
        assert_eq!(bound, declared);
        let size = format!("#define LS_WHISPER_OPTIONS_SIZE {}\n", std::mem::size_of::<GenerateOptions>());
        assert!(header.contains(&size), "GenerateOptions is not the size shim.h gives LsWhisperOptions");
    }

    #[test]
    fn a_missing_or_foreign_library_is_a_clear_error() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let missing = Whisper::load(&dir.join("no-such-library.so"), dir, 1).err().unwrap().to_string();
        assert!(missing.contains("no-such-library.so: file not found"), "{missing}");
        let foreign = Whisper::load(&dir.join("Cargo.toml"), dir, 1).err().unwrap().to_string();
        assert!(foreign.contains("Cargo.toml") && foreign.contains("models fetch ctranslate2"), "{foreign}");
    }
}
