//! sea-orm entities of the package's tables (see the migration for what each holds).

#![expect(
    unreachable_pub,
    reason = "sea-orm derives generate pub items; the module itself is crate-private"
)]

/// Skatteverket's record of a person (simulated).
pub mod registered {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "se_folkbokforing")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub personnummer: String,
        pub name: String,
        pub birth_date: Date,
        pub kommun: String,
        pub omrade: Option<String>,
        pub guardians: Json,
        pub changed_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod outage {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "se_register_outages")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub from_at: DateTimeUtc,
        pub until_at: DateTimeUtc,
    }
    no_relations!();
}

/// A person of the municipality's own person register.
pub mod local {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "se_personer")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub personnummer: String,
        pub name: String,
        pub birth_date: Date,
        pub kommun: String,
        pub omrade: Option<String>,
        pub roles: Json,
        pub child_until: Option<Date>,
        pub linked_to: Json,
        pub guardians: Json,
        pub synced_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

pub mod pending {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "se_pending_updates")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub personnummer: String,
        pub reason: String,
        pub run_id: Option<i64>,
        pub requested_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod search {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "se_person_search")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub personnummer: String,
        pub register_kommun: String,
        pub name: String,
        pub name_key: String,
        pub kommun: String,
        pub omrade: Option<String>,
        pub roles: String,
        pub built_at: DateTimeUtc,
    }
    no_relations!();
}
