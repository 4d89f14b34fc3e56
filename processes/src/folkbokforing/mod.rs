//! Swedish population-register background jobs. Built in issue #5; registers nothing yet.

use forlob_engine::Registry;

pub fn register(_registry: &mut Registry) {}
