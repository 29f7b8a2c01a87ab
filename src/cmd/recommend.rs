//! `linguastream models recommend`: every installed Whisper size with every usable translation
//! engine on the bundled clip, each in its own process (so memory is its own), then the table
//! and the most accurate combination that keeps the latency target.

use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use linguastream_core::live::Quantiles;
use linguastream_core::models::choice::{FIRST_AUDIO_MS, MEASURED_FILE, TARGET_E2E_MS};
use linguastream_core::models::ModelStore;

/// One combination, as measured.
#[derive(Debug, Clone)]
pub struct Row {
    pub whisper: String,
    pub mt: String,
    /// The translation model the engine ran (none for `direct`).
    pub mt_model: Option<String>,
    pub stt_ms: f64,
    pub mt_ms: f64,
    pub rtf: f64,
    /// Recognition and translation time over the audio's length, loading left out: below 1,
    /// the combination keeps up with continuous speech once loaded.
    pub processing_rtf: f64,
    pub peak_rss_mb: f64,
    pub english: String,
    /// Higher is more accurate, from the measurements quoted in `accuracy`.
    pub rank: u32,
    pub accuracy: &'static str,
}

impl Row {
    fn latency_ms(&self) -> f64 {
        self.stt_ms + self.mt_ms
    }
}

/// Accuracy of each part where it was measured, here or upstream (README "How well it works").
fn whisper_accuracy(size: &str) -> (u32, &'static str) {
    match size {
        "tiny" => (0, "Persian CER worse than base (smaller model)"),
        "base" => (1, "Persian CER 0.39 read, 0.32 colloquial (README)"),
        "small" => (2, "Persian WER ≈ 0.35–0.37 fine-tuned (upstream reports)"),
        "medium" | "large-v3-turbo" => (3, "better than small (upstream)"),
        "large-v3" => (4, "FLEURS fa WER 0.29 (upstream)"),
        _ => (1, "not measured"),
    }
}

fn mt_accuracy(engine: &str) -> (u32, &'static str) {
    match engine {
        "firefox" => (3, "FLORES fa→en BLEU 32.0 (Mozilla)"),
        // Not better than direct on speech here (README), and slower.
        "llm" => (1, "Gemma 3 270M: BLEU 9.9 / 13.0 on TICO-19 / Tatoeba text (README)"),
        "nllb" => (2, "NLLB-200: FLORES fa→en BLEU ≈ 29–33 (upstream reports; not measured here)"),
        _ => (1, "Whisper's own translation: fluent, often invented English (README)"),
    }
}

/// Ten Persian digits from the PSDR set (samples/README.md), carried in the binary so the
/// command works wherever it is installed.
const BUNDLED_CLIP: &[u8] = include_bytes!("../../samples/fa-digits-fateme.wav");

pub fn run(store: &ModelStore, clip: Option<&Path>) -> Result<ExitCode> {
    match clip {
        Some(clip) if !clip.is_file() => bail!("{} does not exist", clip.display()),
        Some(clip) => measure_all(store, clip),
        None => {
            let mut bundled =
                tempfile::Builder::new().suffix(".wav").tempfile().context("creating a temporary file")?;
            bundled.write_all(BUNDLED_CLIP).context("writing the bundled clip")?;
            measure_all(store, bundled.path())
        }
    }
}

