//! Logs and progress on stderr. `CHURNFLOW_LOG` filters (default `info`, with sqlx's notices and
//! the cron library's job chatter kept below it); `CHURNFLOW_LOG_FORMAT=json` writes one JSON
//! object per line with the spans' fields (dag, logical date, task, attempt) for log collectors.
//! Progress bars ([`progress`]) draw only on a terminal and never in JSON mode; log lines are
//! written around them so neither garbles the other.

use std::sync::OnceLock;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, fmt};

/// Quieter than plain `info` for libraries that narrate: sqlx logs "already exists, skipping" for
/// every idempotent migration statement and tokio-cron-scheduler each job it adds.
const DEFAULT_FILTER: &str = "info,sqlx=warn,tokio_cron_scheduler=warn";

static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// Log lines go through the bars' lock, so a bar is cleared before a line and drawn after it.
#[derive(Clone)]
struct AroundBars(MultiProgress);

struct AroundBarsWriter(MultiProgress);

impl std::io::Write for AroundBarsWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.suspend(|| std::io::stderr().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for AroundBars {
    type Writer = AroundBarsWriter;

    fn make_writer(&'a self) -> Self::Writer {
        AroundBarsWriter(self.0.clone())
    }
}

/// Whether `CHURNFLOW_LOG_FORMAT` asks for JSON lines.
fn json_format() -> bool {
    std::env::var("CHURNFLOW_LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"))
}

/// Installs the subscriber; call once, first thing.
pub fn init() {
    let filter =
        EnvFilter::try_from_env("CHURNFLOW_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let json = json_format();
    let bars = if json {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    } else {
        // Hidden by itself when stderr is not a terminal.
        MultiProgress::new()
    };
    let _ = BARS.set(bars.clone());
    let writer = AroundBars(bars);
    let layer = if json {
        fmt::layer()
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .flatten_event(true)
            .with_writer(writer)
            .boxed()
    } else {
        fmt::layer()
            .with_writer(writer)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false)
            .boxed()
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .init();
}

/// A progress bar over `len` steps of `what`, drawn on a terminal only; elsewhere the caller's
/// per-step log lines are the progress.
pub fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = match BARS.get() {
        Some(bars) => bars.add(ProgressBar::new(len)),
        None => ProgressBar::hidden(),
    };
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed_precise} (eta {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}
