//! What checking a model file at load costs: BLAKE3 (recorded at install, checked at every load)
//! against SHA-256 (the manifest's pin, and the fallback for older install records), over the
//! same file from the page cache, 7 runs each, interleaved.
//!
//!   cargo run --release --example hash_cost -- ~/.local/share/linguastream/models/whisper-base/model.bin

use std::time::Instant;

use linguastream::models::store::{blake3_file, sha256_file};

fn ms(hash: fn(&std::path::Path) -> std::io::Result<String>, path: &std::path::Path) -> f64 {
    let started = Instant::now();
    hash(path).expect("the file is readable");
    started.elapsed().as_secs_f64() * 1000.0
}

fn main() {
    let path = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: hash_cost FILE"));
    let (mut blake3, mut sha256) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        blake3.push(ms(blake3_file, &path));
        sha256.push(ms(sha256_file, &path));
    }
    for (name, times) in [("BLAKE3", &mut blake3), ("SHA-256", &mut sha256)] {
        times.sort_by(f64::total_cmp);
        println!("{name:<8} min {:>6.1} ms  median {:>6.1} ms", times[0], times[3]);
    }
}
