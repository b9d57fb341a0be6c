//! churnflow's stage library: the data contract, demo data, contract checks, models, metrics,
//! drift and reports. Usable without any scheduler: it knows nothing of DAGs, runs or retries.

pub mod contract;
pub mod demo_data;
pub mod drift;
pub mod metrics;
pub mod model;
pub mod preprocess;
pub mod storage;
pub mod training_set;
pub mod validate;
