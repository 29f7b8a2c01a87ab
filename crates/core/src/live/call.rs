//! The other side of a call, as `live --call-input` and the desktop part of `serve` both hear it:
//! what the computer plays, recognised as English and translated into the user's language in the
//! lane that yields to the user's own speech, captioned and never spoken.

use super::desktop::{microphone_source, InputError};
use crate::audio::pulse::PulseServer;
use crate::lanes::Lane;
use crate::mt::MtChoice;
use crate::pipeline::{Ahead, Pace, PipelineConfig};
use crate::runtime::{ModelNames, Runtime, RuntimeError, SessionOptions};

/// The language the other side of a call speaks: the one the user's speech is translated into.
pub const CALL_LANGUAGE: &str = "en";

/// The input `wanted` names for the other side: `default`, the monitor of the default output
/// (where call apps play), or a source's name or description. Checked as the microphone is (see
/// [`microphone_source`]), so LinguaStream's own English (the virtual microphone, or the
/// `speakers` it also plays on) is refused.
pub fn call_source(server: &mut PulseServer, wanted: &str, speakers: Option<&str>) -> Result<String, InputError> {
    let wanted = match wanted {
        "default" => format!("{}.monitor", server.defaults()?.sink),
        name => name.to_string(),
    };
    microphone_source(server, Some(&wanted), speakers)
}

/// The other side's session, from the user's: English forced on recognition, translated into
/// the language the user speaks with `mt`, in the lane that yields to the user's.
pub fn call_side_options(user: &SessionOptions, mt: MtChoice) -> SessionOptions {
    let mut options = user.clone();
    options.recognition.language = CALL_LANGUAGE.into();
    options.target = user.recognition.language.clone();
    options.mt = mt;
    options.lane = Lane::OtherSide;
    // Captions of the other side come when its utterance is over: nothing is said ahead.
    options.pace = Pace::RealTime(Ahead::default());
    options
}

/// The other side's pipeline, set up for [`call_side_options`].
pub struct CallSide {
    pub config: PipelineConfig,
    pub names: ModelNames,
    /// Why its speech is captioned in English alone, when `auto` found no engine to translate it.
    pub untranslated: Option<RuntimeError>,
}

/// Resolves the other side's models. With `auto` and no engine installed for English into the
/// user's language, the other side is captioned in English alone rather than refused.
pub fn call_side_config(runtime: &Runtime, options: &SessionOptions) -> Result<CallSide, RuntimeError> {
    match runtime.pipeline_config(options) {
        Err(e @ RuntimeError::NoModelForPair(_)) if options.mt == MtChoice::Auto => {
            let options = SessionOptions { mt: MtChoice::None, ..options.clone() };
            let (config, names) = runtime.pipeline_config(&options)?;
            Ok(CallSide { config, names, untranslated: Some(e) })
        }
        configured => configured.map(|(config, names)| CallSide { config, names, untranslated: None }),
    }
}
