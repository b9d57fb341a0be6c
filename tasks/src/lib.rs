//! churnflow's stage library: the data contract, demo data, contract checks, models, metrics,
//! drift and reports. Usable without any scheduler: it knows nothing of DAGs, runs or retries.

/// The polars the stages are built on, for callers that handle their frames.
pub use polars;

pub mod agreement;
pub mod artifacts;
pub mod bounded_text;
pub mod calibration;
pub mod canary;
pub mod charts;
pub mod contract;
pub mod demo_data;
pub mod drift;
pub mod economics;
pub mod estimation;
pub mod fairness;
pub mod gate;
pub mod glance;
pub mod identity;
pub mod ingest;
pub mod logistic;
pub mod metrics;
pub mod model;
pub mod model_card;
pub mod preprocess;
pub mod report;
pub mod scoring;
pub mod snapshot_drift;
pub mod storage;
pub mod training_set;
pub mod validate;
pub mod warehouse;
