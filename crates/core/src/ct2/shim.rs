//! The Rust side of the C boundary that `shim.h` declares: the shim's functions bound by name,
//! the one struct passed by value with its layout asserted, and the loading of the library and
//! the shim (see the module above for the order).

use std::ffi::{c_char, CStr};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_LOCAL, RTLD_NOW};

use super::Ct2Error;

static SHIM_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libls_ct2.so"));
static API: OnceLock<Api> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

pub(super) enum LsWhisper {}
pub(super) enum LsEncoded {}
pub(super) enum LsWhisperResult {}
pub(super) enum LsTranslator {}
pub(super) enum LsTranslation {}

/// The shim's functions, as `shim.h` declares them (see there for what each does); a test checks
/// that the names bound here are the ones it declares.
pub(super) struct Api {
    pub(super) free_error: unsafe extern "C" fn(*mut c_char),
    pub(super) whisper_load: Loader<LsWhisper>,
    pub(super) whisper_free: unsafe extern "C" fn(*mut LsWhisper),
    pub(super) whisper_n_mels: unsafe extern "C" fn(*const LsWhisper) -> usize,
    pub(super) whisper_encode:
        unsafe extern "C" fn(*mut LsWhisper, *const f32, usize, usize, *mut *mut LsEncoded) -> *mut c_char,
    pub(super) encoded_free: unsafe extern "C" fn(*mut LsEncoded),
    pub(super) whisper_generate: unsafe extern "C" fn(
        *mut LsWhisper,
        *const LsEncoded,
        *const *const c_char,
        usize,
        *const GenerateOptions,
        *mut *mut LsWhisperResult,
    ) -> *mut c_char,
    pub(super) result_count: unsafe extern "C" fn(*const LsWhisperResult) -> usize,
    pub(super) result_tokens: unsafe extern "C" fn(*const LsWhisperResult, usize, *mut usize) -> *const *const c_char,
    pub(super) result_score: unsafe extern "C" fn(*const LsWhisperResult, usize, *mut f32) -> bool,
    pub(super) result_no_speech_prob: unsafe extern "C" fn(*const LsWhisperResult) -> f32,
    pub(super) result_free: unsafe extern "C" fn(*mut LsWhisperResult),
    pub(super) translator_load: Loader<LsTranslator>,
    pub(super) translator_free: unsafe extern "C" fn(*mut LsTranslator),
    pub(super) translator_translate: unsafe extern "C" fn(
        *mut LsTranslator,
        *const *const c_char,
        usize,
        *const *const c_char,
        usize,
        usize,
        usize,
        *mut *mut LsTranslation,
    ) -> *mut c_char,
    pub(super) translation_tokens: unsafe extern "C" fn(*const LsTranslation, *mut usize) -> *const *const c_char,
    pub(super) translation_free: unsafe extern "C" fn(*mut LsTranslation),
    // Both libraries stay loaded for the life of the process.
    _ctranslate2: Library,
    pub(super) _shim: Library,
}

impl Api {
    /// Turns a shim error (NULL: none) into a message, freeing it.
    pub(super) fn check(&self, error: *mut c_char) -> Result<(), String> {
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
pub(super) fn api(library: &Path) -> Result<&'static Api, Ct2Error> {
    let _guard = INIT.lock().unwrap_or_else(|poison| poison.into_inner());
    if let Some(api) = API.get() {
        return Ok(api);
    }
    let path = || library.display().to_string();
    if !library.is_file() {
        return Err(Ct2Error::NoLibrary { path: path() });
    }
    // SAFETY: the library is CTranslate2 as pinned by the manifest; its initialisers only set up
    // its own state. RTLD_GLOBAL lets the shim resolve its symbols.
    let ctranslate2 = unsafe { Library::open(Some(library), RTLD_NOW | RTLD_GLOBAL) }
        .map_err(|source| Ct2Error::Library { path: path(), source })?;
    let shim = open_shim().map_err(Ct2Error::Shim)?;
    let api = bind(ctranslate2, shim).map_err(|e| Ct2Error::Shim(e.into()))?;
    Ok(API.get_or_init(|| api))
}

/// dlopen needs a file: the embedded shim goes into an anonymous in-memory one.
fn open_shim() -> Result<Library, Box<dyn std::error::Error + Send + Sync>> {
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

/// The shim's loader for one kind of model (`ls_whisper_load`, `ls_translator_load`).
pub(super) type Loader<T> = unsafe extern "C" fn(*const c_char, usize, usize, *mut *mut T) -> *mut c_char;

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
    /// A token id never to emit, besides those the model's config suppresses (-1: none).
    pub suppress_token: i32,
}

// The layout of `LsWhisperOptions`: its size (`LS_WHISPER_OPTIONS_SIZE` in shim.h) and the
// offsets shim.cc asserts, on the 64-bit targets CTranslate2's wheels are built for.
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<GenerateOptions>() == 64);
    assert!(offset_of!(GenerateOptions, beam_size) == 0);
    assert!(offset_of!(GenerateOptions, num_hypotheses) == 8);
    assert!(offset_of!(GenerateOptions, sampling_topk) == 16);
    assert!(offset_of!(GenerateOptions, sampling_temperature) == 24);
    assert!(offset_of!(GenerateOptions, max_length) == 32);
    assert!(offset_of!(GenerateOptions, return_scores) == 40);
    assert!(offset_of!(GenerateOptions, return_no_speech_prob) == 41);
    assert!(offset_of!(GenerateOptions, no_repeat_ngram_size) == 48);
    assert!(offset_of!(GenerateOptions, suppress_token) == 56);
};

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
        let bound = shim_names(include_str!("shim.rs"), "\\0\"");
        assert!(declared.contains("ls_whisper_generate") && declared.contains("ls_ct2_free_error"), "{declared:?}");
        assert_eq!(bound, declared);
        let size = format!("#define LS_WHISPER_OPTIONS_SIZE {}\n", std::mem::size_of::<GenerateOptions>());
        assert!(header.contains(&size), "GenerateOptions is not the size shim.h gives LsWhisperOptions");
    }
}
