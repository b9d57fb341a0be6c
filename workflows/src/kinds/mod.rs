//! The generic task kinds the engine ships: `shell` and `noop`. Domain kinds live elsewhere and are
//! registered by the binary.

mod child;
mod noop;
mod shell;

pub use child::die_with_parent;
pub use noop::{NoParams, Noop};
pub use shell::{SKIP_EXIT_CODE, Shell, ShellParams};
