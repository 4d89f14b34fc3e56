//! Demo data for a first start: synthetic persons in the simulated CPR, two days of moves
//! sent through the processes (so inboxes hold real follow-up tasks), and one user per role
//! with a random password printed once. Runs only when demo persons are asked for and the
//! register is empty; nothing here ever touches a database that already holds persons.

use forlob_engine::Engine;
use forlob_engine::store;
use forlob_processes::flytning::simulate;
use forlob_web::config::Config;
use forlob_web::users::{self, UserSpec};

/// A sign-in to show the newcomer.
pub(crate) struct DemoLogin {
    pub username: String,
    pub password: String,
    pub what: String,
}

pub(crate) async fn seed(engine: &Engine, config: &Config) -> anyhow::Result<Vec<DemoLogin>> {
    let persons = config.demo_persons;
    // Demo users come only with demo data, on a database that had none: a production
    // database (demo_persons = 0) never gets an admin with a printed password.
    if persons == 0 || simulate::population_size(engine.db()).await? > 0 {
        return Ok(Vec::new());
    }
    println!("empty person register: loading {persons} demo persons");
    super::register::populate(engine, persons, 1).await?;
    if config.demo_moves > 0 {
        println!(
            "sending {} demo moves through the processes",
            config.demo_moves
        );
        send_moves(config, persons, config.demo_moves).await?;
    }
    seed_jobs(engine, persons).await?;
    if !store::users(engine.db()).await?.is_empty() {
        return Ok(Vec::new());
    }
    let busiest = busiest_municipality(engine).await?;
    let mut logins = Vec::new();
    for (username, role, municipality, name) in [
        (
            "sagsbehandler",
            "caseworker",
            Some(busiest.clone()),
            "Demo Sagsbehandler",
        ),
        ("admin", "admin", None, "Demo Admin"),
        ("designer", "designer", None, "Demo Designer"),
    ] {
        let password = forlob_web::auth::new_secret()[..12].to_owned();
        let spec = UserSpec {
            username: username.into(),
            display_name: Some(name.into()),
            role: role.into(),
            municipality: municipality.clone(),
            password: Some(password.clone()),
        };
        users::add(engine, spec, &admin_actor())
            .await
            .map_err(|e| anyhow::anyhow!("adding demo user {username}: {}", e.message))?;
        logins.push(DemoLogin {
            username: username.into(),
            password,
            what: match municipality {
                Some(m) => format!("{role} in municipality {m}"),
                None => role.into(),
            },
        });
    }
    Ok(logins)
}

/// A Swedish person register beside the Danish one, the shipped jobs on schedules as a
/// municipality would have them, and one run of the out-of-municipality update, so the jobs
/// page and the logbook show real work at once.
async fn seed_jobs(engine: &Engine, persons: usize) -> anyhow::Result<()> {
    use forlob_engine::runtime::RunRequest;
    use forlob_engine::schedule::ScheduleRequest;
    use forlob_processes::folkbokforing::{DEFAULT_KOMMUN, simulate as se};

    let now = engine.clock().now();
    let swedes = se::population(DEFAULT_KOMMUN, persons, 1, now.date_naive());
    se::store(engine.db(), &swedes, now - chrono::Duration::days(30)).await?;
    println!("loaded {persons} demo persons into the Swedish person register ({DEFAULT_KOMMUN})");
    let admin = admin_actor();
    let every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .map(str::to_owned)
        .to_vec();
    let weekly = |process: &str, time: &str, weekdays: Vec<String>| ScheduleRequest {
        process: process.into(),
        start_time: Some(time.into()),
        weekdays,
        ..ScheduleRequest::default()
    };
    for request in [
        weekly("avisering", "01:30", every_day.clone()),
        weekly(
            "uppdatering-utomkommunala-personer",
            "02:30",
            vec!["tue".into(), "thu".into()],
        ),
        weekly("soka-personbearbetning", "23:00", every_day),
        ScheduleRequest {
            process: "maanedskoersel".into(),
            cron: Some("0 5 * * 5#1".into()),
            ..ScheduleRequest::default()
        },
    ] {
        engine.jobs().create_schedule(&request, &admin).await?;
    }
    let run = engine
        .jobs()
        .run_job_now(
            &RunRequest {
                process: Some("uppdatering-utomkommunala-personer".into()),
                ..RunRequest::default()
            },
            &admin,
        )
        .await?;
    engine.jobs().run_due().await?;
    println!(
        "scheduled the background jobs; ran {} once (logbook run {})",
        run.process, run.id
    );
    Ok(())
}

/// Two days of moves, played on a manual clock from the day before yesterday up to now: the
/// 04:00 runs on the way carry the moves out and leave real follow-up tasks. The serving
/// engine then goes on from the same database on the real clock.
async fn send_moves(config: &Config, persons: usize, moves: usize) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let start = now
        .date_naive()
        .checked_sub_days(chrono::Days::new(2))
        .unwrap_or_default();
    let at = start.and_hms_opt(0, 30, 0).unwrap_or_default().and_utc();
    let engine = super::register::engine(&config.db, config, at).await?;
    let mut stream = simulate::MoveStream::new(persons, 7);
    simulate::simulate_days(&engine, &mut stream, start, 2, moves.div_ceil(2), |_| {}).await?;
    // Today's run carries out yesterday's moves, as the scheduler would have at 04:00.
    let today = now.with_timezone(&config.timezone());
    if chrono::Timelike::hour(&today) >= 4 {
        simulate::run_daily(&engine, today.date_naive()).await?;
    }
    engine.jobs().advance_to(now).await?;
    Ok(())
}

/// The municipality with the most open tasks, so the demo inbox is full; 101 if none.
async fn busiest_municipality(engine: &Engine) -> anyhow::Result<String> {
    let stats = store::engine_stats(engine.db(), engine.clock().now()).await?;
    Ok(stats
        .open_tasks
        .into_iter()
        .filter(|(m, _)| !m.is_empty())
        .max_by_key(|(_, n)| *n)
        .map_or_else(|| "101".into(), |(m, _)| m))
}

/// Who the demo set-up acts as in the audit log and the histories.
fn admin_actor() -> forlob_engine::Actor {
    forlob_engine::Actor {
        id: "demo".into(),
        role: forlob_engine::Role::Admin.into(),
        municipality: None,
        via: forlob_engine::Via::Cli,
    }
}
