# The two quick-start commands: `make demo` and `make test`. Both install what is missing first.
.PHONY: demo test setup fuzz lint package package-test

SAMPLE := samples/fa-sentence-virgool.wav

setup:
	@bash scripts/setup.sh

# The best models for this machine first (`models fetch --best`): where their hosts cannot be
# reached it says so in one line, and the demo runs with the models installed (as it does, with
# make's note, if a download fails).
demo: setup
	@mkdir -p out
	-./target/release/linguastream models fetch --best
	./target/release/linguastream translate $(SAMPLE) -o out/fa-sentence-virgool.en.wav \
		--srt out/fa-sentence-virgool.srt --vtt out/fa-sentence-virgool.vtt --json out/fa-sentence-virgool.json

# The tests also run the `llm` translator on Gemma 3 270M, which is not in the default set
# (installing it means accepting the Gemma terms, printed when it is fetched).
test: setup
	./target/release/linguastream models fetch gemma3-270m
	bash scripts/with-pulse.sh cargo test --release --locked

# For users without a compiler: the Debian package and the release archive, both in dist/.
package: setup
	bash scripts/package.sh

# The package installed with apt in a fresh Debian root (debootstrap) and run there by an ordinary
# user: --version, man, completion, models fetch, translate, serve. Needs root and the network.
package-test: package
	bash scripts/test-package.sh

# Formatting and lints, as CI checks them (rustfmt and clippy come with rustup's default profile).
lint: setup
	@cargo clippy --version >/dev/null 2>&1 && cargo fmt --version >/dev/null 2>&1 || rustup component add clippy rustfmt
	cargo fmt --check
	cargo clippy --release --locked --all-targets -- -D warnings

# Every fuzz target for FUZZ_SECONDS each (installs cargo-fuzz when missing; CI runs 20 s each with
# FUZZ_SEED=1; longer runs: `make fuzz FUZZ_SECONDS=600`).
FUZZ_SECONDS ?= 30
fuzz: setup
	bash scripts/fuzz.sh $(FUZZ_SECONDS)
