//! The package's tables. Frozen once shipped like the engine's: a change is a new migration.
//! The name is the one this migration had when the engine's crate still held it, so a
//! database made then sees it as applied.

use forlob_engine::schema::MigrationTrait;

mod m20261202_000005_create_folkbokforing_tables;

pub(crate) fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(
        m20261202_000005_create_folkbokforing_tables::Migration,
    )]
}
