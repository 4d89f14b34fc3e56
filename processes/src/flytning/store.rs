//! All database access of the `flytning` package, over its own tables only.

use chrono::{DateTime, Days, NaiveDate, Utc};
use forlob_engine::store::run_together;
use sea_orm::sea_query::Expr as SqlExpr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
};
use serde_json::Value;

use super::entities::*;

pub(crate) use super::entities::{
    case::Model as Case, case_event::Model as CaseEvent, dk_move::Model as Move,
    institution_stay::Model as InstitutionStay,
};
pub(crate) use super::entities::{
    handleansvar::Model as Handleansvar, manual_registration::Model as ManualRegistration,
    person::Model as Person, planned_item::Model as PlannedItem,
};

pub(crate) async fn person<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
) -> Result<Option<Person>, DbErr> {
    person::Entity::find_by_id(cpr.to_owned()).one(conn).await
}

/// Persons within `scope` whose name contains every word of `text` (ignoring case), at most
/// `limit`, by name; nobody unless a word has two characters or more. `Concerning(m)` is what
/// `Persons::municipalities` counts, in SQL: where they live, who acts for them, an open manual
/// registration, a case, a planned move from or to `m`.
pub(crate) async fn persons_named<C: ConnectionTrait>(
    conn: &C,
    text: &str,
    scope: &forlob_engine::registry::NameScope,
    limit: u64,
) -> Result<Vec<Person>, DbErr> {
    use forlob_engine::registry::NameScope;
    use sea_orm::sea_query::{IntoColumnRef, IntoTableRef, Query};
    // A word of two letters at least: "a b" is no search.
    if text.split_whitespace().all(|w| w.chars().count() < 2) {
        return Ok(Vec::new());
    }
    let mut query = person::Entity::find().filter(forlob_engine::store::name_matches(
        person::Column::Name,
        text,
    ));
    match scope {
        NameScope::All => {}
        NameScope::Among(ids) if ids.is_empty() => return Ok(Vec::new()),
        NameScope::Among(ids) => {
            query = query.filter(person::Column::Cpr.is_in(ids.iter().cloned()));
        }
        NameScope::Concerning(m) => {
            let cprs_of = |table, cpr_col, condition: Condition| {
                Query::select()
                    .column(cpr_col)
                    .from(table)
                    .cond_where(condition)
                    .to_owned()
            };
            let concerning = Condition::any()
                .add(person::Column::Residence.eq(m.clone()))
                .add(
                    person::Column::Cpr.in_subquery(cprs_of(
                        handleansvar::Entity.into_table_ref(),
                        handleansvar::Column::Cpr.into_column_ref(),
                        Condition::all()
                            .add(handleansvar::Column::Municipality.eq(m.clone()))
                            .add(handleansvar::Column::ToDate.is_null()),
                    )),
                )
                .add(
                    person::Column::Cpr.in_subquery(cprs_of(
                        manual_registration::Entity.into_table_ref(),
                        manual_registration::Column::Cpr.into_column_ref(),
                        Condition::all()
                            .add(manual_registration::Column::Municipality.eq(m.clone()))
                            .add(manual_registration::Column::State.is_in(["pending", "active"])),
                    )),
                )
                .add(person::Column::Cpr.in_subquery(cprs_of(
                    case::Entity.into_table_ref(),
                    case::Column::Cpr.into_column_ref(),
                    Condition::all().add(case::Column::Municipality.eq(m.clone())),
                )))
                .add(
                    person::Column::Cpr.in_subquery(cprs_of(
                        dk_move::Entity.into_table_ref(),
                        dk_move::Column::Cpr.into_column_ref(),
                        Condition::all()
                            .add(dk_move::Column::Status.eq("planned"))
                            .add(
                                Condition::any()
                                    .add(dk_move::Column::FromMunicipality.eq(m.clone()))
                                    .add(dk_move::Column::ToMunicipality.eq(m.clone())),
                            ),
                    )),
                );
            query = query.filter(concerning);
        }
    }
    query
        .order_by_asc(person::Column::Name)
        .order_by_asc(person::Column::Cpr)
        .limit(limit)
        .all(conn)
        .await
}

