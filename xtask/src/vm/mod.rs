//! `cargo xtask vm-test`: boots Debian's ppc64el kernels in QEMU's pseries
//! machine, runs LPM and CPU-hotplug scenarios in the guest with lpmtrace,
//! brings the artifacts back over the console and checks them on the host.
//!
//! Layout:
//! - [`debian`]: finds, downloads, verifies and caches the kernel and busybox
//!   packages (apt first, the archive's pool as a fallback).
//! - [`initramfs`]: writes the guest's cpio (newc, gzip) image.
//! - [`guest`]: runs one QEMU guest: console capture, QMP wake-ups, crash and
//!   hang detection, file extraction.
//! - [`scenarios`]: the scenario table and each scenario's host-side `check`.
//! - [`kernel_log`], [`host_tool`]: what the checks read (the guest's kernel
//!   log; `lpmtrace report/info/dump` run on the host).
//!
//! docs/vm-tests.md is the user-facing description.

mod debian;
mod faultinject;
mod guest;
mod guest_tools;
mod host_tool;
mod initramfs;
mod kernel_build;
use lpmtrace_oracle::kernel_log;
mod qmp;
mod scenarios;
mod util;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub use scenarios::Verdict;

/// Guest CPU model (`-cpu`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CpuModel {
    /// Hash MMU, XICS only.
    #[value(name = "POWER8", alias = "power8")]
    Power8,
    /// Radix MMU, XIVE (or XICS with `--ic-mode xics`).
    #[value(name = "POWER9", alias = "power9")]
    Power9,
    /// Radix MMU, XIVE.
    #[value(name = "POWER10", alias = "power10")]
    Power10,
}

impl CpuModel {
    fn qemu_name(self) -> &'static str {
        match self {
            CpuModel::Power8 => "POWER8",
            CpuModel::Power9 => "POWER9",
            CpuModel::Power10 => "POWER10",
        }
    }
}

/// Interrupt controller mode of the pseries machine (`ic-mode=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum IcMode {
    /// XIVE exploitation mode (QEMU's default for POWER9/10 with `dual`).
    Xive,
    /// Legacy XICS (hcall-based IPIs: H_IPI, H_XIRR, H_EOI).
    Xics,
}

impl fmt::Display for IcMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IcMode::Xive => "xive",
            IcMode::Xics => "xics",
        })
    }
}

/// Guest firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Firmware {
    /// QEMU's Virtual Open Firmware (`-M pseries,x-vof=on`): boots the
    /// kernel directly, saving SLOF's ~10 s per guest.
    Vof,
    /// SLOF, QEMU's default pseries firmware.
    Slof,
}

/// How packages are fetched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FetchMethod {
    /// Newest version from the archive's indexes; `apt-get download` when
    /// apt has it, else the pool file (apt's candidate if the indexes fail).
    Auto,
    /// Only apt (fails when apt cannot provide the package).
    Apt,
    /// Only the archive's pool (Packages.xz + pool file + SHA-256 check).
    Pool,
    /// Only what is already in the cache; no network.
    Offline,
}

/// Options of `cargo xtask vm-test`.
#[derive(Clone, Debug, clap::Args)]
pub struct VmTestArgs {
    /// Guest kernel: `5.10` (built from Debian's linux 5.10.223 source with
    /// xtask/guest/kernel-5.10.config; the old LPM path), `6.1` (newest
    /// bookworm linux-image-6.1.0-*-powerpc64le), `6.12` (newest trixie
    /// linux-image-6.12.*+deb13-powerpc64le) or a path to a Debian ppc64el
    /// linux-image .deb. Repeatable; default: 5.10, 6.1 and 6.12.
    #[arg(long = "kernel", value_name = "5.10|6.1|6.12|PATH.deb")]
    pub kernels: Vec<String>,

    /// Guest CPU model.
    #[arg(long, value_enum, default_value = "POWER9", ignore_case = true)]
    pub cpu: CpuModel,

    /// Number of vCPUs.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub smp: u32,

    /// Interrupt controller mode for every guest. Default: xive, and
    /// `hotplug-ipi` additionally runs once with xics.
    #[arg(long, value_enum)]
    pub ic_mode: Option<IcMode>,

    /// Scenario to run (repeatable): see docs/vm-tests.md (`boot` and every
    /// default one). Each runs only on the kernels it is written for.
    /// Default: all but `boot`.
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenarios: Vec<String>,

