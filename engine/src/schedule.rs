//! When a background job runs: a schedule as an admin gives it, its checks, and its firings.
//! Pure; the runtime stores schedules and fires them (`runtime::scheduler`).
//!
//! A schedule is either weekly (a start time and a set of weekdays, as the admin's "Start
//! job" form has it) or a cron expression; the weekly form is compiled to cron, so there is
//! one way of finding firings. croner computes them in the schedule's time zone; on the
//! autumn change day a wall-clock time that happens twice fires only the first time (as
//! Vixie cron does), and on the spring day a time that does not exist fires at the first
//! valid time after it.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::form::FieldErrors;
use crate::message::{Code, Message};

/// How far ahead a schedule must fire at least once to be accepted.
const HORIZON_YEARS: i32 = 5;

/// What to do with firings missed while no node was running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Misfire {
    /// Run the most recent missed firing once; log the others as missed.
    #[default]
    Latest,
    /// Run none of them; log them as missed.
    Skip,
    /// Run each of them (up to 100), oldest first.
    All,
}

/// What to do with a firing while the schedule's previous run is still going.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Overlap {
    /// Log the firing as skipped.
    #[default]
    Skip,
    /// Start it once the running one has ended.
    Queue,
}

impl Misfire {
    pub const ALL: [Self; 3] = [Self::Latest, Self::Skip, Self::All];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Latest => "latest",
            Self::Skip => "skip",
            Self::All => "all",
        }
    }

    /// As a form sends it: empty is the default, anything else must be one of them.
    pub fn from_form(text: &str) -> Result<Self, Message> {
        crate::message::choice_from_form(text, &Self::ALL, Self::as_str)
    }
}

impl Overlap {
    pub const ALL: [Self; 2] = [Self::Skip, Self::Queue];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skip => "skip",
            Self::Queue => "queue",
        }
    }

    /// As a form sends it: empty is the default, anything else must be one of them.
    pub fn from_form(text: &str) -> Result<Self, Message> {
        crate::message::choice_from_form(text, &Self::ALL, Self::as_str)
    }
}

/// A schedule as an admin asks for it (API, CLI, UI), before any check.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// The job's process id.
    pub process: String,
    /// A name for the row; default the process title.
    #[serde(default)]
    pub label: Option<String>,
    /// First day the schedule may fire, `YYYY-MM-DD` in its zone; default today.
    #[serde(default)]
    pub start_date: Option<String>,
    /// `HH:MM`, with `weekdays`; or give `cron` instead.
    #[serde(default)]
    pub start_time: Option<String>,
    /// `mon` … `sun`.
    #[serde(default)]
    pub weekdays: Vec<String>,
    /// A cron expression (5 fields, or 6 with seconds first) instead of time and weekdays.
    #[serde(default)]
    pub cron: Option<String>,
    /// IANA zone; default the process's.
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub parameters: Map<String, Value>,
    #[serde(default)]
    pub misfire: Misfire,
    #[serde(default)]
    pub overlap: Overlap,
    /// The admin confirmed the job's `confirm` text (needed only for jobs that have one).
    #[serde(default)]
    pub confirmed: bool,
}

/// An exceptional job (one with a `confirm` text) runs only when its text was confirmed.
pub fn check_confirmed(job: &JobStart, confirmed: bool, errors: &mut FieldErrors) {
    if let Some(text) = &job.confirm
        && !confirmed
    {
        errors.insert("confirmed".into(), Message::written(text));
    }
}

/// When a schedule fires: checked, ready to compute firings.
#[derive(Debug, Clone)]
pub struct Recurrence {
    /// The canonical cron expression (the weekly form compiled).
    pub cron: String,
    pub zone: Tz,
    pub start_date: NaiveDate,
    parsed: croner::Cron,
}

impl Recurrence {
    /// Parses a stored recurrence; fails only when the stored text was not written by us.
    pub fn new(cron: &str, zone: Tz, start_date: NaiveDate) -> Result<Self, String> {
        let parsed = croner::Cron::from_str(cron).map_err(|e| format!("{e}"))?;
        Ok(Self {
            cron: cron.to_owned(),
            zone,
            start_date,
            parsed,
        })
    }

