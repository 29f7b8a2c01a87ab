//! Which decoding passes run for an utterance: a narrow beam for recognition and greedy for
//! Whisper's own translation first (cheap, and right most of the time),
//! then the fallbacks faster-whisper uses — beam search, then sampling at rising temperatures —
//! only while the result looks degenerate, and only while the utterance's time budget allows.
//!
//! The budget is enforced before each pass: a pass's cost is predicted from this utterance's
//! first pass (seconds per token) times what that kind of pass has cost relative to greedy so
//! far, and its token limit is cut to what fits. A pass that could not produce even as many tokens
//! as the first one is not started; the best hypothesis so far is used and the transcript says
//! the budget ran out.

use std::time::{Duration, Instant};

use super::encoded::{DirectContext, EncodedAudio};
use super::gate::{self, Evidence, GateOptions, Verdict};
use super::script::Script;
use super::tokens::decode as text_of;
use super::{SttError, Task, Transcript};
use crate::text::{is_readable_in_english, normalize_persian};

/// A decoding pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    Greedy,
    /// Greedy with `<|notimestamps|>`: timestamp mode is more accurate on colloquial speech, but
    /// it can loop where plain text decoding does not.
    GreedyNoTimestamps,
    /// The same on features with only the short margin after the utterance, not padded to the
    /// minimum window: the silence padding can send Whisper base into a loop (and a tight window
    /// is what does it on single words, hence not first).
    GreedyNoTimestampsTightWindow,
    /// Greedy that may not repeat any run of this many tokens: a loop cannot form.
    GreedyNoRepeat(usize),
    Beam(usize),
    /// The most probable of `best_of` samples at `temperature`.
    Sample {
        temperature: f32,
        best_of: usize,
    },
}

impl Strategy {
    pub fn label(&self) -> String {
        match self {
            Strategy::Greedy => "greedy".into(),
            Strategy::GreedyNoTimestampsTightWindow => "greedy, no timestamps, tight window".into(),
            Strategy::GreedyNoTimestamps => "greedy, no timestamps".into(),
            Strategy::GreedyNoRepeat(n) => format!("greedy, no repeated {n}-grams"),
            Strategy::Beam(width) => format!("beam {width}"),
            Strategy::Sample { temperature, best_of } => format!("best of {best_of} at T={temperature:.1}"),
        }
    }
}

/// The cheapest fixes for the commonest loops first (each a greedy pass: measured to rescue
/// sentences and digit strings that beam search still loops on), then faster-whisper's ladder:
/// beam search, then best of 5 samples at temperatures 0.2…1.0.
const FALLBACKS: [Strategy; 8] = [
    Strategy::GreedyNoTimestamps,
    Strategy::GreedyNoTimestampsTightWindow,
    Strategy::Beam(5),
    Strategy::Sample { temperature: 0.2, best_of: 5 },
    Strategy::Sample { temperature: 0.4, best_of: 5 },
    Strategy::Sample { temperature: 0.6, best_of: 5 },
    Strategy::Sample { temperature: 0.8, best_of: 5 },
    Strategy::Sample { temperature: 1.0, best_of: 5 },
];

/// English is decoded in word-sized tokens: four words said twice within an utterance is rare
/// in speech and the commonest shape of Whisper's translation loops ("I was a teacher, I was a
/// teacher, …").
const NO_REPEAT_ENGLISH: usize = 4;

/// Recognition's first pass. A beam of two costs little more than greedy on one thread (a
/// `transcribe` of the long-form set: 36.6 against 35.5 s) and is more accurate where people
/// speak in sentences: CER long-form 0.395 → 0.384, colloquial (virgool) 0.317 → 0.302, digits
/// 0.496 → 0.504. A beam of three gained more on colloquial speech (0.291) but lost 0.03 on the
/// isolated digit words (0.526); five gained nothing more on long-form (0.378) for +34 % time.
/// The translation's first pass stays greedy: its English is what the listener waits for.
const RECOGNITION_BEAM: usize = 2;

/// The first pass for `task`.
fn first_pass(task: Task) -> Strategy {
    match task {
        Task::Transcribe => Strategy::Beam(RECOGNITION_BEAM),
        Task::Translate => Strategy::Greedy,
    }
}

/// The passes tried after the first, in order. Whisper base's Persian→English translation loops on
/// about one long utterance in eight, and the recognition ladder rarely mends it (every pass
/// looped on 6 of the 7 such long-form utterances); a pass that cannot repeat itself does.
/// Persian, in byte-level tokens, has no safe n-gram size, so recognition keeps the ladder.
fn fallbacks(task: Task) -> Vec<Strategy> {
    match task {
        Task::Transcribe => FALLBACKS.to_vec(),
        Task::Translate => [&[Strategy::GreedyNoRepeat(NO_REPEAT_ENGLISH)], &FALLBACKS[..]].concat(),
    }
}