    /// The ppc64le static lpmtrace binary to put in the guest. Default:
    /// cross-build it (`cargo build --release --target
    /// powerpc64le-unknown-linux-gnu -p lpmtrace`).
    #[arg(long, value_name = "PATH")]
    pub lpmtrace: Option<PathBuf>,

    /// Run the guests without lpmtrace (boot, QMP, console and kernel-log
    /// checks only; the recording checks are skipped).
    #[arg(long, conflicts_with = "lpmtrace")]
    pub without_lpmtrace: bool,

    /// The host lpmtrace used to read recordings (`report`, `info`, `dump`).
    /// Default: target/release/lpmtrace or target/debug/lpmtrace, built if
    /// neither exists.
    #[arg(long, value_name = "PATH")]
    pub host_lpmtrace: Option<PathBuf>,

    /// Where downloaded packages and extracted kernels are kept.
    #[arg(long, value_name = "DIR", default_value = "target/vm-cache")]
    pub cache_dir: PathBuf,

    /// Where each run's console logs and artifacts go (a new
    /// `run-<UTC time>` folder inside it per invocation).
    #[arg(long, value_name = "DIR", default_value = "target/vm-runs")]
    pub out_dir: PathBuf,

    /// How packages are fetched.
    #[arg(long, value_enum, default_value = "auto")]
    pub fetch: FetchMethod,

    /// Wall-clock limit per guest, in seconds.
    #[arg(long, default_value_t = 240, value_name = "SECS")]
    pub timeout: u64,

    /// Fail a guest whose console stays silent this long (seconds).
    #[arg(long, default_value_t = 90, value_name = "SECS")]
    pub hang_timeout: u64,

    /// How long a suspended guest stays suspended before `system_wakeup`.
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    pub wake_delay_ms: u64,

    /// Extra guest kernel command-line words, e.g. `lpmt.triggers=10`
    /// (migrations per migrate-smp/-hotplug guest), `lpmt.live=40` (live
    /// seconds in hotplug-ipi), `lpmt.rounds=5` (hotplug rounds). Repeatable.
    #[arg(long = "guest-arg", value_name = "WORD")]
    pub guest_args: Vec<String>,

    /// Guest firmware.
    #[arg(long, value_enum, default_value = "vof")]
    pub firmware: Firmware,

    /// Guest memory in MiB.
    #[arg(long, default_value_t = 2048, value_name = "MIB")]
    pub memory: u32,

    /// Copy the guest console to stderr while it runs.
    #[arg(long)]
    pub show_console: bool,

    /// Boot nothing: run the host-side checks again over an earlier run's
    /// folder (e.g. target/vm-runs/latest), for developing the checks.
    #[arg(long, value_name = "RUN_DIR")]
    pub recheck: Option<PathBuf>,

    /// Only fetch and prepare kernels, busybox and lpmtrace; boot nothing.
    #[arg(long)]
    pub prepare_only: bool,
}

/// One guest to boot: a scenario on a kernel with an interrupt controller.
#[derive(Clone, Debug)]
struct Job {
    kernel: debian::Kernel,
    /// The test-only fault-injection module for this kernel, if built.
    module: Option<faultinject::Module>,
    scenario: &'static scenarios::Scenario,
    ic_mode: IcMode,
}

impl Job {
    fn label(&self) -> String {
        format!("{} {} [{}]", self.kernel.label, self.scenario.name, self.ic_mode)
    }
    fn dir_name(&self) -> String {
        format!("{}-{}-{}", self.kernel.label, self.scenario.name, self.ic_mode)
    }
}

/// Workspace root (the parent of xtask/).
fn workspace_root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| xtask.to_path_buf())
}

fn absolute(root: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        root.join(p)
    }
}

