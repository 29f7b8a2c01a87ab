//! The pipeline's mechanics with stand-in stages: ordering, typed events, failures, panics,
//! cancellation and backpressure. (Each real engine is tested with its real weights in
//! `tests/it`.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::*;
use crate::mt::SourceSegment;
use crate::output::Delivery;
use crate::stt::{DirectTranslation, Task, Transcript, Verdict};

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
    Transcript {
        text: text.to_string(),
        tokens: text.split_whitespace().map(str::to_string).collect(),
        verdict,
        evidence: Default::default(),
        decoding: Default::default(),
        encoded: None,
        clear,
    }
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
            synthesizer,
        },
        segmenter: SegmenterOptions { pad_ms: 0, trailing_pad_ms: 0, ..Default::default() },
        stream_speech: false,
        real_time: false,
        partial_captions: false,
        english_first: false,
        speak_early: false,
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
fn streamed_speech_precedes_its_caption_and_carries_the_voice_rate() {
    let mut config = config(beeps());
    config.stream_speech = true;
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
    config.stages.detector = Arc::new(|| Err(VadError::Inference("broken model".into()).into()));
    let mut seen = 0;
    let error = run(crate::audio::chunks_of(bursts(2)), &config, |_| seen += 1).unwrap_err();
    assert!(matches!(error, PipelineError::Vad(VadError::Inference(_))), "{error}");
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

/// A recognizer, counting its calls and announcing each on a channel.
struct Counted {
    inner: Box<dyn Recognizer>,
    calls: Arc<AtomicUsize>,
    called: std::sync::mpsc::Sender<()>,
}

impl Counted {
    fn count(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let _ = self.called.send(());
    }
}

impl Recognizer for Counted {
    fn transcribe(&mut self, samples: &[f32], vad: Option<f32>, task: Task) -> Result<Transcript, SttError> {
        self.count();
        self.inner.transcribe(samples, vad, task)
    }
    fn direct(&mut self) -> Option<&mut dyn DirectTranslation> {
        Some(self)
    }
}

impl DirectTranslation for Counted {
    fn translate_after(
        &mut self,
        samples: &[f32],
        vad: Option<f32>,
        spoken: &[String],
        first_pass_only: bool,
    ) -> Result<Transcript, SttError> {
        self.count();
        let direct = self.inner.direct().expect("a recognizer that speaks early");
        direct.translate_after(samples, vad, spoken, first_pass_only)
    }
}

/// Whisper's English as the utterance under way grows, as far as the pipeline sees it: one clause
/// per whole second of audio, "c1, c2, …, cN." (the last one closed by a full stop), each word
/// and mark a token, continuing whatever it is forced to begin with. The transcript is "fa".
struct Interpreter;

impl Interpreter {
    fn english(samples: &[f32], spoken: &[String]) -> Transcript {
        let clauses = (samples.len() / 16_000).max(1);
        let mut tokens: Vec<String> =
            (1..=clauses).flat_map(|c| [format!("Ġc{c}"), if c == clauses { "." } else { "," }.to_string()]).collect();
        if !tokens.starts_with(spoken) {
            tokens = [spoken, &tokens[spoken.len().min(tokens.len())..]].concat();
        }
        let mut english = transcript(&crate::stt::text_of_tokens(&tokens), Verdict::Speech, true);
        english.tokens = tokens;
        english
    }
}

impl Recognizer for Interpreter {
    fn transcribe(&mut self, samples: &[f32], _: Option<f32>, task: Task) -> Result<Transcript, SttError> {
        Ok(match task {
            Task::Translate => Self::english(samples, &[]),
            Task::Transcribe => transcript("fa", Verdict::Speech, true),
        })
    }
    fn direct(&mut self) -> Option<&mut dyn DirectTranslation> {
        Some(self)
    }
}

impl DirectTranslation for Interpreter {
    fn translate_after(
        &mut self,
        samples: &[f32],
        _: Option<f32>,
        spoken: &[String],
        _: bool,
    ) -> Result<Transcript, SttError> {
        Ok(Self::english(samples, spoken))
    }
}

/// A run fed by hand, 20 ms at a time, whose recognizer can be watched.
struct Fed {
    chunks: std::sync::mpsc::Sender<Chunk>,
    /// What the voice was asked to say (with [`Self::speaking_early`]).
    said: Arc<Mutex<Vec<String>>>,
    called: Receiver<()>,
    calls: Arc<AtomicUsize>,
    handle: RunHandle,
}

impl Fed {
    fn start(real_time: bool) -> Self {
        Self::with_partials(real_time, false)
    }

    fn with_partials(real_time: bool, partial_captions: bool) -> Self {
        let mut config = config(beeps());
        config.real_time = real_time;
        config.partial_captions = partial_captions;
        Self::with_config(config, || Box::new(Level))
    }

    /// `direct` translation, speaking early, with speech streamed as a listener hears it.
    fn speaking_early() -> Self {
        let said = Arc::new(Mutex::new(Vec::new()));
        let recorded = said.clone();
        let mut config = config(Arc::new(move || Ok(Box::new(Recorded(recorded.clone())))));
        (config.real_time, config.english_first, config.speak_early, config.stream_speech) = (true, true, true, true);
        Self { said, ..Self::with_config(config, || Box::new(Interpreter)) }
    }

    fn with_config(
        mut config: PipelineConfig,
        recognizer: impl Fn() -> Box<dyn Recognizer> + Send + Sync + 'static,
    ) -> Self {
        let (calls, (called_tx, called)) = (Arc::new(AtomicUsize::new(0)), std::sync::mpsc::channel());
        let (counter, called_tx) = (calls.clone(), Mutex::new(called_tx));
        config.stages.recognizer = Arc::new(move || {
            let called = called_tx.lock().unwrap().clone();
            Ok(Box::new(Counted { inner: recognizer(), calls: counter.clone(), called }))
        });
        config.segmenter =
            SegmenterOptions { pad_ms: 100, trailing_pad_ms: 100, min_pause_ms: 400, ..Default::default() };
        let (chunks, source) = std::sync::mpsc::channel();
        Fed { chunks, said: Arc::default(), called, calls, handle: start(source.into_iter(), &config).unwrap() }
    }

    fn feed(&self, level: f32, ms: usize) {
        for _ in 0..ms / 20 {
            self.chunks.send(Chunk { samples: vec![level; 320], captured_at: Instant::now() }).unwrap();
        }
    }

    /// Silence until the recognizer is called (a speculation), at most `limit_ms`; true if it was.
    fn silence_until_recognized(&self, limit_ms: usize) -> bool {
        for _ in 0..limit_ms / 20 {
            self.feed(0.0, 20);
            if self.called.recv_timeout(Duration::from_millis(50)).is_ok() {
                return true;
            }
        }
        false
    }

    fn finish(self) -> (Vec<String>, usize) {
        let (events, calls) = self.finish_events();
        (texts(&events), calls)
    }

    fn finish_events(self) -> (Vec<Event>, usize) {
        self.feed(0.0, 1_000);
        drop(self.chunks);
        (collect(&self.handle), self.calls.load(Ordering::SeqCst))
    }
}

#[test]
fn a_confirmed_pause_uses_the_speculative_recognition() {
    let run = Fed::start(true);
    run.feed(0.25, 500);
    assert!(run.silence_until_recognized(300), "no speculation during the pause");
    assert_eq!(run.finish(), (vec!["U5".to_string()], 1), "recognised once, during the pause");
}

#[test]
fn speculation_is_discarded_when_speech_resumes() {
    let with_speculation = Fed::start(true);
    with_speculation.feed(0.23, 500);
    assert!(with_speculation.silence_until_recognized(300), "no speculation during the pause");
    with_speculation.feed(0.25, 500);
    let (texts, calls) = with_speculation.finish();
    assert_eq!(calls, 2, "the speculation, then the whole utterance");
    assert_eq!(texts, ["U5"], "one utterance, as loud as its loudest part");

    let without = Fed::start(false);
    without.feed(0.23, 500);
    without.feed(0.0, 200);
    without.feed(0.25, 500);
    assert_eq!(without.finish(), (texts, 1), "speculation changed what was heard");
}

#[test]
fn long_speech_gets_partial_captions_before_its_final_one() {
    let run = Fed::with_partials(true, true);
    for _ in 0..3 {
        run.feed(0.25, 1_000);
        // Recognition is idle between the seconds of speech, as on a real microphone.
        let _ = run.called.recv_timeout(Duration::from_millis(500));
    }
    let (events, _) = run.finish_events();
    let partials: Vec<(f64, &str, &str)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Partial { start_s, stable, unstable } => Some((*start_s, stable.as_str(), unstable.as_str())),
            _ => None,
        })
        .collect();
    assert!(partials.len() >= 2, "{events:?}");
    assert_eq!(partials[0], (0.0, "", "u5"), "the first pass has nothing to agree with");
    assert_eq!(partials.last().unwrap(), &(0.0, "u5", ""), "two passes agreed");
    let final_at = events.iter().position(|e| matches!(e, Event::Translated { .. })).expect("a final caption");
    assert!(events[final_at..].iter().all(|e| !matches!(e, Event::Partial { .. })), "a partial after its final");
    assert_eq!(texts(&events), ["U5"]);
}

