//! Who ended a migration other than by finishing it, and why: the admin who abandoned it and
//! the one who undid it are audited on the migration itself, not only on the items they
//! touched (an abandon with nothing pending touches none), and an undo of an abandoned
//! migration keeps who abandoned it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// `(by, reason)` column pairs.
const ENDS: [(&str, &str); 2] = [
    ("abandoned_by", "abandon_reason"),
    ("undone_by", "undo_reason"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        for (by, reason) in ENDS {
            for column in [string_null(by), text(reason).default("").to_owned()] {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Alias::new("migrations"))
                            .add_column(column)
                            .to_owned(),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (by, reason) in ENDS {
            for column in [reason, by] {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Alias::new("migrations"))
                            .drop_column(Alias::new(column))
                            .to_owned(),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}
