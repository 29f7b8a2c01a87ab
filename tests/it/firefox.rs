//! The Firefox-Translations engine on the architecture of Mozilla's Persian→English model
//! (`firefox-faen`, Marian "tiny"), which cannot be downloaded here: a model file of exactly
//! that configuration with random seeded weights, written at test time in Marian's binary format
//! (`*.intgemm.alphas.bin`, int8), with a lexical shortlist, installed as `firefox-faen` and run
//! by `translate --mt firefox` on Persian speech. Mechanics, not quality: its English is nonsense.
//! The same architecture again as Mozilla's English→Persian model (`enfa`), listed by the user
//! in `models.toml`, captions English speech in `translate` and on the other side of a call.

use std::path::Path;
use std::process::Command;

use linguastream_core::audio::Audio;
use linguastream_core::models::http::sha256_bytes;

use crate::util::{bin, home_with_default_models, ok, run, sample, stderr, store, write_wav_i16};

/// `modelConfig` of Mozilla's model, as its `metadata.json` gives it
/// (github.com/mozilla/firefox-translations-models, `models/tiny/faen/metadata.json` at
/// 19747effeaf6ec47fa7a7340838491d084fd03dd), written as Marian embeds it (`special:model.yml`).
const FAEN_MODEL_YML: &str = "\
bert-train-type-embeddings: true
bert-type-vocab-size: 2
dec-cell: ssru
dec-cell-base-depth: 2
dec-cell-high-depth: 1
dec-depth: 2
dim-emb: 256
dim-rnn: 1024
dim-vocabs:
  - 32000
  - 32000
enc-cell: gru
enc-cell-depth: 1
enc-depth: 6
enc-type: bidirectional
factors-combine: sum
factors-dim-emb: 0
input-types: []
layer-normalization: false
lemma-dependency: \"\"
lemma-dim-emb: 0
output-omit-bias: false
right-left: false
skip: false
tied-embeddings: false
tied-embeddings-all: true
tied-embeddings-src: false
transformer-aan-activation: swish
transformer-aan-depth: 2
transformer-aan-nogate: false
transformer-decoder-autoreg: rnn
transformer-decoder-dim-ffn: 0
transformer-decoder-ffn-depth: 0
transformer-dim-aan: 2048
transformer-dim-ffn: 1536
transformer-ffn-activation: relu
transformer-ffn-depth: 2
transformer-guided-alignment-layer: last
transformer-heads: 8
transformer-no-affine: false
transformer-no-bias: false
transformer-no-projection: false
transformer-pool: false
transformer-postprocess: dan
transformer-postprocess-emb: d
transformer-postprocess-top: \"\"
transformer-preprocess: \"\"
transformer-rnn-projection: false
transformer-tied-layers: []
transformer-train-position-embeddings: false
type: transformer
ulr: false
ulr-dim-emb: 0
ulr-trainable-transformation: false
version: v1.12.14 2d067af 2024-02-16 11:44:13 -0500
";

/// Mozilla's `modelStatistics.parameters` for that model.
const FAEN_PARAMETERS: usize = 16_907_062;

/// A number from `FAEN_MODEL_YML` (the first value of a list).
fn config(key: &str) -> usize {
    let mut lines = FAEN_MODEL_YML.lines().skip_while(|l| !l.starts_with(&format!("{key}:")));
    let line = lines.next().unwrap_or_else(|| panic!("{key} in the model config"));
    let value = line.split_once(':').unwrap().1.trim();
    let value = if value.is_empty() { lines.next().unwrap().trim().trim_start_matches("- ") } else { value };
    value.parse().unwrap()
}

/// Seeded xorshift64*: the same model in every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

enum Data {
    /// `intgemm8`: int8 values, then their quantisation multiplier.
    Int8(Vec<i8>, f32),
    F32(Vec<f32>),
    /// NUL-terminated text (`special:model.yml`).
    Text(String),
}