/// Says each text as one sample a character, and records it.
struct Recorded(Arc<Mutex<Vec<String>>>);

impl Synthesizer for Recorded {
    fn sample_rate(&self) -> u32 {
        8_000
    }
    fn synthesize(&mut self, text: &str, _: f32, on_sentence: &mut dyn FnMut(&[f32])) -> Result<(), TtsError> {
        self.0.lock().unwrap().push(text.to_string());
        on_sentence(&vec![0.5; text.len()]);
        Ok(())
    }
}

#[test]
fn speaking_early_says_agreed_clauses_before_the_utterance_ends_and_never_again() {
    let run = Fed::speaking_early();
    for _ in 0..4 {
        run.feed(0.25, 1_000);
        let _ = run.called.recv_timeout(Duration::from_millis(500));
    }
    let said = run.said.clone();
    let (events, _) = run.finish_events();
    let final_at = events.iter().position(|e| matches!(e, Event::Translated { .. })).expect("a final caption");
    let ahead = events.iter().filter(|e| matches!(e, Event::Speech { ahead_of: Some(_), .. })).count();
    assert!(ahead > 0, "nothing said ahead: {events:?}");
    let last_ahead = events.iter().rposition(|e| matches!(e, Event::Speech { ahead_of: Some(_), .. })).unwrap();
    assert!(last_ahead < final_at, "English said ahead after its utterance's end");
    let rest = events.iter().position(|e| matches!(e, Event::Speech { ahead_of: None, .. })).expect("no rest said");
    assert!(last_ahead < rest && rest < final_at, "the rest is said after the English said ahead, before the caption");
    // The clauses said ahead and the rest said after the end are the whole English, once each.
    let said = said.lock().unwrap().clone();
    assert_eq!(said.len(), ahead + 1, "{said:?}");
    assert_eq!(said.join(" "), "c1, c2, c3, c4.");
    let Event::Translated { marks, .. } = &events[final_at] else { unreachable!() };
    assert!(marks.first_speech_at.is_some() && marks.heard_until.is_some());
    assert_eq!(texts(&events), ["c1, c2, c3, c4."], "the caption is the whole English");
}

