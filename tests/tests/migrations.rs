//! The schema: the engine's migrations and the packages' run as one list, up, down and up
//! again on an empty database of each backend; a database made before the packages owned
//! their tables upgrades without loss; a migration this build does not know is refused.

mod support;

use forlob_engine::Registry;
use forlob_engine::schema::{MigratorTraitSelf, Schema};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use support::Backend;

/// The registry of the shipped build: the engine and both packages.
fn shipped() -> Registry {
    let mut registry = support::registry();
    forlob_processes::register(&mut registry);
    registry
}

async fn connect(url: &str) -> DatabaseConnection {
    forlob_engine::runtime::connect(url, &forlob_engine::EngineOptions::default())
        .await
        .expect("connects")
}

async fn count(conn: &DatabaseConnection, sql: &str) -> i64 {
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .expect("counts")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("a count")
}

/// `(name, applied at)` of each applied migration.
async fn applied(conn: &DatabaseConnection) -> Vec<(String, i64)> {
    conn.query_all_raw(Statement::from_string(
        conn.get_database_backend(),
        "SELECT version, applied_at FROM seaql_migrations ORDER BY version",
    ))
    .await
    .expect("applied migrations")
    .into_iter()
    .map(|row| {
        (
            row.try_get_by_index::<String>(0).expect("name"),
            row.try_get_by_index::<i64>(1).expect("applied at"),
        )
    })
    .collect()
}

async fn migrations_run_up_down_up(backend: Backend) {
    let db = backend.fresh_db().await;
    let conn = connect(&db.url).await;
    let registry = shipped();
    let schema = Schema::of(&registry);
    schema.up(&conn, None).await.expect("up");
    // Each package's tables are there, made by the package's own migrations.
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM dk_persons").await, 0);
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM se_personer").await, 0);
    schema.down(&conn, None).await.expect("down");
    schema.up(&conn, None).await.expect("up again");
    assert!(
        schema
            .get_pending_migrations(&conn)
            .await
            .expect("status")
            .is_empty()
    );
}

/// A build without a package whose tables the database holds is refused, with the name of
/// what it does not know, before it touches anything: the package's rows are still there.
async fn a_build_without_a_package_the_database_has_is_refused(backend: Backend) {
    let db = backend.fresh_db().await;
    let conn = connect(&db.url).await;
    forlob_engine::schema::migrate(&conn, &shipped())
        .await
        .expect("migrates");
    conn.execute_unprepared(
        "INSERT INTO se_register_outages (from_at, until_at) VALUES ('2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z')",
    )
    .await
    .expect("a row of the package");
    let refused = forlob_engine::schema::migrate(&conn, &support::registry())
        .await
        .expect_err("a package's migrations are missing from this build");
    match &refused {
        forlob_engine::EngineError::SchemaUnknown { migrations } => assert_eq!(
            migrations,
            &[
                "m20261123_000002_create_flytning_tables",
                "m20261202_000005_create_folkbokforing_tables",
                "m20261202_000006_index_daily_run",
            ]
        ),
        other => panic!("refused for another reason: {other}"),
    }
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM se_register_outages").await,
        1,
        "refused before anything ran: the package's row is there"
    );
}

/// A package registered twice (two `register` calls in one build) runs its migrations once.
async fn a_package_registered_twice_migrates_once(backend: Backend) {
    let db = backend.fresh_db().await;
    let conn = connect(&db.url).await;
    let mut twice = shipped();
    forlob_processes::register(&mut twice);
    forlob_engine::schema::migrate(&conn, &twice)
        .await
        .expect("migrates once");
    assert_eq!(
        applied(&conn).await.len(),
        Schema::of(&shipped()).migrations().len()
    );
}

/// Going back past the audit log's sealing (migration 000017) would drop the entries not yet
/// sealed into the chain: it is refused while there are any, and goes once they are sealed.
async fn going_back_past_the_audit_sealing_keeps_unsealed_entries(backend: Backend) {
    let db = backend.fresh_db().await;
    let conn = connect(&db.url).await;
    let registry = shipped();
    let schema = Schema::of(&registry);
    schema.up(&conn, None).await.expect("up");
    conn.execute_unprepared(
        "INSERT INTO audit_pending (at, actor, role, municipality, action, subject, target, via, detail) \
         VALUES ('2026-12-07T10:00:00Z', 'cw', 'caseworker', '101', 'person.read', '0101501234', NULL, 'api', '{}')",
    )
    .await
    .expect("an unsealed entry");
    let refused = schema.down(&conn, Some(1)).await.expect_err("refused");
    assert!(
        refused
            .to_string()
            .contains("1 audit entries not yet sealed"),
        "{refused}"
    );
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM audit_pending").await, 1);
    conn.execute_unprepared("DELETE FROM audit_pending")
        .await
        .expect("sealed, as far as this test goes");
    schema.down(&conn, Some(1)).await.expect("down");
    assert_eq!(
        applied(&conn).await.last().map(|(name, _)| name.clone()),
        Some("m20261207_000016_index_task_filters_by_due".to_owned())
    );
}

on_both_backends!(
    migrations_run_up_down_up,
    going_back_past_the_audit_sealing_keeps_unsealed_entries,
    a_package_registered_twice_migrates_once,
    a_build_without_a_package_the_database_has_is_refused
);

/// A SQLite database made by `main` at 2d66a8a, when the engine's migrations crate still
/// created the packages' tables (`sqlite3 .dump` of a small simulated register, with rows in
/// every package table and engine table): the new build sees every migration as applied,
/// runs none of them again, and every row is still there.
#[tokio::test]
async fn a_database_made_before_packages_owned_their_tables_upgrades_without_loss() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    let conn = connect(&url).await;
    let dump = include_str!("../fixtures/upgrade/before-package-migrations.sql");
    conn.execute_unprepared(dump).await.expect("the dump loads");
    let tables = [
        "dk_persons",
        "dk_handleansvar",
        "dk_moves",
        "se_personer",
        "instances",
        "history",
    ];
    let mut before = Vec::new();
    for table in tables {
        before.push(count(&conn, &format!("SELECT COUNT(*) FROM {table}")).await);
    }
    assert!(
        before.iter().all(|n| *n > 0),
        "the fixture has rows in each of {tables:?}: {before:?}"
    );
    let applied_before = applied(&conn).await;
    assert_eq!(applied_before.len(), 14, "{applied_before:?}");
    drop(conn);

    let engine = forlob_engine::Engine::start(
        &url,
        shipped(),
        std::sync::Arc::new(forlob_engine::ManualClock::new(support::at(
            "2026-12-07T09:00:00+01:00",
        ))),
        forlob_engine::EngineOptions::default(),
    )
    .await
    .expect("the new build starts on the old database");
    let conn = engine.db();
    for (table, was) in tables.iter().zip(&before) {
        let now = count(conn, &format!("SELECT COUNT(*) FROM {table}")).await;
        assert_eq!(now, *was, "{table} kept its rows");
    }
    // Nothing that was applied ran again (its time of applying would have changed).
    let applied_after = applied(conn).await;
    for migration in &applied_before {
        assert!(applied_after.contains(migration), "{migration:?} is kept");
    }
    let schema_registry = shipped();
    assert!(
        Schema::of(&schema_registry)
            .get_pending_migrations(conn)
            .await
            .expect("status")
            .is_empty()
    );
    // The versions the old database deployed load as they are.
    assert!(engine.catalog().latest("bopaelssamling").is_some());
}
