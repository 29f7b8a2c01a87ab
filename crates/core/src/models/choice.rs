//! Which models suit this machine: the most accurate Whisper that keeps up live here, and
//! whether a text translator beats Whisper's own translation. The decisions are pure functions
//! of a [`MachineProfile`], so they are tested on made-up machines; [`MachineProfile::of`] reads
//! the real one (cores, free memory, and what `models recommend` measured here).

use std::path::Path;

/// Whisper sizes from least to most accurate on Persian.
pub const WHISPER_SIZES: [&str; 6] = ["tiny", "base", "small", "medium", "large-v3-turbo", "large-v3"];

/// The live target, speech end → first English sample. Recognition starts while the pause that
/// ends an utterance is still being confirmed, so what the pipeline adds around recognition and
/// translation is mostly the first synthesised audio; taking it off the target leaves the
/// budget for those two stages.
pub const TARGET_E2E_MS: f64 = 800.0;
pub const FIRST_AUDIO_MS: f64 = 250.0;

/// Recognition + translation per utterance must fit this to keep the live target.
pub const LIVE_BUDGET_MS: f64 = TARGET_E2E_MS - FIRST_AUDIO_MS;

/// Memory left to everything else (the call app, the desktop) when choosing a model.
pub const RESERVE_MB: f64 = 1024.0;

/// Without a measurement here: Whisper base's recognition time per utterance on the bundled
/// clip on the project's reference machine (2 cores, `models recommend`: base + direct
/// 424–561 ms per utterance, README "Models"), and the peak memory of that run (444–460 MB).
const REFERENCE_BASE_MS: f64 = 430.0;
const REFERENCE_BASE_RSS_MB: f64 = 460.0;

/// Share of Whisper base's recognition time spent in the encoder, from the figures in
/// `stt::whisper::DEFAULT_THREADS` (one thread, 2 cores without AMX): 147 ms an encoder window,
/// 5.8 ms a greedy token, and a 3 s utterance decodes about 25 tokens (≈ 145 ms).
const ENCODER_SHARE: f64 = 0.5;

/// A Whisper size's shape. Layers, width and parameters from the Whisper paper (Radford et
/// al. 2022, table 1); large-v3 has large's shape with 128 mel bands, and large-v3-turbo is
/// large-v3 with 4 decoder layers instead of 32 (OpenAI's release notes, openai/whisper#2363).
struct Shape {
    size: &'static str,
    encoder_layers: f64,
    decoder_layers: f64,
    width: f64,
    params_m: f64,
}

const SHAPES: [Shape; 6] = [
    Shape { size: "tiny", encoder_layers: 4.0, decoder_layers: 4.0, width: 384.0, params_m: 39.0 },
    Shape { size: "base", encoder_layers: 6.0, decoder_layers: 6.0, width: 512.0, params_m: 74.0 },
    Shape { size: "small", encoder_layers: 12.0, decoder_layers: 12.0, width: 768.0, params_m: 244.0 },
    Shape { size: "medium", encoder_layers: 24.0, decoder_layers: 24.0, width: 1024.0, params_m: 769.0 },
    Shape { size: "large-v3-turbo", encoder_layers: 32.0, decoder_layers: 4.0, width: 1280.0, params_m: 809.0 },
    Shape { size: "large-v3", encoder_layers: 32.0, decoder_layers: 32.0, width: 1280.0, params_m: 1550.0 },
];

fn shape(size: &str) -> Option<&'static Shape> {
    SHAPES.iter().find(|s| s.size == size)
}

/// Recognition cost of `size` relative to base. A layer's work grows with the square of the
/// width; the encoder runs once per utterance, the decoder once per token, weighted by their
/// shares of base's time. It leaves out the vocabulary projection and memory bandwidth, so it
/// is a rough guide until `models recommend` has measured the size here.
pub fn relative_cost(size: &str) -> Option<f64> {
    let (s, base) = (shape(size)?, shape("base")?);
    let encoder = s.encoder_layers * s.width * s.width / (base.encoder_layers * base.width * base.width);
    let decoder = s.decoder_layers * s.width * s.width / (base.decoder_layers * base.width * base.width);
    Some(ENCODER_SHARE * encoder + (1.0 - ENCODER_SHARE) * decoder)
}

