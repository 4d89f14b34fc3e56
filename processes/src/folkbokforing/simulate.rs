//! A synthetic person register of one Swedish municipality and the population register's
//! records of the same persons, with the differences real ones have: some persons moved
//! (the register has another folkbokföringskommun), changed name or area, or are no longer
//! registered. Deterministic for a seed. Used by the demo, the tests and the benchmark.

use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, TransactionSession, TransactionTrait,
};
use serde_json::Value;

use super::entities::{local, registered};
use super::kommuner;

const FIRST: &[&str] = &[
    "Alice", "Alva", "Astrid", "Axel", "Ebba", "Elias", "Elsa", "Erik", "Hugo", "Ingrid", "Karl",
    "Lars", "Liam", "Maja", "Nils", "Olivia", "Oskar", "Saga", "Sven", "Wilma",
];
const LAST: &[&str] = &[
    "Andersson",
    "Berg",
    "Eriksson",
    "Gustafsson",
    "Hansson",
    "Johansson",
    "Karlsson",
    "Larsson",
    "Lindberg",
    "Lundqvist",
    "Nilsson",
    "Olsson",
    "Persson",
    "Sandberg",
    "Svensson",
    "Åberg",
    "Öberg",
];

/// What a load made, for the CLI's and the benchmark's report.
#[derive(Debug, Clone, Copy, Default)]
pub struct Loaded {
    pub persons: usize,
    /// Persons whose register record differs from the local one, or who are not registered.
    pub differing: usize,
}

/// Builds `persons` local persons of `home` (and their register records): families with
/// children or pupils and their guardians (a fifth of them folkbokförda elsewhere), former
/// pupils, staff, and other linked persons.
pub fn population(home: &str, persons: usize, seed: u64, today: NaiveDate) -> Vec<SimPerson> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let others: Vec<&str> = kommuner::all()
        .iter()
        .map(|k| k.code.as_str())
        .filter(|c| *c != home)
        .collect();
    let mut serials: HashMap<NaiveDate, u32> = HashMap::new();
    let mut pnr = |born: NaiveDate| {
        let serial = serials.entry(born).or_insert(0);
        *serial += 1;
        format!("{}{:04}", born.format("%Y%m%d"), *serial)
    };
    let born = |rng: &mut fastrand::Rng, min_age: u64, max_age: u64| {
        today
            .checked_sub_days(Days::new(rng.u64(min_age * 365..max_age * 365 + 364)))
            .unwrap_or(today)
    };
    let mut out: Vec<SimPerson> = Vec::with_capacity(persons + 4);
    while out.len() < persons {
        let kommun = if rng.u8(0..100) < 20 {
            others[rng.usize(..others.len())].to_owned()
        } else {
            home.to_owned()
        };
        let omrade = (kommun == home).then(|| format!("{home}-{:02}", rng.u8(1..=12)));
        let last = LAST[rng.usize(..LAST.len())];
        let roll = rng.u8(0..100);
        if roll < 8 {
            // Staff, some living elsewhere.
            let b = born(&mut rng, 25, 65);
            let kommun = if rng.u8(0..100) < 30 {
                others[rng.usize(..others.len())].to_owned()
            } else {
                home.to_owned()
            };
            out.push(SimPerson::new(
                pnr(b),
                &mut rng,
                last,
                b,
                &kommun,
                None,
                &["personal"],
            ));
            continue;
        }
        if roll < 12 {
            // Someone with no role left (a pupil long ago): out of scope with KIR.
            let b = born(&mut rng, 20, 40);
            let mut p = SimPerson::new(
                pnr(b),
                &mut rng,
                last,
                b,
                &kommun,
                omrade.clone(),
                &["elev"],
            );
            p.child_until = today.checked_sub_days(Days::new(rng.u64(400..2000)));
            out.push(p);
            continue;
        }
        // A family: one to three children or pupils, one or two guardians.
        let children: Vec<usize> = (0..rng.usize(1..=3))
            .map(|_| {
                let former = rng.u8(0..100) < 10;
                let b = if former {
                    born(&mut rng, 19, 20)
                } else {
                    born(&mut rng, 1, 18)
                };
                let role = if b < today.checked_sub_days(Days::new(6 * 365)).unwrap_or(today) {
                    "elev"
                } else {
                    "barn"
                };
                let mut p =
                    SimPerson::new(pnr(b), &mut rng, last, b, &kommun, omrade.clone(), &[role]);
                if former {
                    p.child_until = today.checked_sub_days(Days::new(rng.u64(30..330)));
                }
                out.push(p);
                out.len() - 1
            })
            .collect();
        let child_pnrs: Vec<String> = children
            .iter()
            .map(|&i| out[i].personnummer.clone())
            .collect();
        let mut guardians = Vec::new();
        for _ in 0..rng.usize(1..=2) {
            let b = born(&mut rng, 28, 55);
            let mut g = SimPerson::new(
                pnr(b),
                &mut rng,
                last,
                b,
                &kommun,
                omrade.clone(),
                &["vardnadshavare"],
            );
            g.linked_to.clone_from(&child_pnrs);
            guardians.push(g.personnummer.clone());
            out.push(g);
        }
        if rng.u8(0..100) < 10 {
            // Another linked person: a contact, living elsewhere.
            let b = born(&mut rng, 20, 75);
            let elsewhere = others[rng.usize(..others.len())].to_owned();
            let mut k = SimPerson::new(pnr(b), &mut rng, last, b, &elsewhere, None, &["kopplad"]);
            k.linked_to.clone_from(&child_pnrs);
            out.push(k);
        }
        for i in children {
            out[i].guardians.clone_from(&guardians);
        }
    }
    out.truncate(persons);
    // The register's view differs for some of them.
    for p in &mut out {
        p.register = Some(p.record());
        let roll = rng.u16(0..1000);
        let record = p.register.as_mut().expect("just set");
        match roll {
            0..=39 => {
                record.kommun = if p.kommun == home {
                    others[rng.usize(..others.len())].to_owned()
                } else if rng.bool() {
                    home.to_owned()
                } else {
                    others[rng.usize(..others.len())].to_owned()
                };
                record.omrade =
                    (record.kommun == home).then(|| format!("{home}-{:02}", rng.u8(1..=12)));
            }
            40..=59 => {
                record.name = format!(
                    "{} {}",
                    FIRST[rng.usize(..FIRST.len())],
                    LAST[rng.usize(..LAST.len())]
                )
            }
            60..=89 if p.kommun == home => {
                record.omrade = Some(format!("{home}-{:02}", rng.u8(1..=12)))
            }
            90..=92 => p.register = None,
            _ => {}
        }
    }
    out
}