/// Every parameter of a Marian transformer with an SSRU decoder and all embeddings tied, as
/// `marian-conv --gemm-type intgemm8` writes it for Firefox: Marian's names and shapes, random
/// values.
struct MarianWriter {
    random: Random,
    items: Vec<(String, Vec<i32>, Data)>,
    dim: usize,
}

impl MarianWriter {
    /// An int8 weight of `rows` × `cols` (about 1/√rows in size) and its activation multiplier.
    fn affine(&mut self, name: &str, rows: usize, cols: usize) {
        let values = (0..rows * cols).map(|_| (self.random.unit() * 127.0) as i8).collect();
        let data = Data::Int8(values, 127.0 * (rows as f32).sqrt());
        self.items.push((name.to_string(), vec![rows as i32, cols as i32], data));
        // Activations quantised for a range of ±8.
        self.items.push((format!("{name}_QuantMultA"), vec![1, 1], Data::F32(vec![127.0 / 8.0])));
    }

    fn vector(&mut self, name: &str, values: Vec<f32>) {
        self.items.push((name.to_string(), vec![1, values.len() as i32], Data::F32(values)));
    }

    fn bias(&mut self, name: &str, len: usize) {
        let values = (0..len).map(|_| self.random.unit() * 0.1).collect();
        self.vector(name, values);
    }

    fn layer_norm(&mut self, prefix: &str) {
        self.vector(&format!("{prefix}_ln_bias"), vec![0.0; self.dim]);
        self.vector(&format!("{prefix}_ln_scale"), vec![1.0; self.dim]);
    }

    fn attention(&mut self, prefix: &str) {
        for part in ["k", "o", "q", "v"] {
            self.affine(&format!("{prefix}_W{part}"), self.dim, self.dim);
            self.bias(&format!("{prefix}_b{part}"), self.dim);
        }
        self.layer_norm(&format!("{prefix}_Wo"));
    }

    fn ffn(&mut self, prefix: &str, ffn: usize) {
        self.affine(&format!("{prefix}_W1"), self.dim, ffn);
        self.affine(&format!("{prefix}_W2"), ffn, self.dim);
        self.bias(&format!("{prefix}_b1"), ffn);
        self.bias(&format!("{prefix}_b2"), self.dim);
        self.layer_norm(&format!("{prefix}_ffn"));
    }

    /// The decoder's simple recurrent unit (SSRU, Marian's `ssru` cell).
    fn ssru(&mut self, prefix: &str) {
        self.affine(&format!("{prefix}_W"), self.dim, self.dim);
        self.affine(&format!("{prefix}_Wf"), self.dim, self.dim);
        self.bias(&format!("{prefix}_bf"), self.dim);
        self.layer_norm(&format!("{prefix}_ffn"));
    }

    /// Parameters in the file (`special:model.yml` aside), as Mozilla counts them.
    fn parameters(&self) -> usize {
        let counted = self.items.iter().filter(|(_, _, data)| !matches!(data, Data::Text(_)));
        counted.map(|(_, shape, _)| shape.iter().map(|&d| d as usize).product::<usize>()).sum()
    }

