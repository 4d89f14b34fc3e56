//! The person's overview in Danish: sections built as plain functions of one [`Record`]
//! read from the package's tables.

use chrono::{Days, NaiveDate};
use forlob_engine::ActionError;
use forlob_engine::registry::{Fact, OverviewSection, OverviewTable, SubjectOverview};
use sea_orm::ConnectionTrait;
use serde_json::Value;

use super::super::store::{
    self, Case, CaseEvent, Handleansvar, InstitutionStay, ManualRegistration, Move, Person,
    PlannedItem,
};
use super::super::{fields, kommuner, rules};

/// Everything the overview shows of one person, read in one go so the sections below are
/// plain functions of it (and testable without a database).
pub(super) struct Record {
    person: Person,
    stays: Vec<InstitutionStay>,
    /// Newest first; the open one (no end) is the current handlekommune.
    periods: Vec<Handleansvar>,
    /// Pending and active registrations, oldest first.
    manuals: Vec<ManualRegistration>,
    /// Moves not yet carried out, the soonest first.
    moves: Vec<Move>,
    cases: Vec<Case>,
    items: Vec<PlannedItem>,
    events: Vec<CaseEvent>,
}

impl Record {
    pub(super) async fn load<C: ConnectionTrait>(
        conn: &C,
        cpr: &str,
    ) -> Result<Option<Self>, ActionError> {
        let Some(person) = store::person(conn, cpr).await? else {
            return Ok(None);
        };
        Ok(Some(Self {
            person,
            stays: store::institution_stays(conn, cpr).await?,
            periods: store::handleansvar_periods(conn, cpr).await?,
            manuals: store::open_manuals(conn, cpr).await?,
            moves: store::planned_moves(conn, cpr).await?,
            cases: store::cases(conn, cpr).await?,
            items: store::items(conn, cpr).await?,
            events: store::person_case_events(conn, cpr).await?,
        }))
    }

    pub(super) fn overview(&self) -> SubjectOverview {
        let mut sections = vec![
            self.person_section(),
            self.handlekommune_section(),
            self.manual_section(),
            self.cases_section(),
        ];
        sections.extend(self.events_section());
        sections.extend(self.moves_section());
        SubjectOverview {
            title: format!("{} ({})", self.person.name, cpr_text(&self.person.cpr)),
            sections,
        }
    }

    fn current(&self) -> Option<&Handleansvar> {
        self.periods.iter().find(|p| p.to_date.is_none())
    }

    /// The registration the processes act on (edit, stop, undo): the newest open one, as
    /// `subject.manual` has it.
    fn manual(&self) -> Option<&ManualRegistration> {
        self.manuals.last()
    }

    fn person_section(&self) -> OverviewSection {
        let p = &self.person;
        let subscription = match (p.subscription_from, p.subscription_to) {
            (Some(from), to) => period(from, to),
            (None, _) => "Intet".to_owned(),
        };
        let stays = if self.stays.is_empty() {
            "Intet registreret".to_owned()
        } else {
            let periods: Vec<String> = self
                .stays
                .iter()
                .map(|s| period(s.from_date, s.to_date))
                .collect();
            periods.join("; ")
        };
        OverviewSection {
            heading: "Person".into(),
            facts: vec![
                fact("Navn", &p.name),
                fact("CPR-nummer", cpr_text(&p.cpr)),
                fact("Fødselsdato", p.birth_date.to_string()),
                fact("Status", cpr_status(&p.status)),
                fact("Bopælskommune", kommune_or_none(p.residence.as_deref())),
                fact("CPR-abonnement", subscription),
                fact("Helbredskort", yes_no(p.health_card)),
                fact("Under administration", yes_no(p.under_administration)),
                fact("Bopælssamlingsabonnement", yes_no(p.bopaelssamling)),
                fact("Institutionsophold", stays),
            ],
            table: None,
        }
    }