/// A person of the simulation: the local record and what the register says.
#[derive(Debug, Clone)]
pub struct SimPerson {
    pub personnummer: String,
    pub name: String,
    pub birth_date: NaiveDate,
    pub kommun: String,
    pub omrade: Option<String>,
    pub roles: Vec<String>,
    pub child_until: Option<NaiveDate>,
    pub linked_to: Vec<String>,
    pub guardians: Vec<String>,
    /// `None`: the register does not know the person (any more).
    pub register: Option<Record>,
}

/// The register's record of a person.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub name: String,
    pub kommun: String,
    pub omrade: Option<String>,
    pub guardians: Vec<String>,
}

impl SimPerson {
    fn new(
        personnummer: String,
        rng: &mut fastrand::Rng,
        last: &str,
        birth_date: NaiveDate,
        kommun: &str,
        omrade: Option<String>,
        roles: &[&str],
    ) -> Self {
        Self {
            personnummer,
            name: format!("{} {last}", FIRST[rng.usize(..FIRST.len())]),
            birth_date,
            kommun: kommun.to_owned(),
            omrade,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            child_until: None,
            linked_to: Vec::new(),
            guardians: Vec::new(),
            register: None,
        }
    }

    fn record(&self) -> Record {
        Record {
            name: self.name.clone(),
            kommun: self.kommun.clone(),
            omrade: self.omrade.clone(),
            guardians: self.guardians.clone(),
        }
    }
}

/// Stores persons and their register records, in transactions of 10,000 persons.
/// `synced_at` is when the local records were last brought up to date; records that differ
/// changed after it, as the register's change notifications would say.
pub async fn store<C: TransactionTrait>(
    db: &C,
    persons: &[SimPerson],
    synced_at: DateTime<Utc>,
) -> Result<Loaded, DbErr> {
    let mut loaded = Loaded::default();
    for batch in persons.chunks(10_000) {
        let txn = db.begin().await?;
        for rows in batch.chunks(1_000) {
            insert(&txn, rows, synced_at, &mut loaded).await?;
        }
        txn.commit().await?;
    }
    Ok(loaded)
}

async fn insert<C: ConnectionTrait>(
    conn: &C,
    rows: &[SimPerson],
    synced_at: DateTime<Utc>,
    loaded: &mut Loaded,
) -> Result<(), DbErr> {
    let strings = |v: &[String]| Value::from(v.to_vec());
    local::Entity::insert_many(rows.iter().map(|p| local::ActiveModel {
        personnummer: Set(p.personnummer.clone()),
        name: Set(p.name.clone()),
        birth_date: Set(p.birth_date),
        kommun: Set(p.kommun.clone()),
        omrade: Set(p.omrade.clone()),
        roles: Set(strings(&p.roles)),
        child_until: Set(p.child_until),
        linked_to: Set(strings(&p.linked_to)),
        guardians: Set(strings(&p.guardians)),
        synced_at: Set(Some(synced_at)),
    }))
    .exec_without_returning(conn)
    .await?;
    let records: Vec<registered::ActiveModel> = rows
        .iter()
        .filter_map(|p| {
            let record = p.register.as_ref()?;
            let differs = *record != p.record();
            let changed_at = if differs {
                synced_at + chrono::Duration::days(1)
            } else {
                synced_at - chrono::Duration::days(365)
            };
            Some(registered::ActiveModel {
                personnummer: Set(p.personnummer.clone()),
                name: Set(record.name.clone()),
                birth_date: Set(p.birth_date),
                kommun: Set(record.kommun.clone()),
                omrade: Set(record.omrade.clone()),
                guardians: Set(strings(&record.guardians)),
                changed_at: Set(changed_at),
            })
        })
        .collect();
    if !records.is_empty() {
        registered::Entity::insert_many(records)
            .exec_without_returning(conn)
            .await?;
    }
    for p in rows {
        loaded.persons += 1;
        if p.register.as_ref() != Some(&p.record()) {
            loaded.differing += 1;
        }
    }
    Ok(())
}

/// Counts of a population, for reports.
pub fn out_of_municipality(persons: &[SimPerson], home: &str) -> usize {
    persons.iter().filter(|p| p.kommun != home).count()
}
