//! What the browser tests' app holds: two processes caseworkers work in, one whose automatic
//! step fails until the test mends its register, a small person register, and the tasks of an
//! ordinary morning in Copenhagen (so the screenshots look like real use).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use forlob_engine::instance::ProcessInstance;
use forlob_engine::registry::{Fact, OverviewSection, SubjectOverview, SubjectProvider};
use forlob_engine::store::{self, TaskFilter};
use forlob_engine::{Action, ActionContext, ActionError, Actor, Registry};
use sea_orm::DatabaseTransaction;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::Site;
use crate::support::{Backend, TestApp, at};

/// A caseworker's application: a checked form, and events on the person's timeline when the
/// application arrives and when it is decided. The title comes from `vars.title`, so a test
/// can put markup in it.
const APPLICATION: &str = r#"
id: flyttehjaelp
title: { da: Ansøgning om flyttehjælp, en: Application for moving assistance }
subject: person
initial: vurdering
states:
  vurdering:
    emit:
      - { kind: ansoegning-modtaget, data: { kommune: "vars.kommune" } }
    manual:
      title: "{{vars.title}}"
      kind: vurdering
      assign: { municipality: "vars.kommune" }
      due: P5D
      form:
        fields:
          - { name: decision, type: choice, options: [bevilget, afslaaet], required: true, label: Afgørelse }
          - { name: amount, type: number, label: Beløb, check: "form.amount >= 0", message: "Beløbet kan ikke være negativt" }
          - { name: note, type: textarea, label: Bemærkning }
    on:
      submit:
        - { goto: afgjort }
  afgjort:
    emit:
      - { kind: ansoegning-afgjort, data: { decision: "vars.decision" } }
    end: true
"#;

/// A second kind of task, so the inbox has more than one.
const ADDRESS_CHECK: &str = r#"
id: adressekontrol
title: { da: Kontrol af adresse, en: Address check }
subject: person
initial: kontrol
states:
  kontrol:
    manual:
      title: "Kontrollér adressen for {{subject.name}}"
      kind: kontrol
      assign: { municipality: "subject.kommune" }
      due: P10D
      form:
        fields:
          - { name: korrekt, type: checkbox, label: Adressen er korrekt }
    on:
      submit:
        - { goto: slut }
  slut: { end: true }
"#;

/// An automatic lookup run by the worker, which fails for good while the register is down.
const LOOKUP: &str = r#"
id: adresseopslag
title: { da: Opslag af adresse i CPR, en: Address lookup }
subject: person
initial: opslag
states:
  opslag:
    automatic: { action: test.cpr_opslag, async: true }
    next: bekraeftet
  bekraeftet:
    emit:
      - { kind: adresse-bekraeftet, data: {} }
    end: true
"#;

/// A grant worked out from the amount applied for: an amount typed as text makes the
/// decision fail, and the instance waits in an incident until an admin corrects it.
pub(crate) const GRANT: &str = r#"
id: tilskud
title: { da: Beregning af tilskud, en: Grant calculation }
subject: person
initial: opslag
states:
  opslag:
    automatic: { action: test.cpr_opslag, async: true }
    next: vurder
  vurder:
    decision:
      - { when: "vars.beloeb > 1000", goto: stort }
      - { otherwise: lille }
  stort: { end: true }
  lille: { end: true }
"#;

/// CPR number, name, address, municipality.
const PEOPLE: &[(&str, &str, &str, &str)] = &[
    (
        "0101501234",
        "Jens Hansen",
        "Vestergade 12, 2. th., 1456 København K",
        "101",
    ),
    (
        "1205803456",
        "Mette Sørensen",
        "Nørregade 4, 1165 København K",
        "101",
    ),
    (
        "2307914567",
        "Ahmed Nielsen",
        "Amagerbrogade 101, 2300 København S",
        "101",
    ),
    (
        "1711724321",
        "Lars Mikkelsen",
        "Istedgade 30, 1650 København V",
        "101",
    ),
    (
        "0903655678",
        "Karen Poulsen",
        "Gammel Kongevej 150, 1850 Frederiksberg C",
        "147",
    ),
];

pub(crate) const JENS: &str = "0101501234";
pub(crate) const KAREN: &str = "0903655678";

/// The person register the processes read as `subject.*`, with a Danish overview.
struct Register;

fn person(id: &str) -> Option<&'static (&'static str, &'static str, &'static str, &'static str)> {
    PEOPLE.iter().find(|p| p.0 == id)
}

#[async_trait]
impl SubjectProvider for Register {
    async fn load(
        &self,
        _conn: &DatabaseTransaction,
        id: &str,
    ) -> Result<Option<Value>, ActionError> {
        Ok(person(id).map(|(cpr, name, address, kommune)| {
            json!({ "id": cpr, "name": name, "address": address, "kommune": kommune })
        }))
    }

    async fn overview(
        &self,
        _conn: &DatabaseTransaction,
        id: &str,
    ) -> Result<Option<SubjectOverview>, ActionError> {
        Ok(person(id).map(|(cpr, name, address, kommune)| {
            let fact = |label: &str, value: String| Fact {
                label: label.into(),
                value,
            };
            SubjectOverview {
                title: (*name).into(),
                sections: vec![OverviewSection {
                    heading: "Folkeregister".into(),
                    facts: vec![
                        fact("CPR-nummer", format!("{}-{}", &cpr[..6], &cpr[6..])),
                        fact("Adresse", (*address).into()),
                        fact("Bopælskommune", (*kommune).into()),
                    ],
                    table: None,
                }],
            }
        }))
    }
}

