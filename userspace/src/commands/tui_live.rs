//! `lpmtrace live` without `--plain`: the interactive screen over a live
//! capture. The capture (and the optional `--record` file) runs on the
//! async side; the screen runs on its own thread and drains a bounded
//! channel (see [`crate::tui::live`]), so drawing never slows the reader.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::capture::Capture;
use crate::record::Writer;
use crate::tui::{self, live::ChannelSink};

use super::live::LiveArgs;

/// Runs the live screen until the user quits (or `--duration` ends the
/// capture and the user then quits). With `--record FILE` every event is
/// also written to FILE, exactly as `record` would.
pub async fn run_live(args: &LiveArgs) -> anyhow::Result<()> {
    tui::terminal::require_terminal("live")?;
    let capture = Capture::start(args.probes.capture_options(args.duration)?)?;
    let session = capture.session().clone();
    let record = args.open_record(&session)?;
    let (tx, rx) = std::sync::mpsc::sync_channel(tui::live::CHANNEL_DEPTH);
    let stop = Arc::new(AtomicBool::new(false));
    let ui_stop = Arc::clone(&stop);
    let ui_session = session.clone();
    let ui = std::thread::Builder::new().name("lpmtrace-tui".into()).spawn(move || {
        let result = tui::run_live_ui(ui_session, rx);
        ui_stop.store(true, Ordering::Relaxed);
        result
    })?;

    // The screen runs its own analysis on its thread; the metrics get one
    // on the capture side so a scrape never depends on the screen keeping up.
    let (metrics, _server) = super::common::start_metrics(args.metrics.as_deref(), &session, "live", true).await?;
    let mut sink = ChannelSink::new(tx, record, stop);
    sink.metrics = metrics.map(|feed| {
        (
            feed,
            crate::watch::Watch::new(&session, crate::analysis::Thresholds::default()),
        )
    });
    let captured = capture.run(&mut sink).await;
    let why = match &captured {
        Ok(s) => format!(
            "{} events, {} lost in {:.1}s",
            s.events,
            s.lost,
            s.elapsed.as_secs_f64()
        ),
        Err(e) => format!("error: {e:#}"),
    };
    sink.end(why);
    let writer = sink.record.take();
    drop(sink);
    // Finish the file whatever happened, so it stays complete.
    let written = writer.map(Writer::finish).transpose();
    // The screen stays up after the capture ends until the user quits.
    let ui_result = ui
        .join()
        .map_err(|_| anyhow::anyhow!("the screen thread panicked (terminal restored)"))?;
    ui_result?;
    let summary = captured?;
    if let Some(s) = written? {
        super::record::report_recorded(&s);
    }
    eprintln!(
        "lpmtrace: {} events in {:.1}s, {} lost",
        summary.events,
        summary.elapsed.as_secs_f64(),
        summary.lost
    );
    Ok(())
}