    /// The first firing strictly after `after`, never before the start date.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let first_instant = self
            .zone
            .from_local_datetime(&self.start_date.and_time(NaiveTime::MIN))
            .earliest()?
            .with_timezone(&Utc);
        let (mut from, mut inclusive) = if after < first_instant {
            (first_instant, true)
        } else {
            (after, false)
        };
        // croner searches wall-clock time and answers a repeated (autumn) time with its first
        // occurrence. Inside the repeated hour that lies before `from`: those firings happened
        // in the first pass, and Vixie cron does not repeat them, so step on until the
        // search is past the repeated hour. Bounded: a change repeats at most a few hours.
        for _ in 0..(4 * 60) {
            let candidate = self
                .parsed
                .find_next_occurrence(&from.with_timezone(&self.zone), inclusive)
                .ok()?
                .with_timezone(&Utc);
            let local = candidate.with_timezone(&self.zone).naive_local();
            let first_of_local = self.zone.from_local_datetime(&local).earliest();
            let repeated = first_of_local.is_some_and(|first| first != candidate);
            if candidate <= after || (candidate < from && !inclusive) || repeated {
                from = from.max(candidate) + chrono::Duration::minutes(1);
                inclusive = true;
                continue;
            }
            return Some(candidate);
        }
        None
    }

    /// Firings in `(after, until]`, oldest first, at most `limit`.
    pub fn firings_between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut at = after;
        while out.len() < limit {
            match self.next_after(at) {
                Some(next) if next <= until => {
                    out.push(next);
                    at = next;
                }
                _ => break,
            }
        }
        out
    }
}

/// A request that passed every check: what the store keeps.
#[derive(Debug, Clone)]
pub struct CheckedSchedule {
    pub process: String,
    pub label: String,
    pub recurrence: Recurrence,
    pub start_time: Option<String>,
    pub weekdays: Vec<String>,
    pub parameters: Map<String, Value>,
    pub misfire: Misfire,
    pub overlap: Overlap,
    pub first_firing: DateTime<Utc>,
}

/// Everything the checks need besides the request: the job's definition, the clock, and
/// how often a schedule may fire at most.
pub struct ScheduleContext<'a> {
    pub job: Option<&'a JobStart>,
    pub title: &'a str,
    pub process_zone: Tz,
    pub now: DateTime<Utc>,
    /// Two firings of a schedule must be at least this far apart (the setting
    /// `schedule_min_interval_seconds`; zero allows any).
    pub min_interval: std::time::Duration,
}

/// The default of [`ScheduleContext::min_interval`]: once a minute, as cron without seconds.
pub const DEFAULT_MIN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Firings looked at for the shortest gap. Cron repeats its pattern at least every year, and
/// its shortest gap shows within the first firings of a matching day, so this many (and at
/// most a year of them) find it for any expression that matters.
const GAP_SAMPLE: usize = 1_000;

/// The shortest time between two firings from `first` on, if shorter than `min`.
fn gap_below(
    recurrence: &Recurrence,
    first: DateTime<Utc>,
    min: std::time::Duration,
) -> Option<chrono::Duration> {
    let min = chrono::Duration::from_std(min).ok()?;
    if min <= chrono::Duration::zero() {
        return None;
    }
    let until = first + chrono::Duration::days(366);
    let mut previous = first;
    for _ in 0..GAP_SAMPLE {
        let next = recurrence.next_after(previous)?;
        if next > until {
            return None;
        }
        if next - previous < min {
            return Some(next - previous);
        }
        previous = next;
    }
    None
}

