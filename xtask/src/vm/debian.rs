//! Debian ppc64el packages for the guests: the kernel (bookworm's 6.1,
//! trixie's 6.12, or a local .deb) and busybox-static.
//!
//! With `--fetch auto`:
//! 1. **Which version**: the archive's signed `InRelease` (verified with gpgv
//!    and debian-archive-keyring when available) and the suite's ppc64el
//!    `Packages.xz` (fetched by hash; used with a warning when a mirror in
//!    mid-sync serves one that does not match) decide the newest package,
//!    over the main and security suites. apt's candidate is the fallback
//!    when the indexes cannot be read (apt's view can be stale).
//! 2. **Download**: on Debian hosts `apt-get download NAME:ppc64el=VERSION`
//!    (after `dpkg --add-architecture ppc64el` + `apt-get update`, index
//!    failures tolerated, if apt has no ppc64el lists yet); otherwise, or
//!    when that fails, the pool file. Its SHA-256 must match the index.
//!
//! Cache layout (under `--cache-dir`, default target/vm-cache):
//! ```text
//! indexes/<suite>.InRelease                 refreshed after 6 h
//! indexes/<suite>-ppc64el-<sha12>.Packages-subset  kernel+busybox stanzas, named by InRelease's hash
//! debs/<file>.deb                           downloads (deleted after extraction)
//! kernels/<package>_<version>/vmlinux       + config, meta.txt, .complete
//! busybox/<version>/busybox                 + meta.txt
//! ```

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context, Result};

use super::util;
use super::FetchMethod;

const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";
const INDEX_MAX_AGE: Duration = Duration::from_secs(6 * 3600);
/// How many uploads of a kernel family are tried, newest first, before the
/// cache is the last resort.
const MAX_KERNEL_CANDIDATES: usize = 6;

/// The cache folder and its sub-folders.
pub struct Cache {
    pub root: PathBuf,
}

impl Cache {
    pub fn new(root: PathBuf) -> Result<Self> {
        for sub in ["indexes", "debs", "kernels", "busybox", "headers"] {
            fs::create_dir_all(root.join(sub)).with_context(|| format!("creating {}", root.join(sub).display()))?;
        }
        Ok(Cache { root })
    }
    fn dir(&self, sub: &str) -> PathBuf {
        self.root.join(sub)
    }
}

/// A kernel ready to boot.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// Short label for output: `6.1`, `6.12`, or `local-<name>`.
    pub label: String,
    /// Debian package name.
    pub package: String,
    /// Debian package version.
    pub version: String,
    /// The unstripped ELF image QEMU loads with `-kernel`.
    pub vmlinux: PathBuf,
    /// The kernel's build configuration.
    pub config: PathBuf,
}

/// Unpacked Debian kernel headers and kbuild tools.
pub struct Headers {
    /// The folder the packages were unpacked into.
    pub root: PathBuf,
    /// `usr/src/linux-headers-<release>` inside it (`make -C`).
    pub dir: PathBuf,
    /// `uname -r` of the kernel.
    pub release: String,
    /// The ppc64el libc folder (with ld64.so.2) the kbuild tools run with,
    /// when the host's cross libc is too old for them (6.12).
    pub ppc64el_libc: Option<PathBuf>,
}

/// trixie's ppc64el glibc as a cross package (architecture all, so it is in
/// every architecture's index): the 6.12 kbuild tools run with it.
const CROSS_LIBC_PACKAGE: &str = "libc6-ppc64el-cross";
/// Where that package keeps the libraries, relative to where it is unpacked.
const CROSS_LIBC_DIR: &str = "usr/powerpc64le-linux-gnu/lib";

/// The packages that make a kernel's module build tree.
struct HeaderSet {
    /// `uname -r`.
    release: String,
    names: Vec<String>,
    family: &'static Family,
    /// Whether the kbuild tools need trixie's glibc ([`CROSS_LIBC_PACKAGE`]).
    cross_libc: bool,
}

/// Which headers and kbuild packages belong to a Debian kernel package:
/// `linux-headers-<release>`, `linux-headers-<abi>-common` and
/// `linux-kbuild-6.1` (bookworm) or `linux-kbuild-<abi>` (trixie).
fn header_packages(package: &str) -> Result<HeaderSet> {
    let release = package
        .strip_prefix("linux-image-")
        .filter(|_| (FAMILY_61.matches)(package) || (FAMILY_612.matches)(package))
        .ok_or_else(|| {
            anyhow!(
                "no Debian headers are known for {package} (only bookworm's 6.1.0-N and trixie's 6.12.N+deb13 powerpc64le kernels)"
            )
        })?
        .to_string();
    let abi = release.trim_end_matches("-powerpc64le").to_string();
    let six_one = (FAMILY_61.matches)(package);
    let kbuild = if six_one {
        "linux-kbuild-6.1".to_string()
    } else {
        format!("linux-kbuild-{abi}")
    };
    Ok(HeaderSet {
        names: vec![
            format!("linux-headers-{release}"),
            format!("linux-headers-{abi}-common"),
            kbuild,
        ],
        release,
        family: if six_one { &FAMILY_61 } else { &FAMILY_612 },
        cross_libc: !six_one,
    })
}

