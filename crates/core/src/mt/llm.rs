//! A local LLM in GGUF, run by llama.cpp, as a translator.
//!
//! Persian → English or English → Persian. A model whose GGUF carries a chat template llama.cpp
//! can apply is asked, in that template, to translate the sentence; any other is prompted with a
//! few example pairs in the same direction, then the new sentence. Each sentence is translated on its own: earlier utterances and their English are
//! never in the prompt, because with them the model carried words of one utterance into the
//! next (measured: `bench/results/README.md`). Greedy decoding stops at the end of the line, on
//! a repetition loop, at a token cap that grows with the source, or when the time budget is
//! spent. The fixed start of the prompt stays in llama.cpp's KV cache, so each utterance only
//! pays for its own tokens.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use llama_cpp_2::context::kv_cache::KvCacheConversionError;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::{BatchAddError, LlamaBatch};
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use llama_cpp_2::token::LlamaToken;

use super::{MtError, Pair, SourceSegment, Translator};

/// Written for this project (none come from the evaluation sets): everyday spoken sentences, in
/// Persian and English, used in either direction.
const EXAMPLES: [(&str, &str); 4] = [
    ("سلام، حال شما چطور است؟", "Hello, how are you?"),
    (
        "من فردا صبح به دفتر می‌روم و ساعت سه برمی‌گردم.",
        "I am going to the office tomorrow morning and I will be back at three.",
    ),
    ("لطفاً آن را یک بار دیگر بگویید، صدای شما قطع شد.", "Please say that once more, your voice cut out."),
    ("قیمت این کتاب دویست هزار تومان است.", "The price of this book is two hundred thousand tomans."),
];

/// The pairs this translator knows, in the direction asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Direction {
    PersianToEnglish,
    EnglishToPersian,
}

impl Direction {
    fn of(pair: &Pair) -> Option<Self> {
        match (pair.from.as_str(), pair.to.as_str()) {
            ("fa", "en") => Some(Direction::PersianToEnglish),
            ("en", "fa") => Some(Direction::EnglishToPersian),
            _ => None,
        }
    }

    /// The source and target languages' names, as the prompt says them.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Direction::PersianToEnglish => ("Persian", "English"),
            Direction::EnglishToPersian => ("English", "Persian"),
        }
    }

    fn examples(self) -> impl Iterator<Item = (&'static str, &'static str)> {
        EXAMPLES.iter().map(move |&(persian, english)| match self {
            Direction::PersianToEnglish => (persian, english),
            Direction::EnglishToPersian => (english, persian),
        })
    }

    /// Whether the text has words to translate: letters of the source language's script.
    /// Numbers (Whisper often writes digits as numerals) and text already in the target script
    /// pass through as they are; a small model asked to translate them tends to answer with
    /// nothing or with noise.
    fn needs_translation(self, text: &str) -> bool {
        match self {
            Direction::PersianToEnglish => text.chars().any(is_persian_letter),
            Direction::EnglishToPersian => text.chars().any(|c| c.is_ascii_alphabetic()),
        }
    }

    /// What an instruction-tuned model is asked, in its own chat template, before the sentence.
    fn instruction(self) -> String {
        let (source, target) = self.names();
        format!("Translate this {source} to {target}. Answer with the {target} translation only, on one line.\n\n")
    }
}

/// Stands for the sentence while the chat template is applied; split out afterwards.
const SENTENCE_MARK: &str = "@@SENTENCE@@";

const CONTEXT_TOKENS: u32 = 1024;
/// Tokens evaluated per llama.cpp call; small batches keep the compute buffers (memory) small.
const BATCH_TOKENS: usize = 128;

/// How the LLM translates.
#[derive(Debug, Clone)]
pub struct LlmOptions {
    pub threads: usize,
    /// Decoding stops when this is spent; what was produced so far is returned.
    pub time_budget: Duration,
    pub max_new_tokens: usize,
}

impl Default for LlmOptions {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self { threads, time_budget: Duration::from_secs(4), max_new_tokens: 96 }
    }
}

