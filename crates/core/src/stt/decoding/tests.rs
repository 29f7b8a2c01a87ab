use super::*;

fn attempt(strategy: Strategy, text: &str, tokens: usize, avg_logprob: f32, elapsed_ms: u64) -> Attempt {
    let decoded = Decoded { tokens: (0..tokens).map(|i| format!("t{i}")).collect(), avg_logprob, no_speech_prob: 0.1 };
    let mut a = Attempt::new(
        strategy,
        decoded,
        Duration::from_millis(elapsed_ms),
        1000,
        TokenLimits::new(2.0, Task::Transcribe),
    );
    a.text = text.to_string();
    a.compression_ratio = compression_ratio(text);
    a
}

#[test]
fn loops_compress_well_and_speech_does_not() {
    assert!(compression_ratio(&"باید ".repeat(30)) > COMPRESSION_RATIO_LIMIT);
    assert!(compression_ratio("همه‌جا سفید بود؛ یکدست و صاف از اولین برفِ پاییزی") < 1.6);
}

#[test]
fn a_good_greedy_result_runs_no_fallback() {
    let mut passes = Vec::new();
    let mut run = |s: Strategy, _max: usize| {
        passes.push(s);
        Ok(Some(attempt(s, "سلام دنیا", 6, -1.5, 50)))
    };
    let far = Budget { tokens: 1000.0, wall: Some(Duration::from_secs(60)) };
    let outcome = decode_with_fallback(&mut run, 2.0, Task::Transcribe, Script::Arabic, far).unwrap();
    assert_eq!(outcome.attempts.len(), 1, "low confidence alone is not degenerate");
    assert!(!outcome.budget_exhausted);
}

#[test]
fn a_loop_falls_back_until_a_pass_is_clean_and_the_clean_one_is_chosen() {
    let looping = "باید ".repeat(30);
    let mut run = |s: Strategy, _max: usize| {
        Ok(Some(match s {
            Strategy::Sample { .. } => attempt(s, "سلام دنیا", 6, -0.9, 50),
            _ => attempt(s, &looping, 30, -0.2, 50),
        }))
    };
    let far = Budget { tokens: 1000.0, wall: Some(Duration::from_secs(60)) };
    let outcome = decode_with_fallback(&mut run, 2.0, Task::Transcribe, Script::Arabic, far).unwrap();
    assert_eq!(outcome.attempts.len(), 5);
    assert_eq!(choose(&outcome, 2.0, Script::Arabic).text, "سلام دنیا");
}

#[test]
fn when_every_pass_loops_the_longest_text_before_a_loop_is_kept() {
    let looping = |strategy: Strategy, said: &str, loop_unit: &str| {
        let mut a = attempt(strategy, "", 0, -0.3, 50);
        a.tokens = said.split(' ').chain(std::iter::repeat_n(loop_unit, 9)).map(String::from).collect();
        a.text = text_of(&a.tokens);
        a
    };
    let outcome = Outcome {
        attempts: vec![
            looping(Strategy::Beam(2), "ی", "ک"),
            looping(Strategy::GreedyNoTimestamps, "ی ک د و", "س"),
            looping(Strategy::Beam(5), "o n e", "x"),
        ],
        budget_exhausted: false,
        spent: 0.0,
        started: Instant::now(),
    };
    let (attempt, tokens) = cut_at_loop(&outcome, Script::Arabic).unwrap();
    assert_eq!((attempt.strategy, tokens.join(" ").as_str()), (Strategy::GreedyNoTimestamps, "ی ک د و س"));
    assert_eq!(cut_at_loop(&outcome, Script::Any).unwrap().1.len(), 5, "the longest, whatever its script");
}

