//! The data contract: which columns a snapshot has, of which types, which are features (numeric or
//! categorical), the key, the snapshot column, the label with its positive value and horizon, the
//! slice columns, and the rules each column must meet (null fraction, range, allowed values).
//!
//! It is configuration, read from a TOML file, so a churn table with other columns runs through the
//! same stages without code changes. Column names live here, never as literals in the stages.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// The contract of the demo data, shipped with the binary.
pub const DEMO_CONTRACT: &str = include_str!("../contracts/demo.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    String,
    Int,
    Float,
    Bool,
    Date,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureKind {
    Numeric,
    Categorical,
}

/// What a snapshot holding NaN or an infinity in a numeric column gets from validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NonFinite {
    /// A hard violation: the run stops (the default: such a value is a broken export, and a
    /// model fed with it scores nonsense).
    #[default]
    Hard,
    /// A warning; the model treats the values as missing (imputed like nulls).
    Soft,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    #[serde(rename = "type")]
    pub kind: ColumnType,
    /// Whether (and how) the column is a model feature.
    pub feature: Option<FeatureKind>,
    /// The largest share of nulls allowed; 0 when unset.
    #[serde(default)]
    pub max_null_fraction: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// For string columns: the values the contract knows.
    pub allowed: Option<Vec<String>>,
    /// For numeric columns: how NaN and infinite values are treated (`hard` or `soft`).
    #[serde(default)]
    pub non_finite: NonFinite,
    /// What people read for the column in reasons and reports (the column name when unset).
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    pub key: String,
    pub snapshot_column: String,
    pub label: String,
    /// The label's value that means churned, written as text (`true`, `Yes`, `1`).
    pub label_positive: String,
    pub label_horizon_days: u32,
    #[serde(default)]
    pub slice_columns: Vec<String>,
    /// Columns a CRM import matches customers on besides the key (an email, an external CRM
    /// id): they pass through to the risk table's `crm_keys` column as a JSON object of text
    /// values, in the database and the exports.
    #[serde(default)]
    pub crm_keys: Vec<String>,
    /// Every feature-table column by name (the label lives in the labels table).
    pub columns: BTreeMap<String, ColumnSpec>,
}

#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("contract {source_name}: cannot read it: {reason}")]
    Read { source_name: String, reason: String },
    #[error("contract {source_name}: {reason}")]
    Invalid { source_name: String, reason: String },
}

