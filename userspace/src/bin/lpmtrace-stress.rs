//! Workloads that make the kernel events lpmtrace traces, for tests and
//! benchmarks: an IPI storm (TLB shootdowns between pinned threads) and a
//! CPU offline/online loop. Linux only; hotplug needs root.
//!
//! `lpmtrace-stress ipi-storm --iterations 50000` prints `iterations/s`.
//! `lpmtrace-stress hotplug-loop --cpu 1 --count 10` prints `cycles/s`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn usage() -> ! {
    eprintln!(
        "usage: lpmtrace-stress ipi-storm [--iterations N] [--duration SECS] [--cpus A,B]\n       \
         lpmtrace-stress hotplug-loop [--cpu N] [--count N | --duration S] [--delay-ms MS]"
    );
    std::process::exit(2)
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    match args.iter().position(|a| a == name) {
        Some(i) => match args.get(i + 1).and_then(|v| v.parse().ok()) {
            Some(v) => v,
            None => {
                eprintln!("lpmtrace-stress: {name} needs a valid value");
                std::process::exit(2)
            }
        },
        None => default,
    }
}

fn pin_to(cpu: usize) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t with one bit set, passed by pointer.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// One thread flips a shared page between read-write and read-only while a
/// thread of the same process runs on the other CPU: every downgrade needs
/// a TLB shootdown, i.e. an IPI to the other CPU and its handler there.
fn ipi_storm(args: &[String]) {
    let iterations: u64 = arg(args, "--iterations", 50_000);
    let duration: f64 = arg(args, "--duration", 0.0);
    let cpus: String = arg(args, "--cpus", "0,1".to_string());
    let cpus: Vec<usize> = cpus.split(',').filter_map(|c| c.trim().parse().ok()).collect();
    if cpus.len() != 2 {
        eprintln!("lpmtrace-stress: --cpus needs two CPUs, e.g. 0,1");
        std::process::exit(2);
    }
    // SAFETY: anonymous private mapping of one page, checked below.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if page == libc::MAP_FAILED {
        eprintln!("lpmtrace-stress: mmap: {}", std::io::Error::last_os_error());
        std::process::exit(1);
    }
    let page_addr = page as usize;
    let stop = Arc::new(AtomicBool::new(false));
    let toucher = {
        let stop = stop.clone();
        let cpu = cpus[1];
        std::thread::spawn(move || {
            if let Err(e) = pin_to(cpu) {
                eprintln!("lpmtrace-stress: pin to cpu{cpu}: {e}");
            }
            while !stop.load(Ordering::Relaxed) {
                // Reading keeps this mm live on the other CPU so shootdowns
                // must reach it.
                // SAFETY: the page stays mapped (at least PROT_READ) until join.
                unsafe { std::ptr::read_volatile(page_addr as *const u8) };
                std::hint::spin_loop();
            }
        })
    };
    if let Err(e) = pin_to(cpus[0]) {
        eprintln!("lpmtrace-stress: pin to cpu{}: {e}", cpus[0]);
    }
    std::thread::sleep(Duration::from_millis(20));
    let start = Instant::now();
    let mut done = 0u64;
    loop {
        // SAFETY: valid mapping; protections only.
        unsafe {
            std::ptr::write_volatile(page as *mut u8, done as u8);
            libc::mprotect(page, 4096, libc::PROT_READ);
            libc::mprotect(page, 4096, libc::PROT_READ | libc::PROT_WRITE);
        }
        done += 1;
        if duration > 0.0 {
            if done.is_multiple_of(256) && start.elapsed().as_secs_f64() >= duration {
                break;
            }
        } else if done >= iterations {
            break;
        }
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = toucher.join();
    println!(
        "ipi-storm: {done} iterations in {:.3}s: {:.0} iterations/s",
        elapsed.as_secs_f64(),
        done as f64 / elapsed.as_secs_f64()
    );
}

fn set_online(cpu: u32, online: bool) -> std::io::Result<()> {
    std::fs::write(
        format!("/sys/devices/system/cpu/cpu{cpu}/online"),
        if online { "1" } else { "0" },
    )
}

fn hotplug_loop(args: &[String]) {
    let cpu: u32 = arg(args, "--cpu", 1);
    let count: u32 = arg(args, "--count", 10);
    let delay = Duration::from_millis(arg(args, "--delay-ms", 50));
    // --duration S: cycle until S seconds have passed (soak runs), and
    // --count is ignored.
    let duration: f64 = arg(args, "--duration", 0.0);
    let until = (duration > 0.0).then(|| Instant::now() + Duration::from_secs_f64(duration));
    let count = if until.is_some() { u32::MAX } else { count };
    let start = Instant::now();
    let mut done = 0u32;
    for i in 0..count {
        if until.is_some_and(|t| Instant::now() >= t) {
            break;
        }
        done += 1;
        for online in [false, true] {
            if let Err(e) = set_online(cpu, online) {
                eprintln!("lpmtrace-stress: cpu{cpu} online={online} (cycle {i}): {e}");
                let _ = set_online(cpu, true);
                std::process::exit(1);
            }
            std::thread::sleep(delay);
        }
    }
    let elapsed = start.elapsed();
    println!(
        "hotplug-loop: {done} cycles of cpu{cpu} in {:.3}s: {:.2} cycles/s",
        elapsed.as_secs_f64(),
        done as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ipi-storm") => ipi_storm(&args[1..]),
        Some("hotplug-loop") => hotplug_loop(&args[1..]),
        _ => usage(),
    }
}
