//! The pipeline's mechanics with stand-in stages: ordering, typed events, failures, panics,
//! cancellation and backpressure. (Each real engine is tested with its real weights in
//! `tests/it`.) The stand-ins every test shares are here, with the mechanics; the real-time modes
//! and what English is said have files of their own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::*;
use crate::mt::SourceSegment;
use crate::mt::Translator;
use crate::onnx::OnnxError;
use crate::output::Delivery;
use crate::stt::{DirectTranslation, Recognizer, Task, Transcript, Verdict};
use crate::tts::Synthesizer;
use crate::vad::{SegmenterOptions, SpeechDetector};

mod english;
mod real_time;

/// Bounds every wait, so a broken pipeline fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(20);

/// Speech wherever a frame is loud.
struct Loudness;

impl SpeechDetector for Loudness {
    fn speech_probability(&mut self, frame: &[f32]) -> Result<f32, VadError> {
        Ok(if frame.iter().any(|s| s.abs() > 0.1) { 0.9 } else { 0.0 })
    }
    fn reset(&mut self) {}
}

/// "Recognises" an utterance as the index its loudness encodes (see [`burst`]); index 7 is
/// Persian text, index 9 is refused as no speech.
struct Level;

impl Recognizer for Level {
    fn transcribe(&mut self, samples: &[f32], _: Option<f32>, _: Task) -> Result<Transcript, SttError> {
        Ok(match burst_index(samples) {
            7 => transcript("سلام", Verdict::Speech, true),
            9 => transcript("", Verdict::Empty, true),
            n => transcript(&format!("u{n}"), Verdict::Speech, true),
        })
    }
}

/// The index a [`burst`] encodes in its loudness.
fn burst_index(samples: &[f32]) -> u32 {
    let level = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    ((level - 0.2) * 100.0).round() as u32
}

fn transcript(text: &str, verdict: Verdict, clear: bool) -> Transcript {
    let mut transcript = Transcript {
        text: text.to_string(),
        verdict,
        evidence: Default::default(),
        decoding: Default::default(),
        direct: Default::default(),
        clear,
    };
    transcript.direct.tokens = text.split_whitespace().map(str::to_string).collect();
    transcript
}

/// Reads an utterance of one [`burst`] as [`Level`] does and loops on one of several, as Whisper
/// base did on a recording of ten digits said three times: the loop refused, or (`cut`) what came
/// before it kept.
struct OneBurstAtATime {
    cut: bool,
}

impl Recognizer for OneBurstAtATime {
    fn transcribe(&mut self, samples: &[f32], vad: Option<f32>, task: Task) -> Result<Transcript, SttError> {
        let onsets = samples.windows(2).filter(|w| w[0].abs() <= 0.1 && w[1].abs() > 0.1).count();
        if onsets + usize::from(samples[0].abs() > 0.1) > 1 {
            if self.cut {
                let mut before_the_loop = transcript("u0", Verdict::Speech, false);
                before_the_loop.decoding.loop_cut = true;
                return Ok(before_the_loop);
            }
            return Ok(transcript("u0 u1 u0 u1", Verdict::Repetitive, true));
        }
        Level.transcribe(samples, vad, task)
    }
}

/// Upper-cases; fails on Persian text.
struct Upper;

impl Translator for Upper {
    fn name(&self) -> &str {
        "upper"
    }
    fn translate(&mut self, source: SourceSegment<'_>) -> Result<String, MtError> {
        if source.text.is_ascii() {
            Ok(source.text.to_uppercase())
        } else {
            Err(MtError::Engine("not ASCII".into()))
        }
    }
}

/// One sample per character, in two "sentences"; panics on `panic_on`; waits while `gate` is
/// closed.
struct Beeps {
    panic_on: Option<&'static str>,
    gate: Option<Arc<Gate>>,
}

impl Synthesizer for Beeps {
    fn sample_rate(&self) -> u32 {
        8_000
    }
    fn synthesize(&mut self, text: &str, _: f32, on_sentence: &mut dyn FnMut(&[f32])) -> Result<(), TtsError> {
        if let Some(gate) = &self.gate {
            gate.wait();
        }
        if self.panic_on == Some(text) {
            panic!("stand-in voice cannot say {text}");
        }
        on_sentence(&vec![0.5; text.len()]);
        on_sentence(&[0.25]);
        Ok(())
    }
}

