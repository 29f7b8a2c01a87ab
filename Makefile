# The two quick-start commands: `make demo` and `make test`. Both install what is missing first.
.PHONY: demo test setup

SAMPLE := samples/fa-digits-fateme.wav

setup:
	@bash scripts/setup.sh

demo: setup
	@mkdir -p out
	./target/release/linguastream translate $(SAMPLE) -o out/fa-digits-fateme.en.wav \
		--srt out/fa-digits-fateme.srt --vtt out/fa-digits-fateme.vtt --json out/fa-digits-fateme.json

test: setup
	bash scripts/with-pulse.sh cargo test --release --locked
