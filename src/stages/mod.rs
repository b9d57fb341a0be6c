//! The churn stages of `tasks/` as task kinds of the engine: each adapter reads its parameters,
//! finds its inputs in the object store, runs the stage's CPU work off the async threads, and
//! returns a small JSON output. The stages themselves know nothing of the engine.

mod validate;

use workflows::TaskRegistry;

pub use validate::Validate;

/// Registers every churn stage, given where the object store is.
pub fn register(registry: &mut TaskRegistry, store_root: &str) {
    registry.register(Validate {
        store_root: store_root.to_string(),
    });
}

/// The contract a stage runs under: the file its params name, or the demo contract.
pub fn load_contract(
    path: Option<&std::path::Path>,
) -> Result<tasks::contract::Contract, workflows::TaskError> {
    match path {
        Some(path) => tasks::contract::Contract::load(path).map_err(workflows::TaskError::new),
        None => Ok(tasks::contract::Contract::demo()),
    }
}
