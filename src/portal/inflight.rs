//! One pipeline run per step at a time: a submission of a step that is already being
//! processed is refused at once (`409 INVALID_STEP`) instead of running the checks again.
//!
//! The guard is per process. Across instances two submissions of one step can both run;
//! the store's optimistic version check then decides the winner and the other answers
//! `409` after its run, so the outcome is the same, only the work is spent twice.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::domain::VerificationId;
use crate::domain::portal::Step;

/// The (verification, step) pairs being processed in this process.
#[derive(Debug, Default)]
pub struct InFlight {
    running: Mutex<HashSet<(VerificationId, Step)>>,
}

/// Held while a step is processed; dropping it (answered, failed or cancelled) frees it.
#[derive(Debug)]
pub struct Running {
    owner: Arc<InFlight>,
    key: (VerificationId, Step),
}

impl InFlight {
    /// Mark `step` of `id` as being processed, or `None` when it already is.
    pub fn begin(self: &Arc<Self>, id: &VerificationId, step: Step) -> Option<Running> {
        let key = (id.clone(), step);
        let fresh = self
            .running
            .lock()
            .expect("in-flight set poisoned")
            .insert(key.clone());
        fresh.then(|| Running {
            owner: self.clone(),
            key,
        })
    }

    /// Steps being processed now.
    pub fn len(&self) -> usize {
        self.running.lock().expect("in-flight set poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.owner
            .running
            .lock()
            .expect("in-flight set poisoned")
            .remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_runs_once_until_its_guard_is_dropped() {
        let set = Arc::new(InFlight::default());
        let id = VerificationId::generate();
        let first = set.begin(&id, Step::Liveness).expect("free");
        assert!(set.begin(&id, Step::Liveness).is_none());
        // Other steps and other verifications are independent.
        let other = set.begin(&id, Step::FormData).expect("another step");
        let elsewhere = set
            .begin(&VerificationId::generate(), Step::Liveness)
            .expect("another verification");
        drop(first);
        assert!(set.begin(&id, Step::Liveness).is_some());
        drop((other, elsewhere));
        assert!(set.is_empty());
    }
}