fn measure_all(store: &ModelStore, clip: &Path) -> Result<ExitCode> {
    let whispers: Vec<String> = store
        .manifest()
        .models
        .iter()
        .filter(|m| m.role == "stt" && store.require(&m.id).is_ok())
        .filter_map(|m| m.id.strip_prefix("whisper-").map(str::to_string))
        .collect();
    if whispers.is_empty() {
        bail!("no Whisper model is installed; run `linguastream models fetch`");
    }
    let installed = |role: &str| store.manifest().models.iter().any(|m| m.role == role && store.require(&m.id).is_ok());
    let mut engines = vec!["direct".to_string()];
    // The engine of each text-model role is named after the role.
    for role in ["llm", "nllb"].into_iter().filter(|role| installed(role)) {
        engines.push(role.into());
    }
    if store.manifest().translation_model("fa", "en").is_some_and(|m| store.require(&m.id).is_ok()) {
        engines.push("firefox".into());
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!(
        "timing {} Whisper size(s) × {} translation engine(s) on {} (a machine of {cpus} CPUs)…",
        whispers.len(),
        engines.len(),
        clip.display()
    );
    let mut rows = Vec::new();
    for whisper in &whispers {
        for engine in &engines {
            match measure(clip, whisper, engine) {
                Ok(row) => rows.push(row),
                Err(e) => eprintln!("  {whisper} + {engine}: {}", super::one_line(&e)),
            }
        }
    }
    print_table(&rows);
    if let Err(e) = save_measurements(store, &rows) {
        eprintln!("warning: the measurements are not kept for `models list`: {}", super::one_line(&e));
    }
    match recommend(&rows) {
        Some((best, meets_target)) => {
            let why = if meets_target {
                format!("the most accurate combination within the {TARGET_E2E_MS:.0} ms latency target")
            } else {
                format!(
                    "nothing here keeps the {TARGET_E2E_MS:.0} ms target (recognition + translation would need ≤ {:.0} ms); this is the most accurate combination that keeps up with speech",
                    TARGET_E2E_MS - FIRST_AUDIO_MS
                )
            };
            println!("\nrecommended: --whisper {} --mt {} ({why})", best.whisper, best.mt);
        }
        None => println!("\nno combination keeps up with speech on this machine"),
    }
    let missing: Vec<&str> =
        ["whisper-small", "firefox-faen"].into_iter().filter(|id| store.require(id).is_err()).collect();
    if !missing.is_empty() {
        println!(
            "not installed (`linguastream models fetch ID`, or `models fetch --best` for what suits this machine): {}",
            missing.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Whisper sizes from least to most accurate on Persian.
const SIZES: [&str; 6] = ["tiny", "base", "small", "medium", "large-v3-turbo", "large-v3"];

/// A one-line hint when a clearly more accurate Whisper than `chosen` is installed.
pub fn hint(store: &ModelStore, chosen: &str) -> Option<String> {
    let rank = SIZES.iter().position(|s| *s == chosen)?;
    let better = SIZES[rank + 1..].iter().rev().find(|size| store.require(&format!("whisper-{size}")).is_ok())?;
    Some(format!(
        "whisper-{better} is installed and recognises Persian better than {chosen} (`--whisper {better}`; `models recommend` times them here)"
    ))
}

/// Runs `translate` on the clip in a child process; its JSON report gives the stage times.
fn measure(clip: &Path, whisper: &str, engine: &str) -> Result<Row> {
    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    let report_path = dir.path().join("report.json");
    let started = Instant::now();
    let child = Command::new(std::env::current_exe()?)
        .args(["translate", "--quiet", "--whisper", whisper, "--mt", engine, "--json"])
        .arg(&report_path)
        .arg("-o")
        .arg(dir.path().join("out.wav"))
        .arg(clip)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting translate")?;
    let (status, peak_rss_mb, stderr) = wait_with_peak_rss(child)?;
    let elapsed_s = started.elapsed().as_secs_f64();
    if !status {
        bail!("translate failed: {}", stderr.lines().last().unwrap_or(""));
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap_or_default()).unwrap_or_default();
    let segments = report["segments"].as_array().cloned().unwrap_or_default();
    if segments.is_empty() {
        bail!("no utterance was translated");
    }
    let median = |stage: &str| {
        let values: Vec<f64> = segments.iter().filter_map(|s| s["timings_ms"][stage].as_f64()).collect();
        Quantiles::of(&values).p50
    };
    let duration_s = report["input"]["duration_s"].as_f64().unwrap_or(1.0);
    let working_s: f64 = segments
        .iter()
        .flat_map(|s| ["stt", "mt"].map(|stage| s["timings_ms"][stage].as_f64().unwrap_or(0.0)))
        .sum::<f64>()
        / 1000.0;
    let english: Vec<&str> = segments.iter().filter_map(|s| s["translated_text"].as_str()).collect();
    let (whisper_rank, whisper_note) = whisper_accuracy(whisper);
    let (mt_rank, mt_note) = mt_accuracy(engine);
    // Reports name the engine as "firefox (firefox-faen)".
    let mt_model = report["model"]["mt"]
        .as_str()
        .and_then(|name| name.split_once(" (")?.1.strip_suffix(')').map(str::to_string))
        .filter(|_| engine != "direct");
    Ok(Row {
        whisper: whisper.into(),
        mt: engine.into(),
        mt_model,
        stt_ms: median("stt"),
        mt_ms: median("mt"),
        rtf: elapsed_s / duration_s,
        processing_rtf: working_s / duration_s,
        peak_rss_mb,
        english: english.join(" "),
        rank: whisper_rank * 10 + mt_rank,
        accuracy: if mt_rank > 1 { mt_note } else { whisper_note },
    })
}

/// Waits for the child and reads its own peak resident memory from the kernel.
fn wait_with_peak_rss(mut child: std::process::Child) -> Result<(bool, f64, String)> {
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: wait4 writes only into the status and rusage we pass; the child is ours.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::wait4(pid, &mut status, 0, &mut usage) < 0 {
            bail!("waiting for translate: {}", std::io::Error::last_os_error());
        }
        usage
    };
    let success = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    Ok((success, usage.ru_maxrss as f64 / 1024.0, stderr))
}

fn print_table(rows: &[Row]) {
    println!(
        "\n{:<15} {:<8} {:>9} {:>8} {:>9} {:>6} {:>9}  accuracy (where measured)",
        "whisper", "mt", "stt ms", "mt ms", "stt+mt", "RTF", "RSS MB"
    );
    for r in rows {
        println!(
            "{:<15} {:<8} {:>9.0} {:>8.0} {:>9.0} {:>6.2} {:>9.0}  {}",
            r.whisper,
            r.mt,
            r.stt_ms,
            r.mt_ms,
            r.latency_ms(),
            r.rtf,
            r.peak_rss_mb,
            r.accuracy
        );
    }
    println!("(median per utterance; RTF = whole run incl. loading ÷ audio length; RSS = the run's peak)");
    for r in rows {
        println!("  {} + {}: \"{}\"", r.whisper, r.mt, r.english);
    }
}

/// The most accurate row within the latency budget; else the most accurate that keeps up with
/// speech once loaded (recognition and translation faster than the audio). The flag says whether the budget was met.
pub fn recommend(rows: &[Row]) -> Option<(&Row, bool)> {
    let budget = TARGET_E2E_MS - FIRST_AUDIO_MS;
    if let Some(row) = most_accurate(rows.iter().filter(|r| r.latency_ms() <= budget)) {
        return Some((row, true));
    }
    most_accurate(rows.iter().filter(|r| r.processing_rtf < 1.0)).map(|row| (row, false))
}

/// Highest rank; among equals, the faster.
fn most_accurate<'a>(rows: impl Iterator<Item = &'a Row>) -> Option<&'a Row> {
    rows.max_by(|a, b| a.rank.cmp(&b.rank).then(b.latency_ms().total_cmp(&a.latency_ms())))
}

fn save_measurements(store: &ModelStore, rows: &[Row]) -> Result<()> {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "whisper": format!("whisper-{}", r.whisper), "mt": r.mt, "mt_model": r.mt_model,
                "stt_ms": r.stt_ms, "mt_ms": r.mt_ms, "rtf": r.rtf, "peak_rss_mb": r.peak_rss_mb,
            })
        })
        .collect();
    let path = store.root().join(MEASURED_FILE);
    std::fs::create_dir_all(store.root()).with_context(|| format!("creating {}", store.root().display()))?;
    let text = serde_json::to_string_pretty(&serde_json::json!({ "rows": rows }))?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// The rows the last `models recommend` kept (none if it never ran or its file is unreadable).
