//! A synthetic population and a simulated CPR move stream, for the demo, the month simulation
//! test and the benchmark. Deterministic for a seed, so a run can be repeated exactly.
//!
//! The stream is shaped like the real one: about 2,500 moves a day over the 98
//! municipalities, some abroad, some dated ahead (the citizen reported the move early), some
//! back-dated (reported late), and some delivered twice.

use chrono::{Datelike, Days, NaiveDate};
use forlob_engine::runtime::InboundMessage;
use sea_orm::{ConnectionTrait, DbErr, TransactionSession, TransactionTrait};
use serde_json::json;

use super::{kommuner, store};

/// One synthetic person before it is stored.
#[derive(Debug, Clone)]
pub struct SimPerson {
    pub cpr: String,
    pub name: String,
    pub birth_date: NaiveDate,
    pub municipality: String,
    pub subscribed: bool,
    pub health_card: bool,
    pub under_administration: bool,
    pub bopaelssamling: bool,
    pub institution: bool,
    /// (kind, type, amount in øre, due date)
    pub items: Vec<(&'static str, &'static str, i64, NaiveDate)>,
}

/// The CPR number of synthetic person `i`: a valid-looking DDMMYY plus a sequence number, unique
/// for every `i` below ten million.
pub fn cpr_of(i: usize) -> String {
    let day = i % 28 + 1;
    let month = (i / 28) % 12 + 1;
    let year = 20 + (i / 336) % 80;
    let seq = i / 26_880;
    format!("{day:02}{month:02}{year:02}{seq:04}")
}

fn birth_date_of(i: usize) -> NaiveDate {
    let day = (i % 28 + 1) as u32;
    let month = ((i / 28) % 12 + 1) as u32;
    let year = 1920 + ((i / 336) % 80) as i32;
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or_default()
}

const FIRST: &[&str] = &[
    "Anna", "Bo", "Clara", "Dorte", "Erik", "Freja", "Gorm", "Hanne", "Ib", "Jens", "Karen",
    "Lars", "Mette", "Niels", "Ole", "Pia",
];
const LAST: &[&str] = &[
    "Andersen",
    "Berg",
    "Christensen",
    "Dahl",
    "Eriksen",
    "Frandsen",
    "Hansen",
    "Jensen",
    "Kristensen",
    "Larsen",
    "Madsen",
    "Nielsen",
    "Olsen",
    "Pedersen",
    "Rasmussen",
    "Sørensen",
];

/// Synthetic person `i`; `due` is when their planned payments fall due.
pub fn person(i: usize, seed: u64, due: NaiveDate) -> SimPerson {
    let mut rng = fastrand::Rng::with_seed(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let all = kommuner::all();
    let municipality = all[rng.usize(..all.len())].code.clone();
    let mut items = Vec::new();
    if rng.u8(..100) < 35 {
        items.push((
            "ydelse",
            "personligt-tillaeg",
            rng.i64(50_000..400_000),
            due,
        ));
        if rng.u8(..100) < 30 {
            items.push((
                "traek",
                "tilbagebetalingstraek",
                rng.i64(10_000..80_000),
                due,
            ));
        }
    }
    SimPerson {
        cpr: cpr_of(i),
        name: format!(
            "{} {}",
            FIRST[rng.usize(..FIRST.len())],
            LAST[rng.usize(..LAST.len())]
        ),
        birth_date: birth_date_of(i),
        municipality,
        subscribed: rng.u8(..100) < 97,
        health_card: rng.u8(..100) < 12,
        under_administration: rng.u8(..100) < 3,
        bopaelssamling: rng.u8(..100) < 5,
        institution: rng.u8(..100) < 2,
        items,
    }
}

/// Loads `count` synthetic persons (numbered from `from`) in transactions of 2,000, calling
/// `progress` with the number loaded so far.
pub async fn load_population<C>(
    db: &C,
    from: usize,
    count: usize,
    seed: u64,
    today: NaiveDate,
    mut progress: impl FnMut(usize),
) -> Result<(), DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    // Payments fall due on the 20th of this month, so the first Friday's monthly run pays them.
    let next_month = NaiveDate::from_ymd_opt(today.year(), today.month(), 20).unwrap_or(today);
    let mut done = 0;
    while done < count {
        let n = (count - done).min(2_000);
        let people: Vec<SimPerson> = (from + done..from + done + n)
            .map(|i| person(i, seed, next_month))
            .collect();
        let txn = db.begin().await?;
        store::insert_population(&txn, &people).await?;
        txn.commit().await?;
        done += n;
        progress(done);
    }
    Ok(())
}

pub async fn population_size<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    store::count_persons(db).await
}

/// A day's worth of `cpr.flytning` messages for a population of `persons`.
pub struct MoveStream {
    rng: fastrand::Rng,
    persons: usize,
    sent: u64,
    recent: Vec<InboundMessage>,
}

