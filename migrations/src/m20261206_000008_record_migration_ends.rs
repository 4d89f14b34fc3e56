//! Who ended a migration other than by finishing it, and why: an admin who abandons a
//! migration or undoes one is audited on the migration itself, not only on the items it
//! touched (an abandon with nothing pending touches none).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("migrations"))
                    .add_column(string_null("ended_by"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("migrations"))
                    .add_column(text("end_reason").default(""))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["end_reason", "ended_by"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("migrations"))
                        .drop_column(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
