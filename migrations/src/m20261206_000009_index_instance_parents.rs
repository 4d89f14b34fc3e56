//! The instances a parent called: a cancel, a restart out of a `call` state, a resumed parent
//! and a migration's holdings look them up by parent. Without this each look-up read every
//! instance ever started (a restart of 100,000 read the table once per batch).

use sea_orm_migration::prelude::*;

use crate::index;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const NAME: &str = "ix_instances_parent";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index(NAME, "instances", &["parent_id", "parent_state"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(NAME)
                    .table(Alias::new("instances"))
                    .to_owned(),
            )
            .await
    }
}
