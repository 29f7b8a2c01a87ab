//! `linguastream bench`: the clips of a manifest through the live pipeline, with latency,
//! resources and accuracy in one report.
//!
//! The clips are joined into one stream with pauses between them, so every model is loaded once
//! and the pipeline runs as it does in a meeting; each utterance is credited to the clip it
//! starts in.

mod markdown;
pub mod metrics;
mod report;
pub mod risk;
mod text;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub use report::BenchReport;
pub use text::{read_text_pairs, run_text, spread, TextPair, TextReport};

use crate::audio::capture::capture_file;
use crate::audio::{decode_file, Audio, DecodeError, STT_RATE};
use crate::live::{self, LiveEvent, LiveReport};
use crate::pipeline::{PipelineConfig, PipelineError};
use metrics::{corpus_bleu, corpus_chrf, ErrorRate};
use risk::{RiskCoverage, Scored};

/// Silence between clips: longer than any utterance-ending pause.
const GAP_S: f64 = 1.5;

/// One row of a manifest (`id, audio, fa_transcript, en_reference`, tab-separated).
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// Its line in the manifest, for messages.
    pub line: usize,
    pub id: String,
    pub audio: PathBuf,
    pub transcript: Option<String>,
    pub english: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot read manifest {path}: {reason}")]
    Manifest { path: String, reason: String },
    #[error("cannot read manifest {path}: {source}")]
    ManifestUnreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

/// A tab-separated manifest: the header's column names and the rows below it.
struct Table {
    path: PathBuf,
    header: Vec<String>,
    rows: Vec<Row>,
}

/// One non-empty row of a [`Table`].
struct Row {
    /// Its line in the file, for messages.
    line: usize,
    fields: Vec<String>,
}

impl Table {
    fn read(path: &Path) -> Result<Self, BenchError> {
        let table = Self { path: path.to_path_buf(), header: Vec::new(), rows: Vec::new() };
        let text = std::fs::read_to_string(path)
            .map_err(|source| BenchError::ManifestUnreadable { path: path.display().to_string(), source })?;
        let mut lines = text.lines();
        let header = lines.next().ok_or_else(|| table.error("it is empty".into()))?;
        let split = |line: &str| line.split('\t').map(str::to_string).collect::<Vec<_>>();
        let rows = (lines.enumerate().filter(|(_, l)| !l.trim().is_empty()))
            .map(|(n, l)| Row { line: n + 2, fields: split(l) })
            .collect();
        Ok(Self { header: split(header), rows, ..table })
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h.trim() == name)
    }

    fn error(&self, reason: String) -> BenchError {
        BenchError::Manifest { path: self.path.display().to_string(), reason }
    }
}

impl Row {
    /// The field in `column`, trimmed; `None` when the column or the field is missing or empty.
    fn field(&self, column: Option<usize>) -> Option<&str> {
        column.and_then(|i| self.fields.get(i)).map(|f| f.trim()).filter(|f| !f.is_empty())
    }

    /// The `id` field, else one made from the line number.
    fn id(&self, column: Option<usize>) -> String {
        self.field(column).map_or_else(|| format!("row{}", self.line), str::to_string)
    }
}

/// Reads a manifest; `audio` paths are relative to its folder unless absolute.
pub fn read_manifest(path: &Path) -> Result<Vec<Clip>, BenchError> {
    let table = Table::read(path)?;
    let audio = table.column("audio").ok_or_else(|| table.error("no `audio` column".into()))?;
    let (id, transcript, english) = (table.column("id"), table.column("fa_transcript"), table.column("en_reference"));
    let base = path.parent().unwrap_or(Path::new("."));
    let mut clips = Vec::new();
    for row in &table.rows {
        let Some(audio) = row.field(Some(audio)) else {
            continue;
        };
        let audio_path = base.join(audio);
        if !audio_path.is_file() {
            let line = row.line;
            return Err(table.error(format!("line {line}: the audio file {} does not exist", audio_path.display())));
        }
        clips.push(Clip {
            line: row.line,
            id: row.id(id),
            audio: audio_path,
            transcript: row.field(transcript).map(str::to_string),
            english: row.field(english).map(str::to_string),
        });
    }
    if clips.is_empty() {
        return Err(table.error("no rows with audio".into()));
    }
    Ok(clips)
}

/// Where each clip sits in the joined stream.
struct Span {
    start_s: f64,
    end_s: f64,
}

fn join(clips: &[Clip]) -> Result<(Audio, Vec<Span>), BenchError> {
    let gap = vec![0.0; (GAP_S * f64::from(STT_RATE)) as usize];
    let mut samples = gap.clone();
    let mut spans = Vec::new();
    for clip in clips {
        let audio = decode_file(&clip.audio, STT_RATE)?;
        let start_s = samples.len() as f64 / f64::from(STT_RATE);
        samples.extend(&audio.samples);
        spans.push(Span { start_s, end_s: samples.len() as f64 / f64::from(STT_RATE) });
        samples.extend(&gap);
    }
    Ok((Audio { samples, rate: STT_RATE }, spans))
}

