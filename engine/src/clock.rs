//! Time. The engine reads the time only through [`Clock`], so tests, scenarios and training
//! installations can run on a manual clock that moves only when told.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;

    /// The manual clock, when this is one; `None` for the real clock.
    fn as_manual(&self) -> Option<&ManualClock> {
        None
    }
}

/// The system's wall clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until set. It never moves backwards: scenarios and the demo
/// mode rely on time being monotonic, like the real one.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock to `to`; a time before the current one is refused.
    pub fn set(&self, to: DateTime<Utc>) -> Result<(), String> {
        let mut now = self
            .now
            .lock()
            .map_err(|_| "clock lock poisoned".to_owned())?;
        if to < *now {
            return Err(format!("the clock cannot go back from {} to {to}", *now));
        }
        *now = to;
        Ok(())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        // A poisoned lock still holds a valid instant: a panic elsewhere cannot corrupt it.
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn as_manual(&self) -> Option<&ManualClock> {
        Some(self)
    }
}