pub(crate) async fn insert_person<C: ConnectionTrait>(conn: &C, p: Person) -> Result<(), DbErr> {
    person::Entity::insert(person::ActiveModel {
        cpr: Set(p.cpr),
        name: Set(p.name),
        birth_date: Set(p.birth_date),
        status: Set(p.status),
        residence: Set(p.residence),
        subscription_from: Set(p.subscription_from),
        subscription_to: Set(p.subscription_to),
        health_card: Set(p.health_card),
        under_administration: Set(p.under_administration),
        bopaelssamling: Set(p.bopaelssamling),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The open acting-municipality period, if any.
pub(crate) async fn handlekommune<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
) -> Result<Option<Handleansvar>, DbErr> {
    handleansvar::Entity::find()
        .filter(handleansvar::Column::Cpr.eq(cpr))
        .filter(handleansvar::Column::ToDate.is_null())
        .one(conn)
        .await
}

/// Ends the open period the day before `from` and opens one for `municipality` (none: no
/// municipality holds handleansvar, as after a move abroad).
pub(crate) async fn set_handlekommune<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
    municipality: Option<&str>,
    from: NaiveDate,
    cause: &str,
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let day_before = from.checked_sub_days(Days::new(1)).unwrap_or(from);
    let mut statements = vec![
        // A period that opened on this same run is replaced, never closed before it started.
        handleansvar::Entity::delete_many()
            .filter(handleansvar::Column::Cpr.eq(cpr))
            .filter(handleansvar::Column::ToDate.is_null())
            .filter(handleansvar::Column::FromDate.gte(from))
            .build(backend),
        handleansvar::Entity::update_many()
            .col_expr(handleansvar::Column::ToDate, SqlExpr::value(day_before))
            .filter(handleansvar::Column::Cpr.eq(cpr))
            .filter(handleansvar::Column::ToDate.is_null())
            .build(backend),
    ];
    if let Some(municipality) = municipality {
        statements.push(
            handleansvar::Entity::insert(handleansvar::ActiveModel {
                id: NotSet,
                cpr: Set(cpr.to_owned()),
                municipality: Set(municipality.to_owned()),
                from_date: Set(from),
                to_date: Set(None),
                cause: Set(cause.to_owned()),
            })
            .build(backend),
        );
    }
    run_together(conn, statements).await?;
    Ok(())
}

/// Carries out planned move `move_id` in the register: the move is effected, and the person
/// lives in `municipality` (none: abroad) from `from` with CPR status `status`. Together
/// ([`run_together`]): it is done once a move on every daily run.
pub(crate) async fn carry_out_move<C: ConnectionTrait>(
    conn: &C,
    move_id: i64,
    cpr: &str,
    municipality: Option<&str>,
    from: NaiveDate,
    status: &str,
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let statements = vec![
        dk_move::Entity::update_many()
            .col_expr(dk_move::Column::Status, SqlExpr::value("effected"))
            .filter(dk_move::Column::Id.eq(move_id))
            .build(backend),
        person::Entity::update_many()
            .col_expr(
                person::Column::Residence,
                SqlExpr::value(municipality.map(str::to_owned)),
            )
            .col_expr(person::Column::Status, SqlExpr::value(status))
            .filter(person::Column::Cpr.eq(cpr))
            .build(backend),
        residence::Entity::insert(residence::ActiveModel {
            id: NotSet,
            cpr: Set(cpr.to_owned()),
            municipality: Set(municipality.map(str::to_owned)),
            from_date: Set(from),
        })
        .build(backend),
    ];
    run_together(conn, statements).await?;
    Ok(())
}

/// The registration in force on `on`: active, started, not ended.
pub(crate) async fn active_manual<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
    on: NaiveDate,
) -> Result<Option<ManualRegistration>, DbErr> {
    manual_registration::Entity::find()
        .filter(manual_registration::Column::Cpr.eq(cpr))
        .filter(manual_registration::Column::State.eq("active"))
        .filter(manual_registration::Column::FromDate.lte(on))
        .filter(
            Condition::any()
                .add(manual_registration::Column::ToDate.is_null())
                .add(manual_registration::Column::ToDate.gte(on)),
        )
        .one(conn)
        .await
}

/// The newest registration that is pending or active, whatever its dates.
pub(crate) async fn current_manual<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
) -> Result<Option<ManualRegistration>, DbErr> {
    manual_registration::Entity::find()
        .filter(manual_registration::Column::Cpr.eq(cpr))
        .filter(manual_registration::Column::State.is_in(["pending", "active"]))
        .order_by_desc(manual_registration::Column::Id)
        .one(conn)
        .await
}