#[test]
fn english_said_ahead_stands_when_the_final_english_departs_from_it() {
    let said: Vec<String> = ["ĠHello", ","].map(String::from).to_vec();
    let mut english = transcript("Goodbye, friend.", Verdict::Speech, true);
    english.tokens = ["ĠGoodbye", ",", "Ġfriend", "."].map(String::from).to_vec();
    assert_eq!(recognition::rest_after(&english, &said), ("Hello,".to_string(), String::new()));
    english.tokens = ["ĠHello", ",", "Ġfriend", "."].map(String::from).to_vec();
    english.text = "Hello, friend.".into();
    assert_eq!(recognition::rest_after(&english, &said), ("Hello, friend.".to_string(), "friend.".to_string()));
    english.verdict = Verdict::Repetitive;
    assert_eq!(recognition::rest_after(&english, &said), ("Hello,".to_string(), String::new()), "a refused ending");
}

#[test]
fn no_partial_captions_unless_asked_for() {
    let run = Fed::with_partials(true, false);
    run.feed(0.25, 3_000);
    let (events, _) = run.finish_events();
    assert!(!events.iter().any(|e| matches!(e, Event::Partial { .. })));
    assert_eq!(texts(&events), ["U5"]);
}

/// Three seconds of speech per utterance, shortened by the speed asked for, which it records.
struct Slow {
    speeds: Arc<Mutex<Vec<f32>>>,
}