    /// Marian's binary format (`marian/src/common/binary.cpp`), items in name order: a header
    /// per item, the names, the shapes, then each item's data, aligned to 256 bytes.
    fn into_bytes(mut self) -> Vec<u8> {
        const ALIGN: usize = 256;
        self.items.sort_by(|a, b| a.0.cmp(&b.0));
        let blocks: Vec<(u64, Vec<u8>)> = self
            .items
            .iter()
            .map(|(_, _, data)| match data {
                Data::Int8(values, multiplier) => {
                    let mut bytes: Vec<u8> = values.iter().map(|&v| v as u8).collect();
                    bytes.extend(multiplier.to_le_bytes());
                    bytes.resize(bytes.len().next_multiple_of(ALIGN), 0);
                    (0x4101, bytes)
                }
                Data::F32(values) => {
                    let mut bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                    bytes.resize(bytes.len().next_multiple_of(ALIGN), 0);
                    (0x404, bytes)
                }
                Data::Text(text) => (0x101, [text.as_bytes(), &[0]].concat()),
            })
            .collect();
        let mut out = Vec::new();
        out.extend(1u64.to_le_bytes());
        out.extend((self.items.len() as u64).to_le_bytes());
        for ((name, shape, _), (kind, bytes)) in self.items.iter().zip(&blocks) {
            for field in [name.len() as u64 + 1, *kind, shape.len() as u64, bytes.len() as u64] {
                out.extend(field.to_le_bytes());
            }
        }
        for (name, _, _) in &self.items {
            out.extend(name.as_bytes());
            out.push(0);
        }
        for (_, shape, _) in &self.items {
            out.extend(shape.iter().flat_map(|d| d.to_le_bytes()));
        }
        let gap = (ALIGN - (out.len() + 8) % ALIGN) % ALIGN;
        out.extend((gap as u64).to_le_bytes());
        out.resize(out.len() + gap, 0);
        for (_, bytes) in blocks {
            out.extend(bytes);
        }
        out
    }
}

/// A model of Mozilla's fa→en configuration with random weights; returns its bytes and its
/// parameter count. The end-of-sentence logit (id 0) gets a low bias, so decoding runs to the
/// engine's length cap: the slowest case.
fn tiny_faen_model(seed: u64) -> (Vec<u8>, usize) {
    let (dim, ffn, vocab) = (config("dim-emb"), config("transformer-dim-ffn"), config("dim-vocabs"));
    let mut model = MarianWriter { random: Random(seed), items: Vec::new(), dim };
    model.affine("Wemb", vocab, dim);
    // Marian stores the tied embedding's own multiplier as a one-element int8 item, and the
    // output projection's activation multiplier as `none_QuantMultA`.
    let (name, _, _) = model.items.pop().unwrap();
    model.items.push((name, vec![1, 1], Data::Int8(vec![127], 127.0 / 8.0)));
    model.vector("none_QuantMultA", vec![127.0 / 8.0]);
    let mut logit_bias: Vec<f32> = (0..vocab).map(|_| model.random.unit() * 0.1).collect();
    logit_bias[0] = -100.0;
    model.vector("decoder_ff_logit_out_b", logit_bias);
    for layer in 1..=config("enc-depth") {
        model.attention(&format!("encoder_l{layer}_self"));
        model.ffn(&format!("encoder_l{layer}_ffn"), ffn);
    }
    for layer in 1..=config("dec-depth") {
        model.ssru(&format!("decoder_l{layer}_rnn"));
        model.attention(&format!("decoder_l{layer}_context"));
        model.ffn(&format!("decoder_l{layer}_ffn"), ffn);
    }
    model.items.push((
        "special:model.yml".into(),
        vec![FAEN_MODEL_YML.len() as i32 + 1],
        Data::Text(FAEN_MODEL_YML.into()),
    ));
    let parameters = model.parameters();
    (model.into_bytes(), parameters)
}

/// A lexical shortlist in Marian's binary format (`marian/src/data/shortlist.cpp`): for each
/// source token, 50 random target candidates (`lex.50.50`). The checksum is left 0: Firefox's
/// Marian checks it, the engine here does not read it.
fn random_shortlist(vocab: usize, seed: u64) -> Vec<u8> {
    const MAGIC: u64 = 0xf11a_48d5_0134_17f5;
    const BEST: usize = 50;
    let mut random = Random(seed);
    let header = [MAGIC, 0, BEST as u64, BEST as u64, vocab as u64 + 1, (vocab * BEST) as u64];
    let mut out: Vec<u8> = header.iter().flat_map(|v| v.to_le_bytes()).collect();
    out.extend((0..=vocab).flat_map(|word| ((word * BEST) as u64).to_le_bytes()));
    out.extend((0..vocab * BEST).flat_map(|_| ((random.next() % vocab as u64) as u32).to_le_bytes()));
    out
}

