//! `model_requests`: what decay or drift asked of the next run (a retrain, a recalibration, new
//! cut-offs), with the reason, and which run met it.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Warehouse, WarehouseError, now_ms};

/// What a request asks of the next run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// Fit new candidates (the model decayed or its inputs moved).
    Retrain,
    /// Calibrate again (the scores no longer match the churn they predict).
    Recalibrate,
    /// Choose the tiers' cut-offs again (the scores' distribution moved).
    Rethreshold,
}

impl RequestKind {
    pub const ALL: [RequestKind; 3] = [
        RequestKind::Retrain,
        RequestKind::Recalibrate,
        RequestKind::Rethreshold,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Retrain => "retrain",
            RequestKind::Recalibrate => "recalibrate",
            RequestKind::Rethreshold => "rethreshold",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// One request, open or met.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRequest {
    pub seq: i64,
    pub model: String,
    pub request: RequestKind,
    pub reason: String,
    pub requested_by: String,
    pub requested_on: String,
    pub met_on: Option<String>,
    pub met_note: Option<String>,
}

impl Warehouse {
    /// Records that the run of `requested_on` (its `requested_by` task) asks `request` of the
    /// next run of `model`, because of `reason`. A rerun of that task for that date replaces its
    /// open request of the same kind rather than adding another.
    pub async fn request_model_change(
        &self,
        model: &str,
        request: RequestKind,
        reason: &str,
        requested_by: &str,
        requested_on: &str,
    ) -> Result<(), WarehouseError> {
        let what = format!("recording a {} request for {model}", request.as_str());
        let mut tx = self.pool().begin().await.map_err(self.query_error(&what))?;
        sqlx::query(
            "DELETE FROM model_requests WHERE model = $1 AND request = $2 AND requested_by = $3 \
             AND requested_on = $4 AND met_on IS NULL",
        )
        .bind(model)
        .bind(request.as_str())
        .bind(requested_by)
        .bind(requested_on)
        .execute(&mut *tx)
        .await
        .map_err(self.query_error(&what))?;
        sqlx::query(
            "INSERT INTO model_requests (model, request, reason, requested_by, requested_on, \
             requested_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(model)
        .bind(request.as_str())
        .bind(reason)
        .bind(requested_by)
        .bind(requested_on)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(self.query_error(&what))?;
        tx.commit().await.map_err(self.query_error(&what))
    }

    /// `model`'s requests, oldest first: the open ones only, or every one.
    pub async fn model_requests(
        &self,
        model: &str,
        open_only: bool,
    ) -> Result<Vec<ModelRequest>, WarehouseError> {
        let what = format!("reading the requests for {model}");
        let rows = sqlx::query(&format!(
            "SELECT seq, model, request, reason, requested_by, requested_on, met_on, met_note \
             FROM model_requests WHERE model = $1{} ORDER BY seq",
            if open_only { " AND met_on IS NULL" } else { "" }
        ))
        .bind(model)
        .fetch_all(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        rows.iter()
            .map(|r| {
                let request: String = r.try_get("request").map_err(self.query_error(&what))?;
                Ok(ModelRequest {
                    seq: r.try_get("seq").map_err(self.query_error(&what))?,
                    model: r.try_get("model").map_err(self.query_error(&what))?,
                    request: RequestKind::parse(&request).ok_or_else(|| {
                        WarehouseError::Data(format!(
                            "model_requests: `{request}` is not a request (retrain, \
                             recalibrate, rethreshold)"
                        ))
                    })?,
                    reason: r.try_get("reason").map_err(self.query_error(&what))?,
                    requested_by: r.try_get("requested_by").map_err(self.query_error(&what))?,
                    requested_on: r.try_get("requested_on").map_err(self.query_error(&what))?,
                    met_on: r.try_get("met_on").map_err(self.query_error(&what))?,
                    met_note: r.try_get("met_note").map_err(self.query_error(&what))?,
                })
            })
            .collect()
    }

    /// Marks the requests `seqs` as met by the run of `met_on`, saying what it did.
    pub async fn meet_requests(
        &self,
        seqs: &[i64],
        met_on: &str,
        note: &str,
    ) -> Result<(), WarehouseError> {
        let what = format!("marking {} requests met on {met_on}", seqs.len());
        let mut tx = self.pool().begin().await.map_err(self.query_error(&what))?;
        let now = now_ms();
        for seq in seqs {
            sqlx::query(
                "UPDATE model_requests SET met_on = $1, met_at = $2, met_note = $3 \
                 WHERE seq = $4 AND met_on IS NULL",
            )
            .bind(met_on)
            .bind(now)
            .bind(note)
            .bind(*seq)
            .execute(&mut *tx)
            .await
            .map_err(self.query_error(&what))?;
        }
        tx.commit().await.map_err(self.query_error(&what))
    }
}
