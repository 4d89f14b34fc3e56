//! `audit_pending`: on PostgreSQL a change's audit entry is committed here with the change,
//! without waiting for the chain, and sealed into `audit_log` shortly after (issue #18). The
//! chain's one appender at a time held an advisory lock to every writer's commit, so
//! concurrent writers took turns over their commits: `auto` at concurrency 8 ran at half the
//! rate its statements allowed. SQLite's one writer seals at once and leaves this empty.

use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The entry's fields as `audit_log` has them, without its place in the chain.
        manager
            .create_table(
                Table::create()
                    .table("audit_pending")
                    .col(big_pk_auto("id"))
                    .col(timestamp_with_time_zone("at"))
                    .col(string("actor"))
                    .col(string("role"))
                    .col(string_null("municipality"))
                    .col(string("action"))
                    .col(string_null("subject"))
                    .col(string_null("target"))
                    .col(string("via"))
                    .col(text("detail"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Unsealed entries are records the law requires: never dropped with the table. On
        // PostgreSQL the table is locked first, so none is committed between count and drop.
        let db = manager.get_connection();
        if manager.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::Postgres {
            db.execute_unprepared("LOCK TABLE audit_pending IN ACCESS EXCLUSIVE MODE")
                .await?;
        }
        let pending = db
            .query_one_raw(Statement::from_string(
                manager.get_database_backend(),
                "SELECT COUNT(*) AS n FROM audit_pending",
            ))
            .await?
            .map(|row| row.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0);
        if pending > 0 {
            return Err(DbErr::Migration(format!(
                "audit_pending holds {pending} audit entries not yet sealed into the chain; \
                 run `forlob audit verify` with this release to seal them, then go back"
            )));
        }
        manager
            .drop_table(Table::drop().table(Alias::new("audit_pending")).to_owned())
            .await
    }
}
