//! Each stage on its real engine with real weights.

use linguastream_core::audio::{decode_file, Audio, STT_RATE};
use linguastream_core::mt::{FirefoxTranslator, SourceSegment, Translator};
use linguastream_core::vad::{detect, SegmenterOptions, SileroVad};

use crate::util::{bin, hear_english, ok, sample, store, words};

#[test]
fn piper_speech_is_understood_by_whisper() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("speech.wav");
    let sentence = "The weather is nice today, and the train leaves at nine o'clock.";
    ok(bin().args(["speak", sentence, "-o"]).arg(&wav));
    let heard = words(&hear_english(&wav));
    let expected = words(sentence);
    let found = expected.iter().filter(|w| heard.contains(w)).count();
    assert!(found * 10 >= expected.len() * 8, "heard {heard:?} for {expected:?}");
}

#[test]
fn whisper_transcribes_the_bundled_persian_sample() {
    let text = ok(bin().arg("transcribe").arg(sample("fa-sentence-virgool.wav")));
    let persian_letters = text.chars().filter(|c| ('\u{0600}'..='\u{06FF}').contains(c)).count();
    assert!(persian_letters >= 5, "expected Persian text, got {text:?}");
}

/// First and last sample of `audio` whose 10 ms frame is within 30 dB of the loudest frame.
fn energy_bounds(audio: &[f32]) -> (usize, usize) {
    let frame = 160;
    let energies: Vec<f32> =
        audio.chunks(frame).map(|c| c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).collect();
    let peak = energies.iter().copied().fold(0.0, f32::max);
    let loud: Vec<usize> = (0..energies.len()).filter(|&i| energies[i] > peak / 1000.0).collect();
    (loud[0] * frame, (loud[loud.len() - 1] + 1) * frame)
}

fn silero(store: &linguastream_core::models::ModelStore) -> SileroVad {
    let onnx = store.require("onnxruntime").unwrap().join("libonnxruntime.so");
    let model = store.require("silero-vad").unwrap().join("silero_vad.onnx");
    SileroVad::try_new(&onnx, &model).unwrap()
}

#[test]
fn vad_finds_speech_padded_with_silence_within_150_ms() {
    let store = store();
    let speech = decode_file(&sample("fa-digits-fateme.wav"), STT_RATE).unwrap().samples;
    let (on, off) = energy_bounds(&speech);
    let pad = 2 * STT_RATE as usize;
    let mut padded = vec![0.0; pad];
    padded.extend_from_slice(&speech);
    padded.extend(vec![0.0; pad]);

    let mut vad = silero(&store);
    let found = detect(&mut vad, &padded, SegmenterOptions::default()).unwrap();
    assert!(!found.is_empty(), "no speech found");
    let ms = |samples: usize| samples as f64 / 16.0;
    let start_error = ms(found[0].utterance.speech_start) - ms(pad + on);
    let end_error = ms(found[found.len() - 1].utterance.speech_end) - ms(pad + off);
    assert!(start_error.abs() <= 150.0, "speech start off by {start_error:.0} ms");
    assert!(end_error.abs() <= 150.0, "speech end off by {end_error:.0} ms");
}

#[test]
fn vad_finds_nothing_in_silence_or_noise() {
    let store = store();
    let mut vad = silero(&store);
    assert!(detect(&mut vad, &vec![0.0; 10 * 16_000], SegmenterOptions::default()).unwrap().is_empty());
    let noise = crate::translate::white_noise(10.0, 0.2, 16_000);
    assert!(detect(&mut vad, &noise.samples, SegmenterOptions::default()).unwrap().is_empty());
}

#[test]
fn firefox_engine_translates_portuguese() {
    let dir = store().require("firefox-pten").unwrap();
    let mut translator = FirefoxTranslator::try_new(&dir).unwrap();
    let english = translator
        .translate(SourceSegment { text: "O tempo está bom hoje e eu quero comprar pão.", audio: &[] })
        .unwrap()
        .to_lowercase();
    for word in ["weather", "today", "bread"] {
        assert!(english.contains(word), "{word} missing from {english:?}");
    }
}

#[test]
fn decoding_resamples_any_rate_to_16_khz() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("44k.wav");
    let tone = Audio { samples: (0..44_100).map(|i| (i as f32 * 0.05).sin() * 0.5).collect(), rate: 44_100 };
    crate::util::write_wav_i16(&path, &tone, 2);
    let audio = decode_file(&path, STT_RATE).unwrap();
    assert_eq!(audio.rate, 16_000);
    assert_eq!(audio.samples.len(), 16_000);
}