impl Synthesizer for Slow {
    fn sample_rate(&self) -> u32 {
        8_000
    }
    fn synthesize(&mut self, _: &str, speed: f32, on_sentence: &mut dyn FnMut(&[f32])) -> Result<(), TtsError> {
        self.speeds.lock().unwrap().push(speed);
        on_sentence(&vec![0.5; (24_000.0 / speed) as usize]);
        Ok(())
    }
}

fn slow_speech(real_time: bool) -> (PipelineConfig, Arc<Mutex<Vec<f32>>>) {
    let speeds = Arc::new(Mutex::new(Vec::new()));
    let recorded = speeds.clone();
    let mut config = config(Arc::new(move || Ok(Box::new(Slow { speeds: recorded.clone() }))));
    config.stream_speech = true;
    config.real_time = real_time;
    (config, speeds)
}

#[test]
fn english_that_runs_behind_speeds_up_then_is_captioned_only() {
    let (config, speeds) = slow_speech(true);
    // Six utterances in six seconds of input, fed at once: 18 s of English for 6 s of speech.
    let events = collect(&start(crate::audio::chunks_of(bursts(6)), &config).unwrap());
    assert_eq!(texts(&events), ["U0", "U1", "U2", "U3", "U4", "U5"], "every utterance keeps its caption");
    let speeds = speeds.lock().unwrap().clone();
    assert_eq!(speeds[0], 1.0);
    assert!(speeds[1..].iter().all(|&s| s > 1.0 && s <= 1.15), "{speeds:?}");
    let skipped = events.iter().filter(|e| matches!(e, Event::Warning(Warning::TooFarBehind { .. }))).count();
    assert_eq!(skipped, 6 - speeds.len(), "each utterance not spoken is announced");
    assert!(skipped > 0, "the backlog limit never held: {speeds:?}");
    for event in &events {
        if let Event::Translated { marks, .. } = event {
            if let (Some(first), Some(end)) = (marks.first_speech_at, marks.heard_until) {
                let queued = end.duration_since(first).as_secs_f64();
                assert!(queued <= speech::MAX_SPEECH_BACKLOG_S + 3.0, "English {queued:.1} s behind");
                // Three seconds of English, said at 1 or 1.15 times: its share of the lag.
                assert!((3.0 / 1.15 - 0.01..=3.0).contains(&marks.english_s), "{}", marks.english_s);
            }
        }
    }
}

#[test]
fn a_file_fed_flat_out_is_spoken_in_full_at_normal_speed() {
    let (config, speeds) = slow_speech(false);
    let events = collect(&start(crate::audio::chunks_of(bursts(6)), &config).unwrap());
    assert_eq!(texts(&events), ["U0", "U1", "U2", "U3", "U4", "U5"]);
    assert_eq!(*speeds.lock().unwrap(), [1.0; 6], "no listener to catch up with");
    assert!(!events.iter().any(|e| matches!(e, Event::Warning(Warning::TooFarBehind { .. }))));
}

/// Whisper with the `direct` engine, as far as the pipeline sees it: English for the translate
/// task, a transcript for the other, each with its own verdict. By index (see [`burst`]): 1, clear
/// English; 2, unsure English whose transcript is speech; 3, unsure English whose transcript is
/// refused; 4, English in the wrong script over a Persian transcript that is speech; 5, clear English
/// whose transcript is then refused.
struct Bilingual;

impl Recognizer for Bilingual {
    fn transcribe(&mut self, samples: &[f32], _: Option<f32>, task: Task) -> Result<Transcript, SttError> {
        Ok(match (task, burst_index(samples)) {
            (Task::Translate, 4) => transcript("سلام", Verdict::WrongLanguage, false),
            (Task::Translate, n) => transcript(&format!("en{n}"), Verdict::Speech, n == 1 || n == 5),
            (Task::Transcribe, 3) => transcript("", Verdict::Empty, false),
            (Task::Transcribe, 4) => transcript("سلام", Verdict::Speech, true),
            (Task::Transcribe, 5) => transcript("fa5 fa5 fa5", Verdict::Repetitive, false),
            (Task::Transcribe, n) => transcript(&format!("fa{n}"), Verdict::Speech, true),
        })
    }
}