/// Makes unpacked headers usable where they are: absolute symlinks and the
/// Makefiles' `include /usr/src/...` lines point into `root` instead of the
/// host's /usr.
fn relocate_usr(root: &Path) -> Result<()> {
    let prefix = root.display().to_string();
    let mut stack = vec![root.join("usr/src")];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)
            .with_context(|| format!("reading {}", d.display()))?
            .flatten()
        {
            let p = e.path();
            let ft = e.file_type()?;
            if ft.is_symlink() {
                let target = fs::read_link(&p)?;
                if target.is_absolute() {
                    let _ = fs::remove_file(&p);
                    std::os::unix::fs::symlink(format!("{prefix}{}", target.display()), &p)?;
                }
            } else if ft.is_dir() {
                // Only the top levels hold links and the Makefile.
                if p.components().count() <= root.components().count() + 4 {
                    stack.push(p);
                }
            } else if p.file_name().is_some_and(|n| n == "Makefile") {
                let text = fs::read_to_string(&p).unwrap_or_default();
                if text.contains("include /usr/src/") {
                    fs::write(
                        &p,
                        text.replace("include /usr/src/", &format!("include {prefix}/usr/src/")),
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// The static busybox for the initramfs.
pub struct Busybox {
    pub binary: PathBuf,
}

/// Where to look for one family of packages.
struct Family {
    label: &'static str,
    /// (archive base kind, suite) pairs; the newest match across them wins.
    suites: &'static [(Archive, &'static str)],
    matches: fn(&str) -> bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Archive {
    Main,
    Security,
}

const FAMILY_61: Family = Family {
    label: "6.1",
    suites: &[(Archive::Main, "bookworm"), (Archive::Security, "bookworm-security")],
    matches: |name| {
        name.strip_prefix("linux-image-6.1.0-")
            .and_then(|r| r.strip_suffix("-powerpc64le"))
            .is_some_and(|abi| !abi.is_empty() && abi.bytes().all(|b| b.is_ascii_digit()))
    },
};

const FAMILY_612: Family = Family {
    label: "6.12",
    suites: &[(Archive::Main, "trixie"), (Archive::Security, "trixie-security")],
    matches: |name| {
        name.strip_prefix("linux-image-6.12.")
            .and_then(|r| r.strip_suffix("+deb13-powerpc64le"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    },
};

/// One package version as an index describes it.
#[derive(Clone, Debug)]
struct PackageInfo {
    name: String,
    version: String,
    filename: String,
    sha256: String,
    size: u64,
    /// Where it came from, for messages.
    origin: String,
}

/// Downloads and prepares packages into the cache.
pub struct Fetcher<'a> {
    cache: &'a Cache,
    method: FetchMethod,
    main_base: String,
    security_base: String,
    /// apt state: None = not checked yet.
    apt_ready: Cell<Option<bool>>,
    /// Parsed Packages indexes by suite.
    indexes: RefCell<HashMap<String, Vec<PackageInfo>>>,
}

impl<'a> Fetcher<'a> {
    pub fn new(cache: &'a Cache, method: FetchMethod) -> Result<Self> {
        let main_base = mirror();
        let security_base = std::env::var("LPMT_DEBIAN_SECURITY_MIRROR").ok().unwrap_or_else(|| {
            // deb.debian.org/debian -> deb.debian.org/debian-security
            if main_base.ends_with("/debian") {
                format!("{main_base}-security")
            } else {
                "http://deb.debian.org/debian-security".into()
            }
        });
        if method != FetchMethod::Offline
            && method != FetchMethod::Apt
            && which::which("curl").is_err()
            && which::which("wget").is_err()
        {
            bail!("neither curl nor wget is installed; install curl (apt-get install curl)");
        }
        Ok(Fetcher {
            cache,
            method,
            main_base,
            security_base,
            apt_ready: Cell::new(None),
            indexes: RefCell::new(HashMap::new()),
        })
    }

    fn base(&self, a: Archive) -> &str {
        match a {
            Archive::Main => &self.main_base,
            Archive::Security => &self.security_base,
        }
    }

    /// Resolves `6.1`, `6.12` or a path to a .deb into a bootable kernel.
    pub fn kernel(&self, spec: &str) -> Result<Kernel> {
        let family = match spec {
            "6.1" | "bookworm" => &FAMILY_61,
            "6.12" | "trixie" => &FAMILY_612,
            path if path.ends_with(".deb") => return self.local_kernel(Path::new(path)),
            other => bail!("unknown --kernel {other:?}: use 6.1, 6.12 or a path to a linux-image .deb"),
        };
        if self.method == FetchMethod::Offline {
            return self.cached_kernel(family);
        }
        let candidates = match self.newest(family) {
            Ok(c) => c,
            Err(e) => {
                // No network, no index: the cache may still have one.
                eprintln!(
                    "vm-test: cannot look up kernel {} ({e:#}); trying the cache",
                    family.label
                );
                return self.cached_kernel(family);
            }
        };
        // Newest first. A mirror in the middle of a sync can list a package
        // whose pool file is not there yet (seen in CI: 404 on the newest
        // trixie kernel), so each older upload, then the cache, is the
        // fallback rather than failing the whole run.
        let mut failures = Vec::new();
        let mut chosen = None;
        for info in candidates.iter().take(MAX_KERNEL_CANDIDATES) {
            let dir = self
                .cache
                .dir("kernels")
                .join(format!("{}_{}", info.name, sanitize(&info.version)));
            if dir.join(".complete").exists() {
                println!(
                    "vm-test: kernel {}: {} {} (cached in {})",
                    family.label,
                    info.name,
                    info.version,
                    dir.display()
                );
                return kernel_from_dir(family.label, &dir);
            }
            match self.download(info).and_then(|deb| {
                extract_kernel(&deb, &dir, info)?;
                let _ = fs::remove_file(&deb);
                Ok(())
            }) {
                Ok(()) => {
                    chosen = Some((info.clone(), dir));
                    break;
                }
                Err(e) => {
                    eprintln!(
                        "vm-test: kernel {}: {} {} from {} failed ({e:#}); trying the next candidate",
                        family.label, info.name, info.version, info.origin
                    );
                    failures.push(format!("{} {} from {}: {e:#}", info.name, info.version, info.origin));
                }
            }
        }
        let Some((info, dir)) = chosen else {
            eprintln!("vm-test: no {} kernel could be fetched; trying the cache", family.label);
            return self.cached_kernel(family).with_context(|| {
                format!(
                    "fetching a {} kernel failed for every candidate: {}",
                    family.label,
                    failures.join("; ")
                )
            });
        };
        println!(
            "vm-test: kernel {}: {} {} from {} -> {}",
            family.label,
            info.name,
            info.version,
            info.origin,
            dir.display()
        );
        // Older kernels of this family are no longer needed.
        for old in list_dirs(&self.cache.dir("kernels"))? {
            let n = old.file_name().unwrap_or_default().to_string_lossy().to_string();
            if old != dir && n.split('_').next().is_some_and(family.matches) {
                println!("vm-test: removing superseded {}", old.display());
                let _ = fs::remove_dir_all(&old);
            }
        }
        kernel_from_dir(family.label, &dir)
    }

    /// Debian's headers and kbuild tools (ppc64el) for a 6.1 or 6.12 kernel
    /// from [`Self::kernel`], unpacked into `headers/<release>/` with the
    /// absolute `/usr/...` references rewritten to point inside it.
    ///
    /// For 6.12 also trixie's `libc6-ppc64el-cross` (architecture all),
    /// unpacked into the same folder: trixie's kbuild tools need glibc 2.38
    /// (`__isoc23_strtoul`), newer than the host's bookworm cross libc.
    pub fn headers(&self, k: &Kernel) -> Result<Headers> {
        let HeaderSet {
            release,
            names,
            family,
            cross_libc,
        } = header_packages(&k.package)?;
        let root = self.cache.dir("headers").join(&release);
        let dir = root.join(format!("usr/src/linux-headers-{release}"));
        let libc = cross_libc.then(|| root.join(CROSS_LIBC_DIR));
        let libc_ok = libc.as_ref().is_none_or(|l| l.join("ld64.so.2").exists());
        if root.join(".complete").exists() && libc_ok {
            return Ok(Headers {
                root,
                dir,
                release,
                ppc64el_libc: libc,
            });
        }
        if self.method == FetchMethod::Offline {
            bail!("--fetch offline: the headers for {release} are not in the cache");
        }
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root)?;
        for name in &names {
            let copies = self
                .exact(name, &k.version, family.suites)
                .with_context(|| format!("headers for {release}"))?;
            let deb = self.download_any(&copies).with_context(|| format!("fetching {name}"))?;
            util::output(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
            let _ = fs::remove_file(&deb);
        }
        if let Some(libs) = &libc {
            let info = self
                .lookup_one(CROSS_LIBC_PACKAGE, family.suites)
                .with_context(|| format!("{CROSS_LIBC_PACKAGE} for the {release} kbuild tools"))?;
            let deb = self
                .download(&info)
                .with_context(|| format!("fetching {CROSS_LIBC_PACKAGE} {}", info.version))?;
            util::output(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
            let _ = fs::remove_file(&deb);
            if !libs.join("ld64.so.2").exists() {
                bail!(
                    "{CROSS_LIBC_PACKAGE} {} has no {}/ld64.so.2",
                    info.version,
                    CROSS_LIBC_DIR
                );
            }
        }
        relocate_usr(&root)?;
        if !dir.join("Makefile").is_file() {
            bail!("{} has no Makefile after unpacking {}", dir.display(), names.join(", "));
        }
        fs::write(root.join(".complete"), format!("{}\n", k.version))?;
        println!("vm-test: headers for {release} -> {}", dir.display());
        Ok(Headers {
            root,
            dir,
            release,
            ppc64el_libc: libc,
        })
    }

    /// The package `name` at exactly `version` (the kernel's upload), from
    /// the archive's indexes: every suite's copy, in suite order.
    fn exact(&self, name: &str, version: &str, suites: &[(Archive, &str)]) -> Result<Vec<PackageInfo>> {
        let mut seen = Vec::new();
        let mut found = Vec::new();
        for &(archive, suite) in suites {
            let list = self.pool_index(archive, suite)?;
            for p in list.iter().filter(|p| p.name == name) {
                if p.version == version {
                    found.push(p.clone());
                } else {
                    seen.push(format!("{} in {suite}", p.version));
                }
            }
        }
        if !found.is_empty() {
            return Ok(found);
        }
        bail!(
            "{name}:ppc64el {version} is not in the archive's indexes (found: {})",
            if seen.is_empty() {
                "none".to_string()
            } else {
                seen.join(", ")
            }
        )
    }

    /// Downloads the first of `copies` that can be fetched (the same file
    /// from different suites' pools).
    fn download_any(&self, copies: &[PackageInfo]) -> Result<PathBuf> {
        let mut errors = Vec::new();
        for info in copies {
            match self.download(info) {
                Ok(deb) => return Ok(deb),
                Err(e) => {
                    eprintln!("vm-test: {} from {} failed ({e:#})", info.name, info.origin);
                    errors.push(format!("{}: {e:#}", info.origin));
                }
            }
        }
        bail!("no copy could be fetched: {}", errors.join("; "))
    }

    /// busybox-static:ppc64el from bookworm.
    pub fn busybox(&self) -> Result<Busybox> {
        let cached = || -> Result<Busybox> {
            let mut dirs = list_dirs(&self.cache.dir("busybox"))?;
            dirs.retain(|d| d.join("busybox").exists());
            dirs.sort_by_key(|d| version_key(&d.file_name().unwrap_or_default().to_string_lossy()));
            let dir = dirs
                .pop()
                .ok_or_else(|| anyhow!("no busybox in the cache ({})", self.cache.dir("busybox").display()))?;
            Ok(Busybox {
                binary: dir.join("busybox"),
            })
        };
        if self.method == FetchMethod::Offline {
            return cached();
        }
        let info = match self.lookup_one("busybox-static", &[(Archive::Main, "bookworm")]) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("vm-test: cannot look up busybox-static ({e:#}); trying the cache");
                return cached();
            }
        };
        let dir = self.cache.dir("busybox").join(sanitize(&info.version));
        let bin = dir.join("busybox");
        if bin.exists() {
            println!("vm-test: busybox-static {} (cached in {})", info.version, dir.display());
            return Ok(Busybox { binary: bin });
        }
        let deb = self.download(&info)?;
        let tmp = dir.with_extension("tmp");
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp)?;
        util::output(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tmp))?;
        let src = tmp.join("bin/busybox");
        if !src.exists() {
            bail!("{} has no bin/busybox", deb.display());
        }
        fs::create_dir_all(&dir)?;
        fs::rename(&src, &bin)?;
        fs::write(
            dir.join("meta.txt"),
            format!(
                "package={}\nversion={}\nsha256={}\nfrom={}\n",
                info.name, info.version, info.sha256, info.origin
            ),
        )?;
        let _ = fs::remove_dir_all(&tmp);
        let _ = fs::remove_file(&deb);
        println!(
            "vm-test: busybox-static {} from {} -> {}",
            info.version,
            info.origin,
            bin.display()
        );
        Ok(Busybox { binary: bin })
    }

    fn local_kernel(&self, deb: &Path) -> Result<Kernel> {
        let deb = deb
            .canonicalize()
            .with_context(|| format!("--kernel {}", deb.display()))?;
        let sha = util::sha256_file(&deb)?;
        let field = |f: &str| -> Result<String> {
            let out = util::output(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(f))?;
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        let (name, version, arch) = (field("Package")?, field("Version")?, field("Architecture")?);
        if arch != "ppc64el" {
            bail!("{} is for {arch}, not ppc64el", deb.display());
        }
        let label = format!("local-{}", name.trim_start_matches("linux-image-"));
        let dir = self
            .cache
            .dir("kernels")
            .join(format!("{}_{}_{}", name, sanitize(&version), &sha[..12]));
        if !dir.join(".complete").exists() {
            let info = PackageInfo {
                name,
                version,
                filename: deb.display().to_string(),
                sha256: sha,
                size: 0,
                origin: deb.display().to_string(),
            };
            extract_kernel(&deb, &dir, &info)?;
        }
        println!("vm-test: kernel {label}: from {} -> {}", deb.display(), dir.display());
        kernel_from_dir(&label, &dir)
    }

    fn cached_kernel(&self, family: &Family) -> Result<Kernel> {
        let mut found: Vec<PathBuf> = list_dirs(&self.cache.dir("kernels"))?
            .into_iter()
            .filter(|d| d.join(".complete").exists())
            .filter(|d| {
                let n = d.file_name().unwrap_or_default().to_string_lossy().to_string();
                n.split('_').next().is_some_and(family.matches)
            })
            .collect();
        found.sort_by_key(|d| version_key(&d.file_name().unwrap_or_default().to_string_lossy()));
        let dir = found.pop().ok_or_else(|| {
            anyhow!(
                "no {} kernel in the cache ({})",
                family.label,
                self.cache.dir("kernels").display()
            )
        })?;
        println!("vm-test: kernel {}: using cached {}", family.label, dir.display());
        kernel_from_dir(family.label, &dir)
    }

    /// The packages of a family, newest first, from the archive's indexes
    /// (main and security suites; apt's own view can be stale, e.g. when its
    /// security index failed to update). The same upload listed by both
    /// suites appears twice, so its second pool is a fallback too. apt's
    /// candidate is the fallback when the indexes cannot be read.
    fn newest(&self, family: &Family) -> Result<Vec<PackageInfo>> {
        if self.method != FetchMethod::Apt {
            let mut all = Vec::new();
            let mut errors = Vec::new();
            for &(archive, suite) in family.suites {
                match self.pool_index(archive, suite) {
                    Ok(list) => all.extend(list.iter().filter(|p| (family.matches)(&p.name)).cloned()),
                    Err(e) => errors.push(format!("{suite}: {e:#}")),
                }
            }
            // Stable sort: for equal versions the suite order is kept.
            all.sort_by_key(|p| std::cmp::Reverse((version_key(&p.name), version_key(&p.version))));
            if !all.is_empty() {
                return Ok(all);
            }
            if self.method == FetchMethod::Pool || !self.apt_usable() {
                bail!(
                    "no {} ppc64el kernel in the archive ({})",
                    family.label,
                    errors.join("; ")
                );
            }
            eprintln!(
                "vm-test: no {} kernel from the archive's indexes ({}); asking apt",
                family.label,
                errors.join("; ")
            );
        } else if !self.apt_usable() {
            bail!("apt cannot be used on this host (not Debian, or not root without ppc64el configured)");
        }
        let newest =
            apt_newest(family.matches)?.ok_or_else(|| anyhow!("apt knows no {} ppc64el kernel", family.label))?;
        Ok(vec![newest])
    }

    fn lookup_one(&self, name: &str, suites: &[(Archive, &str)]) -> Result<PackageInfo> {
        let mut errors = Vec::new();
        if self.method != FetchMethod::Apt {
            for &(archive, suite) in suites {
                match self.pool_index(archive, suite) {
                    Ok(list) => {
                        if let Some(p) = list
                            .iter()
                            .filter(|p| p.name == name)
                            .max_by_key(|p| version_key(&p.version))
                        {
                            return Ok(p.clone());
                        }
                        errors.push(format!("{suite}: not listed"));
                    }
                    Err(e) => errors.push(format!("{suite}: {e:#}")),
                }
            }
        }
        if self.method != FetchMethod::Pool && self.apt_usable() {
            return apt_show(name);
        }
        bail!("{name}:ppc64el not found ({})", errors.join("; "))
    }

    /// Whether apt can serve ppc64el packages; sets it up once if needed.
    fn apt_usable(&self) -> bool {
        if let Some(v) = self.apt_ready.get() {
            return v;
        }
        let v = apt_setup();
        self.apt_ready.set(Some(v));
        v
    }

    /// Downloads a package file into debs/ and checks its SHA-256.
    fn download(&self, info: &PackageInfo) -> Result<PathBuf> {
        let debs = self.cache.dir("debs");
        let base = info.filename.rsplit('/').next().unwrap_or(&info.filename).to_string();
        let dest = debs.join(&base);
        if dest.exists() && util::sha256_file(&dest)? == info.sha256 {
            return Ok(dest);
        }
        let t = std::time::Instant::now();
        let from_apt = info.origin == "apt";
        let mut via_apt = false;
        if from_apt || (self.method != FetchMethod::Pool && self.apt_usable()) {
            println!("vm-test: apt-get download {}:ppc64el={}", info.name, info.version);
            match apt_download(info, &debs, &dest) {
                Ok(()) => via_apt = true,
                Err(e) if from_apt || self.method == FetchMethod::Apt => return Err(e),
                Err(e) => eprintln!("vm-test: apt-get download failed ({e:#}); fetching from the pool"),
            }
        }
        if !via_apt {
            let url = format!("{}/{}", info.origin, info.filename);
            println!("vm-test: downloading {url} ({:.1} MB)", info.size as f64 / 1e6);
            http_get(&url, &dest)?;
        }
        let sha = util::sha256_file(&dest)?;
        if sha != info.sha256 {
            let _ = fs::remove_file(&dest);
            bail!("{}: SHA-256 {sha} does not match the index's {}", base, info.sha256);
        }
        println!(
            "vm-test: fetched {} in {:.1}s, SHA-256 verified -> {}",
            base,
            t.elapsed().as_secs_f64(),
            dest.display()
        );
        Ok(dest)
    }

    /// The ppc64el Packages index of a suite (main component), from the pool.
    fn pool_index(&self, archive: Archive, suite: &str) -> Result<std::cell::Ref<'_, Vec<PackageInfo>>> {
        if !self.indexes.borrow().contains_key(suite) {
            let list = self.load_pool_index(archive, suite)?;
            self.indexes.borrow_mut().insert(suite.to_string(), list);
        }
        Ok(std::cell::Ref::map(self.indexes.borrow(), |m| &m[suite]))
    }

    fn load_pool_index(&self, archive: Archive, suite: &str) -> Result<Vec<PackageInfo>> {
        let base = self.base(archive).to_string();
        let idx = self.cache.dir("indexes");
        let inrelease = idx.join(format!("{suite}.InRelease"));
        let fresh = fs::metadata(&inrelease)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age < INDEX_MAX_AGE);
        if !fresh {
            http_get(&format!("{base}/dists/{suite}/InRelease"), &inrelease)?;
        }
        verify_inrelease(&inrelease);
        let text = fs::read_to_string(&inrelease)?;
        let rel = "main/binary-ppc64el/Packages.xz";
        let (sha, size) = release_sha256(&text, rel).ok_or_else(|| anyhow!("{suite} InRelease does not list {rel}"))?;
        // Only the stanzas vm-test can use are kept (a few hundred kB instead
        // of ~50 MB per suite), named after InRelease's hash of the index.
        // "-h2": the subset includes the 6.1 and 6.12 headers and kbuild
        // packages and the cross libc (older subsets without them are
        // replaced).
        let subset = idx.join(format!("{suite}-ppc64el-{}-h2.Packages-subset", &sha[..12]));
        if !subset.exists() {
            let tmp = idx.join(format!("{suite}-ppc64el.Packages.xz.tmp"));
            let by_hash = format!("{base}/dists/{suite}/main/binary-ppc64el/by-hash/SHA256/{sha}");
            let direct = format!("{base}/dists/{suite}/{rel}");
            let mut ok = false;
            let mut got_other = false;
            for url in [&by_hash, &direct] {
                if http_get(url, &tmp).is_ok() {
                    if util::sha256_file(&tmp)? == sha {
                        ok = true;
                        break;
                    }
                    got_other = true;
                }
            }
            if !ok && got_other {
                // Seen on real mirrors: InRelease and Packages.xz from
                // different syncs, and no by-hash copy. The pool files are
                // still checked against this index's SHA-256 sums.
                eprintln!(
                    "vm-test: warning: {base}/dists/{suite}/{rel} does not match InRelease (mirror sync in progress?); \
                     using it unverified"
                );
                ok = true;
            }
            if !ok {
                let _ = fs::remove_file(&tmp);
                bail!("could not fetch {suite}'s {rel} (SHA-256 {sha}, {size} bytes) from {base}");
            }
            let out = util::output(Command::new("xz").arg("-dc").arg(&tmp));
            let _ = fs::remove_file(&tmp);
            let text = String::from_utf8_lossy(&out?.stdout).into_owned();
            let keep: Vec<&str> = text
                .split("\n\n")
                .filter(|st| {
                    st.lines()
                        .next()
                        .and_then(|l| l.strip_prefix("Package: "))
                        .is_some_and(wanted_package)
                })
                .collect();
            let part = subset.with_extension("part");
            fs::write(&part, keep.join("\n\n") + "\n")?;
            fs::rename(&part, &subset)?;
            // Drop older indexes of this suite.
            for old in list_files(&idx)? {
                let n = old.file_name().unwrap_or_default().to_string_lossy().to_string();
                if n.starts_with(&format!("{suite}-ppc64el-")) && old != subset {
                    let _ = fs::remove_file(old);
                }
            }
        }
        let text = fs::read_to_string(&subset)?;
        Ok(parse_packages(&text, &base))
    }
}

