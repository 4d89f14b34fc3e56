//! sea-orm entities of the package's own tables; only `store` uses them.

#![expect(
    unreachable_pub,
    reason = "sea-orm derives generate pub items; the module itself is crate-private"
)]

pub mod person {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "dk_persons")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub cpr: String,
        pub name: String,
        pub birth_date: Date,
        pub status: String,
        pub residence: Option<String>,
        pub subscription_from: Option<Date>,
        pub subscription_to: Option<Date>,
        pub health_card: bool,
        pub under_administration: bool,
        pub bopaelssamling: bool,
    }
    no_relations!();
}

pub mod residence {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "dk_residences")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub cpr: String,
        pub municipality: Option<String>,
        pub from_date: Date,
    }
    no_relations!();
}

pub mod handleansvar {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "dk_handleansvar")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub cpr: String,
        pub municipality: String,
        pub from_date: Date,
        pub to_date: Option<Date>,
        pub cause: String,
    }
    no_relations!();
}

pub mod manual_registration {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "dk_manual_registrations")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub cpr: String,
        pub municipality: String,
        pub from_date: Date,
        pub to_date: Option<Date>,
        pub reason: String,
        pub registrant: String,
        pub registrant_user: String,
        pub state: String,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod dk_move {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "dk_moves")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub cpr: String,
        pub message_id: Option<String>,
        pub from_municipality: Option<String>,
        pub to_municipality: Option<String>,
        pub abroad: bool,
        pub move_date: Date,
        pub effective_date: Date,
        pub status: String,
        pub received_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod case {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "dk_cases")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub cpr: String,
        pub municipality: String,
        pub title: String,
    }
    no_relations!();
}

pub mod planned_item {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "dk_planned_items")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub case_id: i64,
        pub cpr: String,
        pub municipality: String,
        pub kind: String,
        pub item_type: String,
        pub amount_ore: i64,
        pub due_date: Date,
        pub status: String,
    }
    no_relations!();
}

pub mod case_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "dk_case_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub case_id: i64,
        pub kind: String,
        pub data: Json,
        pub at: DateTimeUtc,
    }
    no_relations!();
}

pub mod institution_stay {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "dk_institution_stays")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub cpr: String,
        pub from_date: Date,
        pub to_date: Option<Date>,
    }
    no_relations!();
}

pub mod payment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "dk_payments")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub run_date: Date,
        pub cpr: String,
        pub municipality: String,
        pub kind: String,
        pub item_id: i64,
        pub amount_ore: i64,
    }
    no_relations!();
}

pub mod health_card_order {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "dk_health_card_orders")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub cpr: String,
        pub issuer: String,
        pub address_municipality: Option<String>,
        pub ordered_at: DateTimeUtc,
    }
    no_relations!();
}
