//! `lpmtrace export FILE --format perfetto|jsonl -o OUT`: a recording (or a
//! scenario) as a Perfetto-loadable trace or as JSON lines, with the
//! analysis (migrations, phases, findings) alongside the raw events.
//!
//! One pass over the events feeds the analysis engine and the exporter
//! together. The output goes to a temporary file next to OUT that is
//! renamed at the end, so a failed export never leaves half a trace.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::analysis::{Engine, Report, Thresholds};
use crate::outfile::write_atomically;
use crate::record::{FileSource, OpenOptions};
use crate::scenario;
use crate::source::EventSource;
use crate::views::escape::{EscapeWriter, Style};
use crate::views::export::{jsonl, perfetto, spans::SpanCollector, ExportFormat};

/// Arguments of `lpmtrace export`.
#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// Recording to export (.lpmt), or `--demo`.
    pub file: Option<PathBuf>,
    /// Export a text scenario instead (docs/scenarios.md).
    #[arg(long, value_name = "FILE", conflicts_with = "file")]
    pub scenario: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "perfetto")]
    pub format: ExportFormat,
    /// Where to write (`-` for stdout). An existing file is refused
    /// unless `--force`; the input never is overwritten.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Replace OUT if it exists (never when OUT is the input).
    #[arg(short, long)]
    pub force: bool,
    /// Skip damaged blocks of the recording (and say which) instead of
    /// stopping at the first.
    #[arg(long)]
    pub salvage: bool,
}

/// What an export produced.
#[derive(Debug)]
pub struct ExportSummary {
    /// The analysis of the exported stream.
    pub report: Report,
}

/// Exports `source` to `out` in `format`. `watermark_ns` moves the event
/// clock past the last event (a scenario saying how long its hang lasted).
/// The findings use the default thresholds, as `report` without flags.
pub fn export_to(
    format: ExportFormat,
    source: &mut dyn EventSource,
    watermark_ns: Option<u64>,
    out: &mut dyn Write,
) -> anyhow::Result<ExportSummary> {
    let session = source.session().clone();
    let mut engine = Engine::new(&session, Thresholds::default());
    match format {
        ExportFormat::Perfetto => {
            let mut spans = SpanCollector::new(&session);
            while let Some(ev) = source.next_event().context("reading events")? {
                engine.push(&ev);
                spans.push(&ev);
            }
            if let Some(w) = watermark_ns {
                engine.advance_to(w);
            }
            let report = engine.finish();
            let end = [report.last_ts_ns, watermark_ns].into_iter().flatten().max();
            let collected = spans.finish(end);
            perfetto::write(out, &report, &session, &collected)?;
            Ok(ExportSummary { report })
        }
        ExportFormat::Jsonl => {
            jsonl::write_header(out, &session)?;
            let mut index = 0u64;
            while let Some(ev) = source.next_event().context("reading events")? {
                engine.push(&ev);
                jsonl::write_event(out, index, &ev, &session)?;
                index += 1;
            }
            if let Some(w) = watermark_ns {
                engine.advance_to(w);
            }
            let report = engine.finish();
            jsonl::write_analysis(out, &report, &session)?;
            Ok(ExportSummary { report })
        }
    }
}

/// Runs `lpmtrace export`; a one-line summary goes to stderr.
pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let (mut source, watermark): (Box<dyn EventSource>, Option<u64>) = match (&args.scenario, &args.file) {
        (Some(path), _) => {
            let sc = scenario::load(path)?;
            let w = sc.watermark_ns;
            (Box::new(sc.source()), w)
        }
        (None, Some(path)) => {
            let src = FileSource::open(path, OpenOptions { salvage: args.salvage })?;
            if let Some(note) = src.info().recovery_note() {
                eprintln!("lpmtrace: {}: {note}", path.display());
            }
            (Box::new(src), None)
        }
        (None, None) => anyhow::bail!("export needs a recording (FILE, or --demo) or --scenario FILE"),
    };
    let summary = if args.output == Path::new("-") {
        let stdout = io::stdout();
        let mut out = BufWriter::new(EscapeWriter::new(stdout.lock(), Style::Json));
        let s = export_to(args.format, source.as_mut(), watermark, &mut out)?;
        out.flush().context("writing to stdout")?;
        s
    } else {
        let inputs: Vec<&Path> = args.file.iter().chain(&args.scenario).map(PathBuf::as_path).collect();
        write_atomically(&args.output, args.force, &inputs, |out| {
            export_to(args.format, source.as_mut(), watermark, out)
        })?
    };
    let r = &summary.report;
    eprintln!(
        "lpmtrace: wrote {} ({}): {} events, {} migrations, {} findings, {} events lost",
        args.output.display(),
        match args.format {
            ExportFormat::Perfetto => "perfetto",
            ExportFormat::Jsonl => "jsonl",
        },
        r.events,
        r.migrations.len(),
        r.findings.len(),
        r.events_lost
    );
    Ok(())
}