/// Runs the whole VM stage; fails when any scenario fails.
pub fn run(args: &VmTestArgs) -> Result<()> {
    let started = Instant::now();
    let root = workspace_root();
    if let Some(dir) = &args.recheck {
        return recheck(args, &root, &absolute(&root, dir));
    }
    let cache = debian::Cache::new(absolute(&root, &args.cache_dir))?;
    guest::check_host_tools()?;

    let selected = scenarios::select(&args.scenarios)?;
    let kernel_specs: Vec<String> = if args.kernels.is_empty() {
        vec!["5.10".into(), "6.1".into(), "6.12".into()]
    } else {
        args.kernels.clone()
    };
    if args.cpu == CpuModel::Power8 && args.ic_mode == Some(IcMode::Xive) {
        bail!("POWER8 has no XIVE; use --ic-mode xics or leave it unset");
    }

    // 1. Packages.
    let t = Instant::now();
    let fetcher = debian::Fetcher::new(&cache, args.fetch)?;
    let mut kernels = Vec::new();
    for spec in &kernel_specs {
        if spec == "5.10" {
            // Not a Debian binary any more: built from the pool's source.
            let k = kernel_build::kernel_510(&cache, args.fetch).context("preparing kernel 5.10")?;
            let module = faultinject::for_source_kernel(&k).context("preparing lpm-faultinject for 5.10")?;
            kernels.push((k.kernel, Some(module)));
            continue;
        }
        let k = fetcher
            .kernel(spec)
            .with_context(|| format!("preparing kernel {spec}"))?;
        // The fault-injection scenarios on the 5.11+ path run on 6.1 and
        // 6.12 (scenarios::faults::new_path_with_faultinject).
        let module = if scenarios::faults::has_debian_headers(&k) {
            let h = fetcher
                .headers(&k)
                .with_context(|| format!("preparing the {} headers for lpm-faultinject", k.label))?;
            Some(
                faultinject::for_debian_headers(&h, &cache.root)
                    .with_context(|| format!("preparing lpm-faultinject for {}", k.label))?,
            )
        } else {
            None
        };
        kernels.push((k, module));
    }
    let busybox = fetcher.busybox().context("preparing busybox-static:ppc64el")?;
    let fetch_time = t.elapsed();
    println!(
        "vm-test: packages ready in {:.1}s (cache {})",
        fetch_time.as_secs_f64(),
        cache.root.display()
    );

    // 2. lpmtrace for the guest, and the host one for the checks.
    let t = Instant::now();
    let guest_lpmtrace = if args.without_lpmtrace {
        None
    } else {
        Some(host_tool::guest_binary(&root, args.lpmtrace.as_deref())?)
    };
    let host_lpmtrace = if args.without_lpmtrace {
        None
    } else {
        Some(host_tool::HostLpmtrace::locate(&root, args.host_lpmtrace.as_deref())?)
    };
    if guest_lpmtrace.is_some() {
        println!("vm-test: lpmtrace binaries ready in {:.1}s", t.elapsed().as_secs_f64());
    }
    if args.prepare_only {
        println!("vm-test: --prepare-only: not booting anything");
        return Ok(());
    }

    // 3. One initramfs for every guest of this run.
    let out_root = absolute(&root, &args.out_dir);
    let run_dir = out_root.join(format!("run-{}", util::utc_stamp()));
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    let latest = out_root.join("latest");
    let _ = std::fs::remove_file(&latest);
    let _ = std::os::unix::fs::symlink(run_dir.file_name().unwrap_or_default(), &latest);
    let initrd = run_dir.join("initramfs.cpio.gz");
    let modules: Vec<&faultinject::Module> = kernels.iter().filter_map(|(_, m)| m.as_ref()).collect();
    let tools = guest_tools::build_all(&cache.root).context("building the guest tools")?;
    initramfs::build(&initrd, &busybox.binary, guest_lpmtrace.as_deref(), &modules, &tools)?;

    // 4. The guests, one after another.
    let mut jobs = Vec::new();
    for (kernel, module) in &kernels {
        for sc in selected.iter().filter(|sc| (sc.runs_on)(kernel)) {
            let modes: Vec<IcMode> = match args.ic_mode {
                Some(m) => vec![m],
                None if args.cpu == CpuModel::Power8 => vec![IcMode::Xics],
                None => sc.default_ic_modes.to_vec(),
            };
            for ic_mode in modes {
                jobs.push(Job {
                    kernel: kernel.clone(),
                    module: module.clone(),
                    scenario: sc,
                    ic_mode,
                });
            }
        }
    }
    println!("vm-test: {} guest(s), output in {}", jobs.len(), run_dir.display());

    let mut results = Vec::new();
    for job in &jobs {
        let dir = run_dir.join(job.dir_name());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let k = &job.kernel;
        std::fs::write(
            dir.join("kernel.txt"),
            format!(
                "package={}\nversion={}\nvmlinux={}\nconfig={}\nfaultinject={}\n",
                k.package,
                k.version,
                k.vmlinux.display(),
                k.config.display(),
                job.module
                    .as_ref()
                    .map_or("-".to_string(), |m| m.ko.display().to_string())
            ),
        )?;
        let mut config = guest::GuestConfig {
            kernel: job.kernel.vmlinux.clone(),
            initrd: initrd.clone(),
            cpu: args.cpu.qemu_name(),
            firmware: args.firmware,
            extra_append: args.guest_args.join(" "),
            smp: args.smp,
            memory_mib: args.memory,
            ic_mode: job.ic_mode,
            scenario: job.scenario.name,
            with_lpmtrace: guest_lpmtrace.is_some(),
            timeout: Duration::from_secs(args.timeout),
            hang_timeout: Duration::from_secs(args.hang_timeout),
            wake_delay: Duration::from_millis(args.wake_delay_ms),
            show_console: args.show_console,
            disk: None,
            reset_after: job.scenario.power_loss.map(|p| p.reset_after),
        };
        if let Some(p) = job.scenario.power_loss {
            let disk = dir.join("disk.img");
            scenarios::power_loss::make_disk(&disk, p.disk_mib)
                .with_context(|| format!("the {} scenario's disk", job.scenario.name))?;
            config.disk = Some(disk);
        }
        let outcome = guest::run(&config, &dir);
        let verdict = match outcome {
            Err(e) => Verdict::fail(format!("guest did not run: {e:#}")),
            Ok(outcome) => {
                let ctx = scenarios::CheckContext {
                    outcome: &outcome,
                    dir: &dir,
                    host: host_lpmtrace.as_ref(),
                    smp: args.smp,
                    ic_mode: job.ic_mode,
                    kernel: &job.kernel,
                };
                let v = match (job.scenario.check)(&ctx) {
                    Ok(v) => v,
                    Err(e) => Verdict::fail(format!("check error: {e:#}")),
                };
                let v = v.with_timings(&outcome);
                if !v.passed {
                    outcome.print_failure_context();
                }
                v
            }
        };
        let _ = std::fs::write(dir.join("verdict.txt"), verdict.to_string());
        println!("vm-test: {:<44} {}", job.label(), verdict);
        results.push((job.label(), verdict));
    }

    let failed: Vec<_> = results.iter().filter(|(_, v)| !v.passed).collect();
    println!(
        "vm-test: {} passed, {} failed, total {:.1}s (fetch {:.1}s); logs in {}",
        results.len() - failed.len(),
        failed.len(),
        started.elapsed().as_secs_f64(),
        fetch_time.as_secs_f64(),
        run_dir.display()
    );
    if !failed.is_empty() {
        bail!(
            "{} VM scenario(s) failed: {}",
            failed.len(),
            failed.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// `--recheck RUN_DIR`: the checks over an earlier run's guest folders.
fn recheck(args: &VmTestArgs, root: &Path, run_dir: &Path) -> Result<()> {
    let host = if args.without_lpmtrace {
        None
    } else {
        Some(host_tool::HostLpmtrace::locate(root, args.host_lpmtrace.as_deref())?)
    };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(run_dir)
        .with_context(|| format!("reading {}", run_dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("console.log").exists())
        .collect();
    dirs.sort();
    let mut failed = Vec::new();
    for dir in &dirs {
        // <kernel label>-<scenario>-<ic mode>
        let name = dir.file_name().unwrap_or_default().to_string_lossy().to_string();
        let Some((rest, ic)) = name.rsplit_once('-') else {
            continue;
        };
        let ic_mode = if ic == "xics" { IcMode::Xics } else { IcMode::Xive };
        let Some(sc) = scenarios::ALL.iter().find(|s| rest.ends_with(&format!("-{}", s.name))) else {
            continue;
        };
        let label = rest[..rest.len() - sc.name.len() - 1].to_string();
        let meta = std::fs::read_to_string(dir.join("kernel.txt")).unwrap_or_default();
        let get = |k: &str| {
            meta.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or("?")
                .to_string()
        };
        let kernel = debian::Kernel {
            label: label.clone(),
            package: get("package"),
            version: get("version"),
            vmlinux: PathBuf::from(get("vmlinux")),
            config: PathBuf::from(get("config")),
        };
        let outcome = guest::Outcome::reload(dir)?;
        let ctx = scenarios::CheckContext {
            outcome: &outcome,
            dir,
            host: host.as_ref(),
            smp: args.smp,
            ic_mode,
            kernel: &kernel,
        };
        let verdict = (sc.check)(&ctx)
            .unwrap_or_else(|e| Verdict::fail(format!("check error: {e:#}")))
            .with_timings(&outcome);
        println!(
            "vm-test: {:<44} {}",
            format!("{label} {} [{ic_mode}]", sc.name),
            verdict
        );
        if !verdict.passed {
            failed.push(name);
        }
    }
    if !failed.is_empty() {
        bail!("{} VM scenario(s) failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}
