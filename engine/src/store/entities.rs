//! sea-orm entities of the engine tables. Only `store` sees these; the rest of the engine
//! works with the domain types the store functions return.

#![expect(
    unreachable_pub,
    reason = "sea-orm derives generate pub items; the module itself is crate-private"
)]

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod definition {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "definitions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub process_id: String,
        pub version: i32,
        pub title: String,
        pub source: String,
        pub hash: String,
        pub replaces: Json,
        pub deployed_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod instance {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "instances")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub process_id: String,
        pub version: i32,
        pub subject: String,
        pub state: String,
        pub status: crate::instance::InstanceStatus,
        pub variables: Json,
        pub row_version: i64,
        pub parent_id: Option<Uuid>,
        pub parent_state: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub ended_at: Option<DateTimeUtc>,
        /// The municipality of the caseworker who started it by hand.
        pub started_in: Option<String>,
    }
    no_relations!();
}

pub mod audit_entry {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_log")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub at: DateTimeUtc,
        pub actor: String,
        pub role: String,
        pub municipality: Option<String>,
        pub action: String,
        pub subject: Option<String>,
        pub target: Option<String>,
        pub via: String,
        pub detail: String,
        pub prev_hash: String,
        pub hash: String,
    }
    no_relations!();
}

/// An audit entry committed but not yet sealed into the chain (PostgreSQL; see `store::audit`).
pub mod audit_pending {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_pending")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub at: DateTimeUtc,
        pub actor: String,
        pub role: String,
        pub municipality: Option<String>,
        pub action: String,
        pub subject: Option<String>,
        pub target: Option<String>,
        pub via: String,
        pub detail: String,
    }
    no_relations!();
}

pub mod history {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "history")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub instance_id: Uuid,
        pub from_state: Option<String>,
        pub to_state: String,
        pub trigger: String,
        pub actor: Option<String>,
        pub data: Option<Json>,
        pub at: DateTimeUtc,
    }
    no_relations!();
}

pub mod task {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "tasks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub instance_id: Uuid,
        pub process_id: String,
        pub state: String,
        pub kind: String,
        pub subject: String,
        pub title: String,
        pub municipality: Option<String>,
        pub status: crate::instance::TaskStatus,
        pub claimed_by: Option<String>,
        pub due_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub completed_at: Option<DateTimeUtc>,
        pub completed_by: Option<String>,
        pub data: Option<Json>,
    }
    no_relations!();
}

pub mod event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub subject: String,
        pub instance_id: Option<Uuid>,
        pub process_id: String,
        pub kind: String,
        pub data: Json,
        pub at: DateTimeUtc,
    }
    no_relations!();
}

pub mod work_item {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "work_items")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub instance_id: Uuid,
        pub kind: crate::instance::WorkKind,
        pub state: String,
        pub run_at: DateTimeUtc,
        pub attempts: i32,
        pub lease_until: Option<DateTimeUtc>,
        pub lease_owner: Option<String>,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod message_wait {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "message_waits")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub instance_id: Uuid,
        pub process_id: String,
        pub version: i32,
        pub state: String,
        pub message_type: String,
        pub correlation_key: String,
    }
    no_relations!();
}

pub mod inbound_message {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "inbound_messages")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub message_id: String,
        pub message_type: String,
        pub payload: Json,
        pub outcome: String,
        pub received_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod dead_letter {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "dead_letters")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub message_id: Option<String>,
        pub message_type: String,
        pub payload: Json,
        pub reason: String,
        pub received_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod incident {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "incidents")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub instance_id: Uuid,
        pub state: String,
        pub action: String,
        pub error: String,
        pub attempts: i32,
        pub status: crate::instance::IncidentStatus,
        pub created_at: DateTimeUtc,
        pub resolved_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

pub mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub username: String,
        pub display_name: String,
        pub role: String,
        pub municipality: Option<String>,
        pub locale: Option<String>,
        pub password_hash: Option<String>,
        pub disabled: bool,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod api_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub name: String,
        pub token_hash: String,
        pub created_at: DateTimeUtc,
        pub last_used_at: Option<DateTimeUtc>,
        pub revoked_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

pub mod session {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id_hash: String,
        pub user_id: Uuid,
        pub csrf_token: String,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod schedule {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "schedules")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub process_id: String,
        pub label: String,
        pub cron: String,
        pub start_date: Date,
        pub start_time: Option<String>,
        pub weekdays: Json,
        pub time_zone: String,
        pub parameters: Json,
        pub misfire: String,
        pub overlap: String,
        pub next_fire_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub created_by: String,
        pub removed_at: Option<DateTimeUtc>,
        pub removed_by: Option<String>,
    }
    no_relations!();
}

pub mod job_run {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "job_runs")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub schedule_id: Option<Uuid>,
        pub process_id: String,
        pub instance_id: Option<Uuid>,
        pub fire_at: DateTimeUtc,
        pub trigger: String,
        pub outcome: Option<String>,
        pub reason: Option<String>,
        pub started_at: Option<DateTimeUtc>,
        pub requested_by: Option<String>,
        pub progress_done: i64,
        pub progress_total: Option<i64>,
        pub counts: Json,
    }
    no_relations!();
}

pub mod job_run_detail {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "job_run_details")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub run_id: i64,
        pub kind: String,
        pub subject: Option<String>,
        pub message: String,
        pub at: DateTimeUtc,
        /// The message's code (`msg.<code>` in the UI's catalogue); `None` on lines written
        /// before codes.
        pub message_code: Option<String>,
        /// The code's arguments, a JSON object of texts.
        pub message_args: Option<String>,
    }
    no_relations!();
}

pub mod draft {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "drafts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub process_id: String,
        pub author: String,
        pub version: i32,
        pub files: String,
        pub note: String,
        pub created_at: DateTimeUtc,
        pub based_on: Option<String>,
        pub deploy_asked_at: Option<DateTimeUtc>,
        pub deployed_at: Option<DateTimeUtc>,
        pub deployed_by: Option<String>,
        pub deployed_versions: Option<String>,
    }
    no_relations!();
}

pub mod migration {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "migrations")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub process_id: String,
        pub to_version: i32,
        pub plan: Json,
        pub reason: String,
        pub actor: String,
        pub status: String,
        pub running_for: Option<String>,
        pub total: i64,
        pub created_at: DateTimeUtc,
        pub finished_at: Option<DateTimeUtc>,
        pub abandoned_by: Option<String>,
        pub abandon_reason: String,
        pub undone_by: Option<String>,
        pub undo_reason: String,
    }
    no_relations!();
}

pub mod migration_item {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "migration_items")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub migration_id: i64,
        pub instance_id: Uuid,
        pub from_process: String,
        pub from_version: i32,
        pub from_state: String,
        pub to_state: Option<String>,
        pub operation: Option<String>,
        pub status: String,
        pub before: Option<Json>,
        pub row_version_after: Option<i64>,
        pub message: Option<String>,
    }
    no_relations!();
}
