//! Tables for people outside the server, as CSV: the audit log (the audit page's export and
//! `forlob audit export` write the same columns) and a job run's details; and the times the
//! audit log's filters take.

use chrono::{DateTime, NaiveDate, Utc};
use forlob_engine::audit::AuditEntry;

/// The entries as CSV with a header row, for a spreadsheet or an archive. A cell that a
/// spreadsheet would run as a formula (it begins with `=`, `+`, `-`, `@`, a tab or a carriage
/// return: a typed username can) is prefixed with `'`, so it is shown, never run.
pub fn to_csv(entries: &[AuditEntry]) -> std::result::Result<String, csv::Error> {
    let header = [
        "id",
        "at",
        "actor",
        "role",
        "municipality",
        "action",
        "subject",
        "target",
        "via",
        "detail",
        "prev_hash",
        "hash",
    ];
    let rows = entries.iter().map(|e| {
        let id = e.id.to_string();
        let at = e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let cells = [
            id.as_str(),
            &at,
            &e.actor,
            &e.role,
            e.municipality.as_deref().unwrap_or(""),
            &e.action,
            e.subject.as_deref().unwrap_or(""),
            e.target.as_deref().unwrap_or(""),
            &e.via,
            &e.detail,
            &e.prev_hash,
            &e.hash,
        ];
        cells.map(str::to_owned).to_vec()
    });
    table(&header, rows)
}

/// A header row and the rows as CSV; every cell made inert (see [`to_csv`]).
pub fn table(
    header: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> std::result::Result<String, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(header)?;
    for row in rows {
        out.write_record(row.iter().map(|c| inert(c).into_owned()))?;
    }
    let bytes = out.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn inert(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// A day starts (or, as an end, ends) at midnight in `zone`, where the log's readers are (the
/// deployment's zone).
pub fn parse_instant(text: &str, end: bool, zone: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let day = if end { day.succ_opt()? } else { day };
    day.and_hms_opt(0, 0, 0)?
        .and_local_timezone(zone)
        .earliest()
        .map(|at| at.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_cell_never_runs_as_a_formula() {
        let actor = forlob_engine::Actor::caseworker("=HYPERLINK(\"x\")", "101");
        let entry = AuditEntry {
            id: 1,
            at: Utc::now(),
            actor: actor.id,
            role: "anonymous".into(),
            municipality: None,
            action: "sign_in.failed".into(),
            subject: None,
            target: None,
            via: "page".into(),
            detail: "{\"a\":\"b, c\"}".into(),
            prev_hash: String::new(),
            hash: "h".into(),
        };
        let csv = to_csv(&[entry]).expect("written");
        let row = csv.lines().nth(1).expect("a row");
        assert!(row.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{row}");
        assert!(row.contains("\"{\"\"a\"\":\"\"b, c\"\"}\""), "{row}");
    }

    #[test]
    fn a_day_runs_from_copenhagen_midnight_to_the_next() {
        let from =
            parse_instant("2026-12-06", false, chrono_tz::Europe::Copenhagen).expect("a day");
        let to = parse_instant("2026-12-06", true, chrono_tz::Europe::Copenhagen).expect("a day");
        assert_eq!(from.to_rfc3339(), "2026-12-05T23:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-12-06T23:00:00+00:00");
        assert!(parse_instant("6/12", false, chrono_tz::Europe::Copenhagen).is_none());
    }
}