#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    changed: Condvar,
}

impl Gate {
    fn wait(&self) {
        let open = self.open.lock().unwrap();
        drop(self.changed.wait_while(open, |open| !*open).unwrap());
    }
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.changed.notify_all();
    }
}

fn config(synthesizer: Factory<dyn Synthesizer>) -> PipelineConfig {
    PipelineConfig {
        stages: StageFactories {
            detector: Arc::new(|| Ok(Box::new(Loudness))),
            recognizer: Arc::new(|| Ok(Box::new(Level))),
            translator: Arc::new(|| Ok(Box::new(Upper))),
            synthesizer: Some(synthesizer),
        },
        segmenter: SegmenterOptions { pad_ms: 0, trailing_pad_ms: 0, ..Default::default() },
        pace: Pace::Batch,
        english_first: false,
        unsure: UnsurePolicy::default(),
    }
}

fn beeps() -> Factory<dyn Synthesizer> {
    Arc::new(|| Ok(Box::new(Beeps { panic_on: None, gate: None })))
}

/// Half a second of "speech" whose loudness encodes `index`, then half a second of silence.
fn burst(index: u32) -> Vec<f32> {
    let mut samples = vec![0.2 + index as f32 / 100.0; 8_000];
    samples.extend(vec![0.0; 8_000]);
    samples
}

fn bursts(n: u32) -> Vec<f32> {
    (0..n).flat_map(burst).collect()
}

/// A live-like source that never ends: bursts, then silence forever.
fn endless(n: u32) -> impl Iterator<Item = Chunk> + Send + 'static {
    crate::audio::chunks_of(bursts(n))
        .chain(std::iter::repeat_with(|| Chunk { samples: vec![0.0; 320], captured_at: Instant::now() }))
}

/// Every event of a run, in order, until the channel closes.
fn collect(handle: &RunHandle) -> Vec<Event> {
    let mut events = Vec::new();
    loop {
        match handle.events().recv_timeout(PATIENCE) {
            Ok(event) => events.push(event),
            Err(RecvTimeoutError::Disconnected) => return events,
            Err(RecvTimeoutError::Timeout) => panic!("the run did not end; events so far: {events:?}"),
        }
    }
}

fn texts(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Translated { segment, .. } => Some(segment.translated_text.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn utterances_come_out_in_input_order_through_every_stage() {
    let handle = start(crate::audio::chunks_of(bursts(6)), &config(beeps())).unwrap();
    let events = collect(&handle);
    assert!(matches!(events[0], Event::Ready { speech_rate: 8_000 }), "{events:?}");
    assert_eq!(texts(&events), ["U0", "U1", "U2", "U3", "U4", "U5"]);
    let seqs: Vec<u64> =
        events.iter().filter_map(|e| if let Event::Translated { seq, .. } = e { Some(*seq) } else { None }).collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4, 5]);
    for event in &events {
        if let Event::Translated { segment, marks, .. } = event {
            assert_eq!(segment.speech.len(), segment.translated_text.len() + 1, "both sentences collected");
            assert!(marks.first_speech_at.is_some());
            assert!(marks.detected_at <= marks.recognized_at && marks.recognized_at <= marks.translated_at);
        }
    }
    assert!(!events.iter().any(|e| matches!(e, Event::Failed(_))));
}