/// Checks a request; every problem is reported against its field.
pub fn check(
    request: &ScheduleRequest,
    context: &ScheduleContext<'_>,
) -> Result<CheckedSchedule, FieldErrors> {
    let mut errors = FieldErrors::new();
    let Some(job) = context.job else {
        errors.insert(
            "process".into(),
            Message::new(Code::NOT_A_JOB).with("process", &request.process),
        );
        return Err(errors);
    };
    let zone = match &request.time_zone {
        None => Some(context.process_zone),
        Some(name) => name.parse::<Tz>().ok().or_else(|| {
            errors.insert(
                "time_zone".into(),
                Message::new(Code::NOT_TIME_ZONE).with("value", name),
            );
            None
        }),
    };
    let today = zone.map(|z| context.now.with_timezone(&z).date_naive());
    let start_date = match (&request.start_date, today) {
        (None, today) => today,
        (Some(text), today) => match text.parse::<NaiveDate>() {
            Err(_) => {
                errors.insert(
                    "start_date".into(),
                    Message::new(Code::NOT_DATE).with("value", text),
                );
                None
            }
            Ok(date) if today.is_some_and(|t| date < t) => {
                errors.insert(
                    "start_date".into(),
                    Message::new(Code::DATE_IN_PAST)
                        .with("date", date)
                        .with("today", today.unwrap_or(date)),
                );
                None
            }
            Ok(date) => Some(date),
        },
    };
    check_confirmed(job, request.confirmed, &mut errors);
    let cron = weekly_or_cron(request, &mut errors);
    let parameters = check_parameters(job, &request.parameters, &mut errors);
    let (Some(zone), Some(start_date), Some(cron), Some(parameters)) =
        (zone, start_date, cron, parameters)
    else {
        return Err(errors);
    };
    let field = if request.cron.is_some() {
        "cron"
    } else {
        "weekdays"
    };
    let recurrence = match Recurrence::new(&cron, zone, start_date) {
        Ok(r) => r,
        Err(problem) => {
            errors.insert(
                field.into(),
                Message::new(Code::NOT_CRON).with("problem", problem),
            );
            return Err(errors);
        }
    };
    let horizon = context.now + chrono::Duration::days(365 * i64::from(HORIZON_YEARS));
    let first_firing = match recurrence.next_after(context.now) {
        Some(first) if first <= horizon => first,
        _ => {
            errors.insert(
                field.into(),
                Message::new(Code::NEVER_FIRES).with("years", HORIZON_YEARS),
            );
            return Err(errors);
        }
    };
    if let Some(gap) = gap_below(&recurrence, first_firing, context.min_interval) {
        errors.insert(
            field.into(),
            Message::new(Code::FIRES_TOO_OFTEN)
                .with("gap", gap.num_seconds())
                .with("min", context.min_interval.as_secs()),
        );
        return Err(errors);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(CheckedSchedule {
        process: request.process.clone(),
        label: request
            .label
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .unwrap_or(context.title)
            .to_owned(),
        recurrence,
        start_time: request
            .start_time
            .clone()
            .filter(|_| request.cron.is_none()),
        weekdays: if request.cron.is_none() {
            weekday_names(request).unwrap_or_default()
        } else {
            Vec::new()
        },
        parameters,
        misfire: request.misfire,
        overlap: request.overlap,
        first_firing,
    })
}

/// The short names the schedule table shows, in week order.
const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A request's weekdays as short names (`Monday` and `mon` alike), in week order; `None`
/// when one is not a weekday.
fn weekday_names(request: &ScheduleRequest) -> Option<Vec<String>> {
    let mut days = Vec::new();
    for name in &request.weekdays {
        days.push(name.trim().parse::<Weekday>().ok()?.num_days_from_monday());
    }
    days.sort_unstable();
    days.dedup();
    Some(
        days.iter()
            .map(|d| DAY_NAMES[*d as usize].to_owned())
            .collect(),
    )
}

/// The cron expression of a request: its own, or the one its time and weekdays make.
fn weekly_or_cron(request: &ScheduleRequest, errors: &mut FieldErrors) -> Option<String> {
    if let Some(cron) = &request.cron {
        if request.start_time.is_some() || !request.weekdays.is_empty() {
            errors.insert("cron".into(), Message::new(Code::CRON_OR_WEEKLY));
            return None;
        }
        return Some(cron.trim().to_owned());
    }
    let time = match request.start_time.as_deref() {
        None => {
            errors.insert("start_time".into(), Message::new(Code::START_TIME_NEEDED));
            None
        }
        Some(text) => NaiveTime::parse_from_str(text, "%H:%M").ok().or_else(|| {
            errors.insert(
                "start_time".into(),
                Message::new(Code::NOT_TIME).with("value", text),
            );
            None
        }),
    };
    let mut days = Vec::new();
    for name in &request.weekdays {
        match name.parse::<Weekday>() {
            Ok(day) => days.push(day.num_days_from_sunday()),
            Err(_) => {
                errors.insert(
                    "weekdays".into(),
                    Message::new(Code::NOT_WEEKDAY).with("value", name),
                );
                return None;
            }
        }
    }
    if days.is_empty() {
        errors.insert("weekdays".into(), Message::new(Code::NO_WEEKDAY));
        return None;
    }
    days.sort_unstable();
    days.dedup();
    let days: Vec<String> = days.iter().map(u32::to_string).collect();
    let time = time?;
    Some(format!(
        "{} {} * * {}",
        time.minute(),
        time.hour(),
        days.join(",")
    ))
}

/// The parameters a run gets: the schedule's, checked against the job's declaration, with
/// the declared defaults filled in.
pub fn check_parameters(
    job: &JobStart,
    given: &Map<String, Value>,
    errors: &mut FieldErrors,
) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    let before = errors.len();
    for name in given.keys() {
        if !job.parameters.contains_key(name) {
            let known: Vec<&str> = job.parameters.keys().map(String::as_str).collect();
            let message = if RUN_VARS.contains(&name.as_str()) {
                Message::new(Code::SET_BY_RUN)
            } else if known.is_empty() {
                Message::new(Code::NO_PARAMETERS)
            } else {
                Message::new(Code::NOT_PARAMETER).with("known", known.join(", "))
            };
            errors.insert(format!("parameters.{name}"), message.with("name", name));
        }
    }
    for (name, declared) in &job.parameters {
        match given.get(name).or(declared.default.as_ref()) {
            None | Some(Value::Null) => {
                errors.insert(
                    format!("parameters.{name}"),
                    Message::new(Code::PARAMETER_NEEDED),
                );
            }
            Some(value) => match declared.kind.check(value) {
                Ok(value) => {
                    out.insert(name.clone(), value);
                }
                Err(problem) => {
                    errors.insert(format!("parameters.{name}"), problem);
                }
            },
        }
    }
    (errors.len() == before).then_some(out)
}