/// Why llama.cpp could not evaluate tokens.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    Position(#[from] std::num::TryFromIntError),
    #[error("{0}")]
    Batch(#[from] BatchAddError),
    #[error("{0}")]
    Decode(#[from] llama_cpp_2::DecodeError),
}

/// What failed inside llama.cpp once it had started.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("{0}")]
    Context(#[from] llama_cpp_2::LlamaContextLoadError),
    #[error("evaluating the prompt: {0}")]
    Prompt(#[source] EvalError),
    #[error("{0}")]
    Eval(#[from] EvalError),
    #[error("{0}")]
    KvCache(#[from] KvCacheConversionError),
}

/// llama.cpp may be initialised once per process; a failure is kept as its message, since every
/// later call reports the same one.
fn backend() -> Result<&'static LlamaBackend, MtError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default().with_logs_enabled(false));
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| MtError::Engine(format!("cannot start llama.cpp: {e}")))
}

/// How a sentence is put to the model.
#[derive(Debug, Clone, PartialEq)]
enum Prompt {
    /// Example pairs, then the sentence: for base models, and for chat templates llama.cpp
    /// cannot apply.
    Examples(Direction),
    /// The model's own chat template around [`Direction::instruction`] and the sentence: the
    /// text before the sentence and the text after it (up to where the model's answer starts).
    Chat { before: String, after: String },
}

impl Prompt {
    /// The model's chat template when it has one llama.cpp can apply, else the examples.
    fn for_model(model: &LlamaModel, direction: Direction) -> Self {
        let Ok(template) = model.chat_template(None) else {
            return Prompt::Examples(direction);
        };
        let message = LlamaChatMessage::new("user".into(), format!("{}{SENTENCE_MARK}", direction.instruction()));
        let rendered = message.ok().and_then(|m| model.apply_chat_template(&template, &[m], true).ok());
        match rendered.as_deref().and_then(|r| r.split_once(SENTENCE_MARK)) {
            Some((before, after)) => Prompt::Chat { before: before.to_string(), after: after.to_string() },
            None => Prompt::Examples(direction),
        }
    }

    /// The fixed start, evaluated once and kept in the KV cache.
    fn prefix(&self) -> String {
        match self {
            Prompt::Examples(direction) => few_shot_prefix(*direction),
            Prompt::Chat { before, .. } => before.clone(),
        }
    }

    /// What follows the prefix for one sentence.
    fn tail(&self, text: &str) -> String {
        match self {
            Prompt::Examples(direction) => {
                let (source, target) = direction.names();
                format!("{source}: {text}\n{target}:")
            }
            Prompt::Chat { after, .. } => format!("{text}{after}"),
        }
    }
}

/// A GGUF model with its context and the few-shot prompt already evaluated.
pub struct LlmTranslator {
    // Declared before `model`, so it is dropped first: it borrows the model.
    context: LlamaContext<'static>,
    model: Box<LlamaModel>,
    /// Tokens of the fixed prompt, kept in the KV cache at positions 0..prefix_len.
    prefix_len: usize,
    prompt: Prompt,
    direction: Direction,
    options: LlmOptions,
}

impl LlmTranslator {
    /// Whether it translates between these languages.
    pub fn translates(pair: &Pair) -> bool {
        Direction::of(pair).is_some()
    }

    /// Loads the model to translate `pair` (Persian ↔ English, see [`Self::translates`]).
    pub fn try_new(gguf: &Path, pair: &Pair, options: LlmOptions) -> Result<Self, MtError> {
        let load_error = |reason: String| MtError::Load { path: gguf.display().to_string(), reason };
        let llm_error = |source: LlmError| MtError::LoadLlm { path: gguf.display().to_string(), source };
        let direction = Direction::of(pair)
            .ok_or_else(|| load_error(format!("the llm engine translates Persian ↔ English, not {pair}")))?;
        let backend = backend()?;
        let model = Box::new(
            LlamaModel::load_from_file(backend, gguf, &LlamaModelParams::default())
                .map_err(|e| load_error(format!("not a GGUF model llama.cpp can load ({e})")))?,
        );
        // SAFETY: the model lives in a Box that is never moved out of or replaced, and the
        // context is declared before it, so the context is dropped while the model is alive.
        let model_ref: &'static LlamaModel = unsafe { &*(model.as_ref() as *const LlamaModel) };
        let threads = i32::try_from(options.threads.max(1)).unwrap_or(1);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(CONTEXT_TOKENS))
            .with_n_batch(BATCH_TOKENS as u32)
            .with_n_ubatch(BATCH_TOKENS as u32)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let context = model_ref.new_context(backend, params).map_err(|e| llm_error(e.into()))?;
        let prompt = Prompt::for_model(model_ref, direction);
        let mut translator = Self { context, model, prefix_len: 0, prompt, direction, options };
        let prefix = translator.tokenize(&translator.prompt.prefix(), true);
        decode(&mut translator.context, &prefix, 0).map_err(|e| llm_error(LlmError::Prompt(e)))?;
        translator.prefix_len = prefix.len();
        Ok(translator)
    }

    /// What the model is given: its chat template with an instruction, or examples.
    pub fn prompt_kind(&self) -> String {
        match self.prompt {
            Prompt::Examples(direction) => {
                let (source, target) = direction.names();
                format!("prompted with {source}→{target} examples (it has no chat template llama.cpp can apply)")
            }
            Prompt::Chat { .. } => "asked in its own chat template".to_string(),
        }
    }

    /// Tokens of `text`; the markers of a chat template (`<start_of_turn>` …) are read as the
    /// special tokens they stand for, and BOS is added only where the text does not begin with it.
    fn tokenize(&self, text: &str, at_start: bool) -> Vec<LlamaToken> {
        let vocab = self.model.vocab();
        let chat = matches!(self.prompt, Prompt::Chat { .. });
        let has_bos = vocab.text(vocab.bos()).and_then(|b| b.to_str().ok()).is_some_and(|b| text.starts_with(b));
        vocab.tokenize(text.as_bytes(), at_start && !(chat && has_bos), chat)
    }

    /// The whole prompt for `text`, as the model reads it: the fixed start, then the sentence
    /// (and whatever the template puts after it). Nothing said before is in it.
    pub fn prompt_for(&self, text: &str) -> String {
        self.prompt.prefix() + &self.prompt.tail(text)
    }

    fn generate(&mut self, text: &str) -> Result<String, MtError> {
        let started = Instant::now();
        let tail = self.tokenize(&self.prompt.tail(text), false);
        if tail.len() > CONTEXT_TOKENS as usize - self.prefix_len - self.options.max_new_tokens {
            return Err(MtError::Engine("the sentence is too long for the LLM's context".into()));
        }
        self.context.clear_kv_cache_seq(Some(0), Some(self.prefix_len as u32), None).map_err(LlmError::from)?;
        decode(&mut self.context, &tail, self.prefix_len).map_err(LlmError::from)?;
        let cap = self.options.max_new_tokens.min(16 + 4 * self.tokenize(text, false).len());
        let mut position = self.prefix_len + tail.len();
        let mut generated: Vec<LlamaToken> = Vec::new();
        let mut bytes: Vec<u8> = Vec::new();
        let vocab = self.model.vocab();
        while generated.len() < cap && started.elapsed() < self.options.time_budget {
            let token = most_likely(&self.context);
            if vocab.is_eog(token) {
                break;
            }
            let piece = vocab.token_to_piece(token, false, None);
            // The answer ends with its line; a newline before any text is only layout.
            let started_answer = bytes.iter().any(|b| !b.is_ascii_whitespace());
            if let Some(end) = piece.iter().position(|&b| b == b'\n').filter(|_| started_answer) {
                bytes.extend_from_slice(&piece[..end]);
                break;
            }
            bytes.extend_from_slice(&piece);
            generated.push(token);
            if is_looping(&generated) {
                break;
            }
            decode(&mut self.context, &[token], position).map_err(LlmError::from)?;
            position += 1;
        }
        Ok(String::from_utf8_lossy(&bytes).trim().to_string())
    }
}

/// Evaluates `tokens` at positions `start..` in batches, asking for logits of the last one.
fn decode(context: &mut LlamaContext<'static>, tokens: &[LlamaToken], start: usize) -> Result<(), EvalError> {
    for (chunk_index, chunk) in tokens.chunks(BATCH_TOKENS).enumerate() {
        let offset = start + chunk_index * BATCH_TOKENS;
        let mut batch = LlamaBatch::new(chunk.len(), 1);
        for (i, &token) in chunk.iter().enumerate() {
            let position = i32::try_from(offset + i)?;
            let last = offset + i + 1 == start + tokens.len();
            batch.add(token, position, &[0], last)?;
        }
        context.decode(&mut batch)?;
    }
    Ok(())
}

/// Greedy decoding: the most likely next token after the last evaluated one.
fn most_likely(context: &LlamaContext<'static>) -> LlamaToken {
    let logits = context.get_logits_ith(-1);
    let best = logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
    LlamaToken(i32::try_from(best).unwrap_or(0))
}

fn few_shot_prefix(direction: Direction) -> String {
    let (source, target) = direction.names();
    let mut prompt = format!("Translate {source} to {target}.\n\n");
    for (from, to) in direction.examples() {
        prompt.push_str(&format!("{source}: {from}\n{target}: {to}\n\n"));
    }
    prompt
}

fn is_persian_letter(c: char) -> bool {
    ('\u{0600}'..='\u{06FF}').contains(&c) && c.is_alphabetic()
}

/// The last eight tokens repeat the eight before them.
fn is_looping(tokens: &[LlamaToken]) -> bool {
    const SPAN: usize = 8;
    tokens.len() >= 2 * SPAN && tokens[tokens.len() - SPAN..] == tokens[tokens.len() - 2 * SPAN..tokens.len() - SPAN]
}

impl Translator for LlmTranslator {
    fn name(&self) -> &str {
        "llm"
    }

    fn translate(&mut self, source: SourceSegment<'_>) -> Result<String, MtError> {
        let text = source.text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            return Err(MtError::Empty);
        }
        if !self.direction.needs_translation(&text) {
            return Ok(text);
        }
        let translated = self.generate(&text)?;
        if translated.is_empty() {
            return Err(MtError::Empty);
        }
        Ok(translated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetition_loops_are_detected() {
        let t = |ids: &[i32]| ids.iter().map(|&i| LlamaToken(i)).collect::<Vec<_>>();
        let looping: Vec<i32> = (0..8).chain(0..8).collect();
        assert!(is_looping(&t(&looping)));
        let fine: Vec<i32> = (0..16).collect();
        assert!(!is_looping(&t(&fine)));
    }

    #[test]
    fn persian_letters_are_told_from_digits_and_latin() {
        assert!("سلام".chars().any(is_persian_letter));
        assert!(!"1, 2, 3 ok ۱۲۳".chars().any(is_persian_letter));
    }

    #[test]
    fn the_sentence_goes_where_the_prompt_leaves_room_for_it() {
        let to_english = Prompt::Examples(Direction::PersianToEnglish);
        assert_eq!(to_english.tail("سلام"), "Persian: سلام\nEnglish:");
        let chat = Prompt::Chat { before: "<u>Translate: ".into(), after: "</u><model>".into() };
        assert_eq!(chat.prefix() + &chat.tail("سلام"), "<u>Translate: سلام</u><model>");
        assert!(to_english.prefix().ends_with("English: The price of this book is two hundred thousand tomans.\n\n"));
    }

    #[test]
    fn the_prompt_pairs_each_example_on_two_lines() {
        let prefix = few_shot_prefix(Direction::PersianToEnglish);
        assert_eq!(prefix.matches("\nEnglish: ").count(), EXAMPLES.len());
        assert!(prefix.ends_with("\n\n"));
    }

    #[test]
    fn into_persian_the_examples_and_the_question_are_turned_round() {
        let to_persian = Prompt::Examples(Direction::EnglishToPersian);
        assert!(to_persian.prefix().starts_with(
            "Translate English to Persian.\n\nEnglish: Hello, how are you?\nPersian: سلام، حال شما چطور است؟\n\n"
        ));
        assert_eq!(to_persian.tail("Thanks"), "English: Thanks\nPersian:");
        assert!(Direction::EnglishToPersian.instruction().starts_with("Translate this English to Persian."));
        assert!(!Direction::EnglishToPersian.needs_translation("۱۲۳ 456 سلام"));
        assert!(Direction::of(&Pair::new("en", "pt")).is_none());
    }
}
