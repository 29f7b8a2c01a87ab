// The C surface of shim.cc over CTranslate2's C++ API: what shim.cc defines (it includes this
// file, so the compiler holds each definition to its declaration here) and what ct2/shim.rs binds
// by name (a test there checks that the two lists of functions agree).
//
// Every function that can fail returns NULL on success or an error message the caller frees
// with ls_ct2_free_error; no C++ exception crosses this boundary. Every object a function hands
// out through `out` is the caller's, to free once with its ls_*_free.

#ifndef LINGUASTREAM_CT2_SHIM_H
#define LINGUASTREAM_CT2_SHIM_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct LsWhisper LsWhisper;
typedef struct LsEncoded LsEncoded;
typedef struct LsWhisperResult LsWhisperResult;
typedef struct LsTranslator LsTranslator;
typedef struct LsTranslation LsTranslation;

// The decoding settings LinguaStream varies; the rest keep CTranslate2's defaults. The same
// layout as `GenerateOptions` in ct2/shim.rs: its size and every field's offset are asserted on
// both sides (LS_WHISPER_OPTIONS_SIZE here, the same numbers there).
typedef struct LsWhisperOptions {
  size_t beam_size;
  size_t num_hypotheses;
  size_t sampling_topk;
  float sampling_temperature;
  size_t max_length;
  bool return_scores;
  bool return_no_speech_prob;
  size_t no_repeat_ngram_size;
  // A token id never to emit besides the model's own set (-1: none).
  int suppress_token;
} LsWhisperOptions;

#define LS_WHISPER_OPTIONS_SIZE 64

void ls_ct2_free_error(char* error);

// The Whisper model in `dir` on the CPU, int8, `replicas` times over `threads` threads each.
char* ls_whisper_load(const char* dir, size_t threads, size_t replicas, LsWhisper** out);
void ls_whisper_free(LsWhisper* whisper);
size_t ls_whisper_n_mels(const LsWhisper* whisper);

// features: batch 1, n_mels × frames, row-major.
char* ls_whisper_encode(LsWhisper* whisper, const float* features, size_t n_mels, size_t frames,
                        LsEncoded** out);
void ls_encoded_free(LsEncoded* encoded);

char* ls_whisper_generate(LsWhisper* whisper, const LsEncoded* encoded, const char* const* prompt,
                          size_t prompt_len, const LsWhisperOptions* options, LsWhisperResult** out);
size_t ls_whisper_result_count(const LsWhisperResult* result);
// The tokens of hypothesis `index`, valid until the result is freed; none (NULL, *len 0) for an
// index past the last hypothesis.
const char* const* ls_whisper_result_tokens(const LsWhisperResult* result, size_t index, size_t* len);
// Whether hypothesis `index` has a score (asked for with return_scores), written to *score.
bool ls_whisper_result_score(const LsWhisperResult* result, size_t index, float* score);
float ls_whisper_result_no_speech_prob(const LsWhisperResult* result);
void ls_whisper_result_free(LsWhisperResult* result);

// A sequence-to-sequence model in `dir`, as ls_whisper_load.
char* ls_translator_load(const char* dir, size_t threads, size_t replicas, LsTranslator** out);
void ls_translator_free(LsTranslator* translator);
// One source sentence (tokens) with a forced target prefix; the best hypothesis comes back.
char* ls_translator_translate(LsTranslator* translator, const char* const* source, size_t source_len,
                              const char* const* prefix, size_t prefix_len, size_t beam_size,
                              size_t max_length, LsTranslation** out);
// The tokens of the best hypothesis, valid until the translation is freed.
const char* const* ls_translation_tokens(const LsTranslation* translation, size_t* len);
void ls_translation_free(LsTranslation* translation);

#ifdef __cplusplus
}  // extern "C"
#endif

#endif
