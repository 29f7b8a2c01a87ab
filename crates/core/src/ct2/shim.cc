// A C surface over the parts of CTranslate2's C++ API that LinguaStream uses.
//
// Built into its own shared object with CTranslate2's symbols left undefined: they resolve at
// dlopen time against the CTranslate2 library installed by `models fetch` (loaded first, with
// RTLD_GLOBAL), so the binary builds and starts without that library. The headers this compiles
// against must be those of the library's exact version (see build.rs). What each function does
// and who owns what: shim.h. An object is held by a unique_ptr until it is handed out, so nothing
// leaks when a step after its allocation throws.

#include "shim.h"

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "ctranslate2/models/whisper.h"
#include "ctranslate2/translator.h"

// Declared in ctranslate2/random.h, which the vendored headers leave out.
namespace ctranslate2 {
void set_random_seed(unsigned int seed);
}

namespace {

constexpr unsigned int SAMPLING_SEED = 1;

char* error_message(const char* what) {
  return strdup(what && *what ? what : "unknown CTranslate2 error");
}

template <typename F>
char* guarded(F&& body) {
  try {
    body();
    return nullptr;
  } catch (const std::exception& e) {
    return error_message(e.what());
  } catch (...) {
    return error_message(nullptr);
  }
}

}  // namespace

struct LsTranslator {
  ctranslate2::Translator translator;
};

struct LsTranslation {
  ctranslate2::TranslationResult result;
  std::vector<const char*> tokens;
};

struct LsWhisper {
  ctranslate2::models::Whisper model;
};

struct LsEncoded {
  ctranslate2::StorageView output;
};

struct LsWhisperResult {
  ctranslate2::models::WhisperGenerationResult result;
  std::vector<std::vector<const char*>> tokens;
};

// The layout ct2/shim.rs asserts for `GenerateOptions`, field by field.
static_assert(sizeof(LsWhisperOptions) == LS_WHISPER_OPTIONS_SIZE, "LsWhisperOptions changed: update GenerateOptions");
static_assert(offsetof(LsWhisperOptions, beam_size) == 0 && offsetof(LsWhisperOptions, num_hypotheses) == 8 &&
                  offsetof(LsWhisperOptions, sampling_topk) == 16 &&
                  offsetof(LsWhisperOptions, sampling_temperature) == 24 &&
                  offsetof(LsWhisperOptions, max_length) == 32 && offsetof(LsWhisperOptions, return_scores) == 40 &&
                  offsetof(LsWhisperOptions, return_no_speech_prob) == 41 &&
                  offsetof(LsWhisperOptions, no_repeat_ngram_size) == 48 &&
                  offsetof(LsWhisperOptions, suppress_token) == 56,
              "LsWhisperOptions changed: update GenerateOptions");

namespace {

// The model in `dir` on the CPU, int8, `replicas` times (replicas on one device share the weights).
ctranslate2::models::ModelLoader cpu_int8_loader(const char* dir, size_t replicas) {
  ctranslate2::models::ModelLoader loader(dir);
  loader.device = ctranslate2::Device::CPU;
  loader.compute_type = ctranslate2::ComputeType::INT8;
  loader.num_replicas_per_device = replicas;
  return loader;
}

ctranslate2::ReplicaPoolConfig threads_per_replica(size_t threads) {
  ctranslate2::ReplicaPoolConfig config;
  config.num_threads_per_replica = threads;
  return config;
}

}  // namespace

