//! Schema migrations of forlob's engine tables. Migrations are frozen once shipped: a change
//! is a new migration, never an edit. Every migration has a working `down`.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_engine_tables;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261123_000001_create_engine_tables::Migration)]
    }
}