pub(crate) async fn manual<C: ConnectionTrait>(
    conn: &C,
    id: i64,
) -> Result<Option<ManualRegistration>, DbErr> {
    manual_registration::Entity::find_by_id(id).one(conn).await
}

pub(crate) struct NewRegistration<'a> {
    pub cpr: &'a str,
    pub municipality: &'a str,
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
    pub reason: &'a str,
    pub registrant: &'a str,
    pub registrant_user: &'a str,
    pub state: &'a str,
    pub at: DateTime<Utc>,
}

pub(crate) async fn insert_manual<C: ConnectionTrait>(
    conn: &C,
    r: NewRegistration<'_>,
) -> Result<i64, DbErr> {
    let result = manual_registration::Entity::insert(manual_registration::ActiveModel {
        id: NotSet,
        cpr: Set(r.cpr.to_owned()),
        municipality: Set(r.municipality.to_owned()),
        from_date: Set(r.from),
        to_date: Set(r.to),
        reason: Set(r.reason.to_owned()),
        registrant: Set(r.registrant.to_owned()),
        registrant_user: Set(r.registrant_user.to_owned()),
        state: Set(r.state.to_owned()),
        created_at: Set(r.at),
    })
    .exec(conn)
    .await?;
    Ok(result.last_insert_id)
}

pub(crate) async fn set_manual_state<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    state: &str,
) -> Result<(), DbErr> {
    manual_registration::Entity::update_many()
        .col_expr(manual_registration::Column::State, SqlExpr::value(state))
        .filter(manual_registration::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Ends every other pending or active registration of the person: `keep` replaces them.
pub(crate) async fn replace_other_manuals<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
    keep: i64,
) -> Result<(), DbErr> {
    manual_registration::Entity::update_many()
        .col_expr(
            manual_registration::Column::State,
            SqlExpr::value("replaced"),
        )
        .filter(manual_registration::Column::Cpr.eq(cpr))
        .filter(manual_registration::Column::Id.ne(keep))
        .filter(manual_registration::Column::State.is_in(["pending", "active"]))
        .exec(conn)
        .await?;
    Ok(())
}

pub(crate) async fn set_manual_to<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    to: Option<NaiveDate>,
) -> Result<(), DbErr> {
    manual_registration::Entity::update_many()
        .col_expr(manual_registration::Column::ToDate, SqlExpr::value(to))
        .filter(manual_registration::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

pub(crate) struct NewMove<'a> {
    pub cpr: &'a str,
    pub message_id: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub abroad: bool,
    pub move_date: NaiveDate,
    pub effective_date: NaiveDate,
    pub at: DateTime<Utc>,
}

pub(crate) async fn insert_move<C: ConnectionTrait>(
    conn: &C,
    m: NewMove<'_>,
) -> Result<i64, DbErr> {
    let result = dk_move::Entity::insert(dk_move::ActiveModel {
        id: NotSet,
        cpr: Set(m.cpr.to_owned()),
        message_id: Set(m.message_id.map(str::to_owned)),
        from_municipality: Set(m.from.map(str::to_owned)),
        to_municipality: Set(m.to.map(str::to_owned)),
        abroad: Set(m.abroad),
        move_date: Set(m.move_date),
        effective_date: Set(m.effective_date),
        status: Set("planned".into()),
        received_at: Set(m.at),
    })
    .exec(conn)
    .await?;
    Ok(result.last_insert_id)
}

pub(crate) async fn move_by_id<C: ConnectionTrait>(
    conn: &C,
    id: i64,
) -> Result<Option<dk_move::Model>, DbErr> {
    dk_move::Entity::find_by_id(id).one(conn).await
}

/// Moves of the person still planned, other than `except`, now superseded (R19: a newer
/// move supersedes them); their ids.
pub(crate) async fn supersede_planned<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
    except: i64,
) -> Result<Vec<i64>, DbErr> {
    let ids: Vec<i64> = dk_move::Entity::find()
        .filter(dk_move::Column::Cpr.eq(cpr))
        .filter(dk_move::Column::Status.eq("planned"))
        .filter(dk_move::Column::Id.ne(except))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| m.id)
        .collect();
    if !ids.is_empty() {
        dk_move::Entity::update_many()
            .col_expr(dk_move::Column::Status, SqlExpr::value("superseded"))
            .filter(dk_move::Column::Id.is_in(ids.clone()))
            .exec(conn)
            .await?;
    }
    Ok(ids)
}