#[test]
fn a_passage_whisper_cannot_read_whole_is_read_in_its_pieces() {
    let mut config = config(beeps());
    config.segmenter = SegmenterOptions { min_pause_ms: 2000, piece_pause_ms: 400, ..config.segmenter };
    let read = |config: &PipelineConfig| {
        let events = collect(&start(crate::audio::chunks_of(bursts(3)), config).unwrap());
        assert!(!events.iter().any(|e| matches!(e, Event::Dropped(_))), "{events:?}");
        texts(&events)
    };
    assert_eq!(read(&config), ["U2"], "read whole when it can be (the loudest burst names it)");
    config.stages.recognizer = Arc::new(|| Ok(Box::new(OneBurstAtATime { cut: false })));
    assert_eq!(read(&config), ["U0", "U1", "U2"]);
    config.stages.recognizer = Arc::new(|| Ok(Box::new(OneBurstAtATime { cut: true })));
    assert_eq!(read(&config), ["U0", "U1", "U2"], "a passage cut at a loop is read in its pieces too");
    config.english_first = true;
    assert_eq!(read(&config), ["u0", "u1", "u2"], "Whisper's own English, piece by piece");
}

#[test]
fn a_session_without_a_voice_captions_every_utterance_in_order() {
    let mut config = config(beeps());
    config.stages.synthesizer = None;
    let events = collect(&start(crate::audio::chunks_of(bursts(3)), &config).unwrap());
    assert_eq!(texts(&events), ["U0", "U1", "U2"]);
    assert!(!events.iter().any(|e| matches!(e, Event::Ready { .. } | Event::Speech { .. })), "{events:?}");
    for event in &events {
        if let Event::Translated { segment, marks, .. } = event {
            assert_eq!((segment.delivery, segment.speech.len()), (Delivery::Captioned, 0));
            assert!(marks.first_speech_at.is_none() && marks.recognized_at <= marks.translated_at);
        }
    }
}

#[test]
fn streamed_speech_precedes_its_caption_and_carries_the_voice_rate() {
    let mut config = config(beeps());
    config.pace = Pace::Streamed;
    let handle = start(crate::audio::chunks_of(bursts(2)), &config).unwrap();
    let events = collect(&handle);
    let order: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Speech { seq, rate, samples, .. } => Some(format!("speech {seq} {rate} {}", samples.len())),
            Event::Translated { seq, segment, .. } => Some(format!("caption {seq} {}", segment.speech.len())),
            _ => None,
        })
        .collect();
    assert_eq!(
        order,
        ["speech 0 8000 2", "speech 0 8000 1", "caption 0 0", "speech 1 8000 2", "speech 1 8000 1", "caption 1 0"]
    );
}

#[test]
fn drops_and_warnings_are_typed_events_and_the_run_goes_on() {
    // 7: Persian text the translator fails on (not speakable in English); 9: refused.
    let handle = start(crate::audio::chunks_of(bursts(11)), &config(beeps())).unwrap();
    let events = collect(&handle);
    assert_eq!(texts(&events), ["U0", "U1", "U2", "U3", "U4", "U5", "U6", "سلام", "U8", "U10"]);
    let warnings: Vec<&Warning> =
        events.iter().filter_map(|e| if let Event::Warning(w) = e { Some(w) } else { None }).collect();
    assert!(
        matches!(warnings[0], Warning::TranslationFailed { start_s, reason } if (*start_s - 7.0).abs() < 0.05 && reason.contains("not ASCII")),
        "{warnings:?}"
    );
    assert_eq!(warnings[1], &Warning::NotSpoken { text: "سلام".into() });
    let dropped: Vec<&DroppedSegment> =
        events.iter().filter_map(|e| if let Event::Dropped(d) = e { Some(d) } else { None }).collect();
    assert_eq!(dropped.len(), 1);
    assert!((dropped[0].start_s - 9.0).abs() < 0.05 && dropped[0].reason == "empty transcript", "{dropped:?}");
    let persian = events.iter().find_map(|e| match e {
        Event::Translated { segment, marks, .. } if segment.mt_failed => Some((segment, marks)),
        _ => None,
    });
    let (segment, marks) = persian.expect("the untranslated utterance keeps its caption");
    assert!(segment.speech.is_empty() && marks.first_speech_at.is_none(), "not spoken");
}