/// Above this, text compresses like a loop (faster-whisper's threshold).
const COMPRESSION_RATIO_LIMIT: f32 = 2.4;
/// More characters per second of audio than anyone speaks (Persian runs at 10–18).
const MAX_CHARS_PER_S: f32 = 40.0;

/// How many tokens a pass may produce for an utterance.
#[derive(Debug, Clone, Copy)]
pub struct TokenLimits {
    /// More than the audio can hold: a decoder that reaches it is looping.
    pub cap: usize,
    /// What a normal output needs at most; a fallback pass stops here.
    pub plausible: usize,
    /// What a normal output usually needs.
    pub typical: usize,
}

impl TokenLimits {
    /// Persian in Whisper's byte-level tokens ran at 6–10 tokens per second of read speech,
    /// timestamps included; its English translation needs about half as many.
    pub fn new(seconds: f32, task: Task) -> Self {
        let (cap, plausible, typical) = match task {
            Task::Transcribe => (20.0 + 13.0 * seconds, 10.0 + 10.0 * seconds, 6.0 * seconds),
            Task::Translate => (16.0 + 8.0 * seconds, 8.0 + 6.0 * seconds, 3.0 * seconds),
        };
        Self { cap: cap.ceil() as usize, plausible: plausible.ceil() as usize, typical: typical.ceil() as usize }
    }
}

/// One decoding pass's raw result.
pub(super) struct Decoded {
    pub tokens: Vec<String>,
    pub avg_logprob: f32,
    pub no_speech_prob: f32,
}

/// One decoding pass and what it produced.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub strategy: Strategy,
    pub tokens: Vec<String>,
    pub text: String,
    pub avg_logprob: f32,
    pub no_speech_prob: f32,
    pub compression_ratio: f32,
    pub elapsed: Duration,
    /// The pass stopped at its token limit instead of ending by itself.
    pub hit_limit: bool,
    /// Its token limit was the most the audio could hold, so stopping there means a loop (a
    /// fallback pass may get a lower limit from the budget).
    pub limit_is_cap: bool,
}

impl Attempt {
    pub(super) fn new(
        strategy: Strategy,
        decoded: Decoded,
        elapsed: Duration,
        max_new_tokens: usize,
        limits: TokenLimits,
    ) -> Self {
        let text = text_of(&decoded.tokens);
        Self {
            strategy,
            compression_ratio: compression_ratio(&text),
            hit_limit: decoded.tokens.len() >= max_new_tokens,
            limit_is_cap: max_new_tokens >= limits.cap,
            text,
            tokens: decoded.tokens,
            avg_logprob: decoded.avg_logprob,
            no_speech_prob: decoded.no_speech_prob,
            elapsed,
        }
    }

    /// Ended by itself with text that can be what was said.
    fn usable(&self, audio_s: f32) -> bool {
        !self.hit_limit && self.degeneracy(audio_s).is_none()
    }

    /// Why this output cannot be what was said, if it cannot.
    pub fn degeneracy(&self, audio_s: f32) -> Option<Verdict> {
        if (self.hit_limit && self.limit_is_cap)
            || gate::is_repetitive(&self.tokens)
            || self.compression_ratio > COMPRESSION_RATIO_LIMIT
        {
            return Some(Verdict::Repetitive);
        }
        if self.text.chars().count() as f32 > MAX_CHARS_PER_S * audio_s.max(1.0) {
            return Some(Verdict::TooLong);
        }
        None
    }
}

/// zlib-compressed size over raw size of the UTF-8 text, as faster-whisper measures it.
pub fn compression_ratio(text: &str) -> f32 {
    use std::io::Write;
    if text.is_empty() {
        return 0.0;
    }
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let compressed = encoder.write_all(text.as_bytes()).and_then(|()| encoder.finish()).map_or(1, |c| c.len());
    text.len() as f32 / compressed.max(1) as f32
}

/// What a pass costs per token relative to greedy decoding: a beam decodes its sequences at
/// once (measured 1.5–2× for five, about 1.05× for two), as do 5 samples.
fn relative_cost(strategy: Strategy) -> f64 {
    match strategy {
        Strategy::Greedy
        | Strategy::GreedyNoTimestamps
        | Strategy::GreedyNoTimestampsTightWindow
        | Strategy::GreedyNoRepeat(_) => 1.0,
        Strategy::Beam(width) => 1.0 + 0.25 * width.saturating_sub(1) as f64,
        Strategy::Sample { .. } => 2.5,
    }
}