/// The CPR lookup of [`LOOKUP`]: refused while `up` is false.
struct CprLookup {
    up: Arc<AtomicBool>,
}

#[async_trait]
impl Action for CprLookup {
    type Input = Value;
    type Output = Value;

    fn name(&self) -> &'static str {
        "test.cpr_opslag"
    }

    async fn run(&self, _ctx: &ActionContext<'_>, _input: Value) -> Result<Value, ActionError> {
        if self.up.load(Ordering::SeqCst) {
            Ok(json!({ "adresse_bekraeftet": true }))
        } else {
            // Permanent, so the instance becomes an incident at once instead of backing off.
            Err(ActionError::permanent(
                "CPR-registret afviste opslaget: ukendt adresseformat",
            ))
        }
    }

    fn writes(&self) -> bool {
        false
    }
}

/// The site with the processes, the register and the users; `register_up` mends the lookup.
pub(crate) async fn site(register_up: Arc<AtomicBool>) -> Site {
    let app = TestApp::builder(Backend::Sqlite)
        .with_registry(move |r: &mut Registry| {
            r.register_subject("person", Arc::new(Register));
            r.register_action(CprLookup { up: register_up });
        })
        .with_process(APPLICATION)
        .with_process(ADDRESS_CHECK)
        .with_process(LOOKUP)
        .with_process(GRANT)
        .build()
        .await;
    Site::serve(app).await
}

/// The site with the shipped `flytning` package deployed and registered, as a municipality
/// runs it: for the designer's story with the package's own scenarios.
pub(crate) async fn package_site() -> Site {
    let dir = forlob_processes::processes_dir().join("flytning");
    let files = forlob_engine::files::definition_files(&dir).expect("the package's definitions");
    let mut builder = TestApp::builder(Backend::Sqlite).with_registry(forlob_processes::register);
    for file in &files {
        builder = builder.with_process(&file.text);
    }
    Site::serve(builder.build().await).await
}

/// Starts `process` for `subject` as the system does (from a message, say); the instance id.
pub(crate) async fn start(site: &Site, process: &str, subject: &str, vars: Value) -> Uuid {
    let Value::Object(vars) = vars else {
        panic!("variables are a JSON object")
    };
    site.engine
        .commands()
        .start_instance(process, subject, vars, &Actor::system())
        .await
        .unwrap_or_else(|e| panic!("{process} starts for {subject}: {e}"))
}

/// Starts an application for `subject` in municipality 101 with the task title `title`; the
/// id of its task.
pub(crate) async fn application(site: &Site, subject: &str, title: &str) -> Uuid {
    let instance = start(
        site,
        "flyttehjaelp",
        subject,
        json!({ "kommune": "101", "title": title }),
    )
    .await;
    let tasks = store::tasks(
        site.engine.db(),
        &TaskFilter {
            instance_id: Some(instance),
            status: Some(forlob_engine::instance::TaskStatus::Open),
            ..TaskFilter::default()
        },
    )
    .await
    .expect("the tasks can be read");
    tasks.first().expect("an application has a task").id
}

/// An ordinary week's inbox for municipality 101 (and one task for 147 that anna must not
/// see), the tasks arriving over a few days, Jens Hansen's first; the clock ends on Thursday
/// morning. The id of Jens Hansen's task.
pub(crate) async fn a_week_of_work(site: &Site) -> Uuid {
    let title = |subject: &str| {
        let name = person(subject).map_or(subject, |p| p.1);
        format!("Vurdér ansøgning om flyttehjælp fra {name}")
    };
    site.clock
        .set(at("2025-06-02T09:10:00+02:00"))
        .expect("the clock moves forward");
    let jens = application(site, JENS, &title(JENS)).await;
    let arrivals = [
        ("2025-06-02T13:20:00+02:00", "1205803456", "adressekontrol"),
        ("2025-06-03T10:15:00+02:00", "2307914567", "flyttehjaelp"),
        ("2025-06-04T08:40:00+02:00", "1711724321", "flyttehjaelp"),
        ("2025-06-04T11:05:00+02:00", KAREN, "flyttehjaelp"),
    ];
    for (when, subject, process) in arrivals {
        site.clock.set(at(when)).expect("the clock moves forward");
        let kommune = person(subject).map_or("101", |p| p.3);
        let vars = json!({ "kommune": kommune, "title": title(subject) });
        start(site, process, subject, vars).await;
    }
    site.clock
        .set(at("2025-06-05T08:30:00+02:00"))
        .expect("the clock moves forward");
    jens
}

/// Reads instance `id` as it is now, each time the returned function is called (for a test
/// to check what the page did, from inside the browser's run).
pub(crate) fn instance_now(
    site: &Site,
    id: Uuid,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ProcessInstance> + Send>>
+ Send
+ 'static {
    let engine = site.engine.clone();
    move || {
        let engine = engine.clone();
        Box::pin(async move {
            store::instance(engine.db(), id)
                .await
                .expect("the instance can be read")
                .expect("the instance exists")
                .0
        })
    }
}