#[test]
fn a_pass_that_does_not_fit_the_budget_is_not_started() {
    let looping = "باید ".repeat(30);
    let mut passes = 0;
    let mut run = |s: Strategy, _max: usize| {
        passes += 1;
        Ok(Some(attempt(s, &looping, 30, -0.2, 100)))
    };
    // Greedy spent 30 of 40 token-equivalents: no fallback can say what 2 s of audio holds.
    let budget = Budget { tokens: 40.0, wall: Some(Duration::from_secs(60)) };
    let outcome = decode_with_fallback(&mut run, 2.0, Task::Transcribe, Script::Arabic, budget).unwrap();
    assert_eq!(passes, 1);
    assert!(outcome.budget_exhausted);
}

#[test]
fn the_clock_stops_fallbacks_when_the_machine_cannot_keep_up() {
    let looping = "باید ".repeat(30);
    let mut passes = 0;
    let mut run = |s: Strategy, _max: usize| {
        passes += 1;
        Ok(Some(attempt(s, &looping, 30, -0.2, 100)))
    };
    let budget = Budget { tokens: 1000.0, wall: Some(Duration::ZERO) };
    let outcome = decode_with_fallback(&mut run, 2.0, Task::Transcribe, Script::Arabic, budget).unwrap();
    assert_eq!(passes, 1);
    assert!(outcome.budget_exhausted);
}

#[test]
fn persian_written_in_latin_letters_is_retried_and_the_persian_pass_chosen() {
    let mut passes = Vec::new();
    let mut run = |s: Strategy, _max: usize| {
        passes.push(s);
        Ok(Some(match s {
            Strategy::Beam(5) => attempt(s, "اونا حواس شمارو پرت نمی‌کنن", 12, -0.9, 50),
            _ => attempt(s, "اونا voice shomaru پرت نمی‌کنن", 12, -0.6, 50),
        }))
    };
    let far = Budget { tokens: 1000.0, wall: None };
    let outcome = decode_with_fallback(&mut run, 4.0, Task::Transcribe, Script::Arabic, far).unwrap();
    assert_eq!(passes.last(), Some(&Strategy::Beam(5)), "{passes:?}");
    assert_eq!(choose(&outcome, 4.0, Script::Arabic).text, "اونا حواس شمارو پرت نمی‌کنن");
}

#[test]
fn speech_every_deterministic_pass_writes_in_latin_letters_is_not_sampled() {
    let mut passes = Vec::new();
    let mut run = |s: Strategy, _max: usize| {
        passes.push(s);
        Ok(Some(attempt(s, "see you on Zoom tomorrow", 8, -0.5, 50)))
    };
    let far = Budget { tokens: 1000.0, wall: None };
    let outcome = decode_with_fallback(&mut run, 4.0, Task::Transcribe, Script::Arabic, far).unwrap();
    assert!(!passes.iter().any(|s| matches!(s, Strategy::Sample { .. })), "{passes:?}");
    assert_eq!(choose(&outcome, 4.0, Script::Arabic).text, "see you on Zoom tomorrow");
    assert!(!Script::Arabic.fits("ïk tú") && Script::Arabic.fits("ساعت ۳") && Script::Any.fits("ïk tú"));
}

#[test]
fn a_looping_translation_first_tries_a_pass_that_cannot_repeat_itself() {
    let looping = "I was a teacher, ".repeat(10);
    let mut passes = Vec::new();
    let mut run = |s: Strategy, _max: usize| {
        passes.push(s);
        Ok(Some(match s {
            Strategy::GreedyNoRepeat(_) => attempt(s, "I was a teacher, then a student", 8, -1.3, 50),
            _ => attempt(s, &looping, 40, -0.4, 50),
        }))
    };
    let far = Budget { tokens: 1000.0, wall: None };
    let outcome = decode_with_fallback(&mut run, 6.0, Task::Translate, Script::Latin, far).unwrap();
    assert_eq!(passes, [Strategy::Greedy, Strategy::GreedyNoRepeat(NO_REPEAT_ENGLISH)]);
    assert_eq!(choose(&outcome, 6.0, Script::Latin).text, "I was a teacher, then a student");
    assert!(!fallbacks(Task::Transcribe).iter().any(|s| matches!(s, Strategy::GreedyNoRepeat(_))));
}
