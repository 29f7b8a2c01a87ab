//! Integration tests: the real `linguastream` binary on real files with the real models
//! (installed by `make test`, which runs `linguastream models fetch` first).

mod auto;
mod bad_input;
mod bench;
mod confidence;
mod downloads;
mod firefox;
mod hallucination;
mod import;
mod live;
mod llm;
mod model_servers;
mod models;
mod nllb;
mod page;
mod robustness;
mod runtime;
mod serve;
mod stages;
mod translate;
mod util;
mod voices;
