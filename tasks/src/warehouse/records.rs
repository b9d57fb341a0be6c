//! The per-run records of the stages: validation reports, model metrics, gate decisions and drift
//! rows. A rerun of the same DAG and logical date replaces its earlier rows in one transaction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Warehouse, WarehouseError, now_ms};
use crate::identity::Role;
use crate::model::Family;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationRecord {
    pub snapshot_key: String,
    pub row_count: i64,
    pub passed: bool,
    pub hard_violations: i64,
    pub soft_violations: i64,
    /// The full report as JSON.
    pub report: serde_json::Value,
}

/// The metrics of one model on one run's validation rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRecord {
    pub model: String,
    /// Candidate (one per family a run fitted) or champion.
    pub role: Role,
    pub family: Family,
    pub model_version: Option<i64>,
    pub metrics: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateRecord {
    pub model: String,
    /// The candidate family the policy was applied to.
    pub family: Family,
    pub passed: bool,
    pub reasons: Vec<String>,
    pub policy: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftRow {
    pub model: String,
    pub model_version: i64,
    /// `feature` or `prediction`.
    pub kind: String,
    pub drift: crate::drift::FeatureDrift,
}

impl Warehouse {
    pub async fn save_validation(
        &self,
        dag: &str,
        logical_date: &str,
        record: &ValidationRecord,
    ) -> Result<(), WarehouseError> {
        let what = format!("saving the validation report of {dag} {logical_date}");
        let mut tx = self.pool().begin().await.map_err(self.query_error(&what))?;
        sqlx::query("DELETE FROM validation_reports WHERE dag = $1 AND logical_date = $2")
            .bind(dag)
            .bind(logical_date)
            .execute(&mut *tx)
            .await
            .map_err(self.query_error(&what))?;
        sqlx::query(
            "INSERT INTO validation_reports (dag, logical_date, snapshot_key, row_count, passed, \
             hard_violations, soft_violations, report, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(dag)
        .bind(logical_date)
        .bind(&record.snapshot_key)
        .bind(record.row_count)
        .bind(i64::from(record.passed))
        .bind(record.hard_violations)
        .bind(record.soft_violations)
        .bind(record.report.to_string())
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(self.query_error(&what))?;
        tx.commit().await.map_err(self.query_error(&what))
    }

    pub async fn validation(
        &self,
        dag: &str,
        logical_date: &str,
    ) -> Result<Option<ValidationRecord>, WarehouseError> {
        let what = format!("reading the validation report of {dag} {logical_date}");
        let row = sqlx::query(
            "SELECT snapshot_key, row_count, passed, hard_violations, soft_violations, report \
             FROM validation_reports WHERE dag = $1 AND logical_date = $2",
        )
        .bind(dag)
        .bind(logical_date)
        .fetch_optional(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        let Some(row) = row else { return Ok(None) };
        let report: String = row.try_get("report").map_err(self.query_error(&what))?;
        Ok(Some(ValidationRecord {
            snapshot_key: row
                .try_get("snapshot_key")
                .map_err(self.query_error(&what))?,
            row_count: row.try_get("row_count").map_err(self.query_error(&what))?,
            passed: row
                .try_get::<i64, _>("passed")
                .map_err(self.query_error(&what))?
                != 0,
            hard_violations: row
                .try_get("hard_violations")
                .map_err(self.query_error(&what))?,
            soft_violations: row
                .try_get("soft_violations")
                .map_err(self.query_error(&what))?,
            report: serde_json::from_str(&report)
                .map_err(|e| WarehouseError::Data(format!("{what}: not JSON: {e}")))?,
        }))
    }

    /// Replaces this run's metrics of the models in `records` with them (other models' rows of
    /// the run stay).
    pub async fn save_metrics(
        &self,
        dag: &str,
        logical_date: &str,
        records: &[MetricRecord],
    ) -> Result<(), WarehouseError> {
        let what = format!("saving the model metrics of {dag} {logical_date}");
        let mut tx = self.pool().begin().await.map_err(self.query_error(&what))?;
        let models: std::collections::BTreeSet<&str> =
            records.iter().map(|r| r.model.as_str()).collect();
        for model in models {
            sqlx::query(
                "DELETE FROM model_metrics WHERE dag = $1 AND logical_date = $2 AND model = $3",
            )
            .bind(dag)
            .bind(logical_date)
            .bind(model)
            .execute(&mut *tx)
            .await
            .map_err(self.query_error(&what))?;
        }
        for record in records {
            for (metric, value) in &record.metrics {
                sqlx::query(
                    "INSERT INTO model_metrics (dag, logical_date, model, role, family, \
                     model_version, metric, value) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(dag)
                .bind(logical_date)
                .bind(&record.model)
                .bind(record.role.as_str())
                .bind(record.family.as_str())
                .bind(record.model_version)
                .bind(metric)
                .bind(*value)
                .execute(&mut *tx)
                .await
                .map_err(self.query_error(&what))?;
            }
        }
        tx.commit().await.map_err(self.query_error(&what))
    }

    /// The metrics stored for this run, one record per model, role and family.
    pub async fn metrics(
        &self,
        dag: &str,
        logical_date: &str,
    ) -> Result<Vec<MetricRecord>, WarehouseError> {
        let what = format!("reading the model metrics of {dag} {logical_date}");
        let rows = sqlx::query(
            "SELECT model, role, family, model_version, metric, value FROM model_metrics \
             WHERE dag = $1 AND logical_date = $2 ORDER BY role DESC, model, family, metric",
        )
        .bind(dag)
        .bind(logical_date)
        .fetch_all(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        let mut records: Vec<MetricRecord> = Vec::new();
        for row in &rows {
            let model: String = row.try_get("model").map_err(self.query_error(&what))?;
            let role: String = row.try_get("role").map_err(self.query_error(&what))?;
            let role = Role::parse(&role)
                .ok_or_else(|| WarehouseError::Data(format!("{what}: unknown role `{role}`")))?;
            let family: String = row.try_get("family").map_err(self.query_error(&what))?;
            let family = Family::parse(&family).ok_or_else(|| {
                WarehouseError::Data(format!("{what}: unknown model family `{family}`"))
            })?;
            let version: Option<i64> = row
                .try_get("model_version")
                .map_err(self.query_error(&what))?;
            let metric: String = row.try_get("metric").map_err(self.query_error(&what))?;
            let value: f64 = row.try_get("value").map_err(self.query_error(&what))?;
            match records.last_mut() {
                Some(last) if last.model == model && last.role == role && last.family == family => {
                    last.metrics.insert(metric, value);
                }
                _ => records.push(MetricRecord {
                    model,
                    role,
                    family,
                    model_version: version,
                    metrics: BTreeMap::from([(metric, value)]),
                }),
            }
        }
        Ok(records)
    }

    pub async fn save_gate_decision(
        &self,
        dag: &str,
        logical_date: &str,
        record: &GateRecord,
    ) -> Result<(), WarehouseError> {
        let what = format!("saving the gate decision of {dag} {logical_date}");
        let mut tx = self.pool().begin().await.map_err(self.query_error(&what))?;
        sqlx::query(
            "DELETE FROM gate_decisions WHERE dag = $1 AND logical_date = $2 AND model = $3",
        )
        .bind(dag)
        .bind(logical_date)
        .bind(&record.model)
        .execute(&mut *tx)
        .await
        .map_err(self.query_error(&what))?;
        sqlx::query(
            "INSERT INTO gate_decisions (dag, logical_date, model, family, passed, reasons, \
             policy, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(dag)
        .bind(logical_date)
        .bind(&record.model)
        .bind(record.family.as_str())
        .bind(i64::from(record.passed))
        .bind(serde_json::Value::from(record.reasons.clone()).to_string())
        .bind(record.policy.to_string())
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(self.query_error(&what))?;
        tx.commit().await.map_err(self.query_error(&what))
    }

    pub async fn gate_decision(
        &self,
        dag: &str,
        logical_date: &str,
        model: &str,
    ) -> Result<Option<GateRecord>, WarehouseError> {
        let what = format!("reading the gate decision of {dag} {logical_date}");
        let row = sqlx::query(
            "SELECT passed, family, reasons, policy FROM gate_decisions \
             WHERE dag = $1 AND logical_date = $2 AND model = $3",
        )
        .bind(dag)
        .bind(logical_date)
        .bind(model)
        .fetch_optional(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        let Some(row) = row else { return Ok(None) };
        let json = |column: &str| -> Result<serde_json::Value, WarehouseError> {
            let text: String = row.try_get(column).map_err(self.query_error(&what))?;
            serde_json::from_str(&text)
                .map_err(|e| WarehouseError::Data(format!("{what}: {column} is not JSON: {e}")))
        };
        let reasons = json("reasons")?
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let family: String = row.try_get("family").map_err(self.query_error(&what))?;
        Ok(Some(GateRecord {
            model: model.to_string(),
            family: Family::parse(&family).ok_or_else(|| {
                WarehouseError::Data(format!("{what}: unknown model family `{family}`"))
            })?,
            passed: row
                .try_get::<i64, _>("passed")
                .map_err(self.query_error(&what))?
                != 0,
            reasons,
            policy: json("policy")?,
        }))
    }

    /// Replaces this run's drift rows of the models in `rows` with them.
    pub async fn save_drift(
        &self,
        dag: &str,
        logical_date: &str,
        rows: &[DriftRow],
    ) -> Result<(), WarehouseError> {
        let what = format!("saving the drift report of {dag} {logical_date}");
        let mut tx = self.pool().begin().await.map_err(self.query_error(&what))?;
        let models: std::collections::BTreeSet<&str> =
            rows.iter().map(|r| r.model.as_str()).collect();
        for model in models {
            sqlx::query(
                "DELETE FROM drift_reports WHERE dag = $1 AND logical_date = $2 AND model = $3",
            )
            .bind(dag)
            .bind(logical_date)
            .bind(model)
            .execute(&mut *tx)
            .await
            .map_err(self.query_error(&what))?;
        }
        for row in rows {
            let d = &row.drift;
            sqlx::query(
                "INSERT INTO drift_reports (dag, logical_date, model, model_version, feature, kind, \
                 test, statistic, p_value, p_value_adjusted, psi, effect_measure, effect_size, \
                 severity, unseen_share, reference_rows, current_rows, histogram) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
                 $18)",
            )
            .bind(dag)
            .bind(logical_date)
            .bind(&row.model)
            .bind(row.model_version)
            .bind(&d.feature)
            .bind(&row.kind)
            .bind(&d.test)
            .bind(d.statistic)
            .bind(d.p_value)
            .bind(d.p_value_adjusted)
            .bind(d.psi)
            .bind(&d.effect_measure)
            .bind(d.effect_size)
            .bind(d.severity.as_str())
            .bind(d.unseen_share)
            .bind(d.reference_rows as i64)
            .bind(d.current_rows as i64)
            .bind(
                d.histogram
                    .as_ref()
                    .and_then(|h| serde_json::to_string(h).ok()),
            )
            .execute(&mut *tx)
            .await
            .map_err(self.query_error(&what))?;
        }
        tx.commit().await.map_err(self.query_error(&what))
    }

    /// The drift rows of this run, most severe first.
    pub async fn drift(
        &self,
        dag: &str,
        logical_date: &str,
    ) -> Result<Vec<DriftRow>, WarehouseError> {
        let what = format!("reading the drift report of {dag} {logical_date}");
        let rows = sqlx::query(
            "SELECT model, model_version, feature, kind, test, statistic, p_value, \
             p_value_adjusted, psi, effect_measure, effect_size, severity, unseen_share, \
             reference_rows, current_rows, histogram FROM drift_reports \
             WHERE dag = $1 AND logical_date = $2 ORDER BY kind DESC, feature",
        )
        .bind(dag)
        .bind(logical_date)
        .fetch_all(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        let mut out = rows
            .iter()
            .map(|r| -> Result<DriftRow, WarehouseError> {
                let get_err = self.query_error(&what);
                let read = || -> Result<DriftRow, sqlx::Error> {
                    let severity: String = r.try_get("severity")?;
                    Ok(DriftRow {
                        model: r.try_get("model")?,
                        model_version: r.try_get("model_version")?,
                        kind: r.try_get("kind")?,
                        drift: crate::drift::FeatureDrift {
                            feature: r.try_get("feature")?,
                            test: r.try_get("test")?,
                            statistic: r.try_get("statistic")?,
                            p_value: r.try_get("p_value")?,
                            p_value_adjusted: r.try_get("p_value_adjusted")?,
                            psi: r.try_get("psi")?,
                            effect_measure: r.try_get("effect_measure")?,
                            effect_size: r.try_get("effect_size")?,
                            severity: crate::drift::Severity::parse(&severity)
                                .unwrap_or(crate::drift::Severity::None),
                            unseen_share: r.try_get("unseen_share")?,
                            reference_rows: r.try_get::<i64, _>("reference_rows")? as usize,
                            current_rows: r.try_get::<i64, _>("current_rows")? as usize,
                            // A histogram that no longer parses only costs the report its chart.
                            histogram: r
                                .try_get::<Option<String>, _>("histogram")?
                                .and_then(|json| serde_json::from_str(&json).ok()),
                        },
                    })
                };
                read().map_err(get_err)
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|row| std::cmp::Reverse(row.drift.severity));
        Ok(out)
    }
}