    fn handlekommune_section(&self) -> OverviewSection {
        let current = self.current().map_or_else(
            || "Ingen".to_owned(),
            |c| format!("{} fra {}", kommune(&c.municipality), c.from_date),
        );
        let next = match self.next_change() {
            Some(change) => format!(
                "{} fra {} ({})",
                kommune_or_none(change.to.as_deref()),
                change.on,
                change.why
            ),
            None => "Ingen kendt ændring".to_owned(),
        };
        let rows = self
            .periods
            .iter()
            .map(|p| {
                vec![
                    kommune(&p.municipality),
                    p.from_date.to_string(),
                    p.to_date.map(|d| d.to_string()).unwrap_or_default(),
                    cause_text(&p.cause),
                ]
            })
            .collect();
        OverviewSection {
            heading: "Handlekommune".into(),
            facts: vec![
                fact("Nuværende handlekommune", current),
                fact("Næste handlekommune", next),
            ],
            table: Some(table(&["Kommune", "Fra", "Til", "Grundlag"], rows)),
        }
    }

    /// The next change of handleansvar that what is stored already decides: a pending
    /// registration coming into force (R12), an active one expiring (R15), or a planned move
    /// (R2, R16) that no active registration keeps from moving handleansvar (R11, R13). The
    /// earliest one that changes anything wins; a change after it may depend on it.
    fn next_change(&self) -> Option<Change> {
        let current = self.current().map(|c| c.municipality.as_str());
        let active = self.manuals.iter().rev().find(|m| m.state == "active");
        let mut changes = Vec::new();
        if let Some(pending) = self.manuals.iter().rev().find(|m| m.state == "pending") {
            changes.push(Change {
                // The run that activates it, as `register_manual` schedules it.
                on: rules::run_date(pending.created_at, pending.from_date),
                phase: rules::Phase::Registrations,
                to: Some(pending.municipality.clone()),
                why: "manuel registrering",
            });
        }
        if let Some(end) = active.and_then(|a| a.to_date) {
            let on = end.checked_add_days(Days::new(1)).unwrap_or(end);
            changes.push(Change {
                on,
                phase: rules::Phase::Registrations,
                to: self.residence_on(on),
                why: "manuel registrering udløber",
            });
        }
        for m in &self.moves {
            let kept = active.is_some_and(|a| covers(a, m.effective_date));
            if m.abroad || !kept {
                changes.push(Change {
                    on: m.effective_date,
                    phase: rules::Phase::Moves,
                    to: if m.abroad {
                        None
                    } else {
                        m.to_municipality.clone()
                    },
                    why: if m.abroad { "udrejse" } else { "flytning" },
                });
            }
        }
        changes
            .into_iter()
            .filter(|c| c.to.as_deref() != current)
            // `Phase` is declared in run order, so its discriminant orders the work of a day.
            .min_by_key(|c| (c.on, c.phase as u8))
    }

    /// Where the person lives on `on`, counting the planned moves carried out by then.
    fn residence_on(&self, on: NaiveDate) -> Option<String> {
        match self.moves.iter().rev().find(|m| m.effective_date <= on) {
            Some(m) if m.abroad => None,
            Some(m) => m.to_municipality.clone(),
            None => self.person.residence.clone(),
        }
    }

    fn manual_section(&self) -> OverviewSection {
        let facts = match self.manual() {
            None => vec![fact("Manuel handlekommune", "Ingen aktiv registrering")],
            Some(m) => vec![
                fact("Kommune", kommune(&m.municipality)),
                fact("Fra", m.from_date.to_string()),
                fact(
                    "Til",
                    m.to_date
                        .map_or_else(|| "Ingen slutdato".to_owned(), |d| d.to_string()),
                ),
                fact("Årsag", reason_text(&m.reason)),
                fact(
                    "Registreret af",
                    format!("{} ({})", kommune(&m.registrant), m.registrant_user),
                ),
                fact("Status", manual_state(&m.state)),
            ],
        };
        OverviewSection {
            heading: "Manuel handlekommune".into(),
            facts,
            table: None,
        }
    }

