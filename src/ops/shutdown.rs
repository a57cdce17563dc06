//! The shutdown flag, shared by start-up (which sets it) and the readiness
//! probe (which reads it). It lives here, below both, so that `startup` and
//! `routes::health` need not import each other.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set once shutdown has started; `/readyz` answers 503 from then on.
#[derive(Debug, Default)]
pub struct ShutdownState(AtomicBool);

impl ShutdownState {
    /// Whether shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Marks shutdown as started.
    pub fn begin(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
