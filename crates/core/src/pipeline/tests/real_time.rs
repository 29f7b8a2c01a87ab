//! The real-time modes with stand-in stages: speculative recognition, partial captions, English
//! said before the utterance ends, and speech paced for a listener.

use super::*;

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
        english.direct.tokens = tokens;
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
        config.pace = match real_time {
            true => Pace::RealTime(Ahead { partial_captions, speak_early: false }),
            false => Pace::Batch,
        };
        Self::with_config(config, || Box::new(Level))
    }

    /// `direct` translation, speaking early, with speech streamed as a listener hears it.
    fn speaking_early() -> Self {
        let said = Arc::new(Mutex::new(Vec::new()));
        let recorded = said.clone();
        let mut config = config(Arc::new(move || Ok(Box::new(Recorded(recorded.clone())))));
        config.pace = Pace::RealTime(Ahead { partial_captions: false, speak_early: true });
        config.english_first = true;
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
    english.direct.tokens = ["ĠGoodbye", ",", "Ġfriend", "."].map(String::from).to_vec();
    assert_eq!(recognition::rest_after(&english, &said), ("Hello,".to_string(), String::new()));
    english.direct.tokens = ["ĠHello", ",", "Ġfriend", "."].map(String::from).to_vec();
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
    config.pace = if real_time { Pace::RealTime(Ahead::default()) } else { Pace::Streamed };
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

#[test]
fn speaking_early_without_whispers_own_english_is_refused_before_any_stage_starts() {
    let mut config = config(beeps());
    config.pace = Pace::RealTime(Ahead { partial_captions: false, speak_early: true });
    let refused = start(std::iter::empty(), &config).err();
    assert!(matches!(refused, Some(PipelineError::Config(ConfigError::SpeakEarlyNeedsDirect))), "{refused:?}");
    config.english_first = true;
    assert!(config.check().is_ok());
}
