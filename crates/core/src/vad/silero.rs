//! Silero VAD v6 through ONNX Runtime.

use std::path::Path;

use ort::session::Session;
use ort::value::Tensor;

use super::{SpeechDetector, FRAME};
use crate::onnx::{self, OnnxError};

/// Samples of the previous frame Silero v5+ expects in front of each frame.
const CONTEXT: usize = 64;
const STATE_LEN: usize = 2 * 128;

/// Why voice-activity detection failed.
#[derive(Debug, thiserror::Error)]
pub enum VadError {
    #[error(transparent)]
    Load(#[from] OnnxError),
    #[error("Silero VAD inference failed: {0}")]
    Inference(#[from] ort::Error),
}

/// The Silero voice-activity model, keeping its recurrent state between frames.
pub struct SileroVad {
    session: Session,
    state: Vec<f32>,
    context: Vec<f32>,
}

impl SileroVad {
    pub fn try_new(onnx_runtime: &Path, model: &Path) -> Result<Self, VadError> {
        let session = onnx::session(onnx_runtime, model, 1)?;
        Ok(Self { session, state: vec![0.0; STATE_LEN], context: vec![0.0; CONTEXT] })
    }
}

impl SpeechDetector for SileroVad {
    fn speech_probability(&mut self, frame: &[f32]) -> Result<f32, VadError> {
        debug_assert_eq!(frame.len(), FRAME);
        let mut input = Vec::with_capacity(CONTEXT + FRAME);
        input.extend_from_slice(&self.context);
        input.extend_from_slice(frame);
        let inputs = ort::inputs! {
            "input" => Tensor::from_array(([1usize, CONTEXT + FRAME], input))?,
            "state" => Tensor::from_array(([2usize, 1, 128], self.state.clone()))?,
            "sr" => Tensor::from_array(([1usize], vec![16_000i64]))?,
        };
        let outputs = self.session.run(inputs)?;
        let (_, probability) = outputs["output"].try_extract_tensor::<f32>()?;
        let probability = probability[0];
        let (_, state) = outputs["stateN"].try_extract_tensor::<f32>()?;
        self.state.copy_from_slice(state);
        self.context.copy_from_slice(&frame[FRAME - CONTEXT..]);
        Ok(probability)
    }

    fn reset(&mut self) {
        self.state.fill(0.0);
        self.context.fill(0.0);
    }
}