pub fn load_measurements(store: &ModelStore) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(store.root().join(MEASURED_FILE)).unwrap_or_default();
    let measured: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    measured["rows"].as_array().cloned().unwrap_or_default()
}

/// What `measurements` say of model `id` on this machine, as one line: as a Whisper its
/// recognition time, else as a translation model its translation time; from its fastest run.
pub fn measured_line(measurements: &[serde_json::Value], id: &str) -> Option<String> {
    let number = |row: &serde_json::Value, key: &str| row[key].as_f64().unwrap_or(f64::NAN);
    let fastest = |key: &str| {
        measurements.iter().filter(|r| r[key] == id).min_by(|a, b| number(a, "rtf").total_cmp(&number(b, "rtf")))
    };
    let text = |row: &serde_json::Value, key: &str| row[key].as_str().unwrap_or("?").to_string();
    let (row, stage, ms, with) = match fastest("whisper") {
        Some(row) => (row, "recognition", "stt_ms", format!("--mt {}", text(row, "mt"))),
        None => {
            let row = fastest("mt_model")?;
            (row, "translation", "mt_ms", format!("--whisper {}", text(row, "whisper").trim_start_matches("whisper-")))
        }
    };
    Some(format!(
        "measured here: {stage} {:.0} ms per utterance, RTF {:.2}, {:.0} MB with {with}",
        number(row, ms),
        number(row, "rtf"),
        number(row, "peak_rss_mb"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(whisper: &str, mt: &str, stt_ms: f64, mt_ms: f64, rtf: f64) -> Row {
        let rank = whisper_accuracy(whisper).0 * 10 + mt_accuracy(mt).0;
        Row {
            whisper: whisper.into(),
            mt: mt.into(),
            mt_model: None,
            stt_ms,
            mt_ms,
            rtf,
            processing_rtf: rtf,
            peak_rss_mb: 300.0,
            english: String::new(),
            rank,
            accuracy: "",
        }
    }

    #[test]
    fn the_most_accurate_combination_within_the_budget_wins() {
        let rows = vec![
            row("base", "direct", 300.0, 90.0, 0.3),
            row("base", "firefox", 300.0, 500.0, 0.4),
            row("small", "direct", 350.0, 40.0, 0.5),
        ];
        let (best, met) = recommend(&rows).unwrap();
        assert!(met);
        assert_eq!((best.whisper.as_str(), best.mt.as_str()), ("small", "direct"));
    }

    #[test]
    fn without_a_combination_in_budget_the_most_accurate_that_keeps_up_is_chosen() {
        let rows = vec![
            row("base", "direct", 500.0, 300.0, 0.5),
            row("base", "firefox", 500.0, 700.0, 0.7),
            row("large-v3", "firefox", 3000.0, 700.0, 1.6),
        ];
        let (best, met) = recommend(&rows).unwrap();
        assert!(!met);
        assert_eq!(best.mt, "firefox");
        assert!(recommend(&[row("large-v3", "direct", 3000.0, 2000.0, 2.0)]).is_none());
    }

    #[test]
    fn models_list_reads_back_what_recommend_measured() {
        let home = tempfile::tempdir().unwrap();
        let store = ModelStore::open(home.path().to_path_buf());
        let mut rows = vec![row("base", "direct", 420.0, 0.0, 0.45), row("base", "firefox", 430.0, 9.0, 0.40)];
        rows[1].mt_model = Some("firefox-faen".into());
        save_measurements(&store, &rows).unwrap();
        let measurements = load_measurements(&store);
        let whisper = measured_line(&measurements, "whisper-base").unwrap();
        assert!(whisper.contains("recognition 430 ms") && whisper.contains("RTF 0.40"), "{whisper}");
        let firefox = measured_line(&measurements, "firefox-faen").unwrap();
        assert!(firefox.contains("translation 9 ms") && firefox.contains("--whisper base"), "{firefox}");
        assert_eq!(measured_line(&measurements, "whisper-small"), None);
    }
}