/// Packages vm-test may need from an index: busybox, the kernels, and what
/// building the test-only fault-injection module against a 6.1 or 6.12
/// kernel needs (its headers and kbuild tools, and for 6.12 trixie's cross
/// libc that runs them).
fn wanted_package(name: &str) -> bool {
    name == "busybox-static"
        || (FAMILY_61.matches)(name)
        || (FAMILY_612.matches)(name)
        || name == "linux-kbuild-6.1"
        || name.starts_with("linux-headers-6.1.0-")
        || name.starts_with("linux-kbuild-6.12.")
        || name.starts_with("linux-headers-6.12.")
        || name == CROSS_LIBC_PACKAGE
}

/// Parses a Packages file into the fields we need.
fn parse_packages(text: &str, origin: &str) -> Vec<PackageInfo> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut f: HashMap<&str, &str> = HashMap::new();
        for line in stanza.lines() {
            if line.starts_with(' ') {
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                f.insert(k, v.trim());
            }
        }
        if let (Some(name), Some(version), Some(filename), Some(sha)) =
            (f.get("Package"), f.get("Version"), f.get("Filename"), f.get("SHA256"))
        {
            out.push(PackageInfo {
                name: name.to_string(),
                version: version.to_string(),
                filename: filename.to_string(),
                sha256: sha.to_string(),
                size: f.get("Size").and_then(|s| s.parse().ok()).unwrap_or(0),
                origin: origin.to_string(),
            });
        }
    }
    out
}

