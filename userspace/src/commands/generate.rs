//! `lpmtrace completions SHELL` and the hidden `lpmtrace manpages --out DIR`:
//! shell completion scripts and man pages generated from the command line
//! definition itself ([`crate::cli::command`]), so they always match the
//! flags the binary accepts. `cargo xtask dist` runs both for the packages.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use clap_complete::Shell;

/// Arguments of `lpmtrace completions`.
#[derive(Args, Debug, Clone)]
pub struct CompletionsArgs {
    /// The shell to write the script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Arguments of `lpmtrace manpages`.
#[derive(Args, Debug, Clone)]
pub struct ManpagesArgs {
    /// Folder to write `lpmtrace.1` and one `lpmtrace-SUBCOMMAND.1` per
    /// subcommand into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Writes the completion script for `args.shell` to stdout.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<()> {
    let mut script = Vec::new();
    write_completions(args.shell, &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .context("writing the completion script")
}

/// The completion script for `shell` of lpmtrace's command line into
/// `out`.
pub fn write_completions(shell: Shell, out: &mut dyn Write) {
    let mut cmd = completion_command();
    clap_complete::generate(shell, &mut cmd, "lpmtrace", out);
}

/// [`crate::cli::command`] without its hidden subcommands: clap_complete
/// offers hidden subcommands in bash, and `manpages` is for packaging, not
/// for tab completion. The root has no arguments of its own beyond help
/// and version, which clap adds again.
fn completion_command() -> clap::Command {
    let cmd = crate::cli::command();
    let visible: Vec<clap::Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned().collect();
    let mut root = clap::Command::new("lpmtrace")
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(true)
        .subcommands(visible);
    if let Some(about) = cmd.get_about() {
        root = root.about(about.clone());
    }
    root
}

/// Writes the man pages into `args.out`; returns the files written.
pub fn manpages(args: &ManpagesArgs, cmd: clap::Command) -> anyhow::Result<()> {
    let written = write_manpages(&args.out, cmd)?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}

/// Renders `lpmtrace.1` and one page per visible subcommand into `dir`
/// (section 1); returns their paths in a stable order.
pub fn write_manpages(dir: &std::path::Path, cmd: clap::Command) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    clap_mangen::generate_to(cmd, dir).with_context(|| format!("writing man pages into {}", dir.display()))?;
    let mut pages: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "1"))
        .collect();
    pages.sort();
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_name_every_visible_subcommand() {
        let cmd = crate::cli::command();
        let visible: Vec<String> = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| s.get_name().to_string())
            .collect();
        assert!(visible.contains(&"report".to_string()));
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut out = Vec::new();
            write_completions(shell, &mut out);
            let text = String::from_utf8(out).unwrap();
            for sub in &visible {
                assert!(text.contains(sub.as_str()), "{shell}: no {sub}");
            }
            assert!(!text.contains("manpages"), "{shell}: the hidden subcommand leaked");
        }
    }

    #[test]
    fn one_man_page_per_visible_subcommand() {
        let dir = std::env::temp_dir().join(format!("lpmtrace-man-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let pages = write_manpages(&dir, crate::cli::command()).unwrap();
        let names: Vec<String> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let cmd = crate::cli::command();
        let expected = 1 + cmd.get_subcommands().filter(|s| !s.is_hide_set()).count();
        assert_eq!(names.len(), expected, "{names:?}");
        assert!(names.contains(&"lpmtrace.1".to_string()));
        assert!(names.contains(&"lpmtrace-report.1".to_string()));
        let report = std::fs::read_to_string(dir.join("lpmtrace-report.1")).unwrap();
        assert!(
            report.starts_with(".ie") || report.contains(".TH"),
            "not roff: {report:.80}"
        );
        assert!(report.contains("fail\\-on"), "the page lacks --fail-on");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
