//! The package's tables. Frozen once shipped like the engine's: a change is a new migration.
//! The names are those these migrations had when the engine's crate still held them, so a
//! database made then sees them as applied.

use forlob_engine::schema::MigrationTrait;

mod m20261123_000002_create_flytning_tables;
mod m20261202_000006_index_daily_run;

pub(crate) fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m20261123_000002_create_flytning_tables::Migration),
        Box::new(m20261202_000006_index_daily_run::Migration),
    ]
}
