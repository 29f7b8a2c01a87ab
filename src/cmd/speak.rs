//! `linguastream speak`: text-to-speech alone.

use std::process::ExitCode;

use anyhow::{bail, Result};
use linguastream_core::audio::{resample, write_wav, Audio};
use linguastream_core::runtime::Runtime;
use linguastream_core::tts::{PiperSynthesizer, Synthesizer};

use super::check_outputs;
use crate::cli::SpeakArgs;

pub fn run(args: SpeakArgs) -> Result<ExitCode> {
    if args.text.trim().is_empty() {
        bail!("nothing to speak: the text is empty");
    }
    check_outputs(None, &[("the speech (-o)", &args.output)])?;
    let runtime = Runtime::open()?;
    let mut voice = PiperSynthesizer::new(runtime.voice()?);
    let mut samples = Vec::new();
    voice.synthesize(&args.text, 1.0, &mut |sentence| samples.extend_from_slice(sentence))?;
    if samples.is_empty() {
        bail!("the text has nothing speakable in it");
    }
    let audio = Audio { samples, rate: voice.sample_rate() };
    let audio = resample(&audio, args.rate.unwrap_or(audio.rate));
    write_wav(&args.output, &audio)?;
    eprintln!("wrote {} ({:.1} s at {} Hz)", args.output.display(), audio.duration_s(), audio.rate);
    Ok(ExitCode::SUCCESS)
}
