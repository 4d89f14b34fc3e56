//! Schema migrations of the forlob engine's own tables. Packages ship the migrations of their
//! tables beside their code and register them with the engine's registry; the engine runs
//! both as one list, by name (`forlob_engine::schema::migrate`). Migrations are frozen once
//! shipped: a change is a new migration, never an edit. Every migration has a working `down`.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_engine_tables;
mod m20261123_000003_create_auth_tables;
mod m20261202_000004_create_scheduler_tables;
mod m20261203_000007_create_release_tables;
mod m20261206_000008_record_migration_ends;
mod m20261206_000009_index_instance_parents;
mod m20261206_000011_create_audit_log;
mod m20261206_000012_index_task_sources;
mod m20261206_000013_code_job_run_details;
mod m20261206_000014_create_drafts;
mod m20261207_000015_draft_deploys;
mod m20261207_000016_index_task_filters_by_due;
mod m20261207_000017_audit_pending;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_engine_tables::Migration),
            Box::new(m20261123_000003_create_auth_tables::Migration),
            Box::new(m20261202_000004_create_scheduler_tables::Migration),
            Box::new(m20261203_000007_create_release_tables::Migration),
            Box::new(m20261206_000008_record_migration_ends::Migration),
            Box::new(m20261206_000009_index_instance_parents::Migration),
            Box::new(m20261206_000011_create_audit_log::Migration),
            Box::new(m20261206_000012_index_task_sources::Migration),
            Box::new(m20261206_000013_code_job_run_details::Migration),
            Box::new(m20261206_000014_create_drafts::Migration),
            Box::new(m20261207_000015_draft_deploys::Migration),
            Box::new(m20261207_000016_index_task_filters_by_due::Migration),
            Box::new(m20261207_000017_audit_pending::Migration),
        ]
    }
}

/// A named index over `columns` of `table`; shared by the migrations of the engine and of the
/// packages (a helper, not a schema fact, so sharing it does not unfreeze them).
pub fn index(name: &str, table: &str, columns: &[&str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(Alias::new(table));
    for column in columns {
        index.col(Alias::new(*column));
    }
    index.to_owned()
}

/// Creates `tables`, then `indexes`; shared like [`index()`].
pub async fn create_all(
    manager: &SchemaManager<'_>,
    tables: impl IntoIterator<Item = TableCreateStatement>,
    indexes: impl IntoIterator<Item = IndexCreateStatement>,
) -> Result<(), DbErr> {
    for table in tables {
        manager.create_table(table).await?;
    }
    for index in indexes {
        manager.create_index(index).await?;
    }
    Ok(())
}

/// Drops `tables` in reverse order (their indexes go with them).
pub async fn drop_all(manager: &SchemaManager<'_>, tables: &[&str]) -> Result<(), DbErr> {
    for table in tables.iter().rev() {
        manager
            .drop_table(Table::drop().table(Alias::new(*table)).to_owned())
            .await?;
    }
    Ok(())
}
