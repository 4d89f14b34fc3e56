//! Who may use forlob: users (caseworkers, admins, designers) with an argon2 password hash,
//! their API tokens and their browser sessions. Tokens and session ids are stored only as
//! SHA-256 digests, so a copy of the database does not let anyone in. Also an index for the
//! inbox's per-kind counts and filter.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{create_all, drop_all, index};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const TABLES: &[&str] = &["users", "api_tokens", "sessions"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Table::create()
                .table("users")
                .col(uuid("id").primary_key())
                .col(string("username"))
                .col(string("display_name"))
                .col(string("role"))
                .col(string_null("municipality"))
                .col(string_null("locale"))
                .col(text_null("password_hash"))
                .col(boolean("disabled"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
            Table::create()
                .table("api_tokens")
                .col(uuid("id").primary_key())
                .col(uuid("user_id"))
                .col(string("name"))
                .col(string("token_hash"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("last_used_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .to_owned(),
            Table::create()
                .table("sessions")
                .col(string("id_hash").primary_key())
                .col(uuid("user_id"))
                .col(string("csrf_token"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("expires_at"))
                .to_owned(),
        ];
        let indexes = [
            index("ux_users_username", "users", &["username"])
                .unique()
                .to_owned(),
            index("ux_api_tokens_hash", "api_tokens", &["token_hash"])
                .unique()
                .to_owned(),
            index("ix_api_tokens_user", "api_tokens", &["user_id"]),
            index("ix_sessions_user", "sessions", &["user_id"]),
            index(
                "ix_tasks_inbox_kind",
                "tasks",
                &["municipality", "status", "kind"],
            ),
        ];
        create_all(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_tasks_inbox_kind")
                    .table(Alias::new("tasks"))
                    .to_owned(),
            )
            .await?;
        drop_all(manager, TABLES).await
    }
}
