//! Background workers: each is named, started by the [`WorkerBoard`] that owns it, publishes
//! what it is doing (its state, passes, counters, last error) for the admin API, and stops
//! when the board's token is cancelled, after its current step; shutdown waits for all of
//! them ([`WorkerBoard::join`]). No background work is anonymous, unowned or aborted midway.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
pub use tokio_util::sync::CancellationToken;

/// What a worker is doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerState {
    /// Waiting for its next pass.
    #[default]
    Idle,
    /// In a pass.
    Running,
    /// In a pass, paused while foreground requests keep the metadata writer busy.
    Throttled,
    /// Stopped (the server is shutting down).
    Stopped,
}

/// A worker's status, as the admin API shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkerStatus {
    /// Its name (`lifecycle`).
    pub name: String,
    pub state: WorkerState,
    /// Passes finished since the server started.
    pub passes: u64,
    /// When the current or last pass started (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass_started: Option<String>,
    /// When the last pass finished (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass_finished: Option<String>,
    /// What it did, by kind, since the server started.
    pub counters: BTreeMap<&'static str, u64>,
    /// Milliseconds spent paused for foreground load.
    pub throttled_ms: u64,
    /// Steps that failed.
    pub errors: u64,
    /// The last failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A worker's handle on its own status.
#[derive(Clone)]
pub struct WorkerHandle(Arc<Mutex<WorkerStatus>>);

impl WorkerHandle {
    /// Changes the status.
    pub fn update(&self, f: impl FnOnce(&mut WorkerStatus)) {
        f(&mut self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    /// Adds `n` to counter `name`.
    pub fn count(&self, name: &'static str, n: u64) {
        self.update(|s| *s.counters.entry(name).or_default() += n);
    }

    /// Records a failed step.
    pub fn failed(&self, error: &dyn std::fmt::Display) {
        let text = error.to_string();
        self.update(|s| {
            s.errors += 1;
            s.last_error = Some(text);
        });
    }

    /// The status as it stands.
    pub fn snapshot(&self) -> WorkerStatus {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// Every worker of the process, and the token that stops them all.
#[derive(Default)]
pub struct WorkerBoard {
    workers: Mutex<Vec<WorkerHandle>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    stop: CancellationToken,
}

impl WorkerBoard {
    /// Registers worker `name` and returns its handle.
    fn register(&self, name: &str) -> WorkerHandle {
        let handle = WorkerHandle(Arc::new(Mutex::new(WorkerStatus { name: name.to_owned(), ..Default::default() })));
        self.workers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(handle.clone());
        handle
    }

    /// Every worker's status, in registration order.
    pub fn statuses(&self) -> Vec<WorkerStatus> {
        self.workers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(WorkerHandle::snapshot)
            .collect()
    }

    /// The token workers watch; cancelled by [`WorkerBoard::stop`].
    pub fn token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Asks every worker to stop after its current step.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Starts worker `name`: `run` gets its status handle and the stop token, and returns
    /// when the token is cancelled. The board keeps the task, for [`WorkerBoard::join`].
    pub fn spawn<F, Fut>(&self, name: &str, run: F)
    where
        F: FnOnce(WorkerHandle, CancellationToken) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let status = self.register(name);
        let done = status.clone();
        let work = run(status, self.token());
        let task = tokio::spawn(async move {
            work.await;
            done.update(|s| s.state = WorkerState::Stopped);
        });
        self.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(task);
    }

    /// Stops every worker and waits until each has finished its current step.
    pub async fn join(&self) {
        self.stop();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for task in tasks {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "a background worker panicked");
            }
        }
    }
}

/// Now, as worker statuses show it.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