impl Contract {
    /// Parses and checks a contract; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, ContractError> {
        let invalid = |reason: String| ContractError::Invalid {
            source_name: source_name.to_string(),
            reason,
        };
        let contract: Contract =
            toml::from_str(text).map_err(|err| invalid(err.message().trim().to_string()))?;
        for required in [&contract.key, &contract.snapshot_column] {
            if !contract.columns.contains_key(required) {
                return Err(invalid(format!(
                    "`{required}` is named but not in [columns]"
                )));
            }
        }
        for slice in &contract.slice_columns {
            if !contract.columns.contains_key(slice) {
                return Err(invalid(format!(
                    "slice column `{slice}` is not in [columns]"
                )));
            }
        }
        for (i, column) in contract.crm_keys.iter().enumerate() {
            if !contract.columns.contains_key(column) {
                return Err(invalid(format!("crm_keys: `{column}` is not in [columns]")));
            }
            if *column == contract.key {
                return Err(invalid(format!(
                    "crm_keys: `{column}` is the key, which the risk table holds as customer_id"
                )));
            }
            if contract.columns[column].kind == ColumnType::Float {
                return Err(invalid(format!(
                    "crm_keys: `{column}` is a float column: a key a CRM matches on is text, an \
                     integer or a date (a float's text, such as 881.0, would not match)"
                )));
            }
            if contract.crm_keys[..i].contains(column) {
                return Err(invalid(format!("crm_keys: `{column}` is named twice")));
            }
        }
        for (name, spec) in &contract.columns {
            if !(0.0..=1.0).contains(&spec.max_null_fraction) {
                return Err(invalid(format!(
                    "column `{name}`: max_null_fraction {} is not in [0, 1]",
                    spec.max_null_fraction
                )));
            }
            let numeric = matches!(spec.kind, ColumnType::Int | ColumnType::Float);
            if spec.feature == Some(FeatureKind::Numeric) && !numeric {
                return Err(invalid(format!(
                    "column `{name}`: a numeric feature must have type int or float"
                )));
            }
        }
        if contract.numeric_features().is_empty() && contract.categorical_features().is_empty() {
            return Err(invalid("no column is marked as a feature".to_string()));
        }
        Ok(contract)
    }

    pub fn load(path: &Path) -> Result<Self, ContractError> {
        let source_name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|err| ContractError::Read {
            source_name: source_name.clone(),
            reason: err.to_string(),
        })?;
        Self::parse(&text, &source_name)
    }

    pub fn demo() -> Self {
        Self::parse(DEMO_CONTRACT, "demo contract").expect("the shipped demo contract is valid")
    }

    fn features_of(&self, kind: FeatureKind) -> Vec<String> {
        self.columns
            .iter()
            .filter(|(_, spec)| spec.feature == Some(kind))
            .map(|(name, _)| name.clone())
            .collect()
    }

    pub fn numeric_features(&self) -> Vec<String> {
        self.features_of(FeatureKind::Numeric)
    }

    pub fn categorical_features(&self) -> Vec<String> {
        self.features_of(FeatureKind::Categorical)
    }

    /// The name people read for a column: its `display_name`, or the column name.
    pub fn display_name<'a>(&'a self, column: &'a str) -> &'a str {
        self.columns
            .get(column)
            .and_then(|spec| spec.display_name.as_deref())
            .unwrap_or(column)
    }

    /// Every feature in the order models see them: numeric ones, then categorical ones.
    pub fn feature_names(&self) -> Vec<String> {
        let mut names = self.numeric_features();
        names.extend(self.categorical_features());
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_contract_has_the_documented_shape() {
        let contract = Contract::demo();
        assert_eq!(contract.numeric_features().len(), 18);
        assert_eq!(
            contract.categorical_features(),
            ["favorite_category", "payment_method", "shipping_method"]
        );
        assert_eq!(contract.columns.len(), 24);
        assert_eq!(contract.label_horizon_days, 90);
    }

    #[test]
    fn names_the_column_at_fault() {
        let err = Contract::parse(
            "key = \"id\"\nsnapshot_column = \"day\"\nlabel = \"y\"\nlabel_positive = \"Yes\"\n\
             label_horizon_days = 30\n[columns]\nid = { type = \"string\" }\nday = { type = \"date\" }\n\
             plan = { type = \"string\", feature = \"numeric\" }\n",
            "c.toml",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "contract c.toml: column `plan`: a numeric feature must have type int or float"
        );
    }

    #[test]
    fn crm_keys_must_be_columns_other_than_the_key() {
        let contract = |keys: &str| {
            Contract::parse(
                &format!(
                    "key = \"id\"\nsnapshot_column = \"day\"\nlabel = \"y\"\n\
                     label_positive = \"Yes\"\nlabel_horizon_days = 30\ncrm_keys = {keys}\n\
                     [columns]\nid = {{ type = \"string\" }}\nday = {{ type = \"date\" }}\n\
                     email = {{ type = \"string\" }}\nscore = {{ type = \"float\" }}\n\
                     tenure = {{ type = \"int\", feature = \"numeric\" }}\n"
                ),
                "c.toml",
            )
        };
        assert_eq!(contract("[\"email\"]").unwrap().crm_keys, ["email"]);
        let error = |keys: &str| contract(keys).unwrap_err().to_string();
        assert_eq!(
            error("[\"mail\"]"),
            "contract c.toml: crm_keys: `mail` is not in [columns]"
        );
        assert_eq!(
            error("[\"id\"]"),
            "contract c.toml: crm_keys: `id` is the key, which the risk table holds as customer_id"
        );
        assert!(error("[\"score\"]").contains("`score` is a float column"));
        assert_eq!(
            error("[\"email\", \"email\"]"),
            "contract c.toml: crm_keys: `email` is named twice"
        );
    }
}
