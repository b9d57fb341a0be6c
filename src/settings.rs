//! Where churnflow keeps things and how it reaches the outside: a `churnflow.toml` file (optional)
//! overridden by environment variables, with embedded defaults that need nothing installed.
//!
//! | setting | file key | environment | default |
//! |---|---|---|---|
//! | state directory | `state_dir` | `CHURNFLOW_STATE_DIR` | `.churnflow` |
//! | run store | `database_url` | `DATABASE_URL` | `sqlite://<state_dir>/churnflow.db` |
//! | object store root | `store_root` | `CHURNFLOW_STORE_ROOT` | `<state_dir>/store` |
//! | DAG file | `dags` | `CHURNFLOW_DAGS` | `dags.toml` |
//! | task pool size | `pool_size` | `CHURNFLOW_POOL_SIZE` | 4 |
//! | claim lease | `lease` | `CHURNFLOW_LEASE` | `30s` |
//! | where tasks run | `executor` | `CHURNFLOW_EXECUTOR` | `in-process` (or `process`) |
//! | sender address | `email.from` | `CHURNFLOW_EMAIL_FROM` | `churnflow@localhost` |
//! | file outbox | `email.outbox_dir` | `CHURNFLOW_OUTBOX_DIR` | `<state_dir>/outbox` |
//! | SMTP server | `email.smtp_url` | `CHURNFLOW_SMTP_URL` | none: mail goes to the outbox |
//! | SMTP private CA | `email.smtp_ca_file` | `CHURNFLOW_SMTP_CA_FILE` | none: system roots only |
//! | email on or off | - | `CHURNFLOW_EMAIL` (`off`; also `run --no-email`) | on |

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use workflows::store::redact_url;