#[test]
fn english_first_speaks_clear_english_without_the_translator_and_captions_its_transcript() {
    let mut config = config(beeps());
    config.english_first = true;
    config.stages.recognizer = Arc::new(|| Ok(Box::new(Bilingual)));
    let handle = start(crate::audio::chunks_of((1..=5).flat_map(burst).collect()), &config).unwrap();
    let events = collect(&handle);
    let captions: Vec<(String, String, bool, usize)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Translated { segment, .. } => Some((
                segment.source_text.clone(),
                segment.translated_text.clone(),
                segment.mt_failed,
                segment.speech.len(),
            )),
            _ => None,
        })
        .collect();
    // The English is Whisper's own (not upper-cased by the translator); unsure English waits for
    // the transcript's verdict; English in another script is captioned, not spoken.
    assert_eq!(
        captions,
        [
            ("fa1".to_string(), "en1".to_string(), false, 4),
            ("fa2".to_string(), "en2".to_string(), false, 4),
            ("سلام".to_string(), "سلام".to_string(), true, 0),
            ("fa5 fa5 fa5".to_string(), "en5".to_string(), false, 4),
        ],
        "{events:?}"
    );
    let dropped: Vec<&DroppedSegment> =
        events.iter().filter_map(|e| if let Event::Dropped(d) = e { Some(d) } else { None }).collect();
    assert_eq!(dropped.len(), 1, "{events:?}");
    assert!((dropped[0].start_s - 2.0).abs() < 0.05 && dropped[0].reason == "empty transcript", "{dropped:?}");
    let warnings: Vec<&Warning> =
        events.iter().filter_map(|e| if let Event::Warning(w) = e { Some(w) } else { None }).collect();
    assert!(
        matches!(warnings[0], Warning::TranslationFailed { reason, .. } if reason.contains("not in English")),
        "{warnings:?}"
    );
    assert!(
        matches!(warnings.last(), Some(Warning::TranscriptRefused { start_s, reason }) if (*start_s - 4.0).abs() < 0.05 && reason == "repetition loop"),
        "{warnings:?}"
    );
}

#[test]
fn a_warnings_code_is_the_kind_its_json_carries() {
    let warnings = [
        Warning::TranslationFailed { start_s: 0.0, reason: String::new() },
        Warning::NotSpoken { text: String::new() },
        Warning::TooFarBehind { text: String::new(), behind_s: 0.0 },
        Warning::SynthesisFailed { text: String::new(), reason: String::new() },
        Warning::TranscriptRefused { start_s: 0.0, reason: String::new() },
        Warning::Unsure { start_s: 0.0, text: String::new() },
        Warning::OutputReopened { output: String::new() },
        Warning::OutputFailed { output: String::new(), reason: String::new() },
    ];
    for warning in warnings {
        assert_eq!(serde_json::to_value(&warning).unwrap()["kind"], warning.code());
    }
}

const ECHO: &str = "I was waiting for him to come. I was waiting for him to come.";

/// A text engine that echoes, as every engine does on speech it cannot follow.
struct Echoing;

impl Translator for Echoing {
    fn name(&self) -> &str {
        "echoing"
    }
    fn translate(&mut self, _: SourceSegment<'_>) -> Result<String, MtError> {
        Ok(ECHO.into())
    }
}

/// Whisper whose English echoes (`direct`) and whose every decode has `avg_logprob`.
struct EchoingWhisper {
    avg_logprob: f32,
}

impl Recognizer for EchoingWhisper {
    fn transcribe(&mut self, samples: &[f32], _: Option<f32>, task: Task) -> Result<Transcript, SttError> {
        let text = match task {
            Task::Translate => ECHO.to_string(),
            Task::Transcribe => format!("fa{}", burst_index(samples)),
        };
        let mut t = transcript(&text, Verdict::Speech, true);
        t.evidence.avg_logprob = self.avg_logprob;
        Ok(t)
    }
}

fn segments(events: &[Event]) -> Vec<&TranslatedSegment> {
    events.iter().filter_map(|e| if let Event::Translated { segment, .. } = e { Some(segment) } else { None }).collect()
}

