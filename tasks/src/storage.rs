//! The object store that holds snapshots, models, exports and reports: a local directory by
//! default, or S3-compatible storage for an `s3://bucket/prefix` root (credentials and region from
//! the usual `AWS_*` variables; `AWS_ENDPOINT_URL` or `AWS_ENDPOINT` points it at MinIO or another
//! S3-compatible server). Parquet goes in and out as polars frames.
//!
//! Layout (shared/DATA_CONTRACT.md): `features/snapshot_date=YYYY-MM-DD/part-0.parquet`, the same
//! under `labels/`, `models/<model>/v<N>/`, `exports/risk_scores/score_date=…/`,
//! `reports/<dag>/<logical_date>/`. Writes of one object are atomic (object_store's `put`).

use std::io::Cursor;
use std::sync::Arc;

use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use polars::prelude::*;

/// Bytes per part of a staged write (S3 wants at least 5 MiB a part but the last).
const STAGED_PART_BYTES: usize = 8 << 20;
/// Parts of a staged write in flight at once.
const STAGED_PARTS_IN_FLIGHT: usize = 2;

/// An object being written in pieces; see [`DataStore::stage`].
pub struct StagedWrite {
    writer: WriteMultipart,
    key: String,
    root: String,
}

impl StagedWrite {
    /// Adds the next piece, waiting while earlier parts are still being uploaded.
    pub async fn write(&mut self, piece: bytes::Bytes) -> Result<(), StorageError> {
        self.writer
            .wait_for_capacity(STAGED_PARTS_IN_FLIGHT)
            .await
            .map_err(|source| self.error("writing", source))?;
        self.writer.put(piece);
        Ok(())
    }

    /// Makes the object visible, whole.
    pub async fn finish(self) -> Result<(), StorageError> {
        let key = self.key.clone();
        let root = self.root.clone();
        self.writer
            .finish()
            .await
            .map(|_| ())
            .map_err(|source| StorageError::Store {
                root,
                what: "finishing",
                key,
                source: Box::new(source),
            })
    }

    /// Drops what was written; the store keeps what it held at the key before.
    pub async fn abort(self) -> Result<(), StorageError> {
        let key = self.key.clone();
        let root = self.root.clone();
        self.writer
            .abort()
            .await
            .map_err(|source| StorageError::Store {
                root,
                what: "abandoning",
                key,
                source: Box::new(source),
            })
    }

    fn error(&self, what: &'static str, source: object_store::Error) -> StorageError {
        StorageError::Store {
            root: self.root.clone(),
            what,
            key: self.key.clone(),
            source: Box::new(source),
        }
    }
}

/// Which table of a snapshot partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Features,
    Labels,
}

impl Table {
    pub fn prefix(self) -> &'static str {
        match self {
            Table::Features => "features",
            Table::Labels => "labels",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object store {root}: {what} `{key}`: {source}")]
    Store {
        root: String,
        what: &'static str,
        key: String,
        source: Box<object_store::Error>,
    },
    #[error("object store {root}: {what} `{key}`: {source}")]
    Parquet {
        root: String,
        what: &'static str,
        key: String,
        source: Box<PolarsError>,
    },
    #[error("object store root `{root}`: {reason}")]
    Root { root: String, reason: String },
}

impl StorageError {
    /// Whether trying again cannot help: a file that does not decode as Parquet, or a store root
    /// that is not a usable URL. Network and server errors of the store can pass.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            StorageError::Parquet { .. } | StorageError::Root { .. }
        )
    }
}

#[derive(Debug, Clone)]
pub struct DataStore {
    store: Arc<dyn ObjectStore>,
    root: String,
}

/// The object key of a snapshot partition's single file.
pub fn partition_key(table: Table, date: NaiveDate) -> String {
    format!("{}/snapshot_date={date}/part-0.parquet", table.prefix())
}

/// A Parquet object's bytes, fetched but not decoded; errors name its key.
pub struct ParquetObject {
    bytes: bytes::Bytes,
    key: String,
    root: String,
}

impl ParquetObject {
    /// SHA-256 of the object's bytes (the fingerprint of training data on a model card).
    pub fn sha256(&self) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(&self.bytes).into()
    }

    /// Decodes the named columns, or all of them (CPU work: call it off the async threads).
    pub fn decode(&self, columns: Option<&[String]>) -> Result<DataFrame, StorageError> {
        ParquetReader::new(Cursor::new(self.bytes.clone()))
            .with_columns(columns.map(<[String]>::to_vec))
            .finish()
            .map_err(|source| parquet_error(&self.root, "decoding Parquet", &self.key, source))
    }
}

