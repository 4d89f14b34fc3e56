//! Drafts of process definitions (issue #16): what a designer writes in the workbench, kept
//! as numbered versions per author and process until an admin deploys it. A draft is never
//! run; only a deploy makes a definition of it.

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
                    .table("drafts")
                    .col(big_pk_auto("id"))
                    .col(string("process_id"))
                    .col(string("author"))
                    .col(integer("version"))
                    // The files as a JSON array of {path, text}: read and written whole.
                    .col(text("files"))
                    .col(text("note"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        // One version number per author and process: two saves at once cannot both take it.
        manager
            .create_index(
                index(
                    "ux_drafts_author_process_version",
                    "drafts",
                    &["author", "process_id", "version"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index("ix_drafts_process", "drafts", &["process_id", "id"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("drafts")).to_owned())
            .await
    }
}
