//! Background jobs: schedules (when a job process starts), job runs (the logbook: one row per
//! firing, whether it started a run or was skipped, missed or queued) and a run's details.
//! A run's status and end are its instance's, so they are not stored here a second time.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{create_all, drop_all, index};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const TABLES: &[&str] = &["schedules", "job_runs", "job_run_details"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Table::create()
                .table("schedules")
                .col(uuid("id").primary_key())
                .col(string("process_id"))
                .col(string("label"))
                .col(string("cron"))
                .col(date("start_date"))
                .col(string_null("start_time"))
                .col(json("weekdays"))
                .col(string("time_zone"))
                .col(json("parameters"))
                .col(string("misfire"))
                .col(string("overlap"))
                .col(timestamp_with_time_zone_null("next_fire_at"))
                .col(timestamp_with_time_zone("created_at"))
                .col(string("created_by"))
                .col(timestamp_with_time_zone_null("removed_at"))
                .col(string_null("removed_by"))
                .to_owned(),
            Table::create()
                .table("job_runs")
                .col(big_pk_auto("id"))
                .col(uuid_null("schedule_id"))
                .col(string("process_id"))
                .col(uuid_null("instance_id"))
                .col(timestamp_with_time_zone("fire_at"))
                .col(string("trigger"))
                .col(string_null("outcome"))
                .col(text_null("reason"))
                .col(timestamp_with_time_zone_null("started_at"))
                .col(string_null("requested_by"))
                .col(big_integer("progress_done"))
                .col(big_integer_null("progress_total"))
                .col(json("counts"))
                .to_owned(),
            Table::create()
                .table("job_run_details")
                .col(big_pk_auto("id"))
                .col(big_integer("run_id"))
                .col(string("kind"))
                .col(string_null("subject"))
                .col(text("message"))
                .col(timestamp_with_time_zone("at"))
                .to_owned(),
        ];
        let indexes = [
            index("ix_schedules_due", "schedules", &["next_fire_at"]),
            // One run per firing, also when two nodes fire one schedule at once.
            index(
                "ux_job_runs_firing",
                "job_runs",
                &["schedule_id", "fire_at"],
            )
            .unique()
            .to_owned(),
            index("ix_job_runs_instance", "job_runs", &["instance_id"]),
            index("ix_job_runs_fire", "job_runs", &["fire_at"]),
            index("ix_job_runs_outcome", "job_runs", &["outcome"]),
            index("ix_job_run_details_run", "job_run_details", &["run_id"]),
        ];
        create_all(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, TABLES).await
    }
}
