//! The package's business calendar and the transfer of acting responsibility (R2, R4–R6),
//! shared by moves, manual registrations and their expiry.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use forlob_engine::ActionError;
use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde_json::{Value, json};

use super::store::{self, Person};

/// Danish rules run on Copenhagen time.
pub(crate) const TZ: Tz = chrono_tz::Europe::Copenhagen;

/// The daily effectuation run starts at 04:00 (R1).
pub(crate) fn run_time() -> NaiveTime {
    NaiveTime::from_hms_opt(4, 0, 0).unwrap_or(NaiveTime::MIN)
}

/// The local date of `now`.
pub(crate) fn local_date(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&TZ).date_naive()
}

/// The run that carries out a change due on `due` and processed at `now`: the first 04:00 run
/// that starts after `now` and is on or after `due` (R1, Q2, Q4: processed before the run
/// started means that run; back-dated changes take the next run).
pub(crate) fn run_date(now: DateTime<Utc>, due: NaiveDate) -> NaiveDate {
    let local = now.with_timezone(&TZ);
    let first = if local.time() < run_time() {
        local.date_naive()
    } else {
        local
            .date_naive()
            .checked_add_days(Days::new(1))
            .unwrap_or(local.date_naive())
    };
    first.max(due)
}

/// The order of work within one 04:00 run: manual registrations come into force and end
/// first, then moves are carried out, so a move sees the registrations of that day whatever
/// order their messages and forms arrived in.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Phase {
    Registrations,
    Moves,
}

impl Phase {
    fn offset(self) -> chrono::Duration {
        match self {
            Phase::Registrations => chrono::Duration::zero(),
            Phase::Moves => chrono::Duration::seconds(1),
        }
    }
}

/// When `phase` of the run of `date` happens, as an RFC 3339 instant. What waits for a run
/// now waits for the daily job's signal; instances of the versions before it wait for this.
pub(crate) fn run_at(date: NaiveDate, phase: Phase) -> String {
    (forlob_engine::timer::resolve_local(TZ, date, run_time()) + phase.offset()).to_rfc3339()
}

/// The daily run wakes what is due on it with these signals (keys: registration or move id),
/// in this order: registrations that end, those that come into force, then moves.
pub(crate) const SIGNAL_EXPIRE: &str = "flytning.udloeb";
pub(crate) const SIGNAL_ACTIVATE: &str = "flytning.aktiver";
pub(crate) const SIGNAL_MOVE: &str = "flytning.effektuer";

/// When what waits for the run of `date` goes on by itself if no run came (a schedule removed,
/// no node running): noon the day after, late enough for a late run to come first (R1: never
/// held back for long), with the run's order (registrations a second before moves).
pub(crate) fn safety_net(date: NaiveDate, phase: Phase) -> String {
    let next = date.checked_add_days(Days::new(1)).unwrap_or(date);
    let noon = NaiveTime::from_hms_opt(12, 0, 0).unwrap_or(NaiveTime::MIN);
    (forlob_engine::timer::resolve_local(TZ, next, noon) + phase.offset()).to_rfc3339()
}

/// The date of the latest daily run that has started by `now`: a run started by hand before
/// 04:00 is still the previous day's run.
pub(crate) fn current_run_date(now: DateTime<Utc>) -> NaiveDate {
    let local = now.with_timezone(&TZ);
    if local.time() < run_time() {
        local
            .date_naive()
            .checked_sub_days(Days::new(1))
            .unwrap_or(local.date_naive())
    } else {
        local.date_naive()
    }
}

/// A registration undone before it came into force: what waits for it to do so ends now.
pub(crate) async fn undone(
    ctx: &forlob_engine::ActionContext<'_>,
    registration: i64,
) -> Result<(), ActionError> {
    ctx.signal(SIGNAL_ACTIVATE, &registration.to_string(), Value::Null)
        .await?;
    Ok(())
}

pub(crate) fn parse_date(text: &str) -> Result<NaiveDate, ActionError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| ActionError::permanent(format!("`{text}` is not a date")))
}

/// What a change of acting municipality did.
#[derive(Debug, Default)]
pub(crate) struct Transfer {
    pub changed: bool,
    pub losing: Option<String>,
    pub gaining: Option<String>,
    pub stopped_benefits: usize,
    pub stopped_deductions: usize,
    pub outstanding_ore: i64,
    pub administration: bool,
    pub institution: bool,
}

/// The flags the YAML's guards read of a [`Transfer`]; every action that may transfer
/// handleansvar returns them, flattened into its own output, also when nothing moved.
#[derive(Debug, Serialize)]
pub(crate) struct TransferOutput {
    pub transferred: bool,
    /// Null when nobody held handleansvar.
    pub losing: Option<String>,
    /// Null after a move abroad or when nothing moved.
    pub gaining: Option<String>,
    pub stopped_benefits: usize,
    pub stopped_deductions: usize,
    pub stopped_count: usize,
    /// Kroner with two decimals, as text.
    pub outstanding: String,
    pub administration: bool,
    pub institution: bool,
}