/// SHA-256 and size of `path` in a Release/InRelease file.
fn release_sha256(text: &str, path: &str) -> Option<(String, u64)> {
    let mut in_sha = false;
    for line in text.lines() {
        if !line.starts_with(' ') {
            in_sha = line.trim_end() == "SHA256:";
            continue;
        }
        if in_sha {
            let parts: Vec<&str> = line.split_whitespace().collect();
            if parts.len() == 3 && parts[2] == path {
                return Some((parts[0].to_string(), parts[1].parse().ok()?));
            }
        }
    }
    None
}

/// Checks InRelease's signature when gpgv and the keyring exist; warns
/// otherwise (the package checksums still pin everything to the index).
fn verify_inrelease(path: &Path) {
    if which::which("gpgv").is_err() || !Path::new(KEYRING).exists() {
        eprintln!(
            "vm-test: warning: cannot verify {} (gpgv or {KEYRING} missing)",
            path.display()
        );
        return;
    }
    match Command::new("gpgv").arg("--keyring").arg(KEYRING).arg(path).output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => eprintln!(
            "vm-test: warning: signature check of {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("")
        ),
        Err(e) => eprintln!("vm-test: warning: cannot run gpgv: {e}"),
    }
}

/// The main archive's base URL: `LPMT_DEBIAN_MIRROR`, else apt's mirror.
pub fn mirror() -> String {
    std::env::var("LPMT_DEBIAN_MIRROR")
        .ok()
        .unwrap_or_else(apt_debian_mirror)
        .trim_end_matches('/')
        .to_string()
}

