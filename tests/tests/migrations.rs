//! Migrations run up, down and up again on an empty database of each backend.

mod support;

use forlob_migrations::{Migrator, MigratorTrait};
use support::Backend;

async fn migrations_run_up_down_up(backend: Backend) {
    let db = backend.fresh_db().await;
    let conn = forlob_engine::runtime::connect(&db.url, &forlob_engine::EngineOptions::default())
        .await
        .expect("connects");
    Migrator::up(&conn, None).await.expect("up");
    Migrator::down(&conn, None).await.expect("down");
    Migrator::up(&conn, None).await.expect("up again");
    assert!(
        Migrator::get_pending_migrations(&conn)
            .await
            .expect("status")
            .is_empty()
    );
}

on_both_backends!(migrations_run_up_down_up);