// Declared in shim.h: a definition that does not match its declaration there fails to compile.
extern "C" {

void ls_ct2_free_error(char* error) {
  free(error);
}

char* ls_whisper_load(const char* dir, size_t threads, size_t replicas, LsWhisper** out) {
  return guarded([&] {
    // A fixed seed for the sampling fallbacks (otherwise drawn from std::random_device), so
    // the same recording is decoded the same way on every run.
    ctranslate2::set_random_seed(SAMPLING_SEED);
    *out = new LsWhisper{
        ctranslate2::models::Whisper(cpu_int8_loader(dir, replicas), threads_per_replica(threads))};
  });
}

void ls_whisper_free(LsWhisper* whisper) {
  delete whisper;
}

size_t ls_whisper_n_mels(const LsWhisper* whisper) {
  return whisper->model.n_mels();
}


char* ls_whisper_encode(LsWhisper* whisper, const float* features, size_t n_mels, size_t frames,
                        LsEncoded** out) {
  return guarded([&] {
    ctranslate2::StorageView view({1, static_cast<ctranslate2::dim_t>(n_mels),
                                   static_cast<ctranslate2::dim_t>(frames)},
                                  const_cast<float*>(features));
    auto encoded = std::unique_ptr<LsEncoded>(new LsEncoded{whisper->model.encode(view, true).get()});
    *out = encoded.release();
  });
}

void ls_encoded_free(LsEncoded* encoded) {
  delete encoded;
}

char* ls_whisper_generate(LsWhisper* whisper, const LsEncoded* encoded, const char* const* prompt,
                          size_t prompt_len, const LsWhisperOptions* options, LsWhisperResult** out) {
  return guarded([&] {
    ctranslate2::models::WhisperOptions whisper_options;
    whisper_options.beam_size = options->beam_size;
    whisper_options.num_hypotheses = options->num_hypotheses;
    whisper_options.sampling_topk = options->sampling_topk;
    whisper_options.sampling_temperature = options->sampling_temperature;
    whisper_options.max_length = options->max_length;
    whisper_options.return_scores = options->return_scores;
    whisper_options.return_no_speech_prob = options->return_no_speech_prob;
    whisper_options.no_repeat_ngram_size = options->no_repeat_ngram_size;
    if (options->suppress_token >= 0)
      whisper_options.suppress_tokens.push_back(options->suppress_token);
    std::vector<std::vector<std::string>> prompts{std::vector<std::string>(prompt, prompt + prompt_len)};
    auto futures = whisper->model.generate(encoded->output, std::move(prompts), whisper_options);
    auto result = std::unique_ptr<LsWhisperResult>(new LsWhisperResult{futures.at(0).get(), {}});
    for (const auto& sequence : result->result.sequences) {
      auto& pointers = result->tokens.emplace_back();
      for (const auto& token : sequence)
        pointers.push_back(token.c_str());
    }
    *out = result.release();
  });
}

size_t ls_whisper_result_count(const LsWhisperResult* result) {
  return result->tokens.size();
}

const char* const* ls_whisper_result_tokens(const LsWhisperResult* result, size_t index, size_t* len) {
  if (index >= result->tokens.size()) {
    *len = 0;
    return nullptr;
  }
  *len = result->tokens[index].size();
  return result->tokens[index].data();
}

bool ls_whisper_result_score(const LsWhisperResult* result, size_t index, float* score) {
  if (index >= result->result.scores.size())
    return false;
  *score = result->result.scores[index];
  return true;
}

float ls_whisper_result_no_speech_prob(const LsWhisperResult* result) {
  return result->result.no_speech_prob;
}

void ls_whisper_result_free(LsWhisperResult* result) {
  delete result;
}

char* ls_translator_load(const char* dir, size_t threads, size_t replicas, LsTranslator** out) {
  return guarded([&] {
    *out = new LsTranslator{
        ctranslate2::Translator(cpu_int8_loader(dir, replicas), threads_per_replica(threads))};
  });
}

void ls_translator_free(LsTranslator* translator) {
  delete translator;
}

char* ls_translator_translate(LsTranslator* translator, const char* const* source, size_t source_len,
                              const char* const* prefix, size_t prefix_len, size_t beam_size,
                              size_t max_length, LsTranslation** out) {
  return guarded([&] {
    ctranslate2::TranslationOptions options;
    options.beam_size = beam_size;
    options.max_decoding_length = max_length;
    std::vector<std::vector<std::string>> sources{std::vector<std::string>(source, source + source_len)};
    std::vector<std::vector<std::string>> prefixes{std::vector<std::string>(prefix, prefix + prefix_len)};
    auto results = translator->translator.translate_batch(sources, prefixes, options);
    auto translation = std::unique_ptr<LsTranslation>(new LsTranslation{std::move(results.at(0)), {}});
    for (const auto& token : translation->result.output())
      translation->tokens.push_back(token.c_str());
    *out = translation.release();
  });
}

const char* const* ls_translation_tokens(const LsTranslation* translation, size_t* len) {
  *len = translation->tokens.size();
  return translation->tokens.data();
}

void ls_translation_free(LsTranslation* translation) {
  delete translation;
}

}  // extern "C"