/// What `models recommend` measured for one Whisper size here (its fastest run).
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub size: String,
    pub stt_ms: f64,
    pub peak_rss_mb: f64,
}

/// What the choice depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineProfile {
    pub cores: usize,
    /// Memory available to a new program (`MemAvailable`), MB.
    pub available_mb: f64,
    pub measured: Vec<Measured>,
}

/// Where `models recommend` keeps its last table, in the LinguaStream home.
pub const MEASURED_FILE: &str = "measured.json";

impl MachineProfile {
    /// This machine, with the measurements kept in `home`.
    pub fn of(home: &Path) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let available_mb = mem_available_mb(&meminfo).unwrap_or(0.0);
        let text = std::fs::read_to_string(home.join(MEASURED_FILE)).unwrap_or_default();
        Self { cores, available_mb, measured: measured_sizes(&text) }
    }

    fn measured(&self, size: &str) -> Option<&Measured> {
        self.measured.iter().find(|m| m.size == size)
    }

    /// Recognition ms per utterance: measured here, else scaled from the measured size of the
    /// nearest cost, else from the reference machine's base.
    pub fn estimated_ms(&self, size: &str) -> Option<(f64, Basis)> {
        if let Some(m) = self.measured(size) {
            return Some((m.stt_ms, Basis::Measured));
        }
        let cost = relative_cost(size)?;
        let nearest = self
            .measured
            .iter()
            .filter_map(|m| relative_cost(&m.size).map(|c| (m, c)))
            .min_by(|(_, a), (_, b)| (cost / a).ln().abs().total_cmp(&(cost / b).ln().abs()));
        Some(match nearest {
            Some((m, c)) => (m.stt_ms * cost / c, Basis::ScaledFrom(m.size.clone())),
            // Whisper decodes on one thread (stt::whisper::DEFAULT_THREADS), so more cores do not
            // make it faster; with one core it shares that core with voice detection and the voice.
            None => {
                let shared_core = if self.cores < 2 { 2.0 } else { 1.0 };
                (REFERENCE_BASE_MS * cost * shared_core, Basis::Reference)
            }
        })
    }

    /// Peak memory of a live session with `size`, MB: base's measured here (or the reference
    /// figure) plus the extra weights, held as float16 while they are converted to int8 on load.
    pub fn estimated_mb(&self, size: &str) -> Option<f64> {
        let (s, base) = (shape(size)?, shape("base")?);
        if let Some(m) = self.measured(size) {
            return Some(m.peak_rss_mb);
        }
        let base_rss = self.measured("base").map_or(REFERENCE_BASE_RSS_MB, |m| m.peak_rss_mb);
        Some(base_rss + 2.0 * (s.params_m - base.params_m))
    }
}

/// Where a speed estimate comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Basis {
    Measured,
    ScaledFrom(String),
    Reference,
}

/// One Whisper size judged for this machine.
#[derive(Debug, Clone, PartialEq)]
pub struct WhisperChoice {
    pub size: &'static str,
    pub ms: f64,
    pub basis: Basis,
    pub need_mb: f64,
    pub keeps_up: bool,
}

impl WhisperChoice {
    /// Why, in a few words: "≈ 450 ms an utterance (scaled from base measured here; budget
    /// 550 ms), needs ≈ 0.8 GB of the 20.0 GB free".
    pub fn why(&self, profile: &MachineProfile) -> String {
        let basis = match &self.basis {
            Basis::Measured => "measured here".to_string(),
            Basis::ScaledFrom(size) => format!("scaled from {size} measured here"),
            Basis::Reference => "from the reference 2-core machine; `models recommend` measures it here".into(),
        };
        format!(
            "≈ {:.0} ms an utterance ({basis}; budget {LIVE_BUDGET_MS:.0} ms), needs ≈ {:.1} GB of the {:.1} GB free",
            self.ms,
            self.need_mb / 1000.0,
            profile.available_mb / 1000.0
        )
    }
}