impl DataStore {
    /// Opens the store at `root`: a directory path (created if missing) or `s3://bucket[/prefix]`.
    pub fn open(root: &str) -> Result<Self, StorageError> {
        let fail = |reason: String| StorageError::Root {
            root: root.to_string(),
            reason,
        };
        let store: Arc<dyn ObjectStore> = if let Some(rest) = root.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(fail("no bucket name after s3://".to_string()));
            }
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
                builder = builder
                    .with_allow_http(endpoint.starts_with("http://"))
                    .with_endpoint(endpoint);
            }
            let s3 = builder.build().map_err(|err| fail(err.to_string()))?;
            if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(object_store::prefix::PrefixStore::new(
                    s3,
                    prefix.trim_end_matches('/'),
                ))
            }
        } else {
            let path = root.strip_prefix("file://").unwrap_or(root);
            std::fs::create_dir_all(path)
                .map_err(|err| fail(format!("cannot create the directory: {err}")))?;
            Arc::new(LocalFileSystem::new_with_prefix(path).map_err(|err| fail(err.to_string()))?)
        };
        Ok(Self {
            store,
            root: root.to_string(),
        })
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    pub async fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        self.store
            .put(&Path::from(key), PutPayload::from(bytes))
            .await
            .map_err(|source| self.store_error("writing", key, source))?;
        Ok(())
    }

    /// Starts writing object `key` in pieces (a multipart upload): readers see nothing of it until
    /// [`StagedWrite::finish`], and [`StagedWrite::abort`] leaves the store as it was (an object
    /// already at `key` stays until then).
    pub async fn stage(&self, key: &str) -> Result<StagedWrite, StorageError> {
        let upload = self
            .store
            .put_multipart(&Path::from(key))
            .await
            .map_err(|source| self.store_error("starting to write", key, source))?;
        Ok(StagedWrite {
            writer: WriteMultipart::new_with_chunk_size(upload, STAGED_PART_BYTES),
            key: key.to_string(),
            root: self.root.clone(),
        })
    }

    /// Copies an object within the store (on S3 a server-side copy; nothing is read into memory).
    pub async fn copy_object(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.store
            .copy(&Path::from(from), &Path::from(to))
            .await
            .map_err(|source| self.store_error("copying", from, source))
    }

    /// Removes an object (a partition being replaced by one without it).
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.store
            .delete(&Path::from(key))
            .await
            .map_err(|source| self.store_error("deleting", key, source))
    }

    pub async fn get_bytes(&self, key: &str) -> Result<bytes::Bytes, StorageError> {
        let result = self
            .store
            .get(&Path::from(key))
            .await
            .map_err(|source| self.store_error("reading", key, source))?;
        result
            .bytes()
            .await
            .map_err(|source| self.store_error("reading", key, source))
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.store.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(source) => Err(self.store_error("looking up", key, source)),
        }
    }

    /// Keys under `prefix`, sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut keys: Vec<String> = self
            .store
            .list(Some(&Path::from(prefix)))
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .map_err(|source| self.store_error("listing", prefix, source))?;
        keys.sort();
        Ok(keys)
    }

    /// Writes a frame as one Parquet object. Encoding runs off the async threads.
    pub async fn put_parquet(&self, key: &str, frame: &mut DataFrame) -> Result<(), StorageError> {
        let encoded = self.encode_parquet(key, frame).await?;
        self.put_bytes(key, encoded).await
    }

    /// A frame as the bytes of the Parquet object `key` (named in errors), encoded off the async
    /// threads: for a caller that encodes while it waits on something else and writes later.
    pub async fn encode_parquet(
        &self,
        key: &str,
        frame: &DataFrame,
    ) -> Result<Vec<u8>, StorageError> {
        // Columns are reference-counted: the clone shares the data.
        let mut owned = frame.clone();
        tokio::task::spawn_blocking(move || {
            let mut buffer = Vec::new();
            ParquetWriter::new(&mut buffer)
                .with_compression(ParquetCompression::Snappy)
                .finish(&mut owned)
                .map(|_| buffer)
        })
        .await
        .map_err(|err| self.crashed("encoding", key, err))?
        .map_err(|source| self.parquet_error("encoding", key, source))
    }

    /// Reads one Parquet object into a frame. Decoding runs off the async threads.
    pub async fn get_parquet(&self, key: &str) -> Result<DataFrame, StorageError> {
        let object = self.get_parquet_object(key).await?;
        tokio::task::spawn_blocking(move || object.decode(None))
            .await
            .map_err(|err| self.crashed("decoding Parquet", key, err))?
    }

    /// Fetches one Parquet object without decoding it, so a caller can decode a few columns
    /// first and the whole frame only when it needs it.
    pub async fn get_parquet_object(&self, key: &str) -> Result<ParquetObject, StorageError> {
        Ok(ParquetObject {
            bytes: self.get_bytes(key).await?,
            key: key.to_string(),
            root: self.root.clone(),
        })
    }

    /// The row count of a Parquet object, from its footer.
    pub async fn parquet_rows(&self, key: &str) -> Result<usize, StorageError> {
        let bytes = self.get_bytes(key).await?;
        ParquetReader::new(Cursor::new(bytes))
            .num_rows()
            .map_err(|source| self.parquet_error("reading the Parquet footer of", key, source))
    }

    /// The snapshot dates that have a partition of `table`, oldest first.
    pub async fn snapshot_dates(&self, table: Table) -> Result<Vec<NaiveDate>, StorageError> {
        let marker = "snapshot_date=";
        let mut dates: Vec<NaiveDate> = self
            .list(table.prefix())
            .await?
            .iter()
            .filter_map(|key| {
                let start = key.find(marker)? + marker.len();
                NaiveDate::parse_from_str(key.get(start..start + 10)?, "%Y-%m-%d").ok()
            })
            .collect();
        dates.sort();
        dates.dedup();
        Ok(dates)
    }

    fn store_error(
        &self,
        what: &'static str,
        key: &str,
        source: object_store::Error,
    ) -> StorageError {
        StorageError::Store {
            root: self.root.clone(),
            what,
            key: key.to_string(),
            source: Box::new(source),
        }
    }

    /// A Parquet task that panicked, as an error about the object it worked on.
    fn crashed(&self, what: &'static str, key: &str, err: tokio::task::JoinError) -> StorageError {
        self.parquet_error(what, key, PolarsError::ComputeError(err.to_string().into()))
    }

    fn parquet_error(&self, what: &'static str, key: &str, source: PolarsError) -> StorageError {
        parquet_error(&self.root, what, key, source)
    }
}

/// A Parquet failure on object `key` of the store at `root`.
fn parquet_error(root: &str, what: &'static str, key: &str, source: PolarsError) -> StorageError {
    StorageError::Parquet {
        root: root.to_string(),
        what,
        key: key.to_string(),
        source: Box::new(source),
    }
}
