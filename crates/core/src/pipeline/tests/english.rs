//! What English is said, with stand-in stages: Whisper's own English first, echoes, confidence,
//! and the warnings' codes.

use super::*;

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
