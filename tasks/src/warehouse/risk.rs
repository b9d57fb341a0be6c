//! The risk table the CRM imports. A score date's rows replace the previous rows of that date in
//! one transaction, so readers see the whole old partition or the whole new one, never a mix; a
//! failed load leaves the table as it was. PostgreSQL deletes the date's old rows and `COPY`s the
//! new ones in one transaction: until it commits, readers keep seeing the old rows (MVCC), so the
//! transaction is the staging area and the commit the swap. (A separate staging table, loaded and
//! then copied over with INSERT ... SELECT, wrote every row twice: 5.2 s against 3.9 s for a
//! million rows.) The CSV comes in pieces as it is encoded, so a million rows' CSV is never held
//! whole. SQLite inserts in batches inside its one write transaction.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use polars::prelude::*;
use serde::Serialize;
use sqlx::Connection as _;
use sqlx::Row;

use super::{Backend, Warehouse, WarehouseError};
use crate::identity::Role;

/// The columns of a risk frame, in table order. The reasons are the contract features raising the
/// customer's risk most, as a CRM user reads them, with their contributions in log-odds (None
/// where fewer features raise it). Then what a CRM import needs beside the probability: the score
/// as 0-100, the tier of the day published before and whether it changed, and when the row was
/// scored (ISO 8601, UTC).
pub const RISK_COLUMNS: [&str; 19] = [
    "score_date",
    "customer_id",
    "churn_probability",
    "risk_tier",
    "recommended_action",
    "model",
    "model_version",
    "role",
    "reason_1",
    "reason_1_contribution",
    "reason_2",
    "reason_2_contribution",
    "reason_3",
    "reason_3_contribution",
    "churn_score",
    "previous_tier",
    "tier_changed",
    "scored_at",
    "crm_keys",
];

/// Rows per multi-row INSERT on SQLite (19 binds each, under its limit of 32766).
const SQLITE_BATCH: usize = 1_500;
/// Bytes of CSV handed to PostgreSQL's COPY per message.
const COPY_PIECE_BYTES: usize = 1 << 20;
/// Rows per piece of [`risk_csv_pieces`]: about 16 MB of CSV with reasons.
pub const CSV_PIECE_ROWS: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskRow {
    pub customer_id: String,
    pub churn_probability: f64,
    pub risk_tier: String,
    pub recommended_action: String,
    pub model_version: i64,
    /// The features raising the risk most, most first.
    pub reasons: Vec<String>,
    /// The customer's tier on the day published before (None when new or unknown).
    pub previous_tier: Option<String>,
    /// The arm the row was served in: `champion`, or `canary` (a challenger's score).
    pub role: String,
    /// The contract's CRM keys of the customer, a JSON object (None when it names none).
    pub crm_keys: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierCount {
    pub tier: String,
    pub customers: i64,
    pub action: String,
}

/// A score date's served scores, lean: what measuring their outcomes needs (a million of them
/// as [`RiskRow`]s, reasons and all, took over 1.6 GB).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServedScores {
    pub customer_ids: Vec<String>,
    pub probabilities: Vec<f64>,
    /// Index into `tier_names` per row.
    pub tiers: Vec<u32>,
    pub tier_names: Vec<String>,
    /// Index into `arms` per row.
    pub arm_of_row: Vec<u32>,
    /// (role, model version) of each arm.
    pub arms: Vec<(String, i64)>,
}

impl ServedScores {
    pub fn len(&self) -> usize {
        self.customer_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.customer_ids.is_empty()
    }
}

/// Customers of one tier today who had one tier (or none) on the day published before, with the
/// sum of their churn probabilities (the expected number of churners among them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierMove {
    pub tier: String,
    pub previous_tier: Option<String>,
    pub customers: i64,
    pub probability_sum: f64,
}

/// Which rows a load replaces: one score date's rows of one model in one role.
#[derive(Debug, Clone, Copy)]
pub struct RiskPartition<'a> {
    pub score_date: &'a str,
    pub model: &'a str,
    pub role: Role,
}

const DELETE_PARTITION: &str =
    "DELETE FROM risk_scores WHERE score_date = $1 AND model = $2 AND role = $3";

/// One partition's load for [`Warehouse::replace_risk_partitions`]: its rows, and their CSV
/// pieces as they are encoded (read where [`Warehouse::loads_risk_csv`]).
pub struct RiskLoad<'a> {
    pub partition: RiskPartition<'a>,
    pub frame: &'a DataFrame,
    pub csv: futures::stream::BoxStream<'a, Bytes>,
}