/// A run's variables: its parameters plus what every run gets from its start.
pub fn run_vars(
    parameters: &Map<String, Value>,
    fired_at: DateTime<Utc>,
    zone: Tz,
) -> Map<String, Value> {
    let mut vars = parameters.clone();
    vars.insert(
        "run_date".into(),
        Value::String(fired_at.with_timezone(&zone).date_naive().to_string()),
    );
    vars.insert("fired_at".into(), Value::String(fired_at.to_rfc3339()));
    vars
}

/// Variables every job run gets from its start (`run_date` is the firing's date in the
/// schedule's zone); no parameter may take these names.
pub const RUN_VARS: &[&str] = &["run_date", "fired_at"];

/// How a background job is started: its typed parameters and its ordering with other jobs.
#[derive(Debug)]
pub struct JobStart {
    pub parameters: IndexMap<String, JobParameter>,
    pub finish_before: Vec<String>,
    pub confirm: Option<String>,
    /// Installed when the job's first version is deployed; checked with the definition.
    pub default_schedule: Option<ScheduleRequest>,
}

impl JobStart {
    /// Parameters as typed at a command line or in a web form, each read by its declared
    /// kind; empty ones are left out (the defaults apply) and undeclared ones stay text, for
    /// the schedule's check to name.
    pub fn read_parameters<'t>(
        &self,
        pairs: impl IntoIterator<Item = (&'t str, &'t str)>,
    ) -> serde_json::Map<String, Value> {
        pairs
            .into_iter()
            .filter(|(_, text)| !text.trim().is_empty())
            .map(|(name, text)| {
                let value = self.parameters.get(name).map_or_else(
                    || Value::String(text.to_owned()),
                    |p| p.kind.from_text(text),
                );
                (name.to_owned(), value)
            })
            .collect()
    }
}

#[derive(Debug)]
pub struct JobParameter {
    pub kind: ParameterKind,
    pub label: Option<String>,
    pub default: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParameterKind {
    String,
    Integer,
    Boolean,
    /// `YYYY-MM-DD`.
    Date,
    /// One of these (a list in the definition, or a package's reference data: `ref.NAME`).
    Choice(Vec<crate::form::Choice>),
}

impl ParameterKind {
    /// A value typed at a command line or in a web form, as this kind reads it; text that
    /// does not fit stays text, for [`ParameterKind::check`] to name what is wrong.
    pub fn from_text(&self, text: &str) -> Value {
        let text = text.trim();
        match self {
            Self::Integer => text
                .parse::<i64>()
                .map_or_else(|_| text.into(), Value::from),
            Self::Boolean => match text {
                "true" | "on" | "yes" => Value::Bool(true),
                "false" | "off" | "no" => Value::Bool(false),
                _ => text.into(),
            },
            _ => text.into(),
        }
    }

