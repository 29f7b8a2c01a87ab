//! Both sides of a call on one small machine, the user's first.
//!
//! When the other side of a call is captioned too (`live --call-input`), two pipelines share the
//! CPU. The user's lane marks itself working while it recognises, translates and speaks; the
//! other side's lane waits, before each recognition and translation, until the user's has
//! nothing in hand, so the English the call hears is not slowed by the other side talking. It
//! waits at most [`MAX_WAIT`] a step: a user who never pauses still lets the captions through.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::mt::{MtError, SourceSegment, Translator};
use crate::stt::{DirectContext, DirectTranslation, Recognizer, SttError, Task, Transcript};
use crate::tts::{Synthesizer, TtsError};

/// The longest the other side's step waits for the user's lane.
pub const MAX_WAIT: Duration = Duration::from_secs(3);

/// Which side of the call a session serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lane {
    /// The user's own speech: never waits.
    #[default]
    User,
    /// The other side: yields to the user's lane.
    OtherSide,
}

/// How many steps of the user's lane are under way, shared by every session of a runtime.
#[derive(Debug, Default)]
pub struct LaneGate {
    working: Mutex<usize>,
    idle: Condvar,
}

impl LaneGate {
    /// Marks the user's lane working until the guard is dropped.
    pub fn working(self: &Arc<Self>) -> Working {
        *self.working.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        Working(self.clone())
    }

    /// Waits until the user's lane has nothing in hand, or `at_most`; true if it became idle.
    pub fn wait_idle(&self, at_most: Duration) -> bool {
        let deadline = Instant::now() + at_most;
        let mut working = self.working.lock().unwrap_or_else(PoisonError::into_inner);
        while *working > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            working = self.idle.wait_timeout(working, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        true
    }
}

/// A step of the user's lane under way.
pub struct Working(Arc<LaneGate>);

impl Drop for Working {
    fn drop(&mut self) {
        let mut working = self.0.working.lock().unwrap_or_else(PoisonError::into_inner);
        *working = working.saturating_sub(1);
        if *working == 0 {
            self.0.idle.notify_all();
        }
    }
}

/// A stage engine of the user's lane (marks it working) or of the other side's (waits first).
pub struct InLane<T: ?Sized> {
    lane: Lane,
    gate: Arc<LaneGate>,
    inner: Box<T>,
}

impl<T: ?Sized> InLane<T> {
    pub fn new(lane: Lane, gate: Arc<LaneGate>, inner: Box<T>) -> Self {
        Self { lane, gate, inner }
    }

    /// Before a step: the user's lane is marked working for as long as the guard lives; the
    /// other side's waits for it first.
    fn step(&self) -> Option<Working> {
        match self.lane {
            Lane::User => Some(self.gate.working()),
            Lane::OtherSide => {
                self.gate.wait_idle(MAX_WAIT);
                None
            }
        }
    }
}

impl Recognizer for InLane<dyn Recognizer> {
    fn transcribe(
        &mut self,
        samples: &[f32],
        vad_probability: Option<f32>,
        task: Task,
    ) -> Result<Transcript, SttError> {
        let _step = self.step();
        self.inner.transcribe(samples, vad_probability, task)
    }

    fn direct(&mut self) -> Option<&mut dyn DirectTranslation> {
        if self.inner.direct().is_some() {
            Some(self)
        } else {
            None
        }
    }
}

impl DirectTranslation for InLane<dyn Recognizer> {
    fn transcribe_encoded(
        &mut self,
        context: &DirectContext,
        samples: &[f32],
        vad_probability: Option<f32>,
        task: Task,
    ) -> Result<Transcript, SttError> {
        let _step = self.step();
        let direct = self.inner.direct().expect("direct() answered for this recognizer");
        direct.transcribe_encoded(context, samples, vad_probability, task)
    }

    fn translate_after(
        &mut self,
        samples: &[f32],
        vad_probability: Option<f32>,
        spoken: &[String],
        first_pass_only: bool,
    ) -> Result<Transcript, SttError> {
        let _step = self.step();
        let direct = self.inner.direct().expect("direct() answered for this recognizer");
        direct.translate_after(samples, vad_probability, spoken, first_pass_only)
    }
}

impl Translator for InLane<dyn Translator> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn translate(&mut self, source: SourceSegment<'_>) -> Result<String, MtError> {
        let _step = self.step();
        self.inner.translate(source)
    }
}

impl Synthesizer for InLane<dyn Synthesizer> {
    fn sample_rate(&self) -> u32 {
        self.inner.sample_rate()
    }

    fn synthesize(&mut self, text: &str, speed: f32, on_sentence: &mut dyn FnMut(&[f32])) -> Result<(), TtsError> {
        let _step = self.step();
        self.inner.synthesize(text, speed, on_sentence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_other_side_waits_while_the_user_is_working_and_goes_on_when_done() {
        let gate = Arc::new(LaneGate::default());
        assert!(gate.wait_idle(Duration::ZERO), "idle at first");
        let working = gate.working();
        assert!(!gate.wait_idle(Duration::from_millis(20)), "the user is working");
        let waiter = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.wait_idle(Duration::from_secs(30)))
        };
        std::thread::sleep(Duration::from_millis(20));
        drop(working);
        assert!(waiter.join().unwrap(), "woken when the user's step ended");
    }

    /// Records, for each call, whether the user's lane was marked working when it ran.
    struct Probe {
        gate: Arc<LaneGate>,
        saw_working: Arc<Mutex<Vec<bool>>>,
    }

    impl Translator for Probe {
        fn name(&self) -> &str {
            "probe"
        }
        fn translate(&mut self, source: SourceSegment<'_>) -> Result<String, MtError> {
            self.saw_working.lock().unwrap().push(!self.gate.wait_idle(Duration::ZERO));
            Ok(source.text.to_string())
        }
    }

    #[test]
    fn a_user_step_marks_the_lane_working_and_an_other_side_step_never_does() {
        let gate = Arc::new(LaneGate::default());
        let saw_working = Arc::new(Mutex::new(Vec::new()));
        let probe = || Box::new(Probe { gate: gate.clone(), saw_working: saw_working.clone() }) as Box<dyn Translator>;
        let text = SourceSegment { text: "hi", audio: &[] };
        InLane::new(Lane::User, gate.clone(), probe()).translate(text).unwrap();
        InLane::new(Lane::OtherSide, gate.clone(), probe()).translate(text).unwrap();
        assert_eq!(*saw_working.lock().unwrap(), [true, false]);
        assert!(gate.wait_idle(Duration::ZERO), "nothing left marked");
    }
}
