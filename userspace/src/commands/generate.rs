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
/// (section 1); returns their paths in a stable order. Each page has
/// clap_mangen's sections (NAME, SYNOPSIS, DESCRIPTION, OPTIONS,
/// SUBCOMMANDS) and ours: EXAMPLES, EXIT STATUS, FILES, SEE ALSO.
pub fn write_manpages(dir: &std::path::Path, cmd: clap::Command) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    let subs: Vec<clap::Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned().collect();
    for page in std::iter::once(cmd).chain(subs) {
        let man = clap_mangen::Man::new(page.clone());
        let path = dir.join(man.get_filename());
        let mut text = Vec::new();
        render_page(&man, &page, &mut text).with_context(|| format!("rendering {}", path.display()))?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        pages.push(path);
    }
    pages.sort();
    Ok(pages)
}

fn render_page(man: &clap_mangen::Man, cmd: &clap::Command, w: &mut Vec<u8>) -> std::io::Result<()> {
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(w)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(w)?;
    }
    let sub = cmd.get_name().strip_prefix("lpmtrace-").unwrap_or(cmd.get_name());
    let name = if cmd.get_name() == "lpmtrace" { "lpmtrace" } else { sub };
    let extra = page_extras(name);
    section(w, "EXAMPLES")?;
    for (line, what) in extra.examples {
        writeln!(w, ".TP\n.B {}\n{}", roff(line), roff(what))?;
    }
    section(w, "EXIT STATUS")?;
    for (code, what) in extra.exit {
        writeln!(w, ".TP\n.B {code}\n{}", roff(what))?;
    }
    if !extra.files.is_empty() {
        section(w, "FILES")?;
    }
    for (file, what) in extra.files {
        writeln!(w, ".TP\n.I {}\n{}", roff(file), roff(what))?;
    }
    section(w, "SEE ALSO")?;
    let mut also: Vec<String> = SUBCOMMAND_PAGES
        .iter()
        .filter(|s| **s != name)
        .map(|s| format!("\\fBlpmtrace\\-{s}\\fR(1)"))
        .collect();
    if name != "lpmtrace" {
        also.insert(0, "\\fBlpmtrace\\fR(1)".into());
    }
    also.extend([
        "\\fBbpftool\\fR(8)".into(),
        "\\fBdrmgr\\fR(8)".into(),
        "\\fBppc64_cpu\\fR(8)".into(),
    ]);
    writeln!(w, "{}", also.join(", "))?;
    writeln!(
        w,
        "The guides under /usr/share/doc/lpmtrace/docs (docs/ in the source): user\\-guide.md, runbook.md, usage.md."
    )?;
    if cmd.get_version().is_some() {
        man.render_version_section(w)?;
    }
    Ok(())
}

fn section(w: &mut Vec<u8>, title: &str) -> std::io::Result<()> {
    if title.contains(' ') {
        writeln!(w, ".SH \"{title}\"")
    } else {
        writeln!(w, ".SH {title}")
    }
}

