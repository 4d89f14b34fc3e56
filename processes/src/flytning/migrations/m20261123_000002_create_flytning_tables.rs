//! Tables of the `flytning` package (Danish moves and acting municipality): persons as the
//! simulated CPR knows them, acting-municipality periods, manual registrations, moves, cases
//! with planned benefits and deductions, and what the monthly run and card orders produce.

use sea_orm_migration::{prelude::*, schema::*};

use forlob_engine::schema::{create_all, drop_all, index};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const TABLES: &[&str] = &[
    "dk_persons",
    "dk_residences",
    "dk_handleansvar",
    "dk_manual_registrations",
    "dk_moves",
    "dk_cases",
    "dk_planned_items",
    "dk_case_events",
    "dk_institution_stays",
    "dk_payments",
    "dk_health_card_orders",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Table::create()
                .table("dk_persons")
                .col(string("cpr").primary_key())
                .col(string("name"))
                .col(date("birth_date"))
                .col(string("status"))
                .col(string_null("residence"))
                .col(date_null("subscription_from"))
                .col(date_null("subscription_to"))
                .col(boolean("health_card"))
                .col(boolean("under_administration"))
                .col(boolean("bopaelssamling"))
                .to_owned(),
            Table::create()
                .table("dk_residences")
                .col(big_pk_auto("id"))
                .col(string("cpr"))
                .col(string_null("municipality"))
                .col(date("from_date"))
                .to_owned(),
            Table::create()
                .table("dk_handleansvar")
                .col(big_pk_auto("id"))
                .col(string("cpr"))
                .col(string("municipality"))
                .col(date("from_date"))
                .col(date_null("to_date"))
                .col(string("cause"))
                .to_owned(),
            Table::create()
                .table("dk_manual_registrations")
                .col(big_pk_auto("id"))
                .col(string("cpr"))
                .col(string("municipality"))
                .col(date("from_date"))
                .col(date_null("to_date"))
                .col(string("reason"))
                .col(string("registrant"))
                .col(string("registrant_user"))
                .col(string("state"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
            Table::create()
                .table("dk_moves")
                .col(big_pk_auto("id"))
                .col(string("cpr"))
                .col(string_null("message_id"))
                .col(string_null("from_municipality"))
                .col(string_null("to_municipality"))
                .col(boolean("abroad"))
                .col(date("move_date"))
                .col(date("effective_date"))
                .col(string("status"))
                .col(timestamp_with_time_zone("received_at"))
                .to_owned(),
            Table::create()
                .table("dk_cases")
                .col(big_pk_auto("id"))
                .col(string("cpr"))
                .col(string("municipality"))
                .col(string("title"))
                .to_owned(),
            Table::create()
                .table("dk_planned_items")
                .col(big_pk_auto("id"))
                .col(big_integer("case_id"))
                .col(string("cpr"))
                .col(string("municipality"))
                .col(string("kind"))
                .col(string("item_type"))
                .col(big_integer("amount_ore"))
                .col(date("due_date"))
                .col(string("status"))
                .to_owned(),
            Table::create()
                .table("dk_case_events")
                .col(big_pk_auto("id"))
                .col(big_integer("case_id"))
                .col(string("kind"))
                .col(json("data"))
                .col(timestamp_with_time_zone("at"))
                .to_owned(),
            Table::create()
                .table("dk_institution_stays")
                .col(big_pk_auto("id"))
                .col(string("cpr"))
                .col(date("from_date"))
                .col(date_null("to_date"))
                .to_owned(),
            Table::create()
                .table("dk_payments")
                .col(big_pk_auto("id"))
                .col(date("run_date"))
                .col(string("cpr"))
                .col(string("municipality"))
                .col(string("kind"))
                .col(big_integer("item_id"))
                .col(big_integer("amount_ore"))
                .to_owned(),
            Table::create()
                .table("dk_health_card_orders")
                .col(big_pk_auto("id"))
                .col(string("cpr"))
                .col(string("issuer"))
                .col(string_null("address_municipality"))
                .col(timestamp_with_time_zone("ordered_at"))
                .to_owned(),
        ];
        let indexes = [
            index(
                "ix_dk_residences_cpr",
                "dk_residences",
                &["cpr", "from_date"],
            ),
            index(
                "ix_dk_handleansvar_cpr",
                "dk_handleansvar",
                &["cpr", "to_date"],
            ),
            index(
                "ix_dk_manual_cpr",
                "dk_manual_registrations",
                &["cpr", "state"],
            ),
            index("ix_dk_moves_cpr", "dk_moves", &["cpr", "status"]),
            index("ix_dk_cases_cpr", "dk_cases", &["cpr"]),
            index(
                "ix_dk_items_cpr",
                "dk_planned_items",
                &["cpr", "status", "due_date"],
            ),
            index(
                "ix_dk_items_due",
                "dk_planned_items",
                &["status", "due_date"],
            ),
            index("ix_dk_case_events_case", "dk_case_events", &["case_id"]),
            index("ix_dk_stays_cpr", "dk_institution_stays", &["cpr"]),
            index("ix_dk_payments_run", "dk_payments", &["run_date", "cpr"]),
            index("ix_dk_cards_cpr", "dk_health_card_orders", &["cpr"]),
        ];
        create_all(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, TABLES).await
    }
}