/// The most accurate of `candidates` (Whisper sizes) estimated to keep the live budget, with
/// `mt_ms` of translation, in the memory free here less [`RESERVE_MB`]; if none does, the
/// fastest of them (`keeps_up` false). None when no candidate is a known size.
pub fn choose_whisper(profile: &MachineProfile, candidates: &[&str], mt_ms: f64) -> Option<WhisperChoice> {
    let judged: Vec<WhisperChoice> = WHISPER_SIZES
        .iter()
        .filter(|size| candidates.contains(size))
        .filter_map(|size| {
            let (ms, basis) = profile.estimated_ms(size)?;
            let need_mb = profile.estimated_mb(size)?;
            let keeps_up = ms + mt_ms <= LIVE_BUDGET_MS && need_mb <= profile.available_mb - RESERVE_MB;
            Some(WhisperChoice { size, ms, basis, need_mb, keeps_up })
        })
        .collect();
    judged.iter().rev().find(|c| c.keeps_up).or_else(|| judged.iter().min_by(|a, b| a.ms.total_cmp(&b.ms))).cloned()
}

/// A published or measured fa→en BLEU, with where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub bleu: f32,
    pub source: String,
}

/// Whisper's own Persian→English translation (`direct`): measured here with Whisper base on
/// virgool-informal-fa10 (`bench --mt direct`, BLEU 1.3, chrF 18.5; issue 25), the best of the
/// three sets measured (0.5 on everyday sentences, 0.8 on the PSDR digit words). No figure is
/// known here for the bigger sizes' translation, so this one stands for them.
pub fn direct_figure(language: &str) -> Option<Figure> {
    (language == "fa")
        .then(|| Figure { bleu: 1.3, source: "measured here with Whisper base, virgool-informal-fa10".into() })
}

/// A text engine's model with its figure, as `auto` weighs it.
#[derive(Debug, Clone, PartialEq)]
pub struct TextCandidate {
    pub id: String,
    pub figure: Option<Figure>,
}

impl TextCandidate {
    /// A listed model with the figure the model list gives it, if any.
    pub fn of(entry: &super::ModelEntry) -> Self {
        let figure = entry
            .bleu
            .map(|bleu| Figure { bleu, source: entry.bleu_source.clone().unwrap_or_else(|| "model list".into()) });
        Self { id: entry.id.clone(), figure }
    }
}

/// Which text model `auto` runs instead of `direct`, if any, and why in one clause. A model is
/// taken only when its figure beats direct's; among several, the highest, and among equals the
/// one listed last (a user's own list comes after the built-in one, as with `--mt llm`). Where
/// neither side has a figure (a language without one for direct), a model with no figure is
/// taken too, as before figures were kept.
pub fn choose_text(language: &str, candidates: &[TextCandidate]) -> (Option<usize>, String) {
    let direct = direct_figure(language);
    let best = candidates.iter().enumerate().filter_map(|(i, c)| c.figure.as_ref().map(|f| (i, f))).fold(
        None::<(usize, &Figure)>,
        |best, (i, f)| match best {
            Some((_, b)) if b.bleu > f.bleu => best,
            _ => Some((i, f)),
        },
    );
    match (best, &direct) {
        (Some((i, f)), Some(d)) if f.bleu > d.bleu => (
            Some(i),
            format!(
                "{}'s BLEU {:.1} ({}) beats Whisper's own translation's {:.1} ({})",
                candidates[i].id, f.bleu, f.source, d.bleu, d.source
            ),
        ),
        (Some((i, f)), None) => (Some(i), format!("{}: BLEU {:.1} ({})", candidates[i].id, f.bleu, f.source)),
        (_, Some(d)) => {
            let weaker: Vec<String> = candidates
                .iter()
                .map(|c| match &c.figure {
                    Some(f) => format!("{} BLEU {:.1}", c.id, f.bleu),
                    None => format!("{} (no figure; `--mt` picks it by name)", c.id),
                })
                .collect();
            let why = if weaker.is_empty() {
                format!("no {language}→en text model is installed (`linguastream models fetch --best`)")
            } else {
                format!("no installed text model beats it ({})", weaker.join(", "))
            };
            (None, format!("{why}; Whisper's own translation: BLEU {:.1} ({})", d.bleu, d.source))
        }
        (None, None) => match candidates.iter().rposition(|c| c.figure.is_none()) {
            Some(i) => (Some(i), format!("{} is installed for {language}→en", candidates[i].id)),
            None => (None, format!("no {language}→en text model is installed")),
        },
    }
}