#[test]
fn an_echo_is_said_once_whatever_the_engine() {
    let once = "I was waiting for him to come.";
    let mut text_engine = config(beeps());
    text_engine.stages.translator = Arc::new(|| Ok(Box::new(Echoing)));
    let mut direct = config(beeps());
    direct.english_first = true;
    direct.stages.recognizer = Arc::new(|| Ok(Box::new(EchoingWhisper { avg_logprob: -0.2 })));
    for config in [text_engine, direct] {
        let events = collect(&start(crate::audio::chunks_of(bursts(2)), &config).unwrap());
        let said = segments(&events);
        assert_eq!(said.len(), 2, "{events:?}");
        assert_eq!(said[0].translated_text, once);
        assert_eq!(said[0].echo_removed, ["I was waiting for him to come"]);
        assert_eq!(said[0].speech.len(), once.len() + 1, "the collapsed English is what is spoken");
        // The next utterance, half a second later, is the same passage: not said again.
        assert_eq!(said[1].translated_text, "");
        assert!(said[1].speech.is_empty());
    }
}

/// Half-second bursts three seconds apart: separate passages.
fn apart(n: u32) -> Vec<f32> {
    (0..n).flat_map(|i| burst(i).into_iter().chain(vec![0.0; 40_000])).collect()
}

#[test]
fn an_echo_of_an_earlier_passage_is_said_again() {
    let mut config = config(beeps());
    config.stages.translator = Arc::new(|| Ok(Box::new(Echoing)));
    let events = collect(&start(crate::audio::chunks_of(apart(2)), &config).unwrap());
    let texts: Vec<&str> = segments(&events).iter().map(|s| s.translated_text.as_str()).collect();
    assert_eq!(texts, ["I was waiting for him to come."; 2]);
}

#[test]
fn low_confidence_english_follows_the_policy() {
    let run = |unsure: UnsurePolicy, avg_logprob: f32| {
        let mut config = config(beeps());
        config.english_first = true;
        config.unsure = unsure;
        config.stages.recognizer = Arc::new(move || Ok(Box::new(EchoingWhisper { avg_logprob })));
        collect(&start(crate::audio::chunks_of(burst(0)), &config).unwrap())
    };
    let english = "I was waiting for him to come.";
    let cue = crate::tts::unsure_cue(8_000);
    for (policy, delivery, speech) in [
        (UnsurePolicy::Speak, Delivery::Spoken, english.len() + 1),
        (UnsurePolicy::Cue, Delivery::SpokenWithCue, english.len() + 1 + cue.len()),
        (UnsurePolicy::CaptionOnly, Delivery::CaptionOnly, 0),
    ] {
        let events = run(policy, -2.0);
        let segment = segments(&events)[0];
        assert_eq!(segment.confidence.level, crate::confidence::Level::Low);
        assert_eq!((segment.delivery, segment.speech.len()), (delivery, speech), "{policy:?}");
        if delivery == Delivery::SpokenWithCue {
            assert!(segment.speech.ends_with(&cue), "the cue follows the English it doubts");
        }
        assert_eq!(segment.translated_text, english, "captioned whatever the policy");
        let told = events.iter().any(|e| matches!(e, Event::Warning(Warning::Unsure { text, .. }) if text == english));
        assert_eq!(told, policy == UnsurePolicy::CaptionOnly, "{policy:?}");
    }
    // A text engine's English is judged before it is said.
    let mut text_engine = config(beeps());
    text_engine.unsure = UnsurePolicy::CaptionOnly;
    text_engine.stages.translator = Arc::new(|| Ok(Box::new(Echoing)));
    text_engine.stages.recognizer = Arc::new(|| Ok(Box::new(EchoingWhisper { avg_logprob: -2.0 })));
    let events = collect(&start(crate::audio::chunks_of(burst(0)), &text_engine).unwrap());
    assert_eq!((segments(&events)[0].delivery, segments(&events)[0].speech.len()), (Delivery::CaptionOnly, 0));
    // Confident English is spoken plainly under every policy.
    for policy in [UnsurePolicy::Cue, UnsurePolicy::CaptionOnly] {
        let events = run(policy, -0.1);
        assert_eq!(segments(&events)[0].delivery, Delivery::Spoken);
        assert_eq!(segments(&events)[0].speech.len(), english.len() + 1);
    }
}