/// Text made safe for roff: backslashes and hyphens escaped, and no line
/// that starts with a control character.
fn roff(text: &str) -> String {
    let t = text.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// The subcommands that have a page of their own (for SEE ALSO).
const SUBCOMMAND_PAGES: &[&str] = &[
    "doctor",
    "live",
    "record",
    "report",
    "replay",
    "dump",
    "info",
    "export",
    "completions",
];

/// What a page says beyond its options.
struct Extras {
    examples: &'static [(&'static str, &'static str)],
    exit: &'static [(&'static str, &'static str)],
    files: &'static [(&'static str, &'static str)],
}

const EXIT_PLAIN: &[(&str, &str)] = &[
    ("0", "Success (also when stdout is a closed pipe, as with | head)."),
    ("2", "An error: the message on stderr names the file, offset or probe."),
];
const EXIT_FINDINGS: &[(&str, &str)] = &[
    (
        "0",
        "No finding at or above --fail-on (also when stdout is a closed pipe).",
    ),
    ("1", "A finding at or above --fail-on (default: critical)."),
    ("2", "An error: the message on stderr names the file, offset or probe."),
];
const EXIT_SCREEN: &[(&str, &str)] = &[
    ("0", "The user quit."),
    ("2", "An error (stdout is not a terminal, the file is damaged, ...)."),
    (
        "129, 130, 131, 143",
        "Ended by SIGHUP, SIGINT, SIGQUIT or SIGTERM; the terminal is restored.",
    ),
];
const RECORDING: (&str, &str) = (
    "FILE.lpmt",
    "A recording (docs/file-format.md); - or a pipe reads one from standard input.",
);
const LIVE_FILES: &[(&str, &str)] = &[
    (
        "/sys/kernel/tracing",
        "tracefs: tracepoints and their formats (mounted if missing).",
    ),
    ("/proc/kallsyms", "Kernel symbols: which functions can be probed."),
    (
        "/sys/devices/system/cpu/{online,present,possible}",
        "The CPU masks recorded in the session header.",
    ),
];

fn page_extras(name: &str) -> Extras {
    match name {
        "doctor" => Extras {
            examples: &[
                (
                    "lpmtrace doctor",
                    "Can this kernel be traced, and how each probe attaches.",
                ),
                ("lpmtrace doctor --json | jq .probes", "The same for a script."),
            ],
            exit: EXIT_PLAIN,
            files: LIVE_FILES,
        },
        "live" => Extras {
            examples: &[
                (
                    "lpmtrace live",
                    "The interactive screen over this partition's LPM path.",
                ),
                (
                    "lpmtrace live --plain -d 10m",
                    "Events as lines for ten minutes; findings on stderr.",
                ),
                (
                    "lpmtrace live --record change.lpmt",
                    "Watch and keep a recording for the post-mortem.",
                ),
            ],
            exit: EXIT_SCREEN,
            files: LIVE_FILES,
        },
        "record" => Extras {
            examples: &[
                ("lpmtrace record -o change.lpmt -d 2h", "Record a change window."),
                (
                    "lpmtrace record --flight-recorder -o /var/lib/lpmtrace",
                    "Always on: dump the last 10 minutes on a critical finding or SIGUSR1.",
                ),
            ],
            exit: EXIT_PLAIN,
            files: &[
                (
                    "lpmtrace-HOST-TIME.lpmt",
                    "The default output name, in the current folder.",
                ),
                (
                    "/var/lib/lpmtrace",
                    "Where the packaged flight-recorder unit writes its dumps.",
                ),
            ],
        },
        "report" => Extras {
            examples: &[
                (
                    "lpmtrace report --demo",
                    "A real migration recorded in a QEMU pseries guest.",
                ),
                (
                    "lpmtrace report incident.lpmt -j > report.json",
                    "The versioned JSON document.",
                ),
                (
                    "ssh lpar cat /var/lib/lpmtrace/x.lpmt | lpmtrace report -",
                    "A recording from a pipe.",
                ),
                (
                    "lpmtrace report incident.lpmt --html incident.html",
                    "A page for the ticket.",
                ),
            ],
            exit: EXIT_FINDINGS,
            files: &[RECORDING],
        },
        "replay" => Extras {
            examples: &[
                ("lpmtrace replay --demo", "Step through the demo migration."),
                ("lpmtrace replay incident.lpmt --paused", "Open paused at the start."),
            ],
            exit: EXIT_SCREEN,
            files: &[RECORDING],
        },
        "dump" => Extras {
            examples: &[
                ("lpmtrace dump incident.lpmt --cpu 3 | less", "One CPU's events."),
                (
                    "lpmtrace dump incident.lpmt --format jsonl | head",
                    "The first events as JSON lines.",
                ),
            ],
            exit: EXIT_PLAIN,
            files: &[RECORDING],
        },
        "info" => Extras {
            examples: &[
                (
                    "lpmtrace info incident.lpmt",
                    "Header, coverage, counts, losses and blocks.",
                ),
                ("lpmtrace info incident.lpmt -j", "The same as one JSON object."),
            ],
            exit: EXIT_PLAIN,
            files: &[RECORDING],
        },
        "export" => Extras {
            examples: &[
                ("lpmtrace export incident.lpmt -o incident.json", "For ui.perfetto.dev."),
                (
                    "lpmtrace export incident.lpmt --format jsonl -o - | jq",
                    "Events and analysis as lines.",
                ),
            ],
            exit: EXIT_PLAIN,
            files: &[RECORDING],
        },
        "completions" => Extras {
            examples: &[(
                "lpmtrace completions bash > /etc/bash_completion.d/lpmtrace",
                "Install bash completion.",
            )],
            exit: EXIT_PLAIN,
            files: &[],
        },
        _ => Extras {
            examples: &[
                ("lpmtrace doctor", "Can this kernel be traced?"),
                ("lpmtrace live", "Watch the LPM path live."),
                ("lpmtrace record -o change.lpmt", "Record a change window."),
                ("lpmtrace report change.lpmt", "What happened, and what to do."),
            ],
            exit: EXIT_FINDINGS,
            files: LIVE_FILES,
        },
    }
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
        for page in &pages {
            let text = std::fs::read_to_string(page).unwrap();
            for sh in [
                ".SH NAME",
                ".SH SYNOPSIS",
                ".SH EXAMPLES",
                ".SH \"EXIT STATUS\"",
                ".SH \"SEE ALSO\"",
            ] {
                assert!(text.contains(sh), "{}: no {sh}", page.display());
            }
            let completions = page.ends_with("lpmtrace-completions.1");
            assert_eq!(text.contains(".SH FILES"), !completions, "{}", page.display());
        }
        assert!(report.contains("lpmtrace report \\-"), "the stdin example: {report}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
