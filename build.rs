//! Puts the git commit into `linguastream --version`: `0.1.0 (1a2b3c4 2026-12-06)`.
//!
//! Outside a git checkout (a source archive) the commit comes from LINGUASTREAM_GIT_COMMIT, or is
//! "unknown". Only HEAD and the branch it points to are watched, so an ordinary build does not
//! run this again.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

/// True when this package is the top of a git work tree, not a source archive unpacked inside
/// some other repository.
fn in_own_checkout() -> bool {
    let top = git(&["rev-parse", "--show-toplevel"]).and_then(|dir| Path::new(&dir).canonicalize().ok());
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").and_then(|dir| Path::new(&dir).canonicalize().ok());
    top.is_some() && top == manifest
}

/// The files whose change means a new commit: HEAD, the branch file (or, while the branch is only
/// in packed-refs, the folder its file will appear in) and packed-refs.
fn watch_git_refs() {
    let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) else { return };
    println!("cargo:rerun-if-changed={head}");
    if let Some(packed) = git(&["rev-parse", "--git-common-dir"]).map(|dir| Path::new(&dir).join("packed-refs")) {
        if packed.exists() {
            println!("cargo:rerun-if-changed={}", packed.display());
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]).and_then(|r| git(&["rev-parse", "--git-path", &r])) {
        let branch = Path::new(&branch);
        let watched = if branch.exists() { Some(branch) } else { branch.parent() };
        if let Some(path) = watched {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=LINGUASTREAM_GIT_COMMIT");
    let from_git = in_own_checkout().then(|| {
        watch_git_refs();
        git(&["log", "-1", "--format=%h %cs", "--abbrev=7"])
    });
    let commit = from_git
        .flatten()
        .or_else(|| std::env::var("LINGUASTREAM_GIT_COMMIT").ok().filter(|c| !c.trim().is_empty()))
        .unwrap_or_else(|| "unknown".into());
    let version = std::env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION");
    println!("cargo:rustc-env=LINGUASTREAM_VERSION={version} ({commit})");
}
