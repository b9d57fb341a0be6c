//! Integration tests of the engine, in one test binary: parsing, execution on SQLite and
//! PostgreSQL, leases, schedules across daylight-saving transitions, and catch-up.

mod claims;
mod execution;
mod outbox;
mod parsing;
mod recovery;
mod scheduling;
mod support;
