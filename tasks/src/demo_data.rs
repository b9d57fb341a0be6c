//! The demo data generator: customer snapshots and their labels, following the demo contract
//! (shared/DATA_CONTRACT.md) and the same latent-trait model as the Python reference generator.
//!
//! Deterministic: customers (ids, latent traits, static attributes) depend only on the seed and the
//! row count, so every snapshot holds the same customers; each snapshot's noise is seeded by the seed,
//! its date and whether drift is injected. The customer base is in a steady state (leavers are
//! replaced by joiners of the same profile), so ages and tenures do not grow from one snapshot to
//! the next: a clean snapshot shows no drift against the training snapshots, and only injected
//! drift does. Drift lowers engagement, raises failed payments, inflates
//! order values and adds a payment method the training data never had.

use chrono::NaiveDate;
use polars::prelude::*;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Binomial, Exp1, LogNormal, Poisson, StandardNormal};

const COUNTRIES: [&str; 10] = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "PL", "SE", "BR"];
const COUNTRY_P: [f64; 10] = [0.30, 0.14, 0.12, 0.10, 0.07, 0.07, 0.05, 0.06, 0.04, 0.05];
const CATEGORIES: [&str; 8] = [
    "electronics",
    "fashion",
    "home",
    "beauty",
    "sports",
    "books",
    "grocery",
    "toys",
];
const CATEGORY_P: [f64; 8] = [0.18, 0.20, 0.14, 0.12, 0.10, 0.09, 0.10, 0.07];
const PAYMENT: [&str; 5] = [
    "credit_card",
    "debit_card",
    "paypal",
    "bank_transfer",
    "cash_on_delivery",
];
const PAYMENT_P: [f64; 5] = [0.40, 0.22, 0.25, 0.08, 0.05];
/// The payment method that appears only in a drifted snapshot.
pub const DRIFT_PAYMENT: &str = "buy_now_pay_later";
const SHIPPING: [&str; 4] = ["standard", "express", "pickup", "same_day"];
const SHIPPING_P: [f64; 4] = [0.62, 0.20, 0.12, 0.06];
/// Intercept of the churn logit, as in the reference generator (about 20% churn).
const CHURN_INTERCEPT: f64 = -3.25;

#[derive(Debug, Clone, Copy)]
pub struct SnapshotSpec {
    pub customers: usize,
    pub snapshot_date: NaiveDate,
    pub seed: u64,
    pub drift: bool,
}

/// One generated snapshot: the features table and its labels (known 90 days later).
pub struct Snapshot {
    pub features: DataFrame,
    pub labels: DataFrame,
}