/// Installs `files` (name, bytes) as model `id` in `home`, recorded with their sha256 as
/// `models fetch` records them.
fn install(home: &Path, id: &str, files: &[(&str, Vec<u8>)]) {
    let dir = home.join("models").join(id);
    std::fs::create_dir_all(&dir).unwrap();
    let mut record = Vec::new();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
        let sum = ok(Command::new("sha256sum").arg(dir.join(name)));
        let sha256 = sum.split_whitespace().next().unwrap().to_string();
        record.push(serde_json::json!({ "name": name, "sha256": sha256, "bytes": bytes.len() }));
    }
    let record = serde_json::json!({ "id": id, "files": record });
    std::fs::write(dir.join("installed.json"), record.to_string()).unwrap();
}

#[test]
fn mozillas_tiny_persian_architecture_loads_and_translates_through_the_firefox_engine() {
    let (model, parameters) = tiny_faen_model(25);
    assert_eq!(parameters, FAEN_PARAMETERS, "not the architecture Mozilla published");
    let home = home_with_default_models(&[]);
    // Mozilla's fa↔en SentencePiece model is a Git LFS pointer in its repository; the installed
    // pt↔en model's has the same 32,000 pieces.
    let vocab = std::fs::read(store().model_dir("firefox-pten").join("vocab.pten.spm")).unwrap();
    install(
        home.path(),
        "firefox-faen",
        &[
            ("model.faen.intgemm.alphas.bin", model),
            ("lex.50.50.faen.s2t.bin", random_shortlist(config("dim-vocabs"), 26)),
            ("vocab.faen.spm", vocab),
        ],
    );

    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("virgool.json");
    ok(bin()
        .env("LINGUASTREAM_HOME", home.path())
        .args(["translate", "--mt", "firefox"])
        .arg(sample("fa-sentence-virgool.wav"))
        .arg("-o")
        .arg(out.path().join("virgool.en.wav"))
        .arg("--json")
        .arg(&json));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["model"]["mt"], "firefox (firefox-faen)", "{report}");
    let segments = report["segments"].as_array().unwrap();
    assert!(!segments.is_empty(), "{report}");
    for segment in segments {
        let english = segment["translated_text"].as_str().unwrap();
        assert_eq!(segment["mt_failed"], false, "{report}");
        assert!(!english.trim().is_empty() && !english.chars().any(char::is_control), "{english:?}");
        // Decoding stops at the engine's cap (twice the source tokens + 4) even when the model
        // never ends a sentence: a bound on runaway decoding, not a speed measurement.
        let mt_ms = segment["timings_ms"]["mt"].as_f64().unwrap();
        assert!(mt_ms < 10_000.0, "{mt_ms} ms for {english:?}");
    }
}

/// Lists `files` (kind, name, bytes) as Firefox-Translations model `id` for `pair` in the home's
/// `models.toml`, as a user lists a mirror of a model the built-in list lacks.
fn list_in_models_toml(home: &Path, id: &str, pair: &str, files: &[(&str, &str, &[u8])]) {
    let files: Vec<String> = files
        .iter()
        .map(|(kind, name, bytes)| {
            format!("  {{ name = \"{name}\", sha256 = \"{}\", kind = \"{kind}\" }},", sha256_bytes(bytes))
        })
        .collect();
    let entry = format!(
        "[[model]]\nid = \"{id}\"\nrole = \"mt\"\npair = \"{pair}\"\ndescription = \"a mirror\"\nlicense = \"MPL-2.0\"\n\
         default = false\nsource = \"firefox\"\narchitecture = \"tiny\"\nfiles = [\n{}\n]\n",
        files.join("\n")
    );
    std::fs::write(home.join("models.toml"), entry).unwrap();
}