#[test]
fn ctranslate2_returns_every_hypothesis_best_first_with_scores() {
    use linguastream_core::ct2::{GenerateOptions, Whisper, LIBRARY_FILE};
    use linguastream_core::stt::MelExtractor;

    let store = store();
    let library = store.model_dir("ctranslate2").join(LIBRARY_FILE);
    let whisper = Whisper::load(&library, &store.model_dir("whisper-base"), 2).unwrap();
    let audio = decode_file(&sample("fa-digits-fateme.wav"), STT_RATE).unwrap();
    let (features, frames) = MelExtractor::default().features(&audio.samples, 16_000);
    assert!(whisper.encode(&features[1..], 80, frames).is_err(), "a wrong feature count must be refused");
    let encoded = whisper.encode(&features, 80, frames).unwrap();
    let prompt: Vec<String> =
        ["<|startoftranscript|>", "<|fa|>", "<|transcribe|>", "<|notimestamps|>"].map(String::from).into();
    let options = GenerateOptions {
        beam_size: 3,
        num_hypotheses: 3,
        sampling_topk: 1,
        sampling_temperature: 1.0,
        max_length: 80,
        return_scores: true,
        return_no_speech_prob: true,
        no_repeat_ngram_size: 0,
        suppress_token: -1,
    };
    let result = whisper.generate(&encoded, &prompt, &options).unwrap();
    assert_eq!(result.sequences.len(), 3);
    assert_eq!(result.scores.len(), 3);
    assert!(result.scores.windows(2).all(|w| w[0] >= w[1] && w[0] < 0.0), "{:?}", result.scores);
    assert!(result.sequences.iter().all(|s| !s.is_empty()) && result.sequences[0] != result.sequences[1]);
    assert!((0.0..0.5).contains(&result.no_speech_prob), "speech judged silent: {}", result.no_speech_prob);
    let greedy = GenerateOptions { beam_size: 1, num_hypotheses: 1, return_scores: false, ..options };
    let first = whisper.generate(&encoded, &prompt, &greedy).unwrap();
    assert_eq!(first.sequences, whisper.generate(&encoded, &prompt, &greedy).unwrap().sequences, "greedy varies");
    assert!(first.scores.is_empty());
}

/// Whisper's own English reuses recognition's encoder output: it must be what encoding the audio
/// again would give, and what the `direct` translator gives.
#[test]
fn direct_translation_of_the_kept_encoding_equals_translating_the_audio() {
    use linguastream_core::ct2::LIBRARY_FILE;
    use linguastream_core::mt::DirectWhisperTranslator;
    use linguastream_core::stt::{
        DirectTranslation, Recognizer, Task, WhisperCt2Recognizer, WhisperModel, WhisperOptions,
    };
    use std::sync::Arc;

    let store = store();
    let library = store.model_dir("ctranslate2").join(LIBRARY_FILE);
    let options = WhisperOptions { real_time: false, ..WhisperOptions::default() };
    let model = Arc::new(WhisperModel::load(&library, &store.model_dir("whisper-base"), options).unwrap());
    let audio = decode_file(&sample("fa-sentence-virgool.wav"), STT_RATE).unwrap();
    let mut recognizer = WhisperCt2Recognizer::try_new(model.clone(), "fa").unwrap();
    let transcript = recognizer.transcribe(&audio.samples, None, Task::Transcribe).unwrap();
    assert!(transcript.direct.encoded().is_some(), "recognition keeps its encoding");
    let from_encoding =
        recognizer.transcribe_encoded(&transcript.direct, &audio.samples, None, Task::Translate).unwrap();
    let from_audio = recognizer.transcribe(&audio.samples, None, Task::Translate).unwrap();
    assert!(!from_audio.text.is_empty());
    assert_eq!(from_encoding.text, from_audio.text);
    let segment = SourceSegment { text: &transcript.text, audio: &audio.samples };
    assert_eq!(DirectWhisperTranslator::new(model, "fa").translate(segment).unwrap(), from_audio.text);
}

/// `--fixed-decode-tokens` (benchmarks of random-weight models): each pass writes exactly that
/// many tokens whatever the audio holds, with no fallback, and the utterance is passed on.
#[test]
fn a_fixed_decode_length_writes_exactly_that_many_tokens_and_no_fallback() {
    use linguastream_core::ct2::LIBRARY_FILE;
    use linguastream_core::stt::{Task, Verdict, WhisperModel, WhisperOptions};

    let store = store();
    let library = store.model_dir("ctranslate2").join(LIBRARY_FILE);
    let audio = decode_file(&sample("fa-one-ali.wav"), STT_RATE).unwrap();
    let free = WhisperOptions { real_time: false, ..WhisperOptions::default() };
    let model = WhisperModel::load(&library, &store.model_dir("whisper-base"), free.clone()).unwrap();
    let said = model.transcribe(&audio.samples, "fa", Task::Transcribe, None).unwrap();
    // One short word: Whisper ends it long before 60 tokens.
    assert!(said.decoding.tokens < 30, "{:?}", said.decoding);
    for task in [Task::Transcribe, Task::Translate] {
        let fixed = model.with_options(WhisperOptions { fixed_decode_tokens: Some(60), ..free.clone() });
        let transcript = fixed.transcribe(&audio.samples, "fa", task, None).unwrap();
        assert_eq!(transcript.decoding.tokens, 60, "{task:?}: {:?}", transcript.decoding);
        assert_eq!(transcript.decoding.fallbacks, 0);
        assert_eq!(transcript.verdict, Verdict::Speech);
    }
}