impl Snapshot {
    /// The labels as one flag per customer (true: churned), in the features' row order.
    pub fn churned(&self) -> PolarsResult<Vec<bool>> {
        self.labels
            .column("churned")?
            .bool()?
            .iter()
            .map(|v| v.ok_or_else(|| polars_err!(ComputeError: "a demo label is null")))
            .collect()
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn normal(rng: &mut StdRng) -> f64 {
    StandardNormal.sample(rng)
}

fn poisson(rng: &mut StdRng, lambda: f64) -> i64 {
    if lambda <= 0.0 || !lambda.is_finite() {
        return 0;
    }
    Poisson::new(lambda).map_or(0, |p| p.sample(rng) as i64)
}

fn binomial(rng: &mut StdRng, n: i64, p: f64) -> i64 {
    if n <= 0 {
        return 0;
    }
    Binomial::new(n as u64, p.clamp(0.0, 1.0)).map_or(0, |b| b.sample(rng) as i64)
}

fn lognormal(rng: &mut StdRng, mu: f64, sigma: f64) -> f64 {
    LogNormal::new(mu, sigma).map_or(mu.exp(), |d| d.sample(rng))
}

fn round_to(x: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (x * scale).round() / scale
}

fn days_since_epoch(date: NaiveDate) -> i32 {
    (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch is a date")).num_days() as i32
}

/// Latent traits and static attributes of each customer; the same for every snapshot.
struct Customers {
    engagement: Vec<f64>,
    value: Vec<f64>,
    dissatisfaction: Vec<f64>,
    age_years: Vec<f64>,
    base_tenure: Vec<f64>,
    country: Vec<usize>,
    category: Vec<usize>,
    payment: Vec<usize>,
    shipping: Vec<usize>,
}

fn weighted(weights: &[f64]) -> WeightedIndex<f64> {
    WeightedIndex::new(weights).expect("the shipped weights are positive")
}

fn customers(count: usize, seed: u64) -> Customers {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let (countries, categories, payments, shippings) = (
        weighted(&COUNTRY_P),
        weighted(&CATEGORY_P),
        weighted(&PAYMENT_P),
        weighted(&SHIPPING_P),
    );
    let mut c = Customers {
        engagement: Vec::with_capacity(count),
        value: Vec::with_capacity(count),
        dissatisfaction: Vec::with_capacity(count),
        age_years: Vec::with_capacity(count),
        base_tenure: Vec::with_capacity(count),
        country: Vec::with_capacity(count),
        category: Vec::with_capacity(count),
        payment: Vec::with_capacity(count),
        shipping: Vec::with_capacity(count),
    };
    for _ in 0..count {
        c.engagement.push(normal(&mut rng));
        c.value.push(normal(&mut rng));
        c.dissatisfaction.push(normal(&mut rng));
        c.age_years.push(rng.random_range(18.0..85.0));
        c.base_tenure
            .push(lognormal(&mut rng, 700f64.ln(), 0.8).clamp(30.0, 5000.0));
        c.country.push(countries.sample(&mut rng));
        c.category.push(categories.sample(&mut rng));
        c.payment.push(payments.sample(&mut rng));
        c.shipping.push(shippings.sample(&mut rng));
    }
    c
}

/// Column buffers of one snapshot, filled row by row.
#[derive(Default)]
struct Columns {
    customer_age_days: Vec<i64>,
    account_age_days: Vec<i64>,
    total_orders: Vec<i64>,
    total_revenue: Vec<f64>,
    days_since_last_order: Vec<Option<i64>>,
    order_frequency: Vec<f64>,
    avg_order_value: Vec<Option<f64>>,
    website_visits_30d: Vec<i64>,
    email_open_rate: Vec<Option<f64>>,
    cart_abandonment_rate: Vec<f64>,
    product_views_30d: Vec<i64>,
    support_tickets_total: Vec<i64>,
    support_tickets_open: Vec<i64>,
    returns_count: Vec<i64>,
    refunds_count: Vec<i64>,
    favorite_category: Vec<Option<&'static str>>,
    discount_usage_rate: Vec<f64>,
    premium_product_rate: Vec<f64>,
    payment_method: Vec<&'static str>,
    failed_payment_count: Vec<i64>,
    churned: Vec<bool>,
}

/// Generates one snapshot. Vectorised in the sense that matters here: one pass, no per-row allocation.
pub fn generate(spec: &SnapshotSpec) -> PolarsResult<Snapshot> {
    let n = spec.customers;
    let c = customers(n, spec.seed);
    let snapshot_seed = spec.seed
        ^ (days_since_epoch(spec.snapshot_date) as u64).wrapping_mul(0x2545_F491_4F6C_DD1D)
        ^ u64::from(spec.drift);
    let mut rng = StdRng::seed_from_u64(snapshot_seed);
    let mut col = Columns::default();

    for i in 0..n {
        let dis = c.dissatisfaction[i];
        let val = c.value[i];
        let eng = c.engagement[i] + 0.35 * normal(&mut rng) - if spec.drift { 0.25 } else { 0.0 };
        let age_days = (c.age_years[i] * 365.25).round() as i64;
        let tenure = (c.base_tenure[i].round() as i64).max(1);
        let months = tenure as f64 / 30.4;
        let rate = (-1.25 + 0.55 * eng + 0.30 * val + 0.35 * normal(&mut rng)).exp();
        let orders = poisson(&mut rng, rate * months);
        let has_orders = orders > 0;
        let frequency = round_to(orders as f64 / months, 4);
        let mut aov = lognormal(&mut rng, 55f64.ln() + 0.35 * val, 0.45);
        if spec.drift {
            aov *= 1.15;
        }
        let revenue = round_to(orders as f64 * aov * lognormal(&mut rng, 0.0, 0.10), 2);
        let gap = 30.4 / rate.max(0.02);
        let exp1: f64 = Exp1.sample(&mut rng);
        let recency = exp1 * gap * (-0.30 * eng + 0.25 * dis + 0.4 * normal(&mut rng)).exp();
        let recency = (recency.round() as i64).min(tenure);
        let mut visit_lambda = (1.55 + 0.70 * eng).exp();
        if spec.drift {
            visit_lambda *= 0.75;
        }
        let visits = poisson(&mut rng, visit_lambda);
        let view_factor = lognormal(&mut rng, 0.0, 0.35);
        let views = poisson(&mut rng, visits as f64 * 3.2 * view_factor);
        let open_rate = sigmoid(
            -0.45 + 0.80 * eng + 0.70 * normal(&mut rng) - if spec.drift { 0.5 } else { 0.0 },
        );
        let no_email_consent = rng.random::<f64>() < 0.05;
        let abandonment = sigmoid(0.20 - 0.40 * eng + 0.30 * dis + 0.80 * normal(&mut rng));
        let ticket_lambda = (-1.6 + 0.60 * dis).exp() * (1.0 + months / 18.0);
        let tickets = poisson(&mut rng, ticket_lambda);
        let open_tickets = binomial(&mut rng, tickets, sigmoid(-1.8 + 0.8 * dis));
        let returns = binomial(&mut rng, orders, sigmoid(-2.8 + 0.5 * dis));
        let refunds = binomial(&mut rng, returns, 0.6);
        let discount = sigmoid(-0.9 - 0.50 * val + 0.80 * normal(&mut rng));
        let premium = sigmoid(-1.4 + 0.80 * val + 0.60 * normal(&mut rng));
        let unseen_payment = spec.drift && rng.random::<f64>() < 0.06;
        let payment = if unseen_payment {
            PAYMENT.len()
        } else {
            c.payment[i]
        };
        let risky_payment = matches!(payment, 1 | 3 | 4 | 5);
        let mut failed_lambda = (-2.4 + 0.45 * dis + if risky_payment { 0.5 } else { 0.0 }).exp();
        if spec.drift {
            failed_lambda += 0.12;
        }
        let failed_payments = poisson(&mut rng, failed_lambda);
        let category_missing = !has_orders || rng.random::<f64>() < 0.02;

        // Churn: no order in the 90 days after the snapshot.
        let recency_f = if has_orders { recency as f64 } else { 365.0 };
        let email_f = if no_email_consent { 0.35 } else { open_rate };
        let logit = CHURN_INTERCEPT + 0.85 * (recency_f.ln_1p() - 3.6)
            - 0.55 * ((frequency * 10.0).ln_1p() - 1.3)
            + 0.45 * open_tickets as f64
            + 0.10 * tickets as f64
            + 0.55 * failed_payments as f64
            - 0.90 * (email_f - 0.40)
            - 0.30 * ((visits as f64).ln_1p() - 1.6)
            + 0.70 * (abandonment - 0.5)
            - 0.15 * (tenure as f64 / 365.0).ln()
            + if has_orders { 0.0 } else { 1.20 }
            + if recency_f > 60.0 && visits < 3 {
                0.60
            } else {
                0.0
            }
            + if open_tickets > 0 && refunds > 0 {
                0.50
            } else {
                0.0
            }
            + if failed_payments > 0 && payment == 1 {
                0.35
            } else {
                0.0
            }
            - 0.40 * (premium - 0.25)
            + 0.70 * normal(&mut rng);
        let churned = rng.random::<f64>() < sigmoid(logit);

        col.customer_age_days.push(age_days);
        col.account_age_days.push(tenure);
        col.total_orders.push(orders);
        col.total_revenue.push(revenue);
        col.days_since_last_order
            .push(has_orders.then_some(recency));
        col.order_frequency.push(frequency);
        col.avg_order_value
            .push(has_orders.then(|| round_to(revenue / orders.max(1) as f64, 2)));
        col.website_visits_30d.push(visits);
        col.email_open_rate
            .push((!no_email_consent).then(|| round_to(open_rate, 4)));
        col.cart_abandonment_rate.push(round_to(abandonment, 4));
        col.product_views_30d.push(views);
        col.support_tickets_total.push(tickets);
        col.support_tickets_open.push(open_tickets);
        col.returns_count.push(returns);
        col.refunds_count.push(refunds);
        col.favorite_category
            .push((!category_missing).then(|| CATEGORIES[c.category[i]]));
        col.discount_usage_rate.push(round_to(discount, 4));
        col.premium_product_rate.push(round_to(premium, 4));
        col.payment_method.push(if unseen_payment {
            DRIFT_PAYMENT
        } else {
            PAYMENT[payment]
        });
        col.failed_payment_count.push(failed_payments);
        col.churned.push(churned);
    }
    assemble(spec, &c, col)
}

fn assemble(spec: &SnapshotSpec, c: &Customers, col: Columns) -> PolarsResult<Snapshot> {
    let n = spec.customers;
    let ids: Vec<String> = (1..=n).map(|i| format!("C{i:09}")).collect();
    let snapshot = Column::new(
        "snapshot_date".into(),
        vec![days_since_epoch(spec.snapshot_date); n],
    )
    .cast(&DataType::Date)?;
    let country: Vec<&str> = c.country.iter().map(|&i| COUNTRIES[i]).collect();
    let shipping: Vec<&str> = c.shipping.iter().map(|&i| SHIPPING[i]).collect();
    let features = DataFrame::new(
        n,
        vec![
            Column::new("customer_id".into(), &ids),
            snapshot.clone(),
            Column::new("country".into(), country),
            Column::new("customer_age_days".into(), col.customer_age_days),
            Column::new("account_age_days".into(), col.account_age_days),
            Column::new("total_orders".into(), col.total_orders),
            Column::new("total_revenue".into(), col.total_revenue),
            Column::new("days_since_last_order".into(), col.days_since_last_order),
            Column::new("order_frequency".into(), col.order_frequency),
            Column::new("avg_order_value".into(), col.avg_order_value),
            Column::new("website_visits_30d".into(), col.website_visits_30d),
            Column::new("email_open_rate".into(), col.email_open_rate),
            Column::new("cart_abandonment_rate".into(), col.cart_abandonment_rate),
            Column::new("product_views_30d".into(), col.product_views_30d),
            Column::new("support_tickets_total".into(), col.support_tickets_total),
            Column::new("support_tickets_open".into(), col.support_tickets_open),
            Column::new("returns_count".into(), col.returns_count),
            Column::new("refunds_count".into(), col.refunds_count),
            Column::new("favorite_category".into(), col.favorite_category),
            Column::new("discount_usage_rate".into(), col.discount_usage_rate),
            Column::new("premium_product_rate".into(), col.premium_product_rate),
            Column::new("payment_method".into(), col.payment_method),
            Column::new("shipping_method".into(), shipping),
            Column::new("failed_payment_count".into(), col.failed_payment_count),
        ],
    )?;
    let labels = DataFrame::new(
        n,
        vec![
            Column::new("customer_id".into(), ids),
            snapshot,
            Column::new("churned".into(), col.churned),
        ],
    )?;
    Ok(Snapshot { features, labels })
}

/// What `churnflow demo-data` writes: snapshots every `cadence_days` over `history_days` before
/// `newest`, plus `newest` itself; labels for each snapshot whose horizon has passed by `newest`.
#[derive(Debug, Clone, Copy)]
pub struct HistorySpec {
    pub customers: usize,
    pub newest: NaiveDate,
    pub history_days: u32,
    pub cadence_days: u32,
    pub horizon_days: u32,
    pub seed: u64,
    /// Inject drift into the newest snapshot.
    pub drift_newest: bool,
    /// Inject drift into every snapshot from this date on, labelled ones included (the
    /// performance estimate's error under drift needs drifted days whose outcomes are known).
    pub drift_from: Option<NaiveDate>,
}

impl HistorySpec {
    /// The snapshot dates, oldest first, the newest included.
    pub fn dates(&self) -> Vec<NaiveDate> {
        let start = self.newest - chrono::Duration::days(i64::from(self.history_days));
        let step = chrono::Duration::days(i64::from(self.cadence_days.max(1)));
        let mut dates = Vec::new();
        let mut date = start;
        while date < self.newest {
            dates.push(date);
            date += step;
        }
        dates.push(self.newest);
        dates
    }

    pub fn history_start(&self) -> NaiveDate {
        self.newest - chrono::Duration::days(i64::from(self.history_days))
    }

    /// Whether drift is injected into the snapshot of `date`.
    pub fn drifted(&self, date: NaiveDate) -> bool {
        (self.drift_newest && date == self.newest) || self.drift_from.is_some_and(|d| date >= d)
    }

    /// Whether a snapshot's labels are known by the newest date.
    pub fn labelled(&self, date: NaiveDate) -> bool {
        date + chrono::Duration::days(i64::from(self.horizon_days)) <= self.newest
    }
}

/// What was written, for the command's summary line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryWritten {
    pub snapshots: usize,
    pub labelled: usize,
    pub rows: usize,
}

/// Generates and stores every snapshot of `spec`, logging a line per snapshot with its timing.
pub async fn write_history(
    store: &crate::storage::DataStore,
    spec: HistorySpec,
) -> Result<HistoryWritten, DemoDataError> {
    write_history_with_progress(store, spec, |_, _| {}).await
}

/// As [`write_history`], telling `progress` (snapshots done, snapshots in all) after each one.
pub async fn write_history_with_progress(
    store: &crate::storage::DataStore,
    spec: HistorySpec,
    mut progress: impl FnMut(usize, usize),
) -> Result<HistoryWritten, DemoDataError> {
    use crate::storage::{Table, partition_key};
    let dates = spec.dates();
    let total = dates.len();
    let mut written = HistoryWritten {
        snapshots: 0,
        labelled: 0,
        rows: 0,
    };
    for date in dates {
        let started = std::time::Instant::now();
        let snapshot_spec = SnapshotSpec {
            customers: spec.customers,
            snapshot_date: date,
            seed: spec.seed,
            drift: spec.drifted(date),
        };
        // Generation is CPU work: keep it off the async threads.
        let mut snapshot = tokio::task::spawn_blocking(move || generate(&snapshot_spec))
            .await
            .map_err(|err| DemoDataError::Generate(err.to_string()))?
            .map_err(|err| DemoDataError::Generate(err.to_string()))?;
        store
            .put_parquet(
                &partition_key(Table::Features, date),
                &mut snapshot.features,
            )
            .await?;
        let labelled = spec.labelled(date);
        if labelled {
            store
                .put_parquet(&partition_key(Table::Labels, date), &mut snapshot.labels)
                .await?;
            written.labelled += 1;
        }
        written.snapshots += 1;
        written.rows += snapshot.features.height();
        tracing::info!(
            snapshot = %date,
            rows = snapshot.features.height(),
            labelled,
            drift = snapshot_spec.drift,
            seconds = started.elapsed().as_secs_f64(),
            "demo snapshot {}/{total} written",
            written.snapshots
        );
        progress(written.snapshots, total);
    }
    Ok(written)
}

/// The object (at the store's root) that marks a store `churnflow demo-data` filled, with the
/// customers and seed it used.
pub const DEMO_MARKER: &str = "demo-data.json";

/// What [`add_day`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayAdded {
    /// Rows of the day's snapshot, when it was missing and is now written.
    pub snapshot_rows: Option<usize>,
    /// Earlier snapshots whose labels became known by the day and are now written.
    pub labelled: Vec<NaiveDate>,
}

/// One more day of a demo store: the snapshot of `day` when it is missing, and the labels of
/// every earlier snapshot whose horizon has passed by `day` and that has none yet, as a real
/// source would deliver them. The generator is deterministic per seed, date and drift, so a
/// snapshot generated again for its labels holds the customers stored (a day on or after
/// `drift_from`, or a stored snapshot with the drifted payment method, is generated with drift,
/// as `demo-data --drift-from` and `--drift` wrote them).
pub async fn add_day(
    store: &crate::storage::DataStore,
    customers: usize,
    seed: u64,
    day: NaiveDate,
    horizon_days: u32,
    drift_from: Option<NaiveDate>,
) -> Result<DayAdded, DemoDataError> {
    use crate::storage::{Table, partition_key};
    let generate_off_thread = |spec: SnapshotSpec| async move {
        tokio::task::spawn_blocking(move || generate(&spec))
            .await
            .map_err(|err| DemoDataError::Generate(err.to_string()))?
            .map_err(|err| DemoDataError::Generate(err.to_string()))
    };
    let features = store.snapshot_dates(Table::Features).await?;
    let labels = store.snapshot_dates(Table::Labels).await?;
    let mut added = DayAdded {
        snapshot_rows: None,
        labelled: Vec::new(),
    };
    if !features.contains(&day) {
        let spec = SnapshotSpec {
            customers,
            snapshot_date: day,
            seed,
            drift: drift_from.is_some_and(|from| day >= from),
        };
        let mut snapshot = generate_off_thread(spec).await?;
        store
            .put_parquet(&partition_key(Table::Features, day), &mut snapshot.features)
            .await?;
        added.snapshot_rows = Some(snapshot.features.height());
    }
    let known_by = day - chrono::Duration::days(i64::from(horizon_days));
    for date in features
        .into_iter()
        .filter(|d| *d <= known_by && !labels.contains(d))
    {
        let stored = store
            .get_parquet(&partition_key(Table::Features, date))
            .await?;
        let drift = drift_from.is_some_and(|from| date >= from)
            || stored
                .column("payment_method")
                .ok()
                .and_then(|c| {
                    c.str()
                        .ok()
                        .map(|s| s.iter().any(|v| v == Some(DRIFT_PAYMENT)))
                })
                .unwrap_or(false);
        let spec = SnapshotSpec {
            customers: stored.height(),
            snapshot_date: date,
            seed,
            drift,
        };
        let mut snapshot = generate_off_thread(spec).await?;
        store
            .put_parquet(&partition_key(Table::Labels, date), &mut snapshot.labels)
            .await?;
        added.labelled.push(date);
    }
    Ok(added)
}

#[derive(Debug, thiserror::Error)]
pub enum DemoDataError {
    #[error("generating demo data failed: {0}")]
    Generate(String),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
}
