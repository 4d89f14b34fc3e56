//! Who the out-of-municipality update concerns, and when (R21–R23), read as Q12 says: "the
//! last year" is the 12 months before the run date, linked persons are the guardians and
//! other registered relations of those children, and ages are taken on the run date.

use std::collections::HashMap;

use chrono::{Months, NaiveDate};

use super::store::LocalPerson;

/// KIR (Personförfrågan Skatteverket) or Edlevo's direct Skatteverket integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Kir,
    Direct,
}

impl Mode {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "kir" => Some(Self::Kir),
            "direkt" => Some(Self::Direct),
            _ => None,
        }
    }
}

/// What the update does with one out-of-municipality person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Asked for and updated during the run.
    Now,
    /// In scope, updated at the next avisering run (R22).
    Deferred,
    /// Out of scope with KIR (R21).
    Excluded,
}

fn has_role(p: &LocalPerson, roles: &[&str]) -> bool {
    p.roles.iter().any(|r| roles.contains(&r.as_str()))
}

/// A child or pupil at some time in the 12 months before the run date.
pub fn recent_child(p: &LocalPerson, run_date: NaiveDate) -> bool {
    let year_before = run_date
        .checked_sub_months(Months::new(12))
        .unwrap_or(run_date);
    has_role(p, &["barn", "elev"]) && p.child_until.is_none_or(|until| until >= year_before)
}

/// Under 19 on the run date.
pub fn under_19(p: &LocalPerson, run_date: NaiveDate) -> bool {
    run_date
        .checked_sub_months(Months::new(19 * 12))
        .is_some_and(|nineteen_years_ago| p.birth_date > nineteen_years_ago)
}

/// The decision for `p`; `children` holds the local records of the children `p` is linked to.
pub fn decide(
    p: &LocalPerson,
    children: &HashMap<String, LocalPerson>,
    mode: Mode,
    run_date: NaiveDate,
) -> Decision {
    if mode == Mode::Direct {
        return Decision::Now; // R23
    }
    let linked: Vec<&LocalPerson> = if has_role(p, &["vardnadshavare", "kopplad"]) {
        p.linked_to
            .iter()
            .filter_map(|c| children.get(c))
            .filter(|c| recent_child(c, run_date))
            .collect()
    } else {
        Vec::new()
    };
    let child = recent_child(p, run_date);
    let in_scope = child || !linked.is_empty() || has_role(p, &["personal"]);
    if !in_scope {
        return Decision::Excluded; // R21
    }
    // R22: persons under 19 (whatever made them in scope), and the guardians of in-scope
    // children under 19, now; the rest of the scope at avisering.
    let young = under_19(p, run_date);
    let guardian_of_young =
        has_role(p, &["vardnadshavare"]) && linked.iter().any(|c| under_19(c, run_date));
    if young || guardian_of_young {
        Decision::Now
    } else {
        Decision::Deferred
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(pnr: &str, born: &str, roles: &[&str]) -> LocalPerson {
        LocalPerson {
            personnummer: pnr.into(),
            name: pnr.into(),
            birth_date: born.parse().expect("date"),
            kommun: "0180".into(),
            omrade: None,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            child_until: None,
            linked_to: Vec::new(),
            guardians: Vec::new(),
            synced_at: None,
        }
    }

    #[test]
    fn r21_r22_scope_and_timing_with_kir() {
        let run: NaiveDate = "2025-06-02".parse().expect("date");
        let pupil = person("c1", "2010-03-01", &["elev"]);
        let mut former = person("c2", "2005-01-01", &["elev"]);
        former.child_until = Some("2024-09-01".parse().expect("date")); // within the year
        let mut long_ago = person("c3", "2004-01-01", &["elev"]);
        long_ago.child_until = Some("2024-05-01".parse().expect("date")); // more than a year
        let mut guardian = person("g1", "1980-01-01", &["vardnadshavare"]);
        guardian.linked_to = vec!["c1".into()];
        let mut guardian_of_former = person("g2", "1975-01-01", &["vardnadshavare"]);
        guardian_of_former.linked_to = vec!["c2".into()];
        let staff = person("s1", "1970-01-01", &["personal"]);
        let other = person("o1", "1990-01-01", &[]);
        let young_staff = person("s2", "2008-01-01", &["personal"]);
        let mut young_sibling = person("k1", "2012-01-01", &["kopplad"]);
        young_sibling.linked_to = vec!["c1".into()];
        let children: HashMap<String, LocalPerson> = [pupil.clone(), former.clone()]
            .into_iter()
            .map(|c| (c.personnummer.clone(), c))
            .collect();
        let kir = |p: &LocalPerson| decide(p, &children, Mode::Kir, run);
        assert_eq!(kir(&pupil), Decision::Now, "under 19");
        assert_eq!(
            kir(&guardian),
            Decision::Now,
            "guardian of a child under 19"
        );
        assert_eq!(
            kir(&former),
            Decision::Deferred,
            "20, pupil within the year"
        );
        assert_eq!(kir(&guardian_of_former), Decision::Deferred);
        assert_eq!(kir(&staff), Decision::Deferred);
        assert_eq!(
            kir(&long_ago),
            Decision::Excluded,
            "pupil more than a year ago"
        );
        assert_eq!(kir(&other), Decision::Excluded);
        assert_eq!(kir(&young_staff), Decision::Now, "in scope and under 19");
        assert_eq!(kir(&young_sibling), Decision::Now, "linked and under 19");
        for p in [&pupil, &former, &long_ago, &guardian, &staff, &other] {
            assert_eq!(
                decide(p, &children, Mode::Direct, run),
                Decision::Now,
                "R23"
            );
        }
    }
}