/// The JSON of an action's output that holds the transfer flags: those of nothing moved,
/// with `changes` (the action's own keys, and the flags a path sets) over them. The actions'
/// tests pin their outputs with it, so the flags' shape is written once.
#[cfg(test)]
pub(crate) fn transfer_output_json(changes: Value) -> Value {
    let mut all = json!({
        "transferred": false,
        "losing": null,
        "gaining": null,
        "stopped_benefits": 0,
        "stopped_deductions": 0,
        "stopped_count": 0,
        "outstanding": "0.00",
        "administration": false,
        "institution": false,
    });
    if let (Value::Object(all), Value::Object(changes)) = (&mut all, changes) {
        all.extend(changes);
    }
    all
}

/// Nothing moved.
impl Default for TransferOutput {
    fn default() -> Self {
        Transfer::default().output()
    }
}

impl Transfer {
    /// The flags the YAML's guards read.
    pub(crate) fn output(&self) -> TransferOutput {
        let told = self.changed && self.losing.is_some();
        TransferOutput {
            transferred: self.changed,
            losing: self.losing.clone(),
            gaining: self.gaining.clone(),
            stopped_benefits: self.stopped_benefits,
            stopped_deductions: self.stopped_deductions,
            stopped_count: self.stopped_benefits + self.stopped_deductions,
            outstanding: format!("{:.2}", self.outstanding_ore as f64 / 100.0),
            administration: told && self.administration,
            institution: told && self.institution,
        }
    }
}

/// Gives handleansvar to `to` (none: nobody, after a move abroad) from `on`. The losing
/// municipality's planned benefits and deductions due from `on` are stopped (R4), the
/// outstanding amounts recorded on each affected case (R5), and whether it must be told about
/// administration or an institution stay is reported (R6). Nothing happens when `to` already
/// holds it.
pub(crate) async fn transfer<C: ConnectionTrait>(
    conn: &C,
    person: &Person,
    to: Option<&str>,
    on: NaiveDate,
    cause: &str,
    now: DateTime<Utc>,
) -> Result<Transfer, ActionError> {
    let current = store::handlekommune(conn, &person.cpr).await?;
    let losing = current.map(|c| c.municipality);
    if losing.as_deref() == to {
        return Ok(Transfer::default());
    }
    store::set_handlekommune(conn, &person.cpr, to, on, cause).await?;
    let mut transfer = Transfer {
        changed: true,
        losing: losing.clone(),
        gaining: to.map(str::to_owned),
        ..Transfer::default()
    };
    if let Some(losing) = &losing {
        let stopped = store::stop_items(conn, &person.cpr, losing, on).await?;
        let mut by_case: std::collections::BTreeMap<i64, (i64, usize)> = Default::default();
        for item in &stopped {
            if item.kind == "ydelse" {
                transfer.stopped_benefits += 1;
            } else {
                transfer.stopped_deductions += 1;
            }
            transfer.outstanding_ore += item.amount_ore;
            let entry = by_case.entry(item.case_id).or_default();
            entry.0 += item.amount_ore;
            entry.1 += 1;
        }
        for (case_id, (amount, count)) in by_case {
            let data = json!({ "municipality": losing, "stopped": count, "amount": format!("{:.2}", amount as f64 / 100.0) });
            store::insert_case_event(conn, case_id, "udestaaender-beregnet", data, now).await?;
        }
        transfer.administration = person.under_administration;
        transfer.institution = store::in_institution(conn, &person.cpr, on).await?;
    }
    Ok(transfer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("instant")
            .with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn a_change_processed_before_the_run_goes_with_that_run_and_after_it_with_the_next() {
        assert_eq!(
            run_date(at("2025-06-06T03:59:00+02:00"), date("2025-06-06")),
            date("2025-06-06")
        );
        assert_eq!(
            run_date(at("2025-06-06T04:00:00+02:00"), date("2025-06-06")),
            date("2025-06-07")
        );
        assert_eq!(
            run_date(at("2025-06-05T23:30:00+02:00"), date("2025-06-01")),
            date("2025-06-06"),
            "back-dated: next run"
        );
        assert_eq!(
            run_date(at("2025-06-02T09:00:00+02:00"), date("2025-07-01")),
            date("2025-07-01"),
            "future: its own run"
        );
    }

    #[test]
    fn the_run_starts_at_four_copenhagen_time() {
        assert_eq!(
            run_at(date("2025-06-03"), Phase::Registrations),
            "2025-06-03T02:00:00+00:00"
        );
        assert_eq!(
            run_at(date("2025-01-03"), Phase::Moves),
            "2025-01-03T03:00:01+00:00"
        );
    }
}