/// Downloads a URL to a file (curl, else wget), atomically.
pub fn http_get(url: &str, dest: &Path) -> Result<()> {
    let tmp = dest.with_extension("download");
    let mut cmd = if which::which("curl").is_ok() {
        let mut c = Command::new("curl");
        c.args(["-fsSL", "--retry", "3", "--connect-timeout", "20", "-o"])
            .arg(&tmp)
            .arg(url);
        c
    } else {
        let mut c = Command::new("wget");
        c.args(["-q", "--tries=3", "-O"]).arg(&tmp).arg(url);
        c
    };
    let res = util::output(&mut cmd);
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(e.context(format!("downloading {url}")));
    }
    fs::rename(&tmp, dest)?;
    Ok(())
}

/// The Debian mirror apt uses (first non-security `debian` URI), else
/// deb.debian.org.
fn apt_debian_mirror() -> String {
    let mut texts = Vec::new();
    if let Ok(t) = fs::read_to_string("/etc/apt/sources.list") {
        texts.push(t);
    }
    if let Ok(rd) = fs::read_dir("/etc/apt/sources.list.d") {
        for e in rd.flatten() {
            let p = e.path();
            let n = p.to_string_lossy().to_string();
            if n.ends_with(".list") || n.ends_with(".sources") {
                if let Ok(t) = fs::read_to_string(&p) {
                    texts.push(t);
                }
            }
        }
    }
    for t in &texts {
        for line in t.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            for word in line.split_whitespace() {
                let w = word.trim_start_matches("URIs:");
                if (w.starts_with("http://") || w.starts_with("https://"))
                    && w.trim_end_matches('/').ends_with("/debian")
                {
                    return w.trim_end_matches('/').to_string();
                }
            }
        }
    }
    DEFAULT_MIRROR.to_string()
}