/// Runs the clips through the pipeline: at real-time pace when `realtime`, else flat out.
pub fn run(clips: &[Clip], config: &PipelineConfig, realtime: bool) -> Result<BenchReport, BenchError> {
    let (audio, spans) = join(clips)?;
    let audio_s = spans.iter().map(|s| s.end_s - s.start_s).sum();
    let fed_s = audio.duration_s();
    let capture = capture_file(audio, Arc::new(AtomicBool::new(false)), realtime);
    let mut warnings = BTreeMap::new();
    let live = live::run(capture, Vec::new(), config, |event| {
        if let LiveEvent::Warning(warning) = event {
            *warnings.entry(warning.code().to_string()).or_insert(0) += 1;
        }
    })?;
    let accuracy = accuracy(clips, &spans, &live);
    Ok(BenchReport::new(clips, &accuracy, live, warnings, audio_s, fed_s, realtime))
}

/// What each clip's utterances said, compared with its references.
#[derive(Debug, Default)]
pub struct Accuracy {
    pub wer: ErrorRate,
    pub cer: ErrorRate,
    pub bleu: Option<f64>,
    pub chrf: Option<f64>,
    pub transcripts: Vec<(String, String, String)>,
    /// Confidence levels against each utterance's own errors.
    pub risk: Option<RiskCoverage>,
}

fn accuracy(clips: &[Clip], spans: &[Span], live: &LiveReport) -> Accuracy {
    let mut result = Accuracy::default();
    let (mut hypotheses, mut references) = (Vec::new(), Vec::new());
    let mut scored: Vec<Scored> = live
        .utterances
        .iter()
        .map(|u| Scored { level: u.confidence.level, score: u.confidence.score, cer: None, english: None })
        .collect();
    for (clip, span) in clips.iter().zip(spans) {
        let within = |u: &&crate::live::UtteranceReport| u.start_s >= span.start_s - 0.5 && u.start_s < span.end_s;
        let indices: Vec<usize> = (0..live.utterances.len()).filter(|&i| within(&&live.utterances[i])).collect();
        let inside: Vec<_> = indices.iter().map(|&i| &live.utterances[i]).collect();
        score_clip(clip, &indices, &inside, &mut scored);
        let source = inside.iter().map(|u| u.source_text.as_str()).collect::<Vec<_>>().join(" ");
        let english = inside.iter().map(|u| u.translated_text.as_str()).collect::<Vec<_>>().join(" ");
        if let Some(reference) = &clip.transcript {
            result.wer.add_words(reference, &source);
            result.cer.add_chars(reference, &source);
        }
        if let Some(reference) = &clip.english {
            hypotheses.push(english.clone());
            references.push(reference.clone());
        }
        result.transcripts.push((clip.id.clone(), source, english));
    }
    if !references.is_empty() {
        result.bleu = Some(corpus_bleu(&hypotheses, &references));
        result.chrf = Some(corpus_chrf(&hypotheses, &references));
    }
    result.risk = Some(RiskCoverage::new(&scored, &live.utterances));
    result
}

/// Each utterance of a clip charged with its own recognition errors; a clip read as one
/// utterance also lends it its English reference.
fn score_clip(clip: &Clip, indices: &[usize], inside: &[&crate::live::UtteranceReport], scored: &mut [Scored]) {
    if let Some(reference) = &clip.transcript {
        let pieces: Vec<&str> = inside.iter().map(|u| u.source_text.as_str()).collect();
        for (&i, charge) in indices.iter().zip(risk::charges(reference, &pieces)) {
            scored[i].cer = Some(charge);
        }
    }
    if let (Some(reference), [i], [u]) = (&clip.english, indices, inside) {
        scored[*i].english = Some((u.translated_text.clone(), reference.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_paths_are_relative_to_its_folder_and_references_optional() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.tsv");
        std::fs::create_dir(dir.path().join("clips")).unwrap();
        std::fs::write(dir.path().join("clips/a.wav"), "").unwrap();
        let b = dir.path().join("b.wav");
        std::fs::write(&b, "").unwrap();
        let text =
            format!("id\taudio\tfa_transcript\ten_reference\na\tclips/a.wav\tسلام\t\nb\t{}\t\thello\n\n", b.display());
        std::fs::write(&path, text).unwrap();
        let clips = read_manifest(&path).unwrap();
        assert_eq!(clips.len(), 2);
        assert_eq!(clips[0].audio, dir.path().join("clips/a.wav"));
        assert_eq!((clips[0].transcript.as_deref(), clips[0].english.as_deref()), (Some("سلام"), None));
        assert_eq!(clips[1].audio, b);
        assert_eq!((clips[1].transcript.as_deref(), clips[1].english.as_deref()), (None, Some("hello")));
        assert_eq!((clips[0].line, clips[1].line), (2, 3));
    }

    #[test]
    fn a_missing_audio_file_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.tsv");
        std::fs::write(&path, "id\taudio\n\nx\tgone.wav\n").unwrap();
        let err = read_manifest(&path).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("gone.wav does not exist"), "{err}");
    }
}