    /// The value as a run gets it, or what is wrong with it.
    pub fn check(&self, value: &Value) -> Result<Value, crate::message::Message> {
        use crate::message::{Code, Message};
        let fits = match (self, value) {
            (Self::String, Value::String(_)) | (Self::Boolean, Value::Bool(_)) => true,
            (Self::Integer, Value::Number(n)) => n.is_i64(),
            (Self::Date, Value::String(s)) => s.parse::<chrono::NaiveDate>().is_ok(),
            (Self::Choice(options), Value::String(s)) => options.iter().any(|o| &o.value == s),
            _ => false,
        };
        if fits {
            Ok(value.clone())
        } else {
            Err(match self {
                Self::String => Message::new(Code::NOT_TEXT),
                Self::Integer => Message::new(Code::NOT_WHOLE_NUMBER),
                Self::Boolean => Message::new(Code::NOT_BOOLEAN),
                Self::Date => Message::new(Code::NOT_DATE).with("value", shown(value)),
                Self::Choice(options) => {
                    let labels: Vec<&str> = options.iter().map(|o| o.label.as_str()).collect();
                    Message::new(Code::NOT_CHOICE)
                        .with("value", shown(value))
                        .with("allowed", crate::message::listing(&labels))
                }
            })
        }
    }
}

/// A submitted value as a message quotes it: text without its JSON quotes.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Stockholm;

    fn weekly(time: &str, days: &[&str], start: &str) -> Recurrence {
        let request = ScheduleRequest {
            process: "job".into(),
            start_time: Some(time.into()),
            weekdays: days.iter().map(|d| (*d).to_owned()).collect(),
            ..ScheduleRequest::default()
        };
        let cron = weekly_or_cron(&request, &mut FieldErrors::new()).expect("valid");
        Recurrence::new(&cron, Stockholm, start.parse().expect("date")).expect("parses")
    }

    fn local(at: DateTime<Utc>) -> String {
        at.with_timezone(&Stockholm)
            .format("%Y-%m-%d %a %H:%M %Z")
            .to_string()
    }

    fn cron_request(cron: &str) -> ScheduleRequest {
        ScheduleRequest {
            process: "job".into(),
            cron: Some(cron.into()),
            ..ScheduleRequest::default()
        }
    }

    #[test]
    fn a_schedule_firing_more_often_than_the_setting_allows_is_refused_at_its_field() {
        let job = JobStart {
            parameters: indexmap::IndexMap::new(),
            finish_before: Vec::new(),
            confirm: None,
            default_schedule: None,
        };
        let context = |min_interval| ScheduleContext {
            job: Some(&job),
            title: "job",
            process_zone: Stockholm,
            now: "2026-11-30T12:00:00Z".parse().expect("instant"),
            min_interval,
        };
        let refused = |cron: &str| {
            check(&cron_request(cron), &context(DEFAULT_MIN_INTERVAL))
                .err()
                .and_then(|e| e.get("cron").map(ToString::to_string))
        };
        // Every second, and twice a minute once a day: both too often.
        for cron in ["* * * * * *", "0,30 0 4 * * *"] {
            let message = refused(cron).unwrap_or_else(|| panic!("{cron} was accepted"));
            assert!(
                message.contains("schedule_min_interval_seconds"),
                "{message}"
            );
        }
        // Once a minute, and a seconds field with one value, are fine.
        for cron in ["* * * * *", "15 * * * * *", "0 5 * * 5#1"] {
            assert_eq!(refused(cron), None, "{cron}");
        }
        // Allowed by the setting, every second is accepted; a stricter one refuses more.
        assert!(
            check(
                &cron_request("* * * * * *"),
                &context(std::time::Duration::ZERO)
            )
            .is_ok()
        );
        let hourly = std::time::Duration::from_secs(3600);
        assert!(check(&cron_request("*/30 * * * *"), &context(hourly)).is_err());
        assert!(check(&cron_request("0 * * * *"), &context(hourly)).is_ok());
    }

