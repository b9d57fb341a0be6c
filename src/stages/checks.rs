//! Value checks of stage parameters that their types cannot express, for `Task::check`: each
//! problem is one message naming its key, so `churnflow dags check` reports it, not the 02:30 run.

use workflows::config::validate::{MAX_NAME_LENGTH, is_valid_name};

use super::ModelParams;

/// The problems found so far, one message each.
#[derive(Debug, Default)]
pub struct Problems(Vec<String>);

impl Problems {
    pub fn into_vec(self) -> Vec<String> {
        self.0
    }

    pub fn push(&mut self, message: impl Into<String>) {
        self.0.push(message.into());
    }

    /// `key` must lie strictly between 0 and 1.
    pub fn open_unit(&mut self, key: &str, value: f64) {
        if !(value > 0.0 && value < 1.0) {
            self.push(format!("{key} = {value} is not in (0, 1)"));
        }
    }

    /// `key` must lie in [0, 1] (a probability, a score bounded like ROC AUC or Brier).
    pub fn closed_unit(&mut self, key: &str, value: f64) {
        if !(0.0..=1.0).contains(&value) {
            self.push(format!("{key} = {value} is not in [0, 1]"));
        }
    }

    /// `key` must be at least 1.
    pub fn at_least_one(&mut self, key: &str, value: u64) {
        if value == 0 {
            self.push(format!("{key} = 0 must be at least 1"));
        }
    }

    /// Every address in `key` must parse as the report stage will parse it (lettre's mailbox).
    pub fn emails(&mut self, key: &str, addresses: &[String]) {
        for address in addresses {
            if let Err(err) = address.parse::<lettre::message::Mailbox>() {
                self.push(format!(
                    "{key}: `{address}` is not an email address ({err})"
                ));
            }
        }
    }

    /// The params every model stage shares: a model name fit for a path, a contract that loads.
    pub fn model(&mut self, params: &ModelParams) {
        // A model name becomes a path segment of the object store (`models/<name>/...`): the same
        // rule as DAG and task names.
        let name = &params.model;
        if !is_valid_name(name) {
            let shown: String = name.chars().take(40).collect();
            self.push(format!(
                "model = `{shown}{}` must be 1 to {MAX_NAME_LENGTH} letters, digits, `_` or `-`",
                if name.chars().count() > 40 { "..." } else { "" }
            ));
        }
        if let Some(path) = &params.contract
            && let Err(err) = tasks::contract::Contract::load(path)
        {
            self.push(format!("contract: {err}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_key_and_the_value() {
        let mut problems = Problems::default();
        problems.open_unit("holdout_fraction", 1.5);
        problems.open_unit("holdout_fraction", 0.2);
        problems.closed_unit("min_roc_auc", 1.7);
        problems.at_least_one("max_iterations", 0);
        problems.emails("to", &["ops".to_string(), "a@b.c".to_string()]);
        problems.model(&ModelParams {
            contract: Some("/nonexistent/contract.toml".into()),
            model: "x".repeat(5_000),
        });
        let problems = problems.into_vec();
        assert_eq!(
            problems[..4],
            [
                "holdout_fraction = 1.5 is not in (0, 1)",
                "min_roc_auc = 1.7 is not in [0, 1]",
                "max_iterations = 0 must be at least 1",
                "to: `ops` is not an email address (Invalid input)",
            ]
        );
        assert!(problems[4].starts_with("model = `xxxx"), "{}", problems[4]);
        assert!(problems[4].ends_with("...` must be 1 to 100 letters, digits, `_` or `-`"));
        assert!(
            problems[5]
                .starts_with("contract: contract /nonexistent/contract.toml: cannot read it")
        );
    }
}
