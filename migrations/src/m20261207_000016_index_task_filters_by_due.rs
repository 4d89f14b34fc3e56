//! The inbox filtered by kind or by process, ordered by due date: `ix_tasks_inbox_kind` and
//! `ix_tasks_sources` become `ix_tasks_kind_due` and `ix_tasks_sources_due`, with `due_at`, so a filtered page reads its first rows in order instead
//! of checking every open task of the municipality. With SQLite's plans no longer chosen by
//! the LIMIT's value (the query planner stability guarantee, docs/benchmarks.md "Statements
//! prepared once") the planner took the inbox's own index for these filters too: 8–13 ms
//! for a 1 % kind among 24,000 open tasks, 0.2–0.6 ms with these. Both stay covering for the
//! filter lists and the counts per kind, which read them alone.

use sea_orm_migration::prelude::*;

use crate::index;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// Each filter index: its name and columns before, its name and columns after. The new ones
/// have names of their own and are made before the old ones are dropped: on SQLite the
/// migrations run on the pool, and a connection that has not yet seen a DROP would refuse a
/// CREATE of the same name as "already exists".
type Replacement = (
    (&'static str, &'static [&'static str]),
    (&'static str, &'static [&'static str]),
);

const INDEXES: [Replacement; 2] = [
    (
        ("ix_tasks_inbox_kind", &["municipality", "status", "kind"]),
        (
            "ix_tasks_kind_due",
            &["municipality", "status", "kind", "due_at"],
        ),
    ),
    (
        (
            "ix_tasks_sources",
            &["municipality", "status", "process_id"],
        ),
        (
            "ix_tasks_sources_due",
            &["municipality", "status", "process_id", "due_at"],
        ),
    ),
];

/// Makes index `to`, then drops index `from`.
async fn replace(
    manager: &SchemaManager<'_>,
    from: &str,
    (to, columns): (&str, &[&str]),
) -> Result<(), DbErr> {
    manager.create_index(index(to, "tasks", columns)).await?;
    manager
        .drop_index(
            Index::drop()
                .name(from)
                .table(Alias::new("tasks"))
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (before, after) in INDEXES {
            replace(manager, before.0, after).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (before, after) in INDEXES {
            replace(manager, after.0, before).await?;
        }
        Ok(())
    }
}
