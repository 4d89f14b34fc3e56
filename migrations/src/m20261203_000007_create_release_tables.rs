//! Migrations of in-flight instances onto another version (issue #6): one row per migration
//! with its plan and counts, and one item per selected instance. The item set is fixed when
//! the migration starts, so a resume after a crash and a re-run know exactly what is left;
//! an item's status commits with its instance's change.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{create_all, drop_all, index};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const TABLES: &[&str] = &["migrations", "migration_items"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Table::create()
                .table("migrations")
                .col(big_pk_auto("id"))
                .col(string("name"))
                .col(string("process_id"))
                .col(integer("to_version"))
                .col(json("plan"))
                .col(text("reason"))
                .col(string("actor"))
                .col(string("status"))
                // The target process while the migration runs, else null: unique, so one
                // process has one running migration, also across nodes.
                .col(string_null("running_for"))
                // The items' statuses are the progress; only the size is kept here.
                .col(big_integer("total"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("finished_at"))
                .to_owned(),
            Table::create()
                .table("migration_items")
                .col(big_pk_auto("id"))
                .col(big_integer("migration_id"))
                .col(uuid("instance_id"))
                .col(string("from_process"))
                .col(integer("from_version"))
                .col(string("from_state"))
                .col(string_null("to_state"))
                .col(string_null("operation"))
                .col(string("status"))
                .col(json_null("before"))
                .col(big_integer_null("row_version_after"))
                .col(text_null("message"))
                .to_owned(),
        ];
        let indexes = [
            index("ux_migrations_running", "migrations", &["running_for"])
                .unique()
                .to_owned(),
            index(
                "ux_migration_items_instance",
                "migration_items",
                &["migration_id", "instance_id"],
            )
            .unique()
            .to_owned(),
            index(
                "ix_migration_items_status",
                "migration_items",
                &["migration_id", "status", "id"],
            ),
            // Selecting what a release migrates reads instances by process and version.
            index(
                "ix_instances_process_version",
                "instances",
                &["process_id", "version", "status"],
            ),
        ];
        create_all(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_instances_process_version")
                    .table("instances")
                    .to_owned(),
            )
            .await?;
        drop_all(manager, TABLES).await
    }
}
