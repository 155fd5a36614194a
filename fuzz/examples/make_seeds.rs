//! Writes the seed corpora for the fuzz targets into `fuzz/corpus/<target>/`:
//! recordings written by the real `Writer` from the scenario files (stored
//! and zstd blocks, finished and cut short), the version-1 fixture, ring
//! records of every kind, and the scenario files themselves.
//!
//! `cargo run --example make_seeds` (from fuzz/). With `--fix FILE...` it
//! instead rewrites each file with its checksums recomputed (what the
//! record_reader target reads on its second pass), to keep a crash input
//! that needs valid CRCs as a regression file.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lpmtrace::events::session::{KernelGeneration, SessionInfo};
use lpmtrace::record::{Writer, WriterOptions};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--fix") {
        for f in &args[1..] {
            let mut bytes = fs::read(f).expect("read");
            let changed = lpmtrace_fuzz::fix_checksums(&mut bytes);
            fs::write(f, &bytes).expect("write");
            println!("{f}: checksums {}", if changed { "rewritten" } else { "already valid" });
        }
        return;
    }
    let corpus = root().join("corpus");
    let scenarios = root().join("../userspace/tests/scenarios");
    let mut scn: Vec<PathBuf> = fs::read_dir(&scenarios)
        .expect("scenario dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "scn"))
        .collect();
    scn.sort();

    let dir = corpus.join("scenario_parse");
    fs::create_dir_all(&dir).expect("mkdir");
    for p in &scn {
        fs::copy(p, dir.join(p.file_name().expect("name"))).expect("copy scenario");
    }

    let dir = corpus.join("record_reader");
    fs::create_dir_all(&dir).expect("mkdir");
    fs::copy(
        root().join("../userspace/tests/fixtures/v1-small.lpmt"),
        dir.join("v1-small.lpmt"),
    )
    .expect("copy fixture");
    let tmp = std::env::temp_dir().join(format!("lpmtrace-seeds-{}", std::process::id()));
    fs::create_dir_all(&tmp).expect("tmp");
    for p in &scn {
        let Ok(s) = lpmtrace::scenario::load(p) else { continue };
        let stem = p.file_stem().expect("stem").to_string_lossy().to_string();
        for level in [0, 3] {
            let out = tmp.join(format!("{stem}-z{level}.lpmt"));
            let _ = fs::remove_file(&out);
            let opts = WriterOptions {
                compression_level: level,
                // Small blocks: several per file, so the index has entries.
                block_interval: Duration::from_millis(1),
                ..WriterOptions::default()
            };
            let mut w = Writer::create(&out, &s.session, opts).expect("create");
            for e in &s.events {
                w.push(e).expect("push");
            }
            w.finish().expect("finish");
            let bytes = fs::read(&out).expect("read back");
            // Small inputs mutate faster; keep files of up to 16 KiB.
            if bytes.len() <= 16 << 10 {
                fs::write(dir.join(format!("{stem}-z{level}.lpmt")), &bytes).expect("write seed");
                // The same file without trailer (recorder killed): the scan path.
                let cut = bytes.len().saturating_sub(16 + 40);
                fs::write(dir.join(format!("{stem}-z{level}-cut.lpmt")), &bytes[..cut]).expect("write seed");
            }
        }
    }
    let empty = tmp.join("empty.lpmt");
    let session = SessionInfo::synthetic("ppc64le", 4, KernelGeneration::NewPath);
    Writer::create(&empty, &session, WriterOptions::default())
        .expect("create")
        .finish()
        .expect("finish");
    fs::copy(&empty, dir.join("empty.lpmt")).expect("copy");
    let _ = fs::remove_dir_all(&tmp);

    // Ring records: a 16-byte header (ts u64, kind u16, cpu u16, tid u32)
    // and a zeroed body long enough for every record type.
    let dir = corpus.join("ring_decode");
    fs::create_dir_all(&dir).expect("mkdir");
    for kind in [
        1u16, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 40, 41, 42, 43, 44, 60, 61, 62, 63,
    ] {
        let mut rec = vec![0u8; 96];
        rec[0..8].copy_from_slice(&1_000_000_000u64.to_le_bytes());
        rec[8..10].copy_from_slice(&kind.to_le_bytes());
        rec[10..12].copy_from_slice(&1u16.to_le_bytes());
        rec[12..16].copy_from_slice(&100u32.to_le_bytes());
        for (i, b) in rec[16..].iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(7);
        }
        fs::write(dir.join(format!("kind-{kind}")), &rec).expect("write seed");
    }
    println!("seeds written under {}", corpus.display());
}
