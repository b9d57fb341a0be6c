//! What every stage adapter needs from the binary's settings: the object store, the warehouse and
//! the mail route.

use tasks::storage::DataStore;
use tasks::warehouse::Warehouse;
use workflows::TaskError;

use crate::settings::{EmailSettings, Settings};

#[derive(Debug, Clone)]
pub struct StageEnv {
    pub store_root: String,
    pub database_url: String,
    pub email: EmailSettings,
}

impl StageEnv {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            store_root: settings.store_root.clone(),
            database_url: settings.database_url.clone(),
            email: settings.email.clone(),
        }
    }

    pub fn store(&self) -> Result<DataStore, TaskError> {
        DataStore::open(&self.store_root).map_err(TaskError::new)
    }

    pub async fn warehouse(&self) -> Result<Warehouse, TaskError> {
        Warehouse::connect(&self.database_url)
            .await
            .map_err(TaskError::new)
    }
}