fn is_debian_host() -> bool {
    fs::read_to_string("/etc/os-release").is_ok_and(|t| t.lines().any(|l| l.trim() == "ID=debian"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Makes sure apt knows ppc64el packages; true when apt is worth asking.
fn apt_setup() -> bool {
    if !is_debian_host() || which::which("apt-get").is_err() {
        return false;
    }
    let archs = Command::new("dpkg").arg("--print-foreign-architectures").output();
    let has = archs.as_ref().is_ok_and(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.trim() == "ppc64el")
    });
    // apt keeps one Packages list per suite and architecture.
    let indexed = || {
        fs::read_dir("/var/lib/apt/lists")
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.file_name().to_string_lossy().contains("binary-ppc64el_Packages"))
            })
            .unwrap_or(false)
    };
    if has && indexed() {
        return true;
    }
    if !is_root() {
        eprintln!("vm-test: apt has no ppc64el index and we are not root; using the archive's pool");
        return false;
    }
    if !has {
        println!("vm-test: dpkg --add-architecture ppc64el");
        if util::output(Command::new("dpkg").args(["--add-architecture", "ppc64el"])).is_err() {
            return false;
        }
    }
    println!("vm-test: apt-get update (index failures are tolerated)");
    let out = Command::new("apt-get").args(["update", "-q"]).output();
    if let Ok(o) = &out {
        for l in String::from_utf8_lossy(&o.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&o.stderr).lines())
        {
            if l.starts_with("E:") || l.starts_with("Err:") || l.starts_with("W:") {
                eprintln!("vm-test:   apt: {l}");
            }
        }
    }
    indexed()
}

/// `apt-get download NAME:ppc64el=VERSION` into `debs`, renamed to `dest`.
fn apt_download(info: &PackageInfo, debs: &Path, dest: &Path) -> Result<()> {
    let before: Vec<PathBuf> = list_files(debs)?;
    util::output(
        Command::new("apt-get")
            .args(["download", "-q"])
            .arg(format!("{}:ppc64el={}", info.name, info.version))
            .current_dir(debs),
    )?;
    let prefix = format!("{}_", info.name);
    let got = list_files(debs)?
        .into_iter()
        .filter(|p| !before.contains(p))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix) && n.to_string_lossy().ends_with(".deb"))
        })
        .ok_or_else(|| anyhow!("apt-get download left no {prefix}*.deb in {}", debs.display()))?;
    if got != dest {
        fs::rename(&got, dest)?;
    }
    Ok(())
}

/// Newest apt package matching a name filter (ppc64el).
fn apt_newest(matches: fn(&str) -> bool) -> Result<Option<PackageInfo>> {
    let out = util::output(Command::new("apt-cache").args(["pkgnames", "linux-image-6."]))?;
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|n| matches(n))
        .map(String::from)
        .collect();
    names.sort_by_key(|n| version_key(n));
    while let Some(name) = names.pop() {
        if let Ok(info) = apt_show(&name) {
            return Ok(Some(info));
        }
    }
    Ok(None)
}