pub const DEFAULT_CONFIG_FILE: &str = "churnflow.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    state_dir: Option<PathBuf>,
    database_url: Option<String>,
    store_root: Option<String>,
    dags: Option<PathBuf>,
    pool_size: Option<usize>,
    lease: Option<String>,
    executor: Option<String>,
    #[serde(default)]
    email: FileEmailSettings,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEmailSettings {
    from: Option<String>,
    outbox_dir: Option<PathBuf>,
    smtp_url: Option<String>,
    smtp_ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorKind {
    InProcess,
    Process,
}

#[derive(Debug, Clone)]
pub struct EmailSettings {
    pub from: String,
    pub outbox_dir: PathBuf,
    /// `smtps://user:password@host:465` (TLS), `smtp://...:587?tls=required` (STARTTLS) or
    /// `smtp://host:port` (plain, lettre's URL forms); None for the outbox.
    pub smtp_url: Option<String>,
    /// Extra root certificates (PEM) to trust for the SMTP server's TLS certificate, for a
    /// server with a certificate from a private CA; the system's roots are trusted either way.
    pub smtp_ca_file: Option<PathBuf>,
    /// False for a run without email (`run --no-email`, `CHURNFLOW_EMAIL=off`): reports and
    /// alerts are neither queued nor sent.
    pub enabled: bool,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub state_dir: PathBuf,
    pub database_url: String,
    pub store_root: String,
    pub dags_path: PathBuf,
    pub pool_size: usize,
    pub lease: Duration,
    pub executor: ExecutorKind,
    pub email: EmailSettings,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

impl Settings {
    /// Reads `config` (or `churnflow.toml` if it exists) and the environment.
    pub fn load(config: Option<&Path>) -> Result<Self> {
        let file = match config {
            Some(path) => Some(path.to_path_buf()),
            None => env("CHURNFLOW_CONFIG")
                .map(PathBuf::from)
                .or_else(|| Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists())),
        };
        let parsed = match &file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the config file {}", path.display()))?;
                toml::from_str::<FileSettings>(&text)
                    .with_context(|| format!("config file {}", path.display()))?
            }
            None => FileSettings::default(),
        };
        Self::resolve(parsed)
    }

    fn resolve(file: FileSettings) -> Result<Self> {
        let state_dir = env("CHURNFLOW_STATE_DIR")
            .map(PathBuf::from)
            .or(file.state_dir)
            .unwrap_or_else(|| PathBuf::from(".churnflow"));
        let database_url = env("DATABASE_URL")
            .or(file.database_url)
            .unwrap_or_else(|| workflows::store::sqlite_url(&state_dir.join("churnflow.db")));
        let store_root = env("CHURNFLOW_STORE_ROOT")
            .or(file.store_root)
            .unwrap_or_else(|| state_dir.join("store").display().to_string());
        let dags_path = env("CHURNFLOW_DAGS")
            .map(PathBuf::from)
            .or(file.dags)
            .unwrap_or_else(|| PathBuf::from("dags.toml"));
        let pool_size = match env("CHURNFLOW_POOL_SIZE") {
            Some(text) => text
                .parse()
                .with_context(|| format!("CHURNFLOW_POOL_SIZE=`{text}` is not a whole number"))?,
            None => file.pool_size.unwrap_or(4),
        };
        if pool_size == 0 {
            bail!("the task pool size (pool_size / CHURNFLOW_POOL_SIZE) must be at least 1");
        }
        let lease_text = env("CHURNFLOW_LEASE")
            .or(file.lease)
            .unwrap_or_else(|| "30s".to_string());
        let lease = humantime::parse_duration(&lease_text).with_context(|| {
            format!("lease / CHURNFLOW_LEASE: `{lease_text}` is not a duration")
        })?;
        if lease < Duration::from_millis(300) {
            bail!("lease / CHURNFLOW_LEASE: `{lease_text}` is too short; use at least 300ms");
        }
        let executor = match env("CHURNFLOW_EXECUTOR")
            .or(file.executor)
            .as_deref()
            .unwrap_or("in-process")
        {
            "in-process" => ExecutorKind::InProcess,
            "process" => ExecutorKind::Process,
            other => {
                bail!("executor / CHURNFLOW_EXECUTOR: `{other}` is not `in-process` or `process`")
            }
        };
        let email = EmailSettings {
            from: env("CHURNFLOW_EMAIL_FROM")
                .or(file.email.from)
                .unwrap_or_else(|| "churnflow@localhost".to_string()),
            outbox_dir: env("CHURNFLOW_OUTBOX_DIR")
                .map(PathBuf::from)
                .or(file.email.outbox_dir)
                .unwrap_or_else(|| state_dir.join("outbox")),
            smtp_url: env("CHURNFLOW_SMTP_URL").or(file.email.smtp_url),
            smtp_ca_file: env("CHURNFLOW_SMTP_CA_FILE")
                .map(PathBuf::from)
                .or(file.email.smtp_ca_file),
            enabled: match env("CHURNFLOW_EMAIL").as_deref() {
                None | Some("on") => true,
                Some("off") => false,
                Some(other) => bail!("CHURNFLOW_EMAIL=`{other}` is not `on` or `off`"),
            },
        };
        Ok(Self {
            state_dir,
            database_url,
            store_root,
            dags_path,
            pool_size,
            lease,
            executor,
            email,
        })
    }

    /// The settings as `key = value` lines, with passwords in URLs hidden.
    pub fn describe(&self) -> String {
        let executor = match self.executor {
            ExecutorKind::InProcess => "in-process",
            ExecutorKind::Process => "process",
        };
        let smtp = self
            .email
            .smtp_url
            .as_deref()
            .map_or("none (mail goes to the outbox)".to_string(), redact_url);
        [
            ("state_dir", self.state_dir.display().to_string()),
            ("database_url", redact_url(&self.database_url)),
            ("store_root", redact_url(&self.store_root)),
            ("dags", self.dags_path.display().to_string()),
            ("pool_size", self.pool_size.to_string()),
            ("lease", humantime::format_duration(self.lease).to_string()),
            ("executor", executor.to_string()),
            ("email.from", self.email.from.clone()),
            (
                "email.outbox_dir",
                self.email.outbox_dir.display().to_string(),
            ),
            ("email.smtp_url", smtp),
            (
                "email (CHURNFLOW_EMAIL)",
                if self.email.enabled { "on" } else { "off" }.to_string(),
            ),
            (
                "email.smtp_ca_file",
                self.email
                    .smtp_ca_file
                    .as_ref()
                    .map_or("none".to_string(), |p| p.display().to_string()),
            ),
        ]
        .iter()
        .map(|(key, value)| format!("{key} = {value}"))
        .collect::<Vec<_>>()
        .join("\n")
    }

    pub fn artifacts_root(&self) -> PathBuf {
        self.state_dir.join("artifacts")
    }
}
