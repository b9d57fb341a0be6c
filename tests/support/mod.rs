//! What the process-level test binaries share: a working directory with its own dags.toml and
//! state directory, and the `churnflow` binary run inside it.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use tempfile::TempDir;

/// A working directory with its own dags.toml and state directory.
pub struct Workspace {
    pub dir: TempDir,
    pub database_url: Option<String>,
}

impl Workspace {
    pub fn new(dags: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dags.toml"), dags).unwrap();
        Self {
            dir,
            database_url: None,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_churnflow"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("CHURNFLOW_CONFIG")
            .env_remove("CHURNFLOW_SMTP_URL")
            .env("CHURNFLOW_STATE_DIR", self.path("state"))
            .env("CHURNFLOW_LEASE", "1s")
            .env("CHURNFLOW_LOG", "info")
            .env("WORK", self.dir.path())
            .stdin(Stdio::null());
        if let Some(url) = &self.database_url {
            command.env("DATABASE_URL", url);
        }
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    pub fn lines(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.path(name))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}