/// apt's candidate of NAME:ppc64el.
fn apt_show(name: &str) -> Result<PackageInfo> {
    let out = util::output(
        Command::new("apt-cache")
            .args(["show", "--no-all-versions"])
            .arg(format!("{name}:ppc64el")),
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    let list = parse_packages(&text, "apt");
    list.into_iter()
        .next()
        .ok_or_else(|| anyhow!("apt-cache show {name}:ppc64el printed no package"))
}

/// Extracts boot/vmlinux-* and boot/config-* of a linux-image .deb.
fn extract_kernel(deb: &Path, dir: &Path, info: &PackageInfo) -> Result<()> {
    let tmp = dir.with_extension("tmp");
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start dpkg-deb (install dpkg)")?;
    let tar_status = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(&tmp)
        .args(["--wildcards", "./boot/*"])
        .stdin(dpkg.stdout.take().ok_or_else(|| anyhow!("no pipe"))?)
        .status()?;
    let dpkg_status = dpkg.wait()?;
    if !tar_status.success() || !dpkg_status.success() {
        bail!(
            "extracting boot/ from {} failed (dpkg-deb {dpkg_status}, tar {tar_status})",
            deb.display()
        );
    }
    let boot = tmp.join("boot");
    let find = |prefix: &str| -> Result<PathBuf> {
        list_files(&boot)?
            .into_iter()
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(prefix)))
            .ok_or_else(|| anyhow!("{} has no boot/{prefix}*", deb.display()))
    };
    let vmlinux = find("vmlinux-")?;
    let config = find("config-")?;
    let release = vmlinux
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .trim_start_matches("vmlinux-")
        .to_string();
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir)?;
    fs::rename(&vmlinux, dir.join("vmlinux"))?;
    fs::rename(&config, dir.join("config"))?;
    fs::write(
        dir.join("meta.txt"),
        format!(
            "package={}\nversion={}\nrelease={release}\nsha256={}\nfrom={}\nfile={}\n",
            info.name, info.version, info.sha256, info.origin, info.filename
        ),
    )?;
    fs::write(dir.join(".complete"), b"")?;
    let _ = fs::remove_dir_all(&tmp);
    Ok(())
}

fn kernel_from_dir(label: &str, dir: &Path) -> Result<Kernel> {
    let meta = fs::read_to_string(dir.join("meta.txt")).unwrap_or_default();
    let get = |k: &str| {
        meta.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or("?")
            .to_string()
    };
    Ok(Kernel {
        label: label.to_string(),
        package: get("package"),
        version: get("version"),
        vmlinux: dir.join("vmlinux"),
        config: dir.join("config"),
    })
}

/// Numbers in a name or version, for "newest" comparisons
/// (6.1.0-50 > 6.1.0-9; 6.12.107 > 6.12.57).
fn version_key(s: &str) -> Vec<u64> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().unwrap_or(u64::MAX))
        .collect()
}

