//! The Swedish `folkbokforing` package: a simulated Skatteverket/KIR population register
//! (`se_folkbokforing`, with outages to simulate a register that does not answer), the
//! municipality's own person register (`se_personer`, with the roles that decide who is in
//! scope of an update), updates waiting for the next avisering (`se_pending_updates`, one per
//! person) and the data behind the "search persons" page (`se_person_search`).

use sea_orm_migration::{prelude::*, schema::*};

use forlob_engine::schema::{create_all, drop_all, index};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const TABLES: &[&str] = &[
    "se_folkbokforing",
    "se_register_outages",
    "se_personer",
    "se_pending_updates",
    "se_person_search",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Table::create()
                .table("se_folkbokforing")
                .col(string("personnummer").primary_key())
                .col(string("name"))
                .col(date("birth_date"))
                .col(string("kommun"))
                .col(string_null("omrade"))
                .col(json("guardians"))
                .col(timestamp_with_time_zone("changed_at"))
                .to_owned(),
            Table::create()
                .table("se_register_outages")
                .col(big_pk_auto("id"))
                .col(timestamp_with_time_zone("from_at"))
                .col(timestamp_with_time_zone("until_at"))
                .to_owned(),
            Table::create()
                .table("se_personer")
                .col(string("personnummer").primary_key())
                .col(string("name"))
                .col(date("birth_date"))
                .col(string("kommun"))
                .col(string_null("omrade"))
                .col(json("roles"))
                .col(date_null("child_until"))
                .col(json("linked_to"))
                .col(json("guardians"))
                .col(timestamp_with_time_zone_null("synced_at"))
                .to_owned(),
            Table::create()
                .table("se_pending_updates")
                .col(string("personnummer").primary_key())
                .col(text("reason"))
                .col(big_integer_null("run_id"))
                .col(timestamp_with_time_zone("requested_at"))
                .to_owned(),
            Table::create()
                .table("se_person_search")
                .col(string("personnummer").primary_key())
                // The municipality whose person register the row comes from: only its own
                // staff search it.
                .col(string("register_kommun"))
                .col(string("name"))
                .col(string("name_key"))
                .col(string("kommun"))
                .col(string_null("omrade"))
                .col(string("roles"))
                .col(timestamp_with_time_zone("built_at"))
                .to_owned(),
        ];
        let indexes = [
            index(
                "ix_se_personer_kommun",
                "se_personer",
                &["kommun", "personnummer"],
            ),
            index(
                "ix_se_person_search_name",
                "se_person_search",
                &["register_kommun", "name_key"],
            ),
        ];
        create_all(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, TABLES).await
    }
}
