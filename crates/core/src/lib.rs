//! LinguaStream's pipeline as a library: offline speech-to-speech translation (Persian → English
//! by default). Synchronous threads and channels, no async runtime: the `linguastream` command and
//! the server (`linguastream-server`) are front ends over it.
//!
//! The modules follow the pipeline, in order:
//! [`audio`] (decode, resample, write) → [`vad`] (Silero, utterances) → [`stt`] (Whisper) →
//! [`mt`] (translation engines + cache) → [`tts`] (Piper voices) → [`output`] (timeline, captions).
//! [`pipeline`] wires the stages together with bounded channels; [`runtime`] builds each stage's
//! engine from the installed models, loading the heavy ones once per process; [`models`]
//! installs and verifies the weights every stage loads, [`onnx`] and [`ct2`] the inference
//! libraries among them; [`live`] runs the pipeline on a microphone into audio sinks (the
//! virtual microphone) and measures its latency; [`bench`] reports latency, resources and
//! accuracy on a manifest of clips; [`confidence`] says how far each utterance's English can be
//! trusted, and [`mt::echo`] removes English that repeats itself; [`lanes`] lets the other side
//! of a call yield the CPU to the user's speech. [`outfile`] writes every output file whole or not at all.

pub mod audio;
pub mod bench;
pub mod confidence;
pub mod ct2;
pub mod lanes;
pub mod live;
pub mod memory;
pub mod models;
pub mod mt;
pub mod onnx;
pub mod outfile;
pub mod output;
pub mod pipeline;
pub mod runtime;
pub mod stt;
pub mod text;
pub mod tts;
pub mod vad;
