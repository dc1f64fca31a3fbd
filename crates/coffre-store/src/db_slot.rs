//! The metadata database handle, replaced after an I/O failure.
//!
//! After a commit fails on I/O (a full disk, a failing device), redb refuses every later
//! transaction ("Previous I/O error occurred. Please close and re-open the database"). The
//! engine used to stay wedged like that until a restart. Here the metadata writer drops the
//! failed handle and opens the file again, which rolls it back to its last durable commit;
//! until that succeeds, reads and writes fail with a plain I/O error and `/health` says why.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use redb::Database;

use crate::error::{StoreError, StoreResult};
use crate::space::SpaceGuard;

/// How long a reopen waits for readers of the failed handle to finish.
const REOPEN_WAIT: Duration = Duration::from_secs(5);

/// The current database, or none while a failed one awaits reopening.
pub(crate) struct DbSlot {
    current: RwLock<Option<Arc<Database>>>,
    path: PathBuf,
    cache_bytes: usize,
    pub(crate) space: Arc<SpaceGuard>,
}

/// Opens (or creates) the database file with a page cache of `cache_bytes`.
fn open_file(path: &Path, cache_bytes: usize) -> Result<Database, redb::DatabaseError> {
    // redb also "repairs" a file it has just created; only an existing one is news.
    let existed = path.exists();
    Database::builder()
        .set_cache_size(cache_bytes)
        .set_repair_callback(move |session| {
            if existed && session.progress() == 0.0 {
                tracing::info!("the metadata database was not closed cleanly; checking it");
            }
        })
        .create(path)
}

/// Whether a failure leaves redb refusing everything until the file is reopened.
pub(crate) fn needs_reopen(e: &StoreError) -> bool {
    matches!(e, StoreError::Meta(redb::Error::Io(_) | redb::Error::PreviousIo))
}

fn unavailable() -> StoreError {
    StoreError::Io {
        context: "use the metadata database",
        source: std::io::Error::other("it failed on I/O and is being reopened"),
    }
}

impl DbSlot {
    pub(crate) fn open(path: &Path, cache_bytes: usize, space: Arc<SpaceGuard>) -> StoreResult<DbSlot> {
        let db = open_file(path, cache_bytes)?;
        Ok(DbSlot { current: RwLock::new(Some(Arc::new(db))), path: path.to_owned(), cache_bytes, space })
    }

    /// The database, unless it failed and is not reopened yet.
    pub(crate) fn get(&self) -> StoreResult<Arc<Database>> {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone().ok_or_else(unavailable)
    }

    /// Gives up the handle after `error`, which made it unusable.
    pub(crate) fn fail(&self, error: &StoreError) {
        tracing::error!(error = %error, "the metadata database failed on I/O; reopening it");
        self.space.metadata_failed(format!("the metadata database failed on I/O ({error}); it is being reopened"));
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// The database, reopened first if it failed. The writer thread calls this; readers still
    /// holding the failed handle are waited for (redb locks the file).
    pub(crate) fn get_or_reopen(&self) -> StoreResult<Arc<Database>> {
        if let Ok(db) = self.get() {
            return Ok(db);
        }
        let deadline = Instant::now() + REOPEN_WAIT;
        loop {
            match open_file(&self.path, self.cache_bytes) {
                Ok(db) => {
                    let db = Arc::new(db);
                    *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::clone(&db));
                    self.space.metadata_recovered();
                    tracing::warn!("the metadata database was reopened after an I/O failure; writes resume");
                    return Ok(db);
                }
                Err(redb::DatabaseError::DatabaseAlreadyOpen) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => {
                    let e = StoreError::from(e);
                    self.space.metadata_failed(format!(
                        "the metadata database cannot be reopened ({e}); retried at the next write"
                    ));
                    return Err(e);
                }
            }
        }
    }
}
