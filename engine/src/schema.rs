//! The database schema: the engine's own migrations (`forlob-migrations`) and those the
//! packages register for their tables, run as one list. The engine knows no package table.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, TransactionTrait as _};
pub use sea_orm_migration::{MigrationTrait, MigratorTraitSelf};

pub use forlob_migrations::{create_all, drop_all, index};

use crate::error::{EngineError, Result};
use crate::registry::Registry;

pub use crate::registry::PackageMigrations;

/// Every migration of this build: the engine's and the registered packages', ordered by name.
/// Names begin with their date, so this is the order they were written in, and the order a
/// fresh database has always been built in; sea-orm keys applied migrations by name, so a
/// migration that moves to the package owning it is not applied again.
pub struct Schema<'r> {
    registry: &'r Registry,
}

impl<'r> Schema<'r> {
    pub fn of(registry: &'r Registry) -> Self {
        Self { registry }
    }
}

#[async_trait::async_trait]
impl MigratorTraitSelf for Schema<'_> {
    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        let mut all =
            <forlob_migrations::Migrator as forlob_migrations::MigratorTrait>::migrations();
        for package in self.registry.package_migrations() {
            all.extend(package());
        }
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }
}

/// Brings the schema up to date with every migration of this build. A database holding a
/// migration this build does not have (a package left out, an older build) is refused with
/// the migration's name. On PostgreSQL several nodes may start at once; an advisory lock held
/// for the migration's transaction lets exactly one of them migrate.
pub async fn migrate(db: &DatabaseConnection, registry: &Registry) -> Result<()> {
    let schema = Schema::of(registry);
    if db.get_database_backend() == DbBackend::Postgres {
        let txn = db.begin().await?;
        txn.execute_unprepared("SELECT pg_advisory_xact_lock(7215061)")
            .await?;
        refuse_unknown(&schema, &txn).await?;
        schema.up(&txn, None).await?;
        txn.commit().await?;
    } else {
        refuse_unknown(&schema, db).await?;
        schema.up(db, None).await?;
    }
    Ok(())
}

/// Refuses a database that has applied migrations this build does not have, naming them
/// (sea-orm would refuse too, in its own words).
async fn refuse_unknown<C: ConnectionTrait>(schema: &Schema<'_>, conn: &C) -> Result<()> {
    let known: std::collections::HashSet<String> = schema
        .migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let migrations: Vec<String> = schema
        .get_migration_models(conn)
        .await?
        .into_iter()
        .map(|applied| applied.version)
        .filter(|name| !known.contains(name))
        .collect();
    if migrations.is_empty() {
        Ok(())
    } else {
        Err(EngineError::SchemaUnknown { migrations })
    }
}
