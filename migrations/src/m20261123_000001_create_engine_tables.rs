//! The engine's core tables: definitions, instances and their history, tasks, the subject
//! timeline, durable work (timers, async steps, retries), message intake and incidents.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{create_all, drop_all, index};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const TABLES: &[&str] = &[
    "definitions",
    "instances",
    "history",
    "tasks",
    "events",
    "work_items",
    "message_waits",
    "inbound_messages",
    "dead_letters",
    "incidents",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Table::create()
                .table("definitions")
                .col(big_pk_auto("id"))
                .col(string("process_id"))
                .col(integer("version"))
                .col(string("title"))
                .col(text("source"))
                .col(string("hash"))
                .col(json("replaces"))
                .col(timestamp_with_time_zone("deployed_at"))
                .to_owned(),
            Table::create()
                .table("instances")
                .col(uuid("id").primary_key())
                .col(string("process_id"))
                .col(integer("version"))
                .col(string("subject"))
                .col(string("state"))
                .col(string("status"))
                .col(json("variables"))
                .col(big_integer("row_version"))
                .col(uuid_null("parent_id"))
                .col(string_null("parent_state"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(timestamp_with_time_zone_null("ended_at"))
                .to_owned(),
            Table::create()
                .table("history")
                .col(big_pk_auto("id"))
                .col(uuid("instance_id"))
                .col(string_null("from_state"))
                .col(string("to_state"))
                .col(string("trigger"))
                .col(string_null("actor"))
                .col(json_null("data"))
                .col(timestamp_with_time_zone("at"))
                .to_owned(),
            Table::create()
                .table("tasks")
                .col(uuid("id").primary_key())
                .col(uuid("instance_id"))
                .col(string("process_id"))
                .col(string("state"))
                .col(string("kind"))
                .col(string("subject"))
                .col(string("title"))
                .col(string_null("municipality"))
                .col(string("status"))
                .col(string_null("claimed_by"))
                .col(timestamp_with_time_zone_null("due_at"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("completed_at"))
                .col(string_null("completed_by"))
                .col(json_null("data"))
                .to_owned(),
            Table::create()
                .table("events")
                .col(big_pk_auto("id"))
                .col(string("subject"))
                .col(uuid_null("instance_id"))
                .col(string("process_id"))
                .col(string("kind"))
                .col(json("data"))
                .col(timestamp_with_time_zone("at"))
                .to_owned(),
            Table::create()
                .table("work_items")
                .col(big_pk_auto("id"))
                .col(uuid("instance_id"))
                .col(string("kind"))
                .col(string("state"))
                .col(timestamp_with_time_zone("run_at"))
                .col(integer("attempts"))
                .col(timestamp_with_time_zone_null("lease_until"))
                .col(string_null("lease_owner"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
            Table::create()
                .table("message_waits")
                .col(big_pk_auto("id"))
                .col(uuid("instance_id"))
                .col(string("process_id"))
                .col(integer("version"))
                .col(string("state"))
                .col(string("message_type"))
                .col(string("correlation_key"))
                .to_owned(),
            Table::create()
                .table("inbound_messages")
                .col(string("message_id").primary_key())
                .col(string("message_type"))
                .col(json("payload"))
                .col(string("outcome"))
                .col(timestamp_with_time_zone("received_at"))
                .to_owned(),
            Table::create()
                .table("dead_letters")
                .col(big_pk_auto("id"))
                .col(string_null("message_id"))
                .col(string("message_type"))
                .col(json("payload"))
                .col(text("reason"))
                .col(timestamp_with_time_zone("received_at"))
                .to_owned(),
            Table::create()
                .table("incidents")
                .col(big_pk_auto("id"))
                .col(uuid("instance_id"))
                .col(string("state"))
                .col(string("action"))
                .col(text("error"))
                .col(integer("attempts"))
                .col(string("status"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("resolved_at"))
                .to_owned(),
        ];
        let indexes = [
            index(
                "ux_definitions_process_version",
                "definitions",
                &["process_id", "version"],
            )
            .unique()
            .to_owned(),
            index(
                "ix_instances_process_state",
                "instances",
                &["process_id", "status", "state"],
            ),
            index("ix_instances_subject", "instances", &["subject"]),
            index("ix_history_instance", "history", &["instance_id", "id"]),
            index(
                "ix_tasks_inbox",
                "tasks",
                &["municipality", "status", "due_at"],
            ),
            index("ix_tasks_instance", "tasks", &["instance_id", "status"]),
            index("ix_events_subject", "events", &["subject", "at"]),
            index("ix_work_items_due", "work_items", &["run_at"]),
            index("ix_work_items_instance", "work_items", &["instance_id"]),
            index(
                "ix_message_waits_key",
                "message_waits",
                &["message_type", "correlation_key"],
            ),
            index(
                "ix_message_waits_instance",
                "message_waits",
                &["instance_id"],
            ),
            index("ix_incidents_open", "incidents", &["status", "instance_id"]),
        ];
        create_all(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, TABLES).await
    }
}