#[test]
fn a_stage_that_cannot_start_ends_an_endless_run_with_its_error() {
    let mut config = config(beeps());
    config.stages.recognizer =
        Arc::new(|| Err(SttError::Load { path: "/models/whisper".into(), reason: "no model.bin".into() }.into()));
    let handle = start(endless(3), &config).unwrap();
    let events = collect(&handle);
    match events.last() {
        Some(Event::Failed(PipelineError::Stt(SttError::Load { reason, .. }))) => assert_eq!(reason, "no model.bin"),
        other => panic!("expected the recognizer's error last, got {other:?}"),
    }
    assert!(texts(&events).is_empty());
    assert!(handle.cancel_handle().is_cancelled(), "a failure stops the source too");
}

#[test]
fn a_panicking_stage_becomes_an_error_event_after_the_work_before_it() {
    let synthesizer: Factory<dyn Synthesizer> = Arc::new(|| Ok(Box::new(Beeps { panic_on: Some("U2"), gate: None })));
    let handle = start(endless(5), &config(synthesizer)).unwrap();
    let events = collect(&handle);
    assert_eq!(texts(&events), ["U0", "U1"]);
    match events.last() {
        Some(Event::Failed(PipelineError::Panicked { stage: Stage::Tts, message })) => {
            assert!(message.contains("cannot say U2"), "{message}")
        }
        other => panic!("expected the panic last, got {other:?}"),
    }
}

#[test]
fn run_returns_a_stage_failure_as_its_error() {
    let mut config = config(beeps());
    let missing = || OnnxError::NoLibrary { path: "/models/libonnxruntime.so".into() };
    config.stages.detector = Arc::new(move || Err(VadError::Load(missing()).into()));
    let mut seen = 0;
    let error = run(crate::audio::chunks_of(bursts(2)), &config, |_| seen += 1).unwrap_err();
    assert!(matches!(error, PipelineError::Vad(VadError::Load(_))), "{error}");
    assert_eq!(seen, 1, "only the voice's Ready event came before the failure");
}

#[test]
fn cancelling_ends_an_endless_run_without_an_error() {
    let handle = start(endless(3), &config(beeps())).unwrap();
    let mut events = Vec::new();
    while texts(&events).len() < 3 {
        events.push(handle.events().recv_timeout(PATIENCE).expect("three utterances"));
    }
    handle.cancel_handle().cancel();
    let rest = collect(&handle);
    assert!(!rest.iter().any(|e| matches!(e, Event::Failed(_))), "{rest:?}");
}

#[test]
fn a_slow_stage_holds_the_source_back_and_nothing_is_lost() {
    const UTTERANCES: u32 = 40;
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let source = crate::audio::chunks_of(bursts(UTTERANCES)).inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let gate = Arc::new(Gate::default());
    let voice_gate = gate.clone();
    let synthesizer: Factory<dyn Synthesizer> =
        Arc::new(move || Ok(Box::new(Beeps { panic_on: None, gate: Some(voice_gate.clone()) })));
    let handle = start(source, &config(synthesizer)).unwrap();
    // While the voice is stuck, only the bounded queues fill: the source is not read to its end.
    std::thread::sleep(Duration::from_millis(500));
    let while_stuck = pulled.load(Ordering::SeqCst);
    assert!(while_stuck < UTTERANCES as usize, "read {while_stuck} of {UTTERANCES} one-second chunks");
    gate.open();
    let events = collect(&handle);
    let spoken = events.iter().filter(|e| matches!(e, Event::Translated { .. } | Event::Dropped(_))).count();
    assert_eq!(spoken, UTTERANCES as usize, "every utterance reported");
    assert_eq!(texts(&events).last().map(String::as_str), Some("U39"));
}

#[test]
fn dropping_the_handle_stops_the_stages() {
    let alive = Arc::new(AtomicUsize::new(0));
    let counter = alive.clone();
    let source = endless(1).inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let handle = start(source, &config(beeps())).unwrap();
    handle.events().recv_timeout(PATIENCE).expect("the run started");
    drop(handle);
    // Once cancelled, the VAD stops reading: the count settles.
    let mut last = alive.load(Ordering::SeqCst);
    let deadline = Instant::now() + PATIENCE;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = alive.load(Ordering::SeqCst);
        if now == last {
            break;
        }
        assert!(Instant::now() < deadline, "the source is still being read");
        last = now;
    }
}