/// Planned moves due on the run of `run_date` (their run is that day or before), after
/// `after_id` in id order, at most `limit`.
pub(crate) async fn due_moves<C: ConnectionTrait>(
    conn: &C,
    run_date: NaiveDate,
    after_id: i64,
    limit: u64,
) -> Result<Vec<Move>, DbErr> {
    dk_move::Entity::find()
        .filter(dk_move::Column::Status.eq("planned"))
        .filter(dk_move::Column::Id.gt(after_id))
        .filter(dk_move::Column::EffectiveDate.lte(run_date))
        .order_by_asc(dk_move::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// Active registrations whose last day is before `run_date` (Q7: the end date is inclusive),
/// after `after_id` in id order, at most `limit`.
pub(crate) async fn due_expiries<C: ConnectionTrait>(
    conn: &C,
    run_date: NaiveDate,
    after_id: i64,
    limit: u64,
) -> Result<Vec<ManualRegistration>, DbErr> {
    manual_registration::Entity::find()
        .filter(manual_registration::Column::State.eq("active"))
        .filter(manual_registration::Column::Id.gt(after_id))
        .filter(manual_registration::Column::ToDate.lt(run_date))
        .order_by_asc(manual_registration::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// Registrations for another municipality that come into force on the run of `run_date`:
/// their first day has come and they were made before the run started (Q6).
pub(crate) async fn due_activations<C: ConnectionTrait>(
    conn: &C,
    run_date: NaiveDate,
    run_start: DateTime<Utc>,
    after_id: i64,
    limit: u64,
) -> Result<Vec<ManualRegistration>, DbErr> {
    manual_registration::Entity::find()
        .filter(manual_registration::Column::State.eq("pending"))
        .filter(manual_registration::Column::Id.gt(after_id))
        .filter(manual_registration::Column::FromDate.lte(run_date))
        .filter(manual_registration::Column::CreatedAt.lt(run_start))
        .order_by_asc(manual_registration::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// The move date of a move of the person received after `received_at` that is planned or
/// carried out, if any.
pub(crate) async fn move_received_after<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
    received_at: chrono::DateTime<chrono::Utc>,
) -> Result<Option<NaiveDate>, DbErr> {
    Ok(dk_move::Entity::find()
        .filter(dk_move::Column::Cpr.eq(cpr))
        .filter(dk_move::Column::Status.is_in(["planned", "effected"]))
        .filter(dk_move::Column::ReceivedAt.gt(received_at))
        .order_by_desc(dk_move::Column::ReceivedAt)
        .one(conn)
        .await?
        .map(|m| m.move_date))
}

/// The latest move date already carried out for the person: a message about an earlier date
/// arrived out of order. (A planned move is simply replaced by a newer message, R19.)
pub(crate) async fn latest_effected_move_date<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
) -> Result<Option<NaiveDate>, DbErr> {
    Ok(dk_move::Entity::find()
        .filter(dk_move::Column::Cpr.eq(cpr))
        .filter(dk_move::Column::Status.eq("effected"))
        .order_by_desc(dk_move::Column::MoveDate)
        .one(conn)
        .await?
        .map(|m| m.move_date))
}

/// Cancels the move if it is still planned (one carried out or superseded stays as it is).
pub(crate) async fn cancel_planned_move<C: ConnectionTrait>(
    conn: &C,
    id: i64,
) -> Result<(), DbErr> {
    dk_move::Entity::update_many()
        .col_expr(dk_move::Column::Status, SqlExpr::value("cancelled"))
        .filter(dk_move::Column::Id.eq(id))
        .filter(dk_move::Column::Status.eq("planned"))
        .exec(conn)
        .await?;
    Ok(())
}

/// Stops every planned benefit and deduction of `municipality` for the person due on or
/// after `from` (R4, Q5) and returns them.
pub(crate) async fn stop_items<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
    municipality: &str,
    from: NaiveDate,
) -> Result<Vec<PlannedItem>, DbErr> {
    let items = planned_item::Entity::find()
        .filter(planned_item::Column::Cpr.eq(cpr))
        .filter(planned_item::Column::Municipality.eq(municipality))
        .filter(planned_item::Column::Status.eq("planned"))
        .filter(planned_item::Column::DueDate.gte(from))
        .order_by_asc(planned_item::Column::Id)
        .all(conn)
        .await?;
    if !items.is_empty() {
        planned_item::Entity::update_many()
            .col_expr(planned_item::Column::Status, SqlExpr::value("stopped"))
            .filter(planned_item::Column::Id.is_in(items.iter().map(|i| i.id)))
            .exec(conn)
            .await?;
    }
    Ok(items)
}

pub(crate) async fn insert_case_event<C: ConnectionTrait>(
    conn: &C,
    case_id: i64,
    kind: &str,
    data: Value,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    case_event::Entity::insert(case_event::ActiveModel {
        id: NotSet,
        case_id: Set(case_id),
        kind: Set(kind.to_owned()),
        data: Set(data),
        at: Set(at),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

pub(crate) async fn case_events<C: ConnectionTrait>(
    conn: &C,
    case_id: i64,
) -> Result<Vec<case_event::Model>, DbErr> {
    case_event::Entity::find()
        .filter(case_event::Column::CaseId.eq(case_id))
        .order_by_asc(case_event::Column::Id)
        .all(conn)
        .await
}

pub(crate) async fn in_institution<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
    on: NaiveDate,
) -> Result<bool, DbErr> {
    Ok(institution_stay::Entity::find()
        .filter(institution_stay::Column::Cpr.eq(cpr))
        .filter(institution_stay::Column::FromDate.lte(on))
        .filter(
            Condition::any()
                .add(institution_stay::Column::ToDate.is_null())
                .add(institution_stay::Column::ToDate.gte(on)),
        )
        .one(conn)
        .await?
        .is_some())
}

pub(crate) async fn order_health_card<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
    issuer: &str,
    address: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    health_card_order::Entity::insert(health_card_order::ActiveModel {
        id: NotSet,
        cpr: Set(cpr.to_owned()),
        issuer: Set(issuer.to_owned()),
        address_municipality: Set(address.map(str::to_owned)),
        ordered_at: Set(at),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

pub(crate) async fn insert_case<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
    municipality: &str,
    title: &str,
) -> Result<i64, DbErr> {
    let result = case::Entity::insert(case::ActiveModel {
        id: NotSet,
        cpr: Set(cpr.to_owned()),
        municipality: Set(municipality.to_owned()),
        title: Set(title.to_owned()),
    })
    .exec(conn)
    .await?;
    Ok(result.last_insert_id)
}

/// The citizen's case of `municipality` with this title, if there is one.
pub(crate) async fn case_titled<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
    municipality: &str,
    title: &str,
) -> Result<Option<i64>, DbErr> {
    Ok(case::Entity::find()
        .filter(case::Column::Cpr.eq(cpr))
        .filter(case::Column::Municipality.eq(municipality))
        .filter(case::Column::Title.eq(title))
        .one(conn)
        .await?
        .map(|c| c.id))
}

pub(crate) struct NewItem<'a> {
    pub case_id: i64,
    pub cpr: &'a str,
    pub municipality: &'a str,
    pub kind: &'a str,
    pub item_type: &'a str,
    pub amount_ore: i64,
    pub due_date: NaiveDate,
}

pub(crate) async fn insert_item<C: ConnectionTrait>(conn: &C, i: NewItem<'_>) -> Result<(), DbErr> {
    planned_item::Entity::insert(planned_item::ActiveModel {
        id: NotSet,
        case_id: Set(i.case_id),
        cpr: Set(i.cpr.to_owned()),
        municipality: Set(i.municipality.to_owned()),
        kind: Set(i.kind.to_owned()),
        item_type: Set(i.item_type.to_owned()),
        amount_ore: Set(i.amount_ore),
        due_date: Set(i.due_date),
        status: Set("planned".into()),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

pub(crate) async fn insert_institution_stay<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
    from: NaiveDate,
    to: Option<NaiveDate>,
) -> Result<(), DbErr> {
    institution_stay::Entity::insert(institution_stay::ActiveModel {
        id: NotSet,
        cpr: Set(cpr.to_owned()),
        from_date: Set(from),
        to_date: Set(to),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Planned items due on or before `until`, oldest first, after `after_id` (for chunks).
pub(crate) async fn planned_due<C: ConnectionTrait>(
    conn: &C,
    until: NaiveDate,
    after_id: i64,
    limit: u64,
) -> Result<Vec<PlannedItem>, DbErr> {
    planned_item::Entity::find()
        .filter(planned_item::Column::Status.eq("planned"))
        .filter(planned_item::Column::DueDate.lte(until))
        .filter(planned_item::Column::Id.gt(after_id))
        .order_by_asc(planned_item::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

pub(crate) async fn execute_item<C: ConnectionTrait>(
    conn: &C,
    item: &PlannedItem,
    run_date: NaiveDate,
) -> Result<(), DbErr> {
    planned_item::Entity::update_many()
        .col_expr(planned_item::Column::Status, SqlExpr::value("executed"))
        .filter(planned_item::Column::Id.eq(item.id))
        .exec(conn)
        .await?;
    let kind = if item.kind == "ydelse" {
        "udbetaling"
    } else {
        "traekanmodning"
    };
    payment::Entity::insert(payment::ActiveModel {
        id: NotSet,
        run_date: Set(run_date),
        cpr: Set(item.cpr.clone()),
        municipality: Set(item.municipality.clone()),
        kind: Set(kind.to_owned()),
        item_id: Set(item.id),
        amount_ore: Set(item.amount_ore),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

pub(crate) async fn payments<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
) -> Result<Vec<payment::Model>, DbErr> {
    payment::Entity::find()
        .filter(payment::Column::Cpr.eq(cpr))
        .order_by_asc(payment::Column::Id)
        .all(conn)
        .await
}

pub(crate) async fn items<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
) -> Result<Vec<PlannedItem>, DbErr> {
    planned_item::Entity::find()
        .filter(planned_item::Column::Cpr.eq(cpr))
        .order_by_asc(planned_item::Column::Id)
        .all(conn)
        .await
}

pub(crate) async fn health_card_orders<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
) -> Result<Vec<health_card_order::Model>, DbErr> {
    health_card_order::Entity::find()
        .filter(health_card_order::Column::Cpr.eq(cpr))
        .all(conn)
        .await
}

pub(crate) async fn case_ids<C: ConnectionTrait>(conn: &C, cpr: &str) -> Result<Vec<i64>, DbErr> {
    Ok(case::Entity::find()
        .filter(case::Column::Cpr.eq(cpr))
        .all(conn)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect())
}

pub(crate) async fn manual_registrations<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
) -> Result<Vec<ManualRegistration>, DbErr> {
    manual_registration::Entity::find()
        .filter(manual_registration::Column::Cpr.eq(cpr))
        .order_by_asc(manual_registration::Column::Id)
        .all(conn)
        .await
}

/// Bulk load of a synthetic population: persons with their handlekommune, one pension case
/// each with planned items, and institution stays; one multi-row INSERT per table.
pub(crate) async fn insert_population<C: ConnectionTrait>(
    conn: &C,
    people: &[super::simulate::SimPerson],
) -> Result<(), DbErr> {
    const ROWS: usize = 400;
    let since = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
    for chunk in people.chunks(ROWS) {
        person::Entity::insert_many(chunk.iter().map(|p| person::ActiveModel {
            cpr: Set(p.cpr.clone()),
            name: Set(p.name.clone()),
            birth_date: Set(p.birth_date),
            status: Set("01".into()),
            residence: Set(Some(p.municipality.clone())),
            subscription_from: Set(p.subscribed.then_some(since)),
            subscription_to: Set(None),
            health_card: Set(p.health_card),
            under_administration: Set(p.under_administration),
            bopaelssamling: Set(p.bopaelssamling),
        }))
        .exec_without_returning(conn)
        .await?;
        handleansvar::Entity::insert_many(chunk.iter().map(|p| handleansvar::ActiveModel {
            id: NotSet,
            cpr: Set(p.cpr.clone()),
            municipality: Set(p.municipality.clone()),
            from_date: Set(since),
            to_date: Set(None),
            cause: Set("initial".into()),
        }))
        .exec_without_returning(conn)
        .await?;
        let with_items: Vec<&super::simulate::SimPerson> =
            chunk.iter().filter(|p| !p.items.is_empty()).collect();
        if !with_items.is_empty() {
            case::Entity::insert_many(with_items.iter().map(|p| case::ActiveModel {
                id: NotSet,
                cpr: Set(p.cpr.clone()),
                municipality: Set(p.municipality.clone()),
                title: Set("Pension".into()),
            }))
            .exec_without_returning(conn)
            .await?;
            let cases: std::collections::HashMap<String, i64> = case::Entity::find()
                .filter(case::Column::Cpr.is_in(with_items.iter().map(|p| p.cpr.clone())))
                .select_only()
                .column(case::Column::Cpr)
                .column(case::Column::Id)
                .into_tuple::<(String, i64)>()
                .all(conn)
                .await?
                .into_iter()
                .collect();
            let items = with_items.iter().flat_map(|p| {
                let case_id = cases.get(&p.cpr).copied().unwrap_or_default();
                p.items
                    .iter()
                    .map(
                        move |(kind, item_type, amount_ore, due)| planned_item::ActiveModel {
                            id: NotSet,
                            case_id: Set(case_id),
                            cpr: Set(p.cpr.clone()),
                            municipality: Set(p.municipality.clone()),
                            kind: Set((*kind).to_owned()),
                            item_type: Set((*item_type).to_owned()),
                            amount_ore: Set(*amount_ore),
                            due_date: Set(*due),
                            status: Set("planned".into()),
                        },
                    )
            });
            planned_item::Entity::insert_many(items)
                .exec_without_returning(conn)
                .await?;
        }
        let stays: Vec<_> = chunk
            .iter()
            .filter(|p| p.institution)
            .map(|p| institution_stay::ActiveModel {
                id: NotSet,
                cpr: Set(p.cpr.clone()),
                from_date: Set(since),
                to_date: Set(None),
            })
            .collect();
        if !stays.is_empty() {
            institution_stay::Entity::insert_many(stays)
                .exec_without_returning(conn)
                .await?;
        }
    }
    Ok(())
}

pub(crate) async fn count_persons<C: ConnectionTrait>(conn: &C) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    person::Entity::find().count(conn).await
}

/// Counts for the invariants of a simulation; each query names a rule that must hold.
pub(crate) async fn count_sql<C: ConnectionTrait>(conn: &C, sql: &str) -> Result<i64, DbErr> {
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            sql,
        ))
        .await?;
    Ok(row
        .and_then(|r| r.try_get_by_index::<i64>(0).ok())
        .unwrap_or_default())
}

/// Every acting-municipality period of the person, newest first: the history on their page.
pub(crate) async fn handleansvar_periods<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
) -> Result<Vec<Handleansvar>, DbErr> {
    handleansvar::Entity::find()
        .filter(handleansvar::Column::Cpr.eq(cpr))
        .order_by_desc(handleansvar::Column::FromDate)
        .order_by_desc(handleansvar::Column::Id)
        .all(conn)
        .await
}

/// The registrations that are pending or active, oldest first: the one in force and the one
/// that may replace it on the next run.
pub(crate) async fn open_manuals<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
) -> Result<Vec<ManualRegistration>, DbErr> {
    manual_registration::Entity::find()
        .filter(manual_registration::Column::Cpr.eq(cpr))
        .filter(manual_registration::Column::State.is_in(["pending", "active"]))
        .order_by_asc(manual_registration::Column::Id)
        .all(conn)
        .await
}

/// The person's moves not yet carried out, the soonest run first.
pub(crate) async fn planned_moves<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
) -> Result<Vec<Move>, DbErr> {
    dk_move::Entity::find()
        .filter(dk_move::Column::Cpr.eq(cpr))
        .filter(dk_move::Column::Status.eq("planned"))
        .order_by_asc(dk_move::Column::EffectiveDate)
        .order_by_asc(dk_move::Column::Id)
        .all(conn)
        .await
}

pub(crate) async fn cases<C: ConnectionTrait>(conn: &C, cpr: &str) -> Result<Vec<Case>, DbErr> {
    case::Entity::find()
        .filter(case::Column::Cpr.eq(cpr))
        .order_by_asc(case::Column::Id)
        .all(conn)
        .await
}

/// The events of all the person's cases, oldest first.
pub(crate) async fn person_case_events<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
) -> Result<Vec<CaseEvent>, DbErr> {
    let ids = case_ids(conn, cpr).await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    case_event::Entity::find()
        .filter(case_event::Column::CaseId.is_in(ids))
        .order_by_asc(case_event::Column::Id)
        .all(conn)
        .await
}

/// Every institution stay of the person, the earliest first.
pub(crate) async fn institution_stays<C: ConnectionTrait>(
    conn: &C,
    cpr: &str,
) -> Result<Vec<InstitutionStay>, DbErr> {
    institution_stay::Entity::find()
        .filter(institution_stay::Column::Cpr.eq(cpr))
        .order_by_asc(institution_stay::Column::FromDate)
        .order_by_asc(institution_stay::Column::Id)
        .all(conn)
        .await
}
