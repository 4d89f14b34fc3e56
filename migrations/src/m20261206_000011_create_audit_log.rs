//! Tenancy and audit (issue #14):
//! - `audit_log`, append-only: who read which person's data and every admin action, each
//!   entry chained to the one before by a hash, so an edited, deleted or reordered row is
//!   found by `forlob audit verify`;
//! - `instances.started_in`: the municipality of the caseworker who started an instance by
//!   hand, whose tasks may then not go to another municipality unless the definition says so;
//! - an index of tasks by subject, which the visibility check reads on every person look-up.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("audit_log")
                    .col(big_pk_auto("id"))
                    .col(timestamp_with_time_zone("at"))
                    .col(string("actor"))
                    .col(string("role"))
                    .col(string_null("municipality"))
                    .col(string("action"))
                    .col(string_null("subject"))
                    .col(string_null("target"))
                    .col(string("via"))
                    // Text, not JSON: the hash covers these exact bytes, which a JSON column
                    // type may normalise.
                    .col(text("detail"))
                    .col(string("prev_hash"))
                    .col(string("hash"))
                    .to_owned(),
            )
            .await?;
        for statement in [
            index("ix_audit_log_subject", "audit_log", &["subject", "id"]),
            index("ix_audit_log_actor", "audit_log", &["actor", "id"]),
            // No index on `at`: every read writes an entry, and each index is another page
            // per commit; time filters and pruning walk the ids, which follow the time.
            index("ix_tasks_subject", "tasks", &["subject", "municipality"]),
        ] {
            manager.create_index(statement).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("instances"))
                    .add_column(string_null("started_in"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("instances"))
                    .drop_column(Alias::new("started_in"))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_tasks_subject")
                    .table(Alias::new("tasks"))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Alias::new("audit_log")).to_owned())
            .await
    }
}