/// A translation the engine produced: text, and no control characters. Random weights make it
/// nonsense, so that is all there is to check.
fn assert_engine_text(text: &str, source: &str) {
    assert!(!text.trim().is_empty() && !text.chars().any(char::is_control), "{text:?}");
    assert_ne!(text, source, "the source kept: the translation failed");
}

/// Mozilla's English→Persian model (`models/tiny/enfa/metadata.json` at the commit above) has
/// the same `modelConfig` and 16,907,062 parameters as the Persian→English one. It is not in the
/// built-in list, so a user lists a mirror of it in `models.toml` (pair `en-fa`). Its weights are
/// random here: only the model file's sha256 is published, so the real lex and vocab files cannot
/// be pinned from this machine, and the architecture, not the weights, decides the engine's
/// speed and memory (`bench/two_sides.py` measures them on this model).
#[test]
fn an_english_to_persian_firefox_model_from_models_toml_captions_english_speech() {
    let (model, parameters) = tiny_faen_model(27);
    assert_eq!(parameters, FAEN_PARAMETERS, "not the architecture Mozilla published");
    let home = home_with_default_models(&[]);
    let vocab = std::fs::read(store().model_dir("firefox-pten").join("vocab.pten.spm")).unwrap();
    let lex = random_shortlist(config("dim-vocabs"), 28);
    let files = [
        ("model", "model.enfa.intgemm.alphas.bin", model.as_slice()),
        ("lex", "lex.50.50.enfa.s2t.bin", lex.as_slice()),
        ("vocab", "vocab.enfa.spm", vocab.as_slice()),
    ];
    let installed: Vec<(&str, Vec<u8>)> = files.iter().map(|(_, name, bytes)| (*name, bytes.to_vec())).collect();
    install(home.path(), "firefox-enfa", &installed);
    list_in_models_toml(home.path(), "firefox-enfa", "en-fa", &files);

    let dir = tempfile::tempdir().unwrap();
    let english = crate::live::english_clip(dir.path(), "Good morning. Thank you very much for your help yesterday.");
    let json = dir.path().join("english.json");
    ok(bin()
        .env("LINGUASTREAM_HOME", home.path())
        .args(["translate", "--from", "en", "--to", "fa", "--mt", "firefox"])
        .arg(&english)
        .arg("--json")
        .arg(&json));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["model"]["mt"], "firefox (firefox-enfa)", "{report}");
    let segments = report["segments"].as_array().unwrap();
    assert!(!segments.is_empty(), "{report}");
    for segment in segments {
        assert_eq!(segment["mt_failed"], false, "{report}");
        assert_engine_text(segment["translated_text"].as_str().unwrap(), segment["source_text"].as_str().unwrap());
    }

    // The other side of a call through the same engine, which `auto` prefers to the registry
    // Gemma (installed here too) for a pair a listed model covers; the user says nothing.
    let gemma = store().model_dir("gemma3-270m");
    std::os::unix::fs::symlink(&gemma, home.path().join("models").join("gemma3-270m")).unwrap();
    let quiet = dir.path().join("quiet.wav");
    write_wav_i16(&quiet, &Audio { samples: vec![0.0; 14 * 16_000], rate: 16_000 }, 1);
    let metrics = dir.path().join("metrics.json");
    let output = run(bin()
        .env("LINGUASTREAM_HOME", home.path())
        .args(["live", "--output", "none", "--mt", "direct", "--call-mt", "auto", "--input-file"])
        .arg(&quiet)
        .arg("--call-input-file")
        .arg(&english)
        .arg("--metrics-json")
        .arg(&metrics));
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    assert!(log.contains("the other side: en → fa (firefox (firefox-enfa))"), "{log}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap();
    let captions = report["call_side"]["utterances"].as_array().unwrap();
    assert!(!captions.is_empty(), "{report}");
    for caption in captions {
        assert_engine_text(caption["translated_text"].as_str().unwrap(), caption["source_text"].as_str().unwrap());
    }
}