/// An extra encoder pass (the tight window) costs about as much as this many greedy tokens.
const ENCODE_COST: f64 = 20.0;

/// How much decoding an utterance may get.
///
/// Work is counted in greedy-token equivalents rather than seconds so that the same audio is
/// decoded the same way however busy the machine is (the same transcript from `translate`,
/// `transcribe` and `live`, reproducible tests). When audio arrives in real time the clock is a
/// second guard, at twice the nominal time, for when the machine is too loaded to keep up.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub tokens: f64,
    pub wall: Option<Duration>,
}

/// Every pass run for an utterance and whether the budget cut decoding short.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub attempts: Vec<Attempt>,
    pub budget_exhausted: bool,
    /// Work done, in greedy-token equivalents.
    pub spent: f64,
    /// When decoding started (after the encoder).
    pub started: Instant,
}

/// Above this no-speech probability, degenerate output is Whisper inventing text for audio it
/// hears no speech in: more passes would only find a more fluent invention.
const NO_SPEECH_LIMIT: f32 = 0.6;

/// Whether a result is worth another, more expensive pass.
/// A degenerate pass is judged by its own no-speech probability; one that is only in the wrong
/// script by the first pass's, on the full window (a tight window can make Whisper less sure there
/// is speech while its text says there is).
fn needs_fallback(attempt: &Attempt, first: &Attempt, audio_s: f32, script: Script) -> bool {
    if !attempt.usable(audio_s) {
        return attempt.no_speech_prob <= NO_SPEECH_LIMIT;
    }
    !script.fits(&attempt.text) && first.no_speech_prob <= NO_SPEECH_LIMIT
}

/// Fewest tokens a pass is allowed: below this it could not say anything useful.
const MIN_TOKENS: usize = 8;

/// Runs the first pass, then fallbacks while needed and affordable within `budget` from now (what the
/// encoder spent is taken off by the caller). `run(strategy, max_new_tokens)` performs one pass,
/// or returns `None` when the strategy would decode exactly as one already run.
pub fn decode_with_fallback(
    run: &mut dyn FnMut(Strategy, usize) -> Result<Option<Attempt>, SttError>,
    audio_s: f32,
    task: Task,
    script: Script,
    budget: Budget,
) -> Result<Outcome, SttError> {
    let started = Instant::now();
    let TokenLimits { cap, plausible, typical } = TokenLimits::new(audio_s, task);
    // The first pass always runs to the end: cutting it short would drop words that were said.
    let first =
        run(first_pass(task), cap)?.ok_or_else(|| SttError::Decode("the first decoding pass did not run".into()))?;
    let spent = first.tokens.len() as f64 * relative_cost(first.strategy);
    let mut outcome = Outcome { budget_exhausted: false, spent, attempts: vec![first], started };
    let mut last_needs_fallback = needs_fallback(&outcome.attempts[0], &outcome.attempts[0], audio_s, script);
    for strategy in fallbacks(task) {
        let first = &outcome.attempts[0];
        // A transcript that the deterministic passes all write in Latin letters is more likely
        // speech in another language than a slip: sampling, which is for loops, is not tried.
        let only_off_script = task == Task::Transcribe && outcome.attempts.last().is_some_and(|a| a.usable(audio_s));
        if !last_needs_fallback || (only_off_script && matches!(strategy, Strategy::Sample { .. })) {
            break;
        }
        let extra = if strategy == Strategy::GreedyNoTimestampsTightWindow { ENCODE_COST } else { 0.0 };
        let affordable = ((budget.tokens - outcome.spent - extra) / relative_cost(strategy)).max(0.0).floor() as usize;
        // A pass that could not say what such audio usually holds is not worth starting.
        let needed = if first.degeneracy(audio_s).is_some() { typical } else { first.tokens.len() };
        let needed = needed.clamp(MIN_TOKENS, cap);
        if affordable < needed || budget.wall.is_some_and(|wall| started.elapsed() > wall) {
            outcome.budget_exhausted = true;
            break;
        }
        // A fallback that runs past what the audio plausibly holds is looping too: stop it there.
        let Some(attempt) = run(strategy, affordable.min(plausible.max(needed)))? else {
            continue;
        };
        outcome.spent += attempt.tokens.len() as f64 * relative_cost(strategy) + extra;
        last_needs_fallback = needs_fallback(&attempt, &outcome.attempts[0], audio_s, script);
        outcome.attempts.push(attempt);
    }
    Ok(outcome)
}

