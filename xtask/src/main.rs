//! Developer tasks for lpmtrace (`cargo xtask <task>`).
//!
//! - `setup`: install what building and testing need (idempotent; says what
//!   it did; stops with a how-to-fix message when a step fails).
//! - `run -- ARGS`: setup, build, run lpmtrace with ARGS.
//! - `test`: setup, build, run the whole test suite (unit, real-kernel
//!   integration tests, POWER guests in QEMU).
//! - `vm-test`: only the POWER guests (docs/vm-tests.md).
//! - `bench`: lpmtrace vs bpftrace and perf; writes docs/benchmarks.md.
//! - `soak`: minutes of load under record + the live TUI (issue #8).
//! - `dist`: static binaries, .deb, .rpm, tarballs, man pages and shell
//!   completions for x86_64 and ppc64le (docs/packaging.md).

mod bench;
mod dist;
mod setup;
mod soak;
mod vm;

use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "lpmtrace developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install toolchain pieces and Debian packages the project needs.
    Setup {
        /// Only report what is missing; change nothing.
        #[arg(long)]
        check: bool,
    },
    /// Set up, build, and run lpmtrace with the given arguments.
    Run {
        /// Build in release mode.
        #[arg(long)]
        release: bool,
        /// Arguments for lpmtrace (after `--`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Boot QEMU pseries guests and test the real kernel LPM path.
    VmTest(Box<vm::VmTestArgs>),
    /// Compare lpmtrace with bpftrace/perf and write docs/benchmarks.md.
    Bench(bench::BenchArgs),
    /// IPI storm + hotplug loop for minutes under record and the live TUI:
    /// memory slope, loss accounting, file validity (docs/benchmarks.md).
    Soak(soak::SoakArgs),
    /// Build static binaries, .deb, .rpm and tarballs (docs/packaging.md).
    Dist(dist::DistArgs),
    /// Set up, build, and run the full test suite.
    Test {
        /// Skip the QEMU pseries guests.
        #[arg(long)]
        no_vm: bool,
        /// Skip the fuzz smoke run (fuzz/smoke.sh, 20 s per target).
        #[arg(long)]
        no_fuzz: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command, streaming its output; fails with the command line.
pub fn run_cmd(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    eprintln!("xtask: $ {shown}");
    let status = cmd.status().with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(cli: Cli) -> Result<()> {
    match cli.task {
        Task::Setup { check } => setup::run(check),
        Task::Run { release, args } => {
            setup::run(false)?;
            let mut build = cargo();
            build.args(["build", "-p", "lpmtrace", "--bins"]);
            if release {
                build.arg("--release");
            }
            run_cmd(&mut build)?;
            let bin = format!("target/{}/lpmtrace", if release { "release" } else { "debug" });
            let status = Command::new(&bin)
                .args(&args)
                .status()
                .with_context(|| format!("cannot start {bin}"))?;
            if !status.success() {
                bail!("lpmtrace exited with {status}");
            }
            Ok(())
        }
        Task::VmTest(args) => {
            setup::run(false)?;
            vm::run(&args)
        }
        Task::Bench(args) => {
            setup::run(false)?;
            bench::run(&args)
        }
        Task::Soak(args) => {
            setup::run(false)?;
            soak::run(&args, &bench::workspace_root())
        }
        Task::Dist(args) => {
            setup::run(false)?;
            dist::run(&args)
        }
        Task::Test { no_vm, no_fuzz } => {
            setup::run(false)?;
            run_cmd(cargo().args(["build", "-p", "lpmtrace", "--bins"]))?;
            // Kernel-facing tests share CPU hotplug state: one at a time.
            run_cmd(cargo().args([
                "test",
                "--workspace",
                "--exclude",
                "lpmtrace-ebpf",
                "--",
                "--test-threads=1",
            ]))?;
            if no_fuzz {
                eprintln!("xtask: skipping the fuzz smoke run (--no-fuzz)");
            } else {
                // Every libFuzzer target for a short time on its seeds and
                // the regression inputs: a crash, hang or leak fails CI.
                run_cmd(
                    Command::new("bash")
                        .arg(bench::workspace_root().join("fuzz/smoke.sh"))
                        .env("FUZZ_SECS", "20"),
                )?;
            }
            // The packages need two release builds (minutes), so their
            // tests are #[ignore]d in the plain `cargo test` and run here
            // on the artifacts of a fresh `dist`.
            let dist_dir = dist::workspace_root()?.join("target/dist");
            dist::run(&dist::DistArgs {
                target: dist::TargetChoice::All,
                out: dist_dir.clone(),
            })?;
            run_cmd(
                cargo()
                    .args([
                        "test",
                        "-p",
                        "xtask",
                        "--test",
                        "dist",
                        "--",
                        "--ignored",
                        "--test-threads=1",
                    ])
                    .env("LPMTRACE_DIST_DIR", &dist_dir),
            )?;
            if no_vm {
                eprintln!("xtask: skipping the QEMU pseries guests (--no-vm)");
                return Ok(());
            }
            // The guests with their default options (both Debian kernels,
            // every scenario): the real kernel LPM path.
            #[derive(Parser)]
            struct Defaults {
                #[command(flatten)]
                vm: vm::VmTestArgs,
            }
            vm::run(&Defaults::parse_from(["vm-test"]).vm)
        }
    }
}
