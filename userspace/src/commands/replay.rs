//! `lpmtrace replay FILE`: the interactive screen over a recording, played
//! at `--speed`, with seeking and the findings `lpmtrace report` prints.

use std::path::PathBuf;

use clap::Args;

use crate::analysis::Thresholds;
use crate::tui;

/// Arguments of `lpmtrace replay`.
#[derive(Args, Debug, Clone)]
pub struct ReplayArgs {
    /// The recording (.lpmt).
    pub file: PathBuf,
    /// Playback speed (1 = real time; + and - change it while playing).
    #[arg(long, default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,
    /// Skip damaged blocks (and say which) instead of stopping at the first.
    #[arg(long)]
    pub salvage: bool,
    /// Start paused at the beginning (space plays). Without it (and
    /// without --from-start) the screen opens paused at the most severe
    /// finding, or at the end when there is none.
    #[arg(long, conflicts_with = "from_start")]
    pub paused: bool,
    /// Start playing from the beginning instead of opening at the verdict.
    #[arg(long)]
    pub from_start: bool,
}

/// Parses a positive, finite speed factor.
pub fn parse_speed(text: &str) -> Result<f64, String> {
    let t = text.trim().trim_end_matches(['x', 'X']);
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1e6 => Ok(v),
        _ => Err(format!("invalid speed {text:?} (a factor such as 0.5, 1, 10)")),
    }
}

/// Runs `lpmtrace replay`: fails early (with advice) when stdout is not a
/// terminal, otherwise shows the screen until the user quits.
pub fn run(args: &ReplayArgs) -> anyhow::Result<()> {
    tui::terminal::require_terminal("replay")?;
    let (mut app, mut driver) = tui::replay::open(&args.file, args.salvage, Thresholds::default(), args.speed)?;
    if args.paused {
        app.paused = true;
    } else if !args.from_start {
        open_at_verdict(&mut app, &mut driver)?;
    }
    tui::run_on_terminal(&mut app, &mut driver)
}

/// The first screen says what happened: paused at the most severe finding
/// (selected), or at the end when there is none.
pub fn open_at_verdict(app: &mut tui::app::App, driver: &mut tui::replay::ReplayDriver) -> anyhow::Result<()> {
    use tui::run::Driver;
    let at = app.select_most_severe();
    let end = app.clock().map_or(0, |c| c.end_ns);
    driver.seek(app, at.unwrap_or(end))?;
    app.paused = true;
    app.status = Some(match at {
        Some(_) => "opened at the most severe finding: Enter explains it, g goes to the start, space plays".into(),
        None => "no findings: opened at the end; g goes to the start, space plays".into(),
    });
    app.refresh();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_are_positive_factors() {
        assert_eq!(parse_speed("2").unwrap(), 2.0);
        assert_eq!(parse_speed("0.5x").unwrap(), 0.5);
        assert!(parse_speed("0").is_err());
        assert!(parse_speed("-1").is_err());
        assert!(parse_speed("fast").is_err());
        assert!(parse_speed("inf").is_err());
    }
}