fn mem_available_mb(meminfo: &str) -> Option<f64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The fastest recognition and the lowest peak memory of each Whisper size in `measured.json`.
fn measured_sizes(json: &str) -> Vec<Measured> {
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    let mut sizes: Vec<Measured> = Vec::new();
    for row in value["rows"].as_array().into_iter().flatten() {
        let Some(size) = row["whisper"].as_str().and_then(|w| w.strip_prefix("whisper-")) else { continue };
        let (Some(stt_ms), Some(rss)) = (row["stt_ms"].as_f64(), row["peak_rss_mb"].as_f64()) else { continue };
        match sizes.iter_mut().find(|m| m.size == size) {
            Some(m) => {
                m.stt_ms = m.stt_ms.min(stt_ms);
                m.peak_rss_mb = m.peak_rss_mb.min(rss);
            }
            None => sizes.push(Measured { size: size.into(), stt_ms, peak_rss_mb: rss }),
        }
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(cores: usize, available_gb: f64, measured: &[(&str, f64, f64)]) -> MachineProfile {
        MachineProfile {
            cores,
            available_mb: available_gb * 1000.0,
            measured: measured
                .iter()
                .map(|(size, ms, rss)| Measured { size: (*size).into(), stt_ms: *ms, peak_rss_mb: *rss })
                .collect(),
        }
    }

    fn chosen(profile: &MachineProfile) -> &'static str {
        choose_whisper(profile, &WHISPER_SIZES, 0.0).unwrap().size
    }

    #[test]
    fn costs_grow_with_the_size_and_turbo_sits_between_small_and_large() {
        let costs: Vec<f64> = WHISPER_SIZES.iter().map(|s| relative_cost(s).unwrap()).collect();
        assert_eq!(relative_cost("base"), Some(1.0));
        assert!(costs[0] < 1.0 && costs[2] > 3.0, "{costs:?}");
        let (small, medium, turbo, large) = (costs[2], costs[3], costs[4], costs[5]);
        assert!(small < medium && medium < large && turbo > small && turbo < large, "{costs:?}");
    }

    #[test]
    fn the_reference_two_core_machine_keeps_base() {
        let choice = choose_whisper(&machine(2, 20.0, &[]), &WHISPER_SIZES, 0.0).unwrap();
        assert_eq!(choice.size, "base");
        assert!(choice.keeps_up && choice.basis == Basis::Reference, "{choice:?}");
    }

    #[test]
    fn a_faster_measured_base_lets_a_bigger_size_in() {
        // base at 100 ms here: small ≈ 450 ms fits the budget, medium (≈ 1.6 s) does not.
        assert_eq!(chosen(&machine(8, 32.0, &[("base", 100.0, 450.0)])), "small");
        // Five times faster again: every size up to large-v3 fits.
        assert_eq!(chosen(&machine(16, 64.0, &[("base", 15.0, 450.0)])), "large-v3");
        // A measured size is taken as measured, not scaled.
        let profile = machine(8, 32.0, &[("base", 100.0, 450.0), ("small", 700.0, 900.0)]);
        assert_eq!(chosen(&profile), "base");
    }

    #[test]
    fn memory_rules_out_what_speed_would_allow() {
        let fast = [("base", 15.0, 450.0)];
        // large-v3 needs ≈ 3.4 GB, medium ≈ 1.8 GB, small ≈ 0.8 GB, with 1 GB left for the rest.
        assert_eq!(chosen(&machine(16, 64.0, &fast)), "large-v3");
        assert_eq!(chosen(&machine(16, 3.5, &fast)), "large-v3-turbo");
        assert_eq!(chosen(&machine(16, 2.0, &fast)), "small");
        assert_eq!(chosen(&machine(16, 1.6, &fast)), "base");
    }

    #[test]
    fn one_core_halves_the_reference_speed_and_nothing_fitting_gives_the_fastest() {
        // One core: base ≈ 860 ms, over the budget; tiny ≈ 320 ms fits.
        assert_eq!(chosen(&machine(1, 8.0, &[])), "tiny");
        let slow = choose_whisper(&machine(1, 8.0, &[]), &["base", "small"], 0.0).unwrap();
        assert_eq!(slow.size, "base");
        assert!(!slow.keeps_up);
        // Translation time counts against the same budget.
        assert_eq!(
            choose_whisper(&machine(8, 32.0, &[("base", 100.0, 450.0)]), &WHISPER_SIZES, 200.0).unwrap().size,
            "base"
        );
    }

    #[test]
    fn only_candidates_are_chosen() {
        let profile = machine(16, 64.0, &[("base", 15.0, 450.0)]);
        assert_eq!(choose_whisper(&profile, &["base", "medium"], 0.0).unwrap().size, "medium");
        assert_eq!(choose_whisper(&profile, &["whisper-fa-finetune"], 0.0), None);
    }

    #[test]
    fn measurements_are_read_from_recommends_table() {
        let json = r#"{"rows": [
            {"whisper": "whisper-base", "mt": "direct", "stt_ms": 420.0, "peak_rss_mb": 450.0},
            {"whisper": "whisper-base", "mt": "firefox", "stt_ms": 400.0, "peak_rss_mb": 470.0},
            {"whisper": "whisper-small", "mt": "direct", "stt_ms": null, "peak_rss_mb": 900.0}
        ]}"#;
        assert_eq!(measured_sizes(json), vec![Measured { size: "base".into(), stt_ms: 400.0, peak_rss_mb: 450.0 }]);
        assert_eq!(measured_sizes("not json"), vec![]);
        assert_eq!(mem_available_mb("MemTotal: 100 kB\nMemAvailable:    2048000 kB\n"), Some(2000.0));
    }

    fn candidate(id: &str, bleu: Option<f32>) -> TextCandidate {
        TextCandidate { id: id.into(), figure: bleu.map(|bleu| Figure { bleu, source: "test".into() }) }
    }

    #[test]
    fn auto_takes_a_text_model_only_when_its_figure_beats_direct() {
        let direct = direct_figure("fa").unwrap().bleu;
        // The registry Gemma (measured below direct) and a model without a figure lose to direct.
        let (pick, why) =
            choose_text("fa", &[candidate("gemma3-270m", Some(direct - 0.7)), candidate("llm-mine", None)]);
        assert_eq!(pick, None, "{why}");
        assert!(why.contains("no installed text model beats it") && why.contains("gemma3-270m"), "{why}");
        // Firefox fa→en (FLORES BLEU 32) beats it, and beats the others beside it.
        let candidates =
            [candidate("gemma3-270m", Some(0.6)), candidate("firefox-faen", Some(32.0)), candidate("nllb", None)];
        let (pick, why) = choose_text("fa", &candidates);
        assert_eq!(pick, Some(1));
        assert!(why.starts_with("firefox-faen's BLEU 32.0") && why.contains("beats"), "{why}");
        // Equal figures: the one listed last (a mirror in the user's own list).
        assert_eq!(
            choose_text("fa", &[candidate("firefox-faen", Some(32.0)), candidate("mirror", Some(32.0))]).0,
            Some(1)
        );
        let (pick, why) = choose_text("fa", &[]);
        assert_eq!(pick, None);
        assert!(why.contains("models fetch --best"), "{why}");
    }

    #[test]
    fn without_a_figure_for_direct_an_installed_pair_model_is_used() {
        assert_eq!(choose_text("pt", &[candidate("firefox-pten", None)]).0, Some(0));
        assert_eq!(choose_text("pt", &[]).0, None);
    }
}
