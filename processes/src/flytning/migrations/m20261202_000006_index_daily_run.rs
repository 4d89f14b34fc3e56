//! The daily effectuation job (`effektuer-flytninger`) walks what is due in id order: planned
//! moves and manual registrations by their state. Without these it would read every move and
//! registration ever made, every day.

use sea_orm_migration::prelude::*;

use forlob_engine::schema::index;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const INDEXES: &[(&str, &str, &[&str])] = &[
    ("ix_dk_moves_status", "dk_moves", &["status", "id"]),
    (
        "ix_dk_manual_registrations_state",
        "dk_manual_registrations",
        &["state", "id"],
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, columns) in INDEXES {
            manager.create_index(index(name, table, columns)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in INDEXES {
            manager
                .drop_index(
                    Index::drop()
                        .name(*name)
                        .table(Alias::new(*table))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