impl MoveStream {
    pub fn new(persons: usize, seed: u64) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
            persons: persons.max(1),
            sent: 0,
            recent: Vec::new(),
        }
    }

    /// `count` messages for `date`: 2 % abroad, 10 % dated up to a month ahead, 10 % dated up
    /// to ten days back, and 2 % repeats of an earlier message (same id, same data).
    pub fn day(&mut self, date: NaiveDate, count: usize) -> Vec<InboundMessage> {
        let all = kommuner::all();
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            if !self.recent.is_empty() && self.rng.u8(..100) < 2 {
                let again = self.recent[self.rng.usize(..self.recent.len())].clone();
                out.push(again);
                continue;
            }
            self.sent += 1;
            let cpr = cpr_of(self.rng.usize(..self.persons));
            let move_date = match self.rng.u8(..100) {
                0..10 => date.checked_add_days(Days::new(self.rng.u64(1..30))),
                10..20 => date.checked_sub_days(Days::new(self.rng.u64(1..10))),
                _ => Some(date),
            }
            .unwrap_or(date);
            let data = if self.rng.u8(..100) < 2 {
                json!({ "message_id": format!("sim-{}", self.sent), "cpr": cpr, "move_date": move_date.to_string(), "abroad": true })
            } else {
                let to = &all[self.rng.usize(..all.len())].code;
                json!({ "message_id": format!("sim-{}", self.sent), "cpr": cpr, "move_date": move_date.to_string(), "to": to })
            };
            let msg = InboundMessage {
                message_id: format!("sim-{}", self.sent),
                message_type: "cpr.flytning".into(),
                data,
            };
            if self.recent.len() < 1000 {
                self.recent.push(msg.clone());
            } else {
                let slot = self.rng.usize(..1000);
                self.recent[slot] = msg.clone();
            }
            out.push(msg);
        }
        out
    }
}

/// The rules a simulation must never break; each failing one is described.
pub async fn check_invariants<C: ConnectionTrait>(db: &C) -> Result<Vec<String>, DbErr> {
    let checks = [
        (
            "a person has more than one open handleansvar period",
            "SELECT COUNT(*) FROM (SELECT cpr FROM dk_handleansvar WHERE to_date IS NULL GROUP BY cpr HAVING COUNT(*) > 1) x",
        ),
        (
            "a person living in Denmark has no handleansvar",
            "SELECT COUNT(*) FROM dk_persons p WHERE p.status <> '80' AND NOT EXISTS \
             (SELECT 1 FROM dk_handleansvar h WHERE h.cpr = p.cpr AND h.to_date IS NULL)",
        ),
        (
            "a person who moved abroad still has handleansvar",
            "SELECT COUNT(*) FROM dk_persons p WHERE p.status = '80' AND EXISTS \
             (SELECT 1 FROM dk_handleansvar h WHERE h.cpr = p.cpr AND h.to_date IS NULL)",
        ),
        (
            "a payment was made by a municipality without handleansvar on the run's date",
            "SELECT COUNT(*) FROM dk_payments pay WHERE NOT EXISTS (SELECT 1 FROM dk_handleansvar h \
             WHERE h.cpr = pay.cpr AND h.municipality = pay.municipality AND h.from_date <= pay.run_date \
             AND (h.to_date IS NULL OR h.to_date >= pay.run_date))",
        ),
        (
            "a move was carried out twice",
            "SELECT COUNT(*) FROM (SELECT message_id FROM dk_moves WHERE message_id IS NOT NULL \
             GROUP BY message_id HAVING COUNT(*) > 1) x",
        ),
    ];
    let mut broken = Vec::new();
    for (rule, sql) in checks {
        let n = store::count_sql(db, sql).await?;
        if n > 0 {
            broken.push(format!("{rule}: {n} case(s)"));
        }
    }
    Ok(broken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpr_numbers_are_unique_and_ten_digits() {
        let mut seen = std::collections::HashSet::new();
        for i in (0..1_000_000).step_by(7) {
            let cpr = cpr_of(i);
            assert_eq!(cpr.len(), 10, "{cpr}");
            assert!(seen.insert(cpr));
        }
    }

    #[test]
    fn the_stream_has_the_shape_of_the_real_one() {
        let mut stream = MoveStream::new(10_000, 7);
        let date = NaiveDate::from_ymd_opt(2025, 6, 2).expect("date");
        let _ = stream.day(date, 2_500);
        let day = stream.day(date, 2_500);
        let ids: std::collections::HashSet<&str> =
            day.iter().map(|m| m.message_id.as_str()).collect();
        let abroad = day
            .iter()
            .filter(|m| m.data.get("abroad").is_some())
            .count();
        let ahead = day
            .iter()
            .filter(|m| m.data["move_date"].as_str() > Some("2025-06-02"))
            .count();
        assert!(ids.len() < day.len(), "some are repeats");
        assert!((20..120).contains(&abroad), "{abroad}");
        assert!((150..400).contains(&ahead), "{ahead}");
    }
}

/// What one simulated day did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DayReport {
    pub date: String,
    pub messages: usize,
    pub accepted: usize,
    pub duplicates: usize,
    pub dead_letters: usize,
    /// Items the day's 04:00 run handled (moves and registrations falling due), by its
    /// logbook counts.
    pub run_items: usize,
    /// Wall-clock seconds of the 04:00 run.
    pub run_seconds: f64,
}