    #[test]
    fn weekly_fires_on_the_marked_weekdays_from_the_start_date() {
        // Q13: the first run is on the first marked weekday on or after the start date.
        let r = weekly("04:00", &["mon", "fri"], "2026-12-02");
        let now = "2026-11-30T12:00:00Z".parse().expect("instant");
        let firings: Vec<String> = r
            .firings_between(now, now + chrono::Duration::days(12), 10)
            .into_iter()
            .map(local)
            .collect();
        assert_eq!(
            firings,
            [
                "2026-12-04 Fri 04:00 CET",
                "2026-12-07 Mon 04:00 CET",
                "2026-12-11 Fri 04:00 CET"
            ]
        );
    }

    #[test]
    fn a_0230_stockholm_job_fires_once_on_both_dst_change_days() {
        let r = weekly(
            "02:30",
            &["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "2026-03-27",
        );
        // Spring: 2026-03-29 02:00 → 03:00; 02:30 does not exist that day.
        let spring: Vec<String> = r
            .firings_between(
                "2026-03-27T12:00:00Z".parse().expect("instant"),
                "2026-03-31T12:00:00Z".parse().expect("instant"),
                10,
            )
            .into_iter()
            .map(local)
            .collect();
        assert_eq!(spring.len(), 4, "{spring:?}");
        assert_eq!(spring[0], "2026-03-28 Sat 02:30 CET");
        assert_eq!(
            spring[1], "2026-03-29 Sun 03:00 CEST",
            "the first valid time after 02:30"
        );
        assert_eq!(spring[2], "2026-03-30 Mon 02:30 CEST");
        // Autumn: 2026-10-25 03:00 → 02:00; 02:30 happens twice, the job runs once.
        let autumn: Vec<String> = r
            .firings_between(
                "2026-10-23T12:00:00Z".parse().expect("instant"),
                "2026-10-27T12:00:00Z".parse().expect("instant"),
                10,
            )
            .into_iter()
            .map(local)
            .collect();
        assert_eq!(
            autumn,
            [
                "2026-10-24 Sat 02:30 CEST",
                "2026-10-25 Sun 02:30 CEST",
                "2026-10-26 Mon 02:30 CET",
                "2026-10-27 Tue 02:30 CET"
            ]
        );
    }

    #[test]
    fn a_search_from_inside_the_repeated_autumn_hour_goes_forward() {
        // A node down from 02:40 CEST until 02:10 CET (the second pass) on the change day.
        let r = Recurrence::new(
            "*/15 * * * *",
            Stockholm,
            "2026-10-25".parse().expect("date"),
        )
        .expect("parses");
        let after: DateTime<Utc> = "2026-10-25T01:10:00Z".parse().expect("instant");
        let next = r.next_after(after).expect("fires again");
        assert!(next > after);
        assert_eq!(local(next), "2026-10-25 Sun 03:00 CET");
        // A daily 02:30 made at 02:10 CET that day first fires the next day.
        let daily = weekly(
            "02:30",
            &["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "2026-10-25",
        );
        assert_eq!(
            daily.next_after(after).map(local).as_deref(),
            Some("2026-10-26 Mon 02:30 CET")
        );
    }

    #[test]
    fn weekdays_are_kept_as_short_names_whatever_was_written() {
        let request = ScheduleRequest {
            weekdays: vec!["Monday".into(), "fri".into(), "mon".into()],
            ..ScheduleRequest::default()
        };
        assert_eq!(
            weekday_names(&request),
            Some(vec!["mon".to_owned(), "fri".to_owned()])
        );
    }

    #[test]
    fn a_cron_every_15_minutes_does_not_repeat_the_autumn_hour() {
        let r = Recurrence::new(
            "*/15 * * * *",
            Stockholm,
            "2026-10-25".parse().expect("date"),
        )
        .expect("parses");
        let firings = r.firings_between(
            "2026-10-24T23:50:00Z".parse().expect("instant"), // 01:50 CEST
            "2026-10-25T02:10:00Z".parse().expect("instant"), // 03:10 CET
            20,
        );
        let locals: Vec<String> = firings.into_iter().map(local).collect();
        assert_eq!(
            locals,
            [
                "2026-10-25 Sun 02:00 CEST",
                "2026-10-25 Sun 02:15 CEST",
                "2026-10-25 Sun 02:30 CEST",
                "2026-10-25 Sun 02:45 CEST",
                "2026-10-25 Sun 03:00 CET"
            ]
        );
    }
}
