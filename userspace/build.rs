//! Builds the eBPF object (ebpf/lpmtrace-ebpf) for this target's
//! architecture with nightly + bpf-linker, so `cargo build` of lpmtrace
//! yields one binary with its probes embedded. `cargo xtask setup` installs
//! what this needs.
fn main() -> anyhow::Result<()> {
    let root_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../ebpf/lpmtrace-ebpf");
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "lpmtrace-ebpf",
            root_dir,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
}