/// The pass whose output is used: the most probable usable one in the right script, else the most
/// probable usable one, else the first (whose flaw then decides the verdict).
pub fn choose(outcome: &Outcome, audio_s: f32, script: Script) -> &Attempt {
    outcome
        .attempts
        .iter()
        .filter(|a| a.usable(audio_s))
        .max_by(|a, b| script.fits(&a.text).cmp(&script.fits(&b.text)).then(a.avg_logprob.total_cmp(&b.avg_logprob)))
        .unwrap_or(&outcome.attempts[0])
}

/// Turns the passes into a transcript: the chosen text, the gate's verdict and the evidence.
pub fn finish(
    outcome: Outcome,
    language: &str,
    task: Task,
    audio: &EncodedAudio,
    vad_probability: Option<f32>,
    options: &GateOptions,
) -> Transcript {
    let script = Script::expected(language, task);
    let chosen = choose(&outcome, audio.audio_s, script);
    let evidence = evidence_of(chosen, vad_probability, audio.audio_s);
    let cut = (chosen.degeneracy(audio.audio_s) == Some(Verdict::Repetitive) && gate::is_clear(&evidence, options))
        .then(|| cut_at_loop(&outcome, script))
        .flatten();
    let loop_cut = cut.is_some();
    let (chosen, tokens) = match cut {
        Some((attempt, tokens)) => (attempt, tokens),
        None => (chosen, chosen.tokens.clone()),
    };
    let evidence = evidence_of(chosen, vad_probability, audio.audio_s);
    let raw_text = if loop_cut { text_of(&tokens) } else { chosen.text.clone() };
    let text = if language == "fa" && task == Task::Transcribe { normalize_persian(&raw_text) } else { raw_text };
    let verdict = match chosen.degeneracy(audio.audio_s) {
        Some(degenerate) if !loop_cut => degenerate,
        _ => gate::judge(&text, &evidence, options),
    };
    let verdict = match verdict {
        // Whisper base often "translates" Persian into Persian.
        Verdict::Speech if task == Task::Translate && !is_readable_in_english(&text) => Verdict::WrongLanguage,
        other => other,
    };
    let clear = verdict.is_speech() && gate::is_clear(&evidence, options) && !loop_cut;
    Transcript {
        text,
        verdict,
        evidence,
        decoding: DecodingReport {
            passes: outcome.attempts.iter().map(|a| a.strategy.label()).collect(),
            chosen: chosen.strategy.label(),
            tokens: tokens.len(),
            fallbacks: outcome.attempts.len() - 1,
            budget_exhausted: outcome.budget_exhausted,
            budget_tokens: 0.0,
            spent_tokens: outcome.spent,
            decode_ms: audio.encode_ms + outcome.started.elapsed().as_secs_f64() * 1000.0,
            loop_cut,
        },
        direct: DirectContext { tokens, encoded: None },
        clear,
    }
}

fn evidence_of(attempt: &Attempt, vad_probability: Option<f32>, audio_s: f32) -> Evidence {
    Evidence {
        avg_logprob: attempt.avg_logprob,
        no_speech_prob: attempt.no_speech_prob,
        compression_ratio: attempt.compression_ratio,
        vad_probability,
        audio_s,
    }
}

/// When every pass looped on audio that is clearly speech, what the passes heard before their
/// loops: the longest such text in the right script. Dropping the utterance would lose words that
/// were said and recognised; the cut is reported, and the utterance's confidence is low.
fn cut_at_loop(outcome: &Outcome, script: Script) -> Option<(&Attempt, Vec<String>)> {
    outcome
        .attempts
        .iter()
        .filter_map(|attempt| gate::cut_at_loop(&attempt.tokens).map(|tokens| (attempt, tokens)))
        .filter(|(_, tokens)| script.fits(&text_of(tokens)))
        .max_by_key(|(_, tokens)| tokens.len())
}

/// How an utterance was decoded, for reports.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DecodingReport {
    /// Every pass that ran, the first pass first.
    pub passes: Vec<String>,
    /// The pass whose text was used.
    pub chosen: String,
    /// Tokens it produced (text and timestamps).
    pub tokens: usize,
    pub fallbacks: usize,
    /// The budget stopped the fallbacks before they were done; the best text so far was used.
    pub budget_exhausted: bool,
    /// The budget in greedy-token equivalents, and what the passes used of it.
    pub budget_tokens: f64,
    pub spent_tokens: f64,
    /// Encoder plus every pass.
    pub decode_ms: f64,
    /// Every pass looped; the text is what one heard before its loop.
    pub loop_cut: bool,
}

#[cfg(test)]
mod tests;
