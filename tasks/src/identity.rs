//! Who a model is in the registry and the warehouse: its role. A registered version is a
//! candidate, the champion or archived; a run's extra candidates are challengers; rollout adds
//! shadow and canary. Stored as lowercase text, parsed back into this type at every read.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A run's model being judged (registered but not promoted, once registered).
    Candidate,
    /// A run's other candidate family: evaluated beside the candidate, not registered.
    Challenger,
    /// The version scoring customers for the CRM.
    Champion,
    /// A version scored beside the champion whose rows never reach the CRM.
    Shadow,
    /// A version whose scores the CRM is shown for a stable share of customers (the canary arm).
    Canary,
    /// A former champion.
    Archived,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Candidate,
        Role::Challenger,
        Role::Champion,
        Role::Shadow,
        Role::Canary,
        Role::Archived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Candidate => "candidate",
            Role::Challenger => "challenger",
            Role::Champion => "champion",
            Role::Shadow => "shadow",
            Role::Canary => "canary",
            Role::Archived => "archived",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_reads_back_from_its_text() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(
                serde_json::to_value(role).unwrap(),
                serde_json::Value::from(role.as_str())
            );
        }
        assert_eq!(Role::parse("Champion"), None);
    }
}
