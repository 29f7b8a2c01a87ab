"""Writes a CTranslate2 Whisper of a given size's exact architecture with random seeded weights.

    python3 bench/random_whisper.py SIZE OUT_DIR [--base DIR] [--int8]

SIZE is tiny, base, small, medium, large-v3-turbo or large-v3 (OpenAI's published
configurations), or `fixture` / `fixture-128`: 2 layers of width 16, the tiny models under
tests/fixtures. Speed and memory do not depend on the values, so such a model measures what a
size costs in this pipeline where its real weights cannot be downloaded; what it writes is
nonsense. Needs the `ctranslate2` and `numpy` packages only (no PyTorch).

The vocabulary and config (language and suppressed token ids) come from the installed Whisper
base (`--base`, default `~/.local/share/linguastream/models/whisper-base`); for large-v3 and
large-v3-turbo the 100th language token `<|yue|>` is inserted after `<|su|>` as in their
tokenizer (51,866 tokens, every later id one higher). The weights are float16, as the
conversions on Hugging Face ship them (CTranslate2 makes them int8 at load, which costs memory
while loading), or with `--int8` int8 with per-row scales, as CTranslate2's own quantisation
stores them (the test fixtures: half the size). The decoder's output projection shares the
embedding table, as in OpenAI's models. No `optimize()` pass: its search for equal variables
compares every pair of same-shaped tensors (hours for large-v3).
"""

import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np
from ctranslate2.specs import whisper_spec

# d_model, encoder layers, decoder layers, heads, mel bands: OpenAI's model dimensions
# (whisper/__init__.py checkpoints; large-v3-turbo: 4 decoder layers).
SIZES = {
    "fixture": (16, 2, 2, 2, 80),
    "fixture-128": (16, 2, 2, 2, 128),
    "tiny": (384, 4, 4, 6, 80),
    "base": (512, 6, 6, 8, 80),
    "small": (768, 12, 12, 12, 80),
    "medium": (1024, 24, 24, 16, 80),
    "large-v3-turbo": (1280, 32, 4, 20, 128),
    "large-v3": (1280, 32, 32, 20, 128),
}
ENCODER_POSITIONS, DECODER_POSITIONS = 1500, 448
DEFAULT_BASE = Path.home() / ".local/share/linguastream/models/whisper-base"


def vocabulary(base, v3):
    """Whisper base's tokens (one per line; one of them is empty) and its config, for v3 with
    `<|yue|>` added after the last of the 99 older language tokens."""
    tokens = base.joinpath("vocabulary.txt").read_text(encoding="utf-8").split("\n")
    if tokens[-1] == "":
        tokens.pop()
    config = json.loads(base.joinpath("config.json").read_text())
    if v3:
        at = tokens.index("<|su|>") + 1
        tokens.insert(at, "<|yue|>")
        shift = lambda ids: [i + (i >= at) for i in ids]  # noqa: E731
        config = {key: shift(config[key]) for key in ("suppress_ids", "suppress_ids_begin", "lang_ids")}
        config["lang_ids"].append(at)
    return tokens, config


def shape(name, d, ff, mels, vocab):
    """The shape of variable `name` (scope/…/leaf) in a Whisper of width `d`."""
    parts = name.split("/")
    leaf, layer = parts[-1], parts[-2]
    if "conv1" in parts:
        return (d, mels, 3) if leaf == "weight" else (d,)
    if "conv2" in parts:
        return (d, d, 3) if leaf == "weight" else (d,)
    if leaf == "encodings":
        return (ENCODER_POSITIONS, d) if parts[0] == "encoder" else (DECODER_POSITIONS, d)
    if leaf in ("gamma", "beta"):
        return (d,)
    if layer in ("embeddings", "projection"):
        return (vocab, d) if leaf == "weight" else (vocab,)
    rows = {
        ("self_attention", "linear_0"): 3 * d,
        ("attention", "linear_1"): 2 * d,
        ("ffn", "linear_0"): ff,
    }.get((parts[-3], layer), d)
    cols = ff if (parts[-3], layer) == ("ffn", "linear_1") else d
    return (rows, cols) if leaf == "weight" else (rows,)


def write(size, out_dir, base_dir=DEFAULT_BASE, seed=1234, int8=False):
    d, enc_layers, dec_layers, heads, mels = SIZES[size]
    base, out = Path(base_dir), Path(out_dir)
    tokens, config = vocabulary(base, v3=size.startswith("large-v3"))
    rng = np.random.default_rng(seed)
    spec = whisper_spec.WhisperSpec(enc_layers, heads, dec_layers, heads)

    def fill(scope, owner):
        def visit(layer, name, value):
            leaf = name.split("/")[-1]
            full = f"{scope}/{name}"
            if full.startswith("decoder/projection/"):
                return  # the embedding table, shared (below); Whisper's output has no bias
            if not (value is None or leaf in ("encodings", "bias")):
                return
            dims = shape(full, d, 4 * d, mels, len(tokens))
            if leaf == "gamma":
                setattr(layer, leaf, np.ones(dims, np.float32 if int8 else np.float16))
            elif int8 and leaf == "weight" and hasattr(layer, "weight_scale"):
                # int8 values with a per-row scale: the weights are N(0, 1/fan_in)-sized.
                fan_in = int(np.prod(dims[1:]))
                setattr(layer, leaf, rng.integers(-127, 128, dims, dtype=np.int8))
                setattr(layer, "weight_scale", np.full(dims[0], 73.3 * np.sqrt(fan_in), np.float32))
            elif leaf == "weight":
                fan_in = int(np.prod(dims[1:]))
                setattr(layer, leaf, rng.normal(0.0, fan_in**-0.5, dims).astype(np.float16))
            else:
                setattr(layer, leaf, rng.normal(0.0, 0.02, dims).astype(np.float32 if int8 else np.float16))

        owner._visit(visit)

    fill("encoder", spec.encoder)
    fill("decoder", spec.decoder)
    spec.decoder.projection.weight = spec.decoder.embeddings.weight
    spec.register_vocabulary(tokens)
    for key in ("suppress_ids", "suppress_ids_begin", "lang_ids"):
        setattr(spec.config, key, config[key])
    spec.config.alignment_heads = [[dec_layers - 1, 0]]
    spec.validate()
    # Aliases after validation, which would turn the names into byte arrays.
    spec.decoder.projection.weight = "decoder/embeddings/weight"
    if int8:
        spec.decoder.projection.weight_scale = "decoder/embeddings/weight_scale"
    out.mkdir(parents=True, exist_ok=True)
    for name in ("vocabulary.json", "model.bin", "config.json"):
        out.joinpath(name).unlink(missing_ok=True)
    spec.save(str(out))
    shutil.copy(base / "tokenizer.json", out / "tokenizer.json")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("size", choices=SIZES)
    parser.add_argument("out_dir")
    parser.add_argument("--base", default=os.environ.get("WHISPER_BASE_DIR", DEFAULT_BASE))
    parser.add_argument("--int8", action="store_true", help="int8 weights (half the file)")
    args = parser.parse_args()
    write(args.size, args.out_dir, args.base, int8=args.int8)


if __name__ == "__main__":
    main()
