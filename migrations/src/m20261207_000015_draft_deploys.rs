//! A draft's way to production (issue #16): a designer asks for it to be deployed, an admin
//! deploys it. The draft keeps the versions it was based on (a deploy since then would be
//! undone by it, so it is refused), when it was asked for, and when, by whom and as which
//! versions it was deployed, so the admin's list of drafts waiting is a query, and a deployed
//! draft is not deployed twice by mistake.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const COLUMNS: [&str; 5] = [
    "based_on",
    "deploy_asked_at",
    "deployed_at",
    "deployed_by",
    "deployed_versions",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        for column in [
            // `{process: version}` as JSON: what was deployed when it was saved.
            text_null(COLUMNS[0]),
            timestamp_with_time_zone_null(COLUMNS[1]),
            timestamp_with_time_zone_null(COLUMNS[2]),
            string_null(COLUMNS[3]),
            // `process vN, …` as deployed: what the admin's deploy made of it.
            text_null(COLUMNS[4]),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("drafts"))
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            // The waiting list: not deployed, asked for.
            .create_index(index(
                "ix_drafts_waiting",
                "drafts",
                &["deployed_at", "deploy_asked_at"],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_drafts_waiting")
                    .table(Alias::new("drafts"))
                    .to_owned(),
            )
            .await?;
        for column in COLUMNS.into_iter().rev() {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("drafts"))
                        .drop_column(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