/// Deletes `partition`'s rows inside a transaction of either backend.
async fn delete_partition<'c, DB>(
    tx: &mut sqlx::Transaction<'c, DB>,
    partition: &RiskPartition<'_>,
) -> Result<(), sqlx::Error>
where
    DB: sqlx::Database,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'e> &'e mut <DB as sqlx::Database>::Connection: sqlx::Executor<'e, Database = DB>,
{
    sqlx::query::<DB>(DELETE_PARTITION)
        .bind(partition.score_date)
        .bind(partition.model)
        .bind(partition.role.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn frame_error(what: &str, err: PolarsError) -> WarehouseError {
    WarehouseError::Data(format!("risk frame: {what}: {err}"))
}

/// The frame as CSV in table column order (the export file; `COPY ... (FORMAT csv)` reads it).
pub fn risk_csv(frame: &DataFrame, header: bool) -> Result<Vec<u8>, PolarsError> {
    let mut selected = frame.select(RISK_COLUMNS)?;
    let mut buffer = Vec::with_capacity(selected.height() * 64);
    CsvWriter::new(&mut buffer)
        .include_header(header)
        .finish(&mut selected)?;
    Ok(buffer)
}

/// The frame as CSV in table column order, `rows_per_piece` rows a piece, the header in the first:
/// the pieces joined are [`risk_csv`] with a header. Each piece is encoded when it is asked for.
pub fn risk_csv_pieces(
    frame: &DataFrame,
    rows_per_piece: usize,
) -> Result<impl Iterator<Item = Result<Vec<u8>, PolarsError>> + use<>, PolarsError> {
    let selected = frame.select(RISK_COLUMNS)?;
    let rows = selected.height();
    let rows_per_piece = rows_per_piece.max(1);
    // A frame without rows still gives one piece: the header.
    let pieces = rows.div_ceil(rows_per_piece).max(1);
    Ok((0..pieces).map(move |k| {
        let mut slice = selected.slice((k * rows_per_piece) as i64, rows_per_piece);
        let mut buffer = Vec::with_capacity(slice.height() * 256 + 256);
        CsvWriter::new(&mut buffer)
            .include_header(k == 0)
            .finish(&mut slice)?;
        Ok(buffer)
    }))
}

impl Warehouse {
    /// Whether [`Warehouse::replace_risk_scores`] reads the rows from their CSV pieces
    /// (PostgreSQL's `COPY`) rather than from the frame (SQLite).
    pub fn loads_risk_csv(&self) -> bool {
        self.backend() == Backend::Postgres
    }

    /// Replaces the rows of `partition` (a score date, model and role) with `frame` (columns
    /// [`RISK_COLUMNS`]) at once; other models' and roles' rows of the date stay. `csv` is the
    /// frame as [`risk_csv_pieces`] encodes it, as the pieces come (the export file's pieces,
    /// which PostgreSQL's `COPY` loads as they are rather than encoding a million rows twice);
    /// where [`Warehouse::loads_risk_csv`] is false it is not read. A load whose pieces hold
    /// fewer or more rows than the frame is rolled back.
    pub async fn replace_risk_scores(
        &self,
        partition: &RiskPartition<'_>,
        frame: &DataFrame,
        csv: impl Stream<Item = Bytes> + Send + Unpin,
    ) -> Result<u64, WarehouseError> {
        let load = RiskLoad {
            partition: *partition,
            frame,
            csv: csv.boxed(),
        };
        let loaded = self.replace_risk_partitions(vec![load], &[]).await?;
        Ok(loaded.first().copied().unwrap_or(0))
    }

    /// Replaces several partitions of the risk table in one transaction (a champion's and a
    /// canary's rows of one night), and empties the partitions of `clear` in it too (a canary's
    /// rows of an earlier run of the date): readers see the night before or after, never a mix.
    /// The rows loaded into each partition, in order.
    pub async fn replace_risk_partitions(
        &self,
        loads: Vec<RiskLoad<'_>>,
        clear: &[RiskPartition<'_>],
    ) -> Result<Vec<u64>, WarehouseError> {
        let Some(first) = loads.first() else {
            return Ok(Vec::new());
        };
        let what = format!("loading the risk scores of {}", first.partition.score_date);
        match self.backend() {
            Backend::Postgres => {
                self.replace_risk_partitions_postgres(loads, clear, &what)
                    .await
            }
            Backend::Sqlite => {
                self.replace_risk_partitions_sqlite(loads, clear, &what)
                    .await
            }
        }
    }

    async fn replace_risk_partitions_postgres(
        &self,
        loads: Vec<RiskLoad<'_>>,
        clear: &[RiskPartition<'_>],
        what: &str,
    ) -> Result<Vec<u64>, WarehouseError> {
        let mut conn = sqlx::postgres::PgConnection::connect(&self.url)
            .await
            .map_err(|source| WarehouseError::Connect {
                url: self.redacted_url().to_string(),
                source,
            })?;
        let mut tx = conn.begin().await.map_err(self.query_error(what))?;
        for partition in clear {
            delete_partition(&mut tx, partition)
                .await
                .map_err(self.query_error(what))?;
        }
        let mut loaded = Vec::new();
        for load in loads {
            delete_partition(&mut tx, &load.partition)
                .await
                .map_err(self.query_error(what))?;
            loaded.push(
                self.copy_partition_postgres(
                    &mut tx,
                    &load.partition,
                    load.frame.height(),
                    load.csv,
                )
                .await?,
            );
        }
        tx.commit().await.map_err(self.query_error(what))?;
        Ok(loaded)
    }

    /// `COPY`s one partition's CSV pieces inside `tx`; an error when they hold another number of
    /// rows than `rows` (their encoder stopped early), which rolls the whole load back.
    async fn copy_partition_postgres(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        partition: &RiskPartition<'_>,
        rows: usize,
        mut csv: futures::stream::BoxStream<'_, Bytes>,
    ) -> Result<u64, WarehouseError> {
        let score_date = partition.score_date;
        let what = format!("loading the risk scores of {score_date}");
        let mut copy = tx
            .copy_in_raw(&format!(
                "COPY risk_scores ({}) FROM STDIN WITH (FORMAT csv, HEADER true)",
                RISK_COLUMNS.join(", ")
            ))
            .await
            .map_err(self.query_error(&what))?;
        let pieces = rows.div_ceil(CSV_PIECE_ROWS);
        let started = std::time::Instant::now();
        let mut done = 0;
        while let Some(piece) = csv.next().await {
            // In messages of at most a mebibyte: sqlx buffers what one `send` is given.
            for message in piece.chunks(COPY_PIECE_BYTES) {
                copy.send(message).await.map_err(self.query_error(&what))?;
            }
            done += 1;
            // A line at each quarter: a million rows take a few seconds.
            if pieces >= 8 && done % pieces.div_ceil(4) == 0 {
                tracing::info!(
                    score_date,
                    role = partition.role.as_str(),
                    pieces = done,
                    of = pieces,
                    seconds = started.elapsed().as_secs_f64(),
                    "loading the risk table"
                );
            }
        }
        let copied = copy.finish().await.map_err(self.query_error(&what))?;
        if copied != rows as u64 {
            // The pieces stopped early (their encoder failed): nothing of the load stays.
            return Err(WarehouseError::Data(format!(
                "loading the risk scores of {score_date}: {copied} rows arrived of {rows}; the \
                 load is rolled back"
            )));
        }
        Ok(copied)
    }

    async fn replace_risk_partitions_sqlite(
        &self,
        loads: Vec<RiskLoad<'_>>,
        clear: &[RiskPartition<'_>],
        what: &str,
    ) -> Result<Vec<u64>, WarehouseError> {
        let mut tx = self.pool().begin().await.map_err(self.query_error(what))?;
        for partition in clear {
            delete_partition(&mut tx, partition)
                .await
                .map_err(self.query_error(what))?;
        }
        let mut loaded = Vec::new();
        for load in loads {
            delete_partition(&mut tx, &load.partition)
                .await
                .map_err(self.query_error(what))?;
            loaded.push(self.insert_frame_sqlite(&mut tx, load.frame, what).await?);
        }
        tx.commit().await.map_err(self.query_error(what))?;
        Ok(loaded)
    }

    /// Inserts `frame`'s rows inside `tx` in multi-row batches.
    async fn insert_frame_sqlite(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        frame: &DataFrame,
        what: &str,
    ) -> Result<u64, WarehouseError> {
        let column = |name: &str| frame.column(name).map_err(|e| frame_error(name, e));
        let dates = column("score_date")?
            .str()
            .map_err(|e| frame_error("score_date", e))?;
        let keys = column("customer_id")?
            .str()
            .map_err(|e| frame_error("customer_id", e))?;
        let probabilities = column("churn_probability")?
            .f64()
            .map_err(|e| frame_error("churn_probability", e))?;
        let tiers = column("risk_tier")?
            .str()
            .map_err(|e| frame_error("risk_tier", e))?;
        let actions = column("recommended_action")?
            .str()
            .map_err(|e| frame_error("recommended_action", e))?;
        let models = column("model")?
            .str()
            .map_err(|e| frame_error("model", e))?;
        let versions = column("model_version")?
            .i64()
            .map_err(|e| frame_error("model_version", e))?;
        let roles = column("role")?.str().map_err(|e| frame_error("role", e))?;
        let text = |k: usize| -> Result<&StringChunked, WarehouseError> {
            let name = RISK_COLUMNS[8 + 2 * k];
            column(name)?.str().map_err(|e| frame_error(name, e))
        };
        let number = |k: usize| -> Result<&Float64Chunked, WarehouseError> {
            let name = RISK_COLUMNS[9 + 2 * k];
            column(name)?.f64().map_err(|e| frame_error(name, e))
        };
        let reasons = [text(0)?, text(1)?, text(2)?];
        let contributions = [number(0)?, number(1)?, number(2)?];
        let scores = column("churn_score")?
            .i64()
            .map_err(|e| frame_error("churn_score", e))?;
        let previous = column("previous_tier")?
            .str()
            .map_err(|e| frame_error("previous_tier", e))?;
        let changed = column("tier_changed")?
            .i64()
            .map_err(|e| frame_error("tier_changed", e))?;
        let scored_at = column("scored_at")?
            .str()
            .map_err(|e| frame_error("scored_at", e))?;
        let crm_keys = column("crm_keys")?
            .str()
            .map_err(|e| frame_error("crm_keys", e))?;
        let rows = frame.height();
        let mut start = 0;
        while start < rows {
            let end = (start + SQLITE_BATCH).min(rows);
            let mut insert = sqlx::QueryBuilder::<sqlx::Any>::new(format!(
                "INSERT INTO risk_scores ({}) ",
                RISK_COLUMNS.join(", ")
            ));
            insert.push_values(start..end, |mut row, i| {
                row.push_bind(dates.get(i).map(str::to_string))
                    .push_bind(keys.get(i).map(str::to_string))
                    .push_bind(probabilities.get(i))
                    .push_bind(tiers.get(i).map(str::to_string))
                    .push_bind(actions.get(i).map(str::to_string))
                    .push_bind(models.get(i).map(str::to_string))
                    .push_bind(versions.get(i))
                    .push_bind(roles.get(i).map(str::to_string));
                for k in 0..3 {
                    row.push_bind(reasons[k].get(i).map(str::to_string))
                        .push_bind(contributions[k].get(i));
                }
                row.push_bind(scores.get(i))
                    .push_bind(previous.get(i).map(str::to_string))
                    .push_bind(changed.get(i))
                    .push_bind(scored_at.get(i).map(str::to_string))
                    .push_bind(crm_keys.get(i).map(str::to_string));
            });
            insert
                .build()
                .execute(&mut **tx)
                .await
                .map_err(self.query_error(what))?;
            start = end;
        }
        Ok(rows as u64)
    }

    /// How many champion rows (what the CRM is shown) the risk table holds for `score_date`.
    pub async fn risk_score_count(&self, score_date: &str) -> Result<i64, WarehouseError> {
        self.risk_score_count_in_role(score_date, Role::Champion)
            .await
    }

    /// How many rows the risk table holds for `score_date` in `role` (a shadow's, say).
    pub async fn risk_score_count_in_role(
        &self,
        score_date: &str,
        role: Role,
    ) -> Result<i64, WarehouseError> {
        let what = format!("counting the {} risk scores of {score_date}", role.as_str());
        let row =
            sqlx::query("SELECT COUNT(*) FROM risk_scores WHERE score_date = $1 AND role = $2")
                .bind(score_date)
                .bind(role.as_str())
                .fetch_one(self.pool())
                .await
                .map_err(self.query_error(&what))?;
        row.try_get::<i64, _>(0).map_err(self.query_error(&what))
    }

    /// The rows of the `risk_scores_latest` view (what the CRM imports), by role.
    pub async fn crm_view_roles(&self) -> Result<Vec<(String, i64)>, WarehouseError> {
        let what = "counting the rows of risk_scores_latest";
        let rows = sqlx::query(
            "SELECT role, COUNT(*) AS n FROM risk_scores_latest GROUP BY role ORDER BY role",
        )
        .fetch_all(self.pool())
        .await
        .map_err(self.query_error(what))?;
        rows.iter()
            .map(|r| Ok((r.try_get("role")?, r.try_get("n")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error(what))
    }

    /// The score date the `risk_scores_latest` view serves (what the CRM imports), if any.
    pub async fn latest_score_date(&self) -> Result<Option<String>, WarehouseError> {
        let row = sqlx::query("SELECT MAX(score_date) FROM risk_scores_latest")
            .fetch_one(self.pool())
            .await
            .map_err(self.query_error("reading risk_scores_latest"))?;
        row.try_get::<Option<String>, _>(0)
            .map_err(self.query_error("reading risk_scores_latest"))
    }

    /// Refreshes PostgreSQL's statistics of the risk table after a night's loads. Right after a
    /// `COPY` of a million rows the planner still believes the date holds a few dozen, and the
    /// served view's anti-join (champion rows without a canary row) ran as a million index
    /// lookups: the report's tier counts took 12 s at 1M customers. SQLite plans by its indexes
    /// alone: nothing to do there. Whether statistics were refreshed.
    pub async fn analyze_risk_scores(&self) -> Result<bool, WarehouseError> {
        if self.backend() != Backend::Postgres {
            return Ok(false);
        }
        sqlx::query("ANALYZE risk_scores")
            .execute(self.pool())
            .await
            .map_err(self.query_error("refreshing the statistics of risk_scores"))?;
        Ok(true)
    }

    /// Customers per tier on `score_date` as the CRM was served them (the canary's rows for its
    /// customers), highest probability tier first.
    pub async fn tier_counts(&self, score_date: &str) -> Result<Vec<TierCount>, WarehouseError> {
        let what = format!("counting risk tiers of {score_date}");
        let rows = sqlx::query(
            "SELECT risk_tier, COUNT(*) AS customers, MAX(churn_probability) AS top, \
             MIN(recommended_action) AS action \
             FROM risk_scores_served WHERE score_date = $1 \
             GROUP BY risk_tier ORDER BY top DESC",
        )
        .bind(score_date)
        .fetch_all(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        rows.iter()
            .map(|r| {
                Ok(TierCount {
                    tier: r.try_get("risk_tier")?,
                    customers: r.try_get("customers")?,
                    action: r.try_get("action")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error(&what))
    }

    /// Customers per (tier, previous tier) on `score_date` as the CRM was served them.
    pub async fn tier_moves(&self, score_date: &str) -> Result<Vec<TierMove>, WarehouseError> {
        let what = format!("counting tier changes of {score_date}");
        let rows = sqlx::query(
            "SELECT risk_tier, previous_tier, COUNT(*) AS customers, \
             SUM(churn_probability) AS probability_sum \
             FROM risk_scores_served WHERE score_date = $1 \
             GROUP BY risk_tier, previous_tier",
        )
        .bind(score_date)
        .fetch_all(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        rows.iter()
            .map(|r| {
                Ok(TierMove {
                    tier: r.try_get("risk_tier")?,
                    previous_tier: r.try_get("previous_tier")?,
                    customers: r.try_get("customers")?,
                    probability_sum: r.try_get("probability_sum")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error(&what))
    }

    /// The sum of the churn probabilities of the `n` riskiest customers of `tier` on
    /// `score_date` as served (0 when the tier is empty).
    pub async fn top_probability_sum(
        &self,
        score_date: &str,
        tier: &str,
        n: i64,
    ) -> Result<f64, WarehouseError> {
        let what = format!("adding up the {n} riskiest of tier {tier} on {score_date}");
        let row = sqlx::query(
            "SELECT SUM(p) AS total FROM (SELECT churn_probability AS p FROM risk_scores_served \
             WHERE score_date = $1 AND risk_tier = $2 \
             ORDER BY churn_probability DESC LIMIT $3) AS riskiest",
        )
        .bind(score_date)
        .bind(tier)
        .bind(n)
        .fetch_one(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        row.try_get::<Option<f64>, _>("total")
            .map(Option::unwrap_or_default)
            .map_err(self.query_error(&what))
    }

    /// `model`'s rows of `score_date` as the CRM was served them, lean and read as a stream
    /// (see [`ServedScores`]).
    pub async fn served_scores(
        &self,
        score_date: &str,
        model: &str,
    ) -> Result<ServedScores, WarehouseError> {
        let what = format!("reading the served scores of {model} on {score_date}");
        let mut rows = sqlx::query(
            "SELECT customer_id, churn_probability, risk_tier, role, model_version \
             FROM risk_scores_served WHERE score_date = $1 AND model = $2",
        )
        .bind(score_date)
        .bind(model)
        .fetch(self.pool());
        let mut served = ServedScores::default();
        let index_of = |names: &mut Vec<String>, name: &str| -> u32 {
            match names.iter().position(|n| n == name) {
                Some(i) => i as u32,
                None => {
                    names.push(name.to_string());
                    (names.len() - 1) as u32
                }
            }
        };
        while let Some(row) = rows.next().await {
            let row = row.map_err(self.query_error(&what))?;
            let read = || -> Result<(String, f64, String, String, i64), sqlx::Error> {
                Ok((
                    row.try_get("customer_id")?,
                    row.try_get("churn_probability")?,
                    row.try_get("risk_tier")?,
                    row.try_get("role")?,
                    row.try_get("model_version")?,
                ))
            };
            let (customer, probability, tier, role, version) =
                read().map_err(self.query_error(&what))?;
            served.customer_ids.push(customer);
            served.probabilities.push(probability);
            let tier = index_of(&mut served.tier_names, &tier);
            served.tiers.push(tier);
            let arm = match served
                .arms
                .iter()
                .position(|(r, v)| *r == role && *v == version)
            {
                Some(i) => i as u32,
                None => {
                    served.arms.push((role, version));
                    (served.arms.len() - 1) as u32
                }
            };
            served.arm_of_row.push(arm);
        }
        Ok(served)
    }

    /// The `n` customers most at risk on `score_date`.
    pub async fn top_risk(&self, score_date: &str, n: i64) -> Result<Vec<RiskRow>, WarehouseError> {
        self.risk_rows(score_date, Some(n)).await
    }

    /// The rows of `score_date` as the CRM was served them (a canary's rows for its customers,
    /// the champion's for the others), most at risk first (all of them when `limit` is None).
    pub async fn risk_rows(
        &self,
        score_date: &str,
        limit: Option<i64>,
    ) -> Result<Vec<RiskRow>, WarehouseError> {
        let what = format!("reading the risk scores of {score_date}");
        let rows = sqlx::query(
            "SELECT customer_id, churn_probability, risk_tier, recommended_action, model_version, \
             reason_1, reason_2, reason_3, previous_tier, role, crm_keys \
             FROM risk_scores_served WHERE score_date = $1 \
             ORDER BY churn_probability DESC, customer_id LIMIT $2",
        )
        .bind(score_date)
        .bind(limit.unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        rows.iter()
            .map(|r| {
                Ok(RiskRow {
                    customer_id: r.try_get("customer_id")?,
                    churn_probability: r.try_get("churn_probability")?,
                    risk_tier: r.try_get("risk_tier")?,
                    recommended_action: r.try_get("recommended_action")?,
                    model_version: r.try_get("model_version")?,
                    reasons: ["reason_1", "reason_2", "reason_3"]
                        .into_iter()
                        .map(|c| r.try_get::<Option<String>, _>(c))
                        .collect::<Result<Vec<_>, _>>()?
                        .into_iter()
                        .flatten()
                        .collect(),
                    previous_tier: r.try_get("previous_tier")?,
                    role: r.try_get("role")?,
                    crm_keys: r.try_get("crm_keys")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error(&what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(rows: usize) -> DataFrame {
        let columns: Vec<Column> = RISK_COLUMNS
            .iter()
            .map(|name| {
                let values: Vec<String> = (0..rows).map(|i| format!("{name}-{i}")).collect();
                Column::new((*name).into(), values)
            })
            .collect();
        DataFrame::new(rows, columns).unwrap()
    }

    #[test]
    fn the_pieces_joined_are_the_whole_csv() {
        for (rows, per_piece) in [(10, 3), (9, 3), (1, 5), (0, 4)] {
            let frame = frame(rows);
            let whole = risk_csv(&frame, true).unwrap();
            let pieces: Vec<Vec<u8>> = risk_csv_pieces(&frame, per_piece)
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(pieces.len(), rows.div_ceil(per_piece).max(1));
            assert_eq!(pieces.concat(), whole, "{rows} rows, {per_piece} a piece");
        }
    }
}
