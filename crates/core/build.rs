//! Builds the CTranslate2 shim (`src/ct2/shim.cc`) into a shared object that the binary embeds and
//! loads at run time, after the CTranslate2 library installed by `models fetch` (see `src/ct2/mod.rs`).

use std::env;
use std::path::PathBuf;
use std::process::Command;

const SHIM: &str = "src/ct2/shim.cc";
const SHIM_HEADER: &str = "src/ct2/shim.h";
const HEADERS: &str = "third_party/ctranslate2/include";

fn main() {
    println!("cargo:rerun-if-changed={SHIM}");
    println!("cargo:rerun-if-changed={SHIM_HEADER}");
    println!("cargo:rerun-if-changed={HEADERS}");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("libls_ct2.so");
    // The C++ compiler the `cc` crate would use (honours CXX), run directly: cc builds static
    // archives, and this must be a shared object whose CTranslate2 symbols stay undefined.
    let compiler = cc::Build::new().cpp(true).get_compiler();
    let status = Command::new(compiler.path())
        .args(["-std=c++17", "-O2", "-fPIC", "-shared", "-s", "-I", HEADERS, SHIM, "-o"])
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C++ compiler {}: {e}", compiler.path().display()));
    assert!(status.success(), "compiling {SHIM} failed ({status})");
}