fn sanitize(v: &str) -> String {
    v.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".+-~".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn list_dirs(d: &Path) -> Result<Vec<PathBuf>> {
    Ok(fs::read_dir(d)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect())
}

fn list_files(d: &Path) -> Result<Vec<PathBuf>> {
    Ok(fs::read_dir(d)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        assert!((FAMILY_61.matches)("linux-image-6.1.0-50-powerpc64le"));
        assert!(!(FAMILY_61.matches)("linux-image-6.1.0-50-powerpc64le-dbg"));
        assert!(!(FAMILY_61.matches)("linux-image-6.1.0-50-amd64"));
        assert!((FAMILY_612.matches)("linux-image-6.12.57+deb13-powerpc64le"));
        assert!(!(FAMILY_612.matches)("linux-image-6.12.57+deb13-powerpc64le-64k"));
    }

    #[test]
    fn header_package_sets() {
        let h = header_packages("linux-image-6.1.0-50-powerpc64le").unwrap();
        assert_eq!(h.release, "6.1.0-50-powerpc64le");
        assert_eq!(
            h.names,
            [
                "linux-headers-6.1.0-50-powerpc64le",
                "linux-headers-6.1.0-50-common",
                "linux-kbuild-6.1"
            ]
        );
        assert!(!h.cross_libc);
        assert_eq!(h.family.label, "6.1");
        let h = header_packages("linux-image-6.12.113+deb13-powerpc64le").unwrap();
        assert_eq!(h.release, "6.12.113+deb13-powerpc64le");
        assert_eq!(
            h.names,
            [
                "linux-headers-6.12.113+deb13-powerpc64le",
                "linux-headers-6.12.113+deb13-common",
                "linux-kbuild-6.12.113+deb13"
            ]
        );
        assert!(h.cross_libc);
        assert_eq!(h.family.label, "6.12");
        for p in &h.names {
            assert!(wanted_package(p), "{p} is not kept in the index subset");
        }
        assert!(wanted_package(CROSS_LIBC_PACKAGE));
        let Err(e) = header_packages("linux-image-6.12.113+deb13-powerpc64le-64k") else {
            panic!("headers for the 64k flavour");
        };
        let err = format!("{e:#}");
        assert!(err.contains("no Debian headers"), "{err}");
    }

    #[test]
    fn newest_by_numbers() {
        assert!(version_key("linux-image-6.1.0-50-powerpc64le") > version_key("linux-image-6.1.0-9-powerpc64le"));
        assert!(
            version_key("linux-image-6.12.107+deb13-powerpc64le")
                > version_key("linux-image-6.12.57+deb13-powerpc64le")
        );
    }

    #[test]
    fn release_and_packages() {
        let rel = "Origin: Debian\nMD5Sum:\n 0123 10 main/binary-ppc64el/Packages.xz\nSHA256:\n abcd 42 main/binary-ppc64el/Packages.xz\n ef01 7 main/binary-ppc64el/Release\n";
        assert_eq!(
            release_sha256(rel, "main/binary-ppc64el/Packages.xz"),
            Some(("abcd".into(), 42))
        );
        let pk = "Package: busybox-static\nVersion: 1:1.35.0-4\nFilename: pool/main/b/busybox/b.deb\nSize: 9\nSHA256: 00ff\nDescription: x\n more\n\nPackage: y\n";
        let l = parse_packages(pk, "http://m/debian");
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].version, "1:1.35.0-4");
        assert_eq!(l[0].size, 9);
    }

    /// A local archive (file:// URLs) for the fetch fallbacks.
    struct FakeArchive {
        root: PathBuf,
    }

    impl FakeArchive {
        fn new(tag: &str) -> FakeArchive {
            let root = std::env::temp_dir().join(format!("lpmt-fake-archive-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(&root).unwrap();
            FakeArchive { root }
        }

        /// A linux-image .deb with boot/vmlinux-REL and boot/config-REL.
        fn kernel_deb(&self, name: &str, version: &str, release: &str) -> (Vec<u8>, String) {
            let build = self.root.join(format!("build-{release}"));
            fs::create_dir_all(build.join("DEBIAN")).unwrap();
            fs::create_dir_all(build.join("boot")).unwrap();
            fs::write(
                build.join("DEBIAN/control"),
                format!(
                    "Package: {name}\nVersion: {version}\nArchitecture: ppc64el\nMaintainer: t <t@t>\nDescription: t\n"
                ),
            )
            .unwrap();
            fs::write(build.join(format!("boot/vmlinux-{release}")), b"ELF").unwrap();
            fs::write(build.join(format!("boot/config-{release}")), b"CONFIG_X=y\n").unwrap();
            let deb = self.root.join(format!("{release}.deb"));
            let st = Command::new("dpkg-deb")
                .args(["--root-owner-group", "-Zgzip", "--build"])
                .arg(&build)
                .arg(&deb)
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(st.success());
            let bytes = fs::read(&deb).unwrap();
            let sha = util::sha256_file(&deb).unwrap();
            (bytes, sha)
        }

        /// Writes a suite: InRelease naming Packages.xz, the index, and the
        /// pool files given (`None` = listed but missing from the pool).
        fn suite(&self, archive: &str, suite: &str, pkgs: &[(&str, &str, &str, Option<&[u8]>)]) {
            let base = self.root.join(archive);
            let mut index = String::new();
            for (i, (name, version, sha, bytes)) in pkgs.iter().enumerate() {
                let filename = format!("pool/main/l/linux/{name}_{version}_{i}.deb");
                if let Some(b) = bytes {
                    let f = base.join(&filename);
                    fs::create_dir_all(f.parent().unwrap()).unwrap();
                    fs::write(&f, b).unwrap();
                }
                index +=
                    &format!("Package: {name}\nVersion: {version}\nFilename: {filename}\nSize: 3\nSHA256: {sha}\n\n");
            }
            let dists = base.join(format!("dists/{suite}/main/binary-ppc64el"));
            fs::create_dir_all(&dists).unwrap();
            let plain = dists.join("Packages");
            fs::write(&plain, index).unwrap();
            let st = Command::new("xz").arg("-kf").arg(&plain).status().unwrap();
            assert!(st.success());
            let xz = dists.join("Packages.xz");
            let sha = util::sha256_file(&xz).unwrap();
            let size = fs::metadata(&xz).unwrap().len();
            fs::write(
                base.join(format!("dists/{suite}/InRelease")),
                format!("Suite: {suite}\nSHA256:\n {sha} {size} main/binary-ppc64el/Packages.xz\n"),
            )
            .unwrap();
        }

        fn fetcher<'a>(&self, cache: &'a Cache) -> Fetcher<'a> {
            Fetcher {
                cache,
                method: FetchMethod::Pool,
                main_base: format!("file://{}", self.root.join("debian").display()),
                security_base: format!("file://{}", self.root.join("debian-security").display()),
                apt_ready: Cell::new(Some(false)),
                indexes: RefCell::new(HashMap::new()),
            }
        }
    }

    impl Drop for FakeArchive {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.root);
        }
    }

    /// What broke CI once: the mirror's index listed the newest trixie
    /// kernel before its pool file existed (404). The next upload is used.
    #[test]
    fn a_kernel_missing_from_the_pool_falls_back_to_the_next_upload() {
        if which::which("dpkg-deb").is_err() || which::which("curl").is_err() {
            panic!("this test needs dpkg-deb and curl (cargo xtask setup installs them)");
        }
        let fa = FakeArchive::new("fallback");
        let new = "linux-image-6.12.117+deb13-powerpc64le";
        let old = "linux-image-6.12.107+deb13-powerpc64le";
        let (old_deb, old_sha) = fa.kernel_deb(old, "6.12.107-1", "6.12.107+deb13-powerpc64le");
        // The newest: listed in main with a sum, no pool file anywhere.
        fa.suite("debian", "trixie", &[(new, "6.12.117-1", &"ab".repeat(32), None)]);
        fa.suite(
            "debian-security",
            "trixie-security",
            &[(old, "6.12.107-1", &old_sha, Some(old_deb.as_slice()))],
        );
        let cache = Cache::new(fa.root.join("cache")).unwrap();
        let k = fa.fetcher(&cache).kernel("6.12").unwrap();
        assert_eq!(k.package, old);
        assert_eq!(k.version, "6.12.107-1");
        assert_eq!(fs::read(&k.vmlinux).unwrap(), b"ELF");
    }

    /// Nothing fetchable and nothing cached: the error names every
    /// candidate that was tried.
    #[test]
    fn no_fetchable_kernel_names_every_candidate() {
        if which::which("curl").is_err() {
            panic!("this test needs curl (cargo xtask setup installs it)");
        }
        let fa = FakeArchive::new("nothing");
        let new = "linux-image-6.12.117+deb13-powerpc64le";
        fa.suite("debian", "trixie", &[(new, "6.12.117-1", &"ab".repeat(32), None)]);
        fa.suite(
            "debian-security",
            "trixie-security",
            &[(new, "6.12.117-1", &"ab".repeat(32), None)],
        );
        let cache = Cache::new(fa.root.join("cache")).unwrap();
        let err = format!("{:#}", fa.fetcher(&cache).kernel("6.12").unwrap_err());
        assert!(err.contains("every candidate"), "{err}");
        assert!(err.contains("debian-security"), "{err}");
        assert!(err.matches("6.12.117-1").count() >= 2, "{err}");
    }
}