fn local(date: NaiveDate, hour: u32) -> chrono::DateTime<chrono::Utc> {
    let time = chrono::NaiveTime::from_hms_opt(hour, 0, 0).unwrap_or_default();
    forlob_engine::timer::resolve_local(super::rules::TZ, date, time)
}

/// The simulation's admin, who starts the runs no schedule starts.
fn admin() -> forlob_engine::Actor {
    forlob_engine::Actor {
        id: "simulation".into(),
        municipality: None,
        role: forlob_engine::Role::Admin.into(),
        via: forlob_engine::Via::System,
    }
}

/// Moves the clock to the 04:00 run of `date` and makes sure the run happens: by its
/// schedule, or started by hand when no schedule started it (a database whose default
/// schedule was installed after the simulated days, say); lets it finish and returns how many
/// items it handled (moves and registrations, by its logbook counts).
pub async fn run_daily(
    engine: &forlob_engine::Engine,
    date: NaiveDate,
) -> Result<usize, forlob_engine::EngineError> {
    engine.jobs().advance_to(local(date, 4)).await?;
    run_daily_job(engine, date).await
}

async fn run_daily_job(
    engine: &forlob_engine::Engine,
    date: NaiveDate,
) -> Result<usize, forlob_engine::EngineError> {
    let filter = forlob_engine::jobs::LogbookFilter {
        process: Some(DAILY_JOB.into()),
        limit: 1,
        ..Default::default()
    };
    let ran_today = |runs: &[forlob_engine::jobs::JobRun]| {
        runs.first()
            .is_some_and(|run| run.fire_at.with_timezone(&super::rules::TZ).date_naive() == date)
    };
    if !ran_today(&engine.jobs().logbook(&filter).await?) {
        let request = forlob_engine::runtime::RunRequest {
            process: Some(DAILY_JOB.into()),
            ..Default::default()
        };
        engine.jobs().run_job_now(&request, &admin()).await?;
    }
    engine.jobs().run_due().await?;
    let runs = engine.jobs().logbook(&filter).await?;
    Ok(runs
        .first()
        .filter(|_| ran_today(&runs))
        .map_or(0, |run| {
            run.counts
                .values()
                .filter_map(serde_json::Value::as_u64)
                .sum::<u64>()
        })
        .try_into()
        .unwrap_or(usize::MAX))
}

/// The job of the daily 04:00 run.
const DAILY_JOB: &str = "effektuer-flytninger";

/// Runs `days` days from `start` on an engine with a manual clock: each day's 04:00 run, then
/// `per_day` messages at 09:00; before the first Friday of a month its monthly run is started.
pub async fn simulate_days(
    engine: &forlob_engine::Engine,
    stream: &mut MoveStream,
    start: NaiveDate,
    days: u32,
    per_day: usize,
    mut report: impl FnMut(&DayReport),
) -> Result<(), forlob_engine::EngineError> {
    use forlob_engine::runtime::MessageOutcome;
    for d in 0..days {
        let date = start
            .checked_add_days(Days::new(u64::from(d)))
            .unwrap_or(start);
        if engine.clock().now() < local(date, 3) {
            engine.jobs().advance_to(local(date, 3)).await?;
        }
        let began = std::time::Instant::now();
        let run_items = run_daily(engine, date).await?;
        engine.jobs().advance_to(local(date, 5)).await?;
        let run_seconds = began.elapsed().as_secs_f64();
        engine.jobs().advance_to(local(date, 9)).await?;
        let tomorrow = date.checked_add_days(Days::new(1)).unwrap_or(date);
        if tomorrow.weekday() == chrono::Weekday::Fri && tomorrow.day() <= 7 {
            let vars = [("run_date".to_owned(), json!(tomorrow.to_string()))]
                .into_iter()
                .collect();
            engine
                .commands()
                .start_instance(
                    "maanedskoersel",
                    &format!("maanedskoersel-{tomorrow}"),
                    vars,
                    &admin(),
                )
                .await?;
        }
        let messages = stream.day(date, per_day);
        let mut day = DayReport {
            date: date.to_string(),
            messages: messages.len(),
            accepted: 0,
            duplicates: 0,
            dead_letters: 0,
            run_items,
            run_seconds: (run_seconds * 1000.0).round() / 1000.0,
        };
        for msg in &messages {
            match engine.commands().deliver(msg).await? {
                MessageOutcome::Accepted { .. } => day.accepted += 1,
                MessageOutcome::Duplicate { .. } => day.duplicates += 1,
                MessageOutcome::DeadLetter { .. } => day.dead_letters += 1,
            }
        }
        report(&day);
    }
    Ok(())
}