    fn cases_section(&self) -> OverviewSection {
        let mut rows = Vec::new();
        for case in &self.cases {
            let mut items: Vec<&PlannedItem> =
                self.items.iter().filter(|i| i.case_id == case.id).collect();
            items.sort_by_key(|i| (i.due_date, i.id));
            let name = case_name(case);
            if items.is_empty() {
                rows.push(vec![
                    name.clone(),
                    kommune(&case.municipality),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
            }
            for item in items {
                rows.push(vec![
                    name.clone(),
                    kommune(&item.municipality),
                    format!("{} ({})", item_kind(&item.kind), item.item_type),
                    kroner(item.amount_ore),
                    item.due_date.to_string(),
                    item_status(&item.status),
                ]);
            }
        }
        let (facts, table) = if rows.is_empty() {
            (vec![fact("Sager", "Ingen")], None)
        } else {
            let columns = ["Sag", "Kommune", "Type", "Beløb", "Forfald", "Status"];
            (Vec::new(), Some(self::table(&columns, rows)))
        };
        OverviewSection {
            heading: "Sager med ydelser og træk".into(),
            facts,
            table,
        }
    }

    /// R5: the possible outstanding amounts computed when ydelser and træk were stopped are
    /// shown on the person overview as well as on each case.
    fn events_section(&self) -> Option<OverviewSection> {
        if self.events.is_empty() {
            return None;
        }
        let rows = self
            .events
            .iter()
            .map(|e| {
                let case = self.cases.iter().find(|c| c.id == e.case_id);
                let text = |key: &str| e.data.get(key).map(value_text).unwrap_or_default();
                let amount = e
                    .data
                    .get("amount")
                    .map(value_text)
                    .and_then(|a| a.parse::<f64>().ok())
                    .map(|a| kroner((a * 100.0).round() as i64))
                    .unwrap_or_default();
                vec![
                    case.map_or_else(|| e.case_id.to_string(), case_name),
                    event_kind(&e.kind),
                    kommune(&text("municipality")),
                    text("stopped"),
                    amount,
                    rules::local_date(e.at).to_string(),
                ]
            })
            .collect();
        let columns = [
            "Sag",
            "Hændelse",
            "Kommune",
            "Stoppede poster",
            "Beløb",
            "Dato",
        ];
        Some(OverviewSection {
            heading: "Hændelser på sager".into(),
            facts: Vec::new(),
            table: Some(table(&columns, rows)),
        })
    }

    fn moves_section(&self) -> Option<OverviewSection> {
        if self.moves.is_empty() {
            return None;
        }
        let rows = self
            .moves
            .iter()
            .map(|m| {
                let to = if m.abroad {
                    "Udlandet".to_owned()
                } else {
                    kommune_or_none(m.to_municipality.as_deref())
                };
                vec![
                    m.move_date.to_string(),
                    kommune_or_none(m.from_municipality.as_deref()),
                    to,
                    m.effective_date.to_string(),
                ]
            })
            .collect();
        let columns = ["Flyttedato", "Fra", "Til", "Gennemføres"];
        Some(OverviewSection {
            heading: "Planlagte flytninger".into(),
            facts: Vec::new(),
            table: Some(table(&columns, rows)),
        })
    }
}

/// A coming change of handleansvar: on the run of `on` it goes to `to` (none: to nobody).
struct Change {
    on: NaiveDate,
    /// Registrations come into force before moves on the same run.
    phase: rules::Phase,
    to: Option<String>,
    why: &'static str,
}

/// Whether the active registration `m` is in force on `on`.
fn covers(m: &ManualRegistration, on: NaiveDate) -> bool {
    m.from_date <= on && m.to_date.is_none_or(|end| on <= end)
}

fn fact(label: &str, value: impl Into<String>) -> Fact {
    Fact {
        label: label.to_owned(),
        value: value.into(),
    }
}

fn table(columns: &[&str], rows: Vec<Vec<String>>) -> OverviewTable {
    OverviewTable {
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        rows,
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A municipality as the `municipality` field type labels it: "147 Frederiksberg".
fn kommune(code: &str) -> String {
    kommuner::find(code).map_or_else(|| code.to_owned(), |k| format!("{} {}", k.code, k.name))
}

fn kommune_or_none(code: Option<&str>) -> String {
    code.map_or_else(|| "Ingen".to_owned(), kommune)
}

/// The way a CPR number is written: "010150-1234".
fn cpr_text(cpr: &str) -> String {
    match (cpr.get(..6), cpr.get(6..)) {
        (Some(birth), Some(serial)) if cpr.len() == 10 => format!("{birth}-{serial}"),
        _ => cpr.to_owned(),
    }
}

fn period(from: NaiveDate, to: Option<NaiveDate>) -> String {
    match to {
        Some(to) => format!("{from} – {to}"),
        None => format!("fra {from}"),
    }
}

fn yes_no(value: bool) -> String {
    if value { "Ja" } else { "Nej" }.to_owned()
}

/// The CPR status codes of `shared/domain.md`, with the code kept for those who know them.
fn cpr_status(code: &str) -> String {
    let text = match code {
        "01" | "03" => "aktiv, bopæl i Danmark",
        "05" | "07" => "aktiv, bopæl i Grønland",
        "20" => "uden bopæl i Danmark eller Grønland",
        "30" => "annulleret",
        "50" | "60" => "personnummer slettet eller ændret",
        "70" => "forsvundet",
        "80" => "udrejst",
        "90" => "død",
        _ => return code.to_owned(),
    };
    format!("{code} ({text})")
}

/// Why a handleansvar period began, as the actions record it.
fn cause_text(cause: &str) -> String {
    match cause {
        "initial" => "Startregistrering",
        "move" => "Flytning",
        "manual" => "Manuel registrering",
        "expiry" => "Manuel registrering udløbet",
        other => other,
    }
    .to_owned()
}

fn reason_text(reason: &str) -> String {
    fields::rsl9_reasons()
        .into_iter()
        .find(|c| c.value == reason)
        .map_or_else(|| reason.to_owned(), |c| c.label)
}

fn manual_state(state: &str) -> String {
    match state {
        "pending" => "Afventer overdragelse ved næste kørsel",
        "active" => "Aktiv",
        "ended" => "Udløbet",
        "replaced" => "Erstattet",
        "undone" => "Fortrudt",
        "closed" => "Lukket",
        other => other,
    }
    .to_owned()
}

fn case_name(case: &Case) -> String {
    format!("{} (sag {})", case.title, case.id)
}

fn item_kind(kind: &str) -> &str {
    match kind {
        "ydelse" => "Ydelse",
        "traek" => "Træk",
        other => other,
    }
}

fn item_status(status: &str) -> String {
    match status {
        "planned" => "Planlagt",
        "stopped" => "Stoppet",
        "executed" => "Udført",
        other => other,
    }
    .to_owned()
}

fn event_kind(kind: &str) -> String {
    match kind {
        "udestaaender-beregnet" => "Mulige udeståender beregnet",
        other => other,
    }
    .to_owned()
}

/// Danish amounts: "1.234,50 kr.".
fn kroner(ore: i64) -> String {
    let sign = if ore < 0 { "-" } else { "" };
    let ore = ore.unsigned_abs();
    let digits = (ore / 100).to_string();
    let mut whole = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            whole.push('.');
        }
        whole.push(c);
    }
    format!("{sign}{whole},{:02} kr.", ore % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    fn record() -> Record {
        Record {
            person: Person {
                cpr: "0101501234".into(),
                name: "Anna Hansen".into(),
                birth_date: date("1950-01-01"),
                status: "01".into(),
                residence: Some("101".into()),
                subscription_from: None,
                subscription_to: None,
                health_card: false,
                under_administration: false,
                bopaelssamling: false,
            },
            stays: Vec::new(),
            periods: vec![Handleansvar {
                id: 1,
                cpr: "0101501234".into(),
                municipality: "101".into(),
                from_date: date("2000-01-01"),
                to_date: None,
                cause: "initial".into(),
            }],
            manuals: Vec::new(),
            moves: Vec::new(),
            cases: Vec::new(),
            items: Vec::new(),
            events: Vec::new(),
        }
    }

    fn manual(municipality: &str, state: &str, from: &str, to: Option<&str>) -> ManualRegistration {
        ManualRegistration {
            id: 1,
            cpr: "0101501234".into(),
            municipality: municipality.into(),
            from_date: date(from),
            to_date: to.map(date),
            reason: "rsl-9-stk-3".into(),
            registrant: "101".into(),
            registrant_user: "cw".into(),
            state: state.into(),
            created_at: at("2025-06-02T09:00:00+02:00"),
        }
    }

    fn planned_move(to: Option<&str>, effective: &str) -> Move {
        Move {
            id: 1,
            cpr: "0101501234".into(),
            message_id: None,
            from_municipality: Some("101".into()),
            to_municipality: to.map(str::to_owned),
            abroad: to.is_none(),
            move_date: date(effective),
            effective_date: date(effective),
            status: "planned".into(),
            received_at: at("2025-06-02T09:00:00+02:00"),
        }
    }

    fn next(r: &Record) -> Option<(String, Option<String>, &'static str)> {
        r.next_change().map(|c| (c.on.to_string(), c.to, c.why))
    }

    #[test]
    fn without_anything_planned_handleansvar_stays_where_it_is() {
        assert!(next(&record()).is_none());
    }

    #[test]
    fn a_pending_registration_moves_handleansvar_on_the_run_after_it_was_made() {
        let mut r = record();
        r.manuals = vec![manual("147", "pending", "2025-06-02", None)];
        r.moves = vec![planned_move(Some("751"), "2025-07-01")];
        assert_eq!(
            next(&r),
            Some((
                "2025-06-03".into(),
                Some("147".into()),
                "manuel registrering"
            ))
        );
    }

    #[test]
    fn a_move_during_a_manual_period_waits_for_the_period_to_end() {
        let mut r = record();
        r.periods[0].municipality = "147".into();
        r.manuals = vec![manual("147", "active", "2025-06-02", Some("2025-12-31"))];
        r.moves = vec![planned_move(Some("751"), "2025-07-01")];
        assert_eq!(
            next(&r),
            Some((
                "2026-01-01".into(),
                Some("751".into()),
                "manuel registrering udløber"
            ))
        );
    }

    #[test]
    fn a_move_without_a_registration_moves_handleansvar_and_one_abroad_ends_it() {
        let mut r = record();
        r.moves = vec![planned_move(Some("751"), "2025-07-01")];
        assert_eq!(
            next(&r),
            Some(("2025-07-01".into(), Some("751".into()), "flytning"))
        );
        r.manuals = vec![manual("101", "active", "2025-06-02", None)];
        assert!(next(&r).is_none(), "the own municipality keeps it (R11)");
        r.moves = vec![planned_move(None, "2025-07-01")];
        assert_eq!(next(&r), Some(("2025-07-01".into(), None, "udrejse")));
    }

    #[test]
    fn amounts_and_cpr_numbers_are_written_the_danish_way() {
        assert_eq!(kroner(100_000), "1.000,00 kr.");
        assert_eq!(kroner(123_456_789), "1.234.567,89 kr.");
        assert_eq!(kroner(5), "0,05 kr.");
        assert_eq!(kroner(-25_050), "-250,50 kr.");
        assert_eq!(cpr_text("0101501234"), "010150-1234");
        assert_eq!(kommune("147"), "147 Frederiksberg");
        assert_eq!(cpr_status("80"), "80 (udrejst)");
    }
}
