//! Disk space as a managed resource, and whether the engine can take writes.
//!
//! New object data is refused (`InsufficientStorage`) once the data directory's filesystem
//! has less free space than a reserved floor, so that what keeps a full node recoverable
//! still fits: metadata commits (deletes free space only through one), the audit trail and
//! the garbage collector's bookkeeping. Reads and deletes go on working.
//!
//! The metadata writer reports here when a commit failed on I/O (the database is then
//! reopened at the next write) and when it recovered, so that `/health` can say why the node
//! does not take writes.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{StoreError, StoreResult};

/// The default floor: 5% of the filesystem, at most 512 MiB.
pub const RESERVE_SHARE_PERCENT_DEFAULT: u64 = 5;
/// See [`RESERVE_SHARE_PERCENT_DEFAULT`].
pub const RESERVE_BYTES_MAX_DEFAULT: u64 = 512 * 1024 * 1024;

/// Below this much free space the disk counts as full, whatever the floor.
const FULL_BYTES: u64 = 1024 * 1024;

/// How much free space new data must leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserve {
    /// 5% of the filesystem's size, at most 512 MiB.
    Default,
    /// Exactly this many bytes (0: no floor, data fills the disk).
    Bytes(u64),
}

/// Free space of one filesystem, as statvfs tells it.
#[derive(Debug, Clone, Copy)]
pub struct Space {
    /// Bytes an unprivileged writer may still use.
    pub available: u64,
    /// Size of the filesystem.
    pub total: u64,
}

/// The data directory's space and the engine's writability.
pub struct SpaceGuard {
    dir: PathBuf,
    reserve: Reserve,
    /// Set while the metadata database is failed (not yet reopened): why.
    metadata_failure: Mutex<Option<String>>,
}

/// Reads the free space of the filesystem holding `dir`.
pub fn space_of(dir: &Path) -> std::io::Result<Space> {
    let stat = rustix::fs::statvfs(dir)?;
    let block = stat.f_frsize.max(1);
    Ok(Space { available: stat.f_bavail.saturating_mul(block), total: stat.f_blocks.saturating_mul(block) })
}

impl SpaceGuard {
    /// Guards the filesystem holding `dir`.
    pub fn new(dir: &Path, reserve: Reserve) -> SpaceGuard {
        SpaceGuard { dir: dir.to_owned(), reserve, metadata_failure: Mutex::new(None) }
    }

    /// The floor, in bytes, for a filesystem of `total` bytes.
    pub fn floor(&self, total: u64) -> u64 {
        match self.reserve {
            Reserve::Default => (total / 100 * RESERVE_SHARE_PERCENT_DEFAULT).min(RESERVE_BYTES_MAX_DEFAULT),
            Reserve::Bytes(n) => n,
        }
    }

    /// Refuses new object data while free space is below the floor.
    pub fn check_data_write(&self) -> StoreResult<()> {
        let space = space_of(&self.dir).map_err(StoreError::io("read the free space of the data directory"))?;
        self.refuse_below_floor(space)
    }

    fn refuse_below_floor(&self, space: Space) -> StoreResult<()> {
        let floor = self.floor(space.total);
        if floor > 0 && space.available < floor {
            return Err(StoreError::InsufficientStorage { available: space.available, floor });
        }
        Ok(())
    }

    /// The error of a write that found the disk full (with today's free space).
    pub fn insufficient(&self) -> StoreError {
        match space_of(&self.dir) {
            Ok(space) => StoreError::InsufficientStorage { available: space.available, floor: self.floor(space.total) },
            Err(_) => StoreError::InsufficientStorage { available: 0, floor: 0 },
        }
    }

    /// `Ok` while the engine takes writes; otherwise why not.
    pub fn writability(&self) -> Result<(), String> {
        if let Some(reason) = self.metadata_failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone() {
            return Err(reason);
        }
        let space = space_of(&self.dir).map_err(|e| format!("the free space of the data directory is unknown: {e}"))?;
        self.refuse_below_floor(space).map_err(|e| e.to_string())?;
        // Even with no floor, a disk this full takes no commit.
        if space.available < FULL_BYTES {
            return Err(format!("the disk is full ({} bytes free)", space.available));
        }
        Ok(())
    }

    pub(crate) fn metadata_failed(&self, reason: String) {
        *self.metadata_failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reason);
    }

    pub(crate) fn metadata_recovered(&self) {
        *self.metadata_failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_floor_is_a_share_capped_and_a_set_floor_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let default = SpaceGuard::new(dir.path(), Reserve::Default);
        assert_eq!(default.floor(1000 * 1024 * 1024), 50 * 1024 * 1024);
        assert_eq!(default.floor(1 << 40), RESERVE_BYTES_MAX_DEFAULT);
        assert_eq!(SpaceGuard::new(dir.path(), Reserve::Bytes(7)).floor(1 << 40), 7);
    }

    #[test]
    fn a_floor_above_the_free_space_refuses_data_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let guard = SpaceGuard::new(dir.path(), Reserve::Bytes(u64::MAX));
        assert!(matches!(guard.check_data_write(), Err(StoreError::InsufficientStorage { .. })));
        assert!(guard.writability().unwrap_err().contains("free"));
        let open = SpaceGuard::new(dir.path(), Reserve::Bytes(0));
        assert!(open.writability().is_ok());
        open.metadata_failed("metadata database failed: disk full".into());
        assert_eq!(open.writability().unwrap_err(), "metadata database failed: disk full");
        open.metadata_recovered();
        assert!(open.writability().is_ok());
    }
}
