//! Standard output for tables, JSON and graphs. `println!` panics (exit 101) when the reader has
//! gone, as `churnflow tasks ... | head -1` does; these macros stop writing quietly instead, and
//! the command goes on to its own exit code (a failed run still exits 1, an interrupted one 130).

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write found the reader gone: nothing more is written.
static READER_GONE: AtomicBool = AtomicBool::new(false);

/// Writes to standard output; after a broken pipe, writes nothing.
pub fn write_out(args: std::fmt::Arguments<'_>) {
    if READER_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_fmt(args).and_then(|()| stdout.flush());
    if let Err(err) = written {
        READER_GONE.store(true, Ordering::Relaxed);
        if err.kind() != std::io::ErrorKind::BrokenPipe {
            tracing::warn!(error = %err, "cannot write to standard output");
        }
    }
}

/// `print!` that survives a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_out(format_args!($($arg)*))
    };
}

/// `println!` that survives a closed pipe.
macro_rules! outln {
    () => {
        $crate::output::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}
