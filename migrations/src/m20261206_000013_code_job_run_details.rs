//! A job run's detail line says what happened by a message code and its arguments, beside
//! the English text: the logbook page and its CSV export show it in the reader's language
//! (Danish, English, Swedish), while the API and the search keep the text. Lines written
//! before have no code and are shown as written.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const COLUMNS: [&str; 2] = ["message_code", "message_args"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        for column in [string_null(COLUMNS[0]), text_null(COLUMNS[1])] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("job_run_details"))
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS.into_iter().rev() {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("job_run_details"))
                        .drop_column(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
