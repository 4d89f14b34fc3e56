//! Danish moves and acting municipality (handlekommune). The package is built in issue #3;
//! until then it registers nothing, so the engine core stands on its own.

use forlob_engine::Registry;

pub fn register(_registry: &mut Registry) {}
