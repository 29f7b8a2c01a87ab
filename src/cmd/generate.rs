//! `linguastream generate`: man pages and shell completions from the flag definitions, so they
//! cannot drift from `--help` (the packages are built with it).

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::{Generator, Shell};

use crate::cli::{Cli, GenerateArgs, Generated};

const BIN: &str = "linguastream";

pub fn run(args: GenerateArgs) -> Result<ExitCode> {
    if let Some(dir) = &args.dir {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    match (args.what, &args.dir) {
        (Generated::Man, None) => to_stdout(&render(&man_page(&man_command()))?)?,
        (Generated::Man, Some(dir)) => write_man_pages(&man_command(), dir)?,
        (what, None) => to_stdout(&completions(to_shell(what)))?,
        (what, Some(dir)) => {
            let shell = to_shell(what);
            let path = dir.join(shell.file_name(BIN));
            fs::write(&path, completions(shell)).with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A reader that stops early (`| head`) is not an error.
fn to_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        result => Ok(result.context("cannot write to standard output")?),
    }
}

fn completions(shell: Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN, &mut script);
    script
}

fn to_shell(what: Generated) -> Shell {
    match what {
        Generated::Bash => Shell::Bash,
        Generated::Zsh => Shell::Zsh,
        Generated::Fish => Shell::Fish,
        Generated::Man => unreachable!("man is not a shell"),
    }
}

/// The command as the man pages show it: clap's `help` subcommand has no page of its own.
fn man_command() -> clap::Command {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    command
}

fn man_page(command: &clap::Command) -> clap_mangen::Man {
    clap_mangen::Man::new(command.clone())
        .source(format!("{BIN} {}", env!("LINGUASTREAM_VERSION")))
        .manual("LinguaStream")
}

fn render(page: &clap_mangen::Man) -> io::Result<Vec<u8>> {
    let mut roff = Vec::new();
    page.render(&mut roff)?;
    Ok(roff)
}

/// `linguastream.1`, then `linguastream-translate.1`, `linguastream-models-fetch.1`, … for every
/// visible subcommand: the top page lists them by those names.
fn write_man_pages(command: &clap::Command, dir: &Path) -> Result<()> {
    let page = man_page(command);
    let path = dir.join(page.get_filename());
    fs::write(&path, render(&page)?).with_context(|| format!("cannot write {}", path.display()))?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_man_pages(sub, dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visible_subcommands() -> Vec<String> {
        man_command().get_subcommands().filter(|s| !s.is_hide_set()).map(|s| s.get_name().to_owned()).collect()
    }

    #[test]
    fn the_man_page_lists_every_subcommand_and_the_version() {
        let page = String::from_utf8(render(&man_page(&man_command())).unwrap()).unwrap();
        let subcommands = visible_subcommands();
        assert!(subcommands.len() >= 8, "{subcommands:?}");
        for name in &subcommands {
            assert!(page.contains(&format!("linguastream\\-{name}(1)")), "the man page lacks {name}:\n{page}");
        }
        assert!(!page.contains("generate"), "the hidden subcommand is in the man page");
        assert!(page.contains(env!("LINGUASTREAM_VERSION")), "{page}");
    }

    #[test]
    fn every_subcommand_gets_a_page_with_its_flags() {
        let dir = tempfile::tempdir().unwrap();
        write_man_pages(&man_command(), dir.path()).unwrap();
        for name in visible_subcommands() {
            assert!(dir.path().join(format!("linguastream-{name}.1")).is_file(), "no page for {name}");
        }
        let translate = fs::read_to_string(dir.path().join("linguastream-translate.1")).unwrap();
        assert!(translate.contains("\\-\\-srt") && translate.contains("\\-\\-decode\\-budget"), "{translate}");
        assert!(dir.path().join("linguastream-models-fetch.1").is_file());
    }

    /// What bash offers for `linguastream WORDS…<Tab>`, from the generated script alone.
    fn bash_offers(words: &[&str]) -> Vec<String> {
        const COMPLETE: &str = r#"source "$0" || exit 1
COMP_WORDS=(linguastream "$@"); COMP_CWORD=$#
_linguastream linguastream "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}""#;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("linguastream.bash");
        fs::write(&script, completions(Shell::Bash)).unwrap();
        let output =
            std::process::Command::new("bash").args(["-c", COMPLETE]).arg(&script).args(words).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap().lines().map(str::to_owned).collect()
    }

    #[test]
    fn bash_completes_subcommands_and_their_flags() {
        assert_eq!(bash_offers(&["tr"]), ["translate", "transcribe"]);
        let all = bash_offers(&[""]);
        for name in visible_subcommands() {
            assert!(all.contains(&name), "bash does not offer {name}: {all:?}");
        }
        assert!(bash_offers(&["translate", "--s"]).contains(&"--srt".to_owned()));
        assert!(bash_offers(&["serve", "--max"]).contains(&"--max-sessions".to_owned()));
    }

    #[test]
    fn the_version_names_the_commit_it_was_built_from() {
        let version = Cli::command().render_version();
        assert!(version.starts_with(&format!("linguastream {} (", env!("CARGO_PKG_VERSION"))), "{version}");
        let head = std::process::Command::new("git")
            .args(["log", "-1", "--format=%h %cs", "--abbrev=7"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        // Outside a git checkout (a source archive) there is nothing to compare with.
        if let Some(head) = head {
            assert!(version.contains(&format!("({head})")), "{version} is not from {head}");
        }
    }
}
