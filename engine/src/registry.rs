//! What packages plug into the engine: actions, field types, subject data, reference data and
//! scenario fixtures. The binary fills one `Registry` at start-up and the engine only reads it;
//! definitions naming anything not registered are refused at validation.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::DatabaseTransaction;
use serde_json::Value;

use crate::action::{Action, ActionError, ActionHandler, erase};
use crate::form::{Choice, FieldCatalog, FieldType, builtin_field_types};

/// Loads the data of a subject (a person, a job) that expressions read as `subject.*`.
#[async_trait]
pub trait SubjectProvider: Send + Sync {
    /// `Ok(None)` when no such subject exists.
    async fn load(
        &self,
        conn: &DatabaseTransaction,
        id: &str,
    ) -> Result<Option<Value>, ActionError>;

    /// The municipalities the subject concerns (where they live, who acts for them, who has
    /// a case about them). A caseworker may read a subject's overview only when their
    /// municipality is among these or has a task about the subject; by default only tasks
    /// count.
    async fn municipalities(
        &self,
        _conn: &DatabaseTransaction,
        _id: &str,
    ) -> Result<Vec<String>, ActionError> {
        Ok(Vec::new())
    }

    /// Subjects within `scope` whose name contains every word of `text` (ignoring case), at
    /// most `limit`, by name: what a person search by name and the inbox's search look
    /// through. The scope keeps the search to what the searcher may be shown (the engine
    /// still checks each hit, `Queries::find_subjects`), so that neither the answer nor its
    /// time depends on subjects elsewhere. The default finds none: a package whose subjects
    /// have no names is searched by id only.
    async fn find_by_name(
        &self,
        _conn: &DatabaseTransaction,
        _text: &str,
        _scope: &NameScope,
        _limit: u64,
    ) -> Result<Vec<SubjectHit>, ActionError> {
        Ok(Vec::new())
    }

    /// What a caseworker sees of the subject: labelled facts and tables in the package's own
    /// language, shown beside a task and on the subject's page. `Ok(None)` when no such
    /// subject exists; the default shows the data of [`SubjectProvider::load`] as facts.
    async fn overview(
        &self,
        conn: &DatabaseTransaction,
        id: &str,
    ) -> Result<Option<SubjectOverview>, ActionError> {
        Ok(self.load(conn, id).await?.map(|data| {
            let facts = data
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, v)| !v.is_object() && !v.is_array())
                .map(|(k, v)| Fact {
                    label: k.clone(),
                    value: match v {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    },
                })
                .collect();
            SubjectOverview {
                title: id.to_owned(),
                sections: vec![OverviewSection {
                    heading: String::new(),
                    facts,
                    table: None,
                }],
            }
        }))
    }
}

/// Loads one `given` entry of a scenario into a package's tables.
#[async_trait]
pub trait Fixture: Send + Sync {
    async fn load(
        &self,
        conn: &DatabaseTransaction,
        value: &Value,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), String>;
}

/// Checks one expectation of a scenario; the error says what was expected and what was found.
#[async_trait]
pub trait Expectation: Send + Sync {
    async fn check(
        &self,
        conn: &sea_orm::DatabaseConnection,
        spec: &Value,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), String>;
}

/// Where a search by name looks.
#[derive(Debug, Clone)]
pub enum NameScope {
    /// Every subject (an admin's search).
    All,
    /// Subjects the package says concern this municipality (as in
    /// [`SubjectProvider::municipalities`]).
    Concerning(String),
    /// Only these subjects (e.g. those of a caseworker's tasks).
    Among(Vec<String>),
}

/// A subject found by name: enough to tell two of the same name apart.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SubjectHit {
    pub id: String,
    pub name: String,
    pub birth_date: Option<chrono::NaiveDate>,
}

/// A subject as people see it: a title and sections of facts and tables.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SubjectOverview {
    pub title: String,
    pub sections: Vec<OverviewSection>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct OverviewSection {
    pub heading: String,
    pub facts: Vec<Fact>,
    pub table: Option<OverviewTable>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Fact {
    pub label: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct OverviewTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// A kind of inbound message a package knows, e.g. `cpr.flytning`.
pub trait MessageType: Send + Sync {
    /// Checks the message's data before anything else happens; an error makes the message a
    /// dead letter with the text as its reason.
    fn validate(&self, data: &Value) -> Result<(), String>;
}

#[derive(Default, Clone)]
pub struct Registry {
    message_types: BTreeMap<String, Arc<dyn MessageType>>,
    actions: BTreeMap<String, Arc<dyn ActionHandler>>,
    field_types: BTreeMap<String, Arc<dyn FieldType>>,
    subjects: BTreeMap<String, Arc<dyn SubjectProvider>>,
    references: BTreeMap<String, Vec<Choice>>,
    fixtures: BTreeMap<String, Arc<dyn Fixture>>,
    /// `ref` as expressions see it, built once: it is read on every transition.
    references_json: std::sync::OnceLock<Arc<Value>>,
    expectations: BTreeMap<String, Arc<dyn Expectation>>,
    cancel_hooks: BTreeMap<String, Arc<dyn crate::action::CancelHook>>,
    /// Reference data that lists municipalities (code, and "code name" as the label).
    municipality_lists: Vec<String>,
    /// The packages' message codes, so the UI's catalogue can be checked for each.
    messages: Vec<crate::message::Code>,
    /// The words packages' jobs count and file detail lines under (`gennemfoert`,
    /// `deferred`), each with a text in the UI's catalogue (`count.<word>`).
    run_words: Vec<&'static str>,
    /// The packages' schema migrations (run by `crate::schema`).
    package_migrations: Vec<PackageMigrations>,
    /// The zone of definitions that name none; `None` is UTC. Configuration, not a package's:
    /// see [`Registry::set_default_timezone`].
    default_timezone: Option<chrono_tz::Tz>,
}

/// A package's migrations, made anew on each call (they are boxed trait objects, which cannot
/// be cloned, and sea-orm asks for the list more than once).
pub type PackageMigrations = fn() -> Vec<Box<dyn sea_orm_migration::MigrationTrait>>;

impl Registry {
    /// A registry with the built-in field types and nothing else; packages and the demo
    /// ([`crate::demo::register`]) add theirs.
    pub fn new() -> Self {
        let mut registry = Self::default();
        for (name, field_type) in builtin_field_types() {
            registry.field_types.insert(name.to_owned(), field_type);
        }
        registry
    }

    pub fn register_action<A: Action>(&mut self, action: A) -> &mut Self {
        let (name, handler) = erase(action);
        self.actions.insert(name.to_owned(), handler);
        self
    }

    /// The migrations of the package's own tables. The engine runs them with its own, as one
    /// list ordered by name, when it starts and on `forlob migrate`.
    pub fn register_migrations(&mut self, migrations: PackageMigrations) -> &mut Self {
        // The same package registered twice runs its migrations once; two packages with a
        // migration of one name still fail loudly when the second one runs.
        if !self
            .package_migrations
            .iter()
            .any(|known| std::ptr::fn_addr_eq(*known, migrations))
        {
            self.package_migrations.push(migrations);
        }
        self
    }

    pub(crate) fn package_migrations(&self) -> &[PackageMigrations] {
        &self.package_migrations
    }

    /// The zone of `today`, timers and dates in definitions that do not name one with
    /// `timezone:` (the deployment's setting; the engine itself assumes none and falls back
    /// to UTC).
    pub fn set_default_timezone(&mut self, zone: chrono_tz::Tz) -> &mut Self {
        self.default_timezone = Some(zone);
        self
    }

    pub fn default_timezone(&self) -> chrono_tz::Tz {
        self.default_timezone.unwrap_or(chrono_tz::UTC)
    }

    pub fn register_field_type(&mut self, name: &str, field_type: Arc<dyn FieldType>) -> &mut Self {
        self.field_types.insert(name.to_owned(), field_type);
        self
    }

    /// Provides `subject.*` for processes whose `subject:` is `kind`.
    pub fn register_subject(
        &mut self,
        kind: &str,
        provider: Arc<dyn SubjectProvider>,
    ) -> &mut Self {
        self.subjects.insert(kind.to_owned(), provider);
        self
    }

    /// Says that reference data `name` (registered already) lists municipalities: their codes
    /// are then shown with their names wherever a code stands alone (a user's municipality,
    /// a task's, a filter's).
    /// Declares codes the package's messages use (e.g. in a job run's detail lines): the UI's
    /// catalogue must have a text for each in every language, which its test checks.
    pub fn register_messages(&mut self, codes: &[crate::message::Code]) -> &mut Self {
        self.messages.extend_from_slice(codes);
        self
    }

    /// Declares the words the package's jobs count and file detail lines under.
    pub fn register_run_words(&mut self, words: &[&'static str]) -> &mut Self {
        self.run_words.extend_from_slice(words);
        self
    }

    /// The codes the packages declared.
    pub fn messages(&self) -> &[crate::message::Code] {
        &self.messages
    }

    /// The words the packages' jobs count and file detail lines under.
    pub fn run_words(&self) -> &[&'static str] {
        &self.run_words
    }

    pub fn register_municipality_list(&mut self, name: &str) -> &mut Self {
        self.municipality_lists.push(name.to_owned());
        self
    }

    /// "101 København" for `101`, from a package's municipality list; `None` for a code no
    /// package knows.
    pub fn municipality_label(&self, code: &str) -> Option<&str> {
        self.municipality_lists.iter().find_map(|list| {
            self.reference(list)
                .iter()
                .find(|c| c.value == code)
                .map(|c| c.label.as_str())
        })
    }

    /// Reference data, read as `ref.NAME` in expressions and as `options: ref.NAME` in forms.
    pub fn register_reference(&mut self, name: &str, choices: Vec<Choice>) -> &mut Self {
        self.references.insert(name.to_owned(), choices);
        self.references_json = std::sync::OnceLock::new();
        self
    }

    pub fn register_message_type(
        &mut self,
        name: &str,
        message_type: Arc<dyn MessageType>,
    ) -> &mut Self {
        self.message_types.insert(name.to_owned(), message_type);
        self
    }

    pub fn message_type(&self, name: &str) -> Option<&Arc<dyn MessageType>> {
        self.message_types.get(name)
    }

    pub fn register_fixture(&mut self, kind: &str, fixture: Arc<dyn Fixture>) -> &mut Self {
        self.fixtures.insert(kind.to_owned(), fixture);
        self
    }

    pub fn register_expectation(
        &mut self,
        kind: &str,
        expectation: Arc<dyn Expectation>,
    ) -> &mut Self {
        self.expectations.insert(kind.to_owned(), expectation);
        self
    }

    /// What runs when an instance of `process_id` is cancelled (see [`crate::CancelHook`]).
    pub fn register_cancel_hook(
        &mut self,
        process_id: &str,
        hook: Arc<dyn crate::action::CancelHook>,
    ) -> &mut Self {
        self.cancel_hooks.insert(process_id.to_owned(), hook);
        self
    }

    pub fn cancel_hook(&self, process_id: &str) -> Option<&Arc<dyn crate::action::CancelHook>> {
        self.cancel_hooks.get(process_id)
    }

    pub fn action(&self, name: &str) -> Option<&Arc<dyn ActionHandler>> {
        self.actions.get(name)
    }

    pub fn action_names(&self) -> impl Iterator<Item = &str> {
        self.actions.keys().map(String::as_str)
    }

    pub fn field_type(&self, name: &str) -> Option<&Arc<dyn FieldType>> {
        self.field_types.get(name)
    }

    pub fn field_types(&self) -> impl Iterator<Item = (&str, &Arc<dyn FieldType>)> {
        self.field_types.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn subject_provider(&self, kind: &str) -> Option<&Arc<dyn SubjectProvider>> {
        self.subjects.get(kind)
    }

    /// Every registered subject provider, by kind.
    pub fn subject_providers(&self) -> impl Iterator<Item = (&str, &Arc<dyn SubjectProvider>)> {
        self.subjects.iter().map(|(k, p)| (k.as_str(), p))
    }

    pub fn reference(&self, name: &str) -> &[Choice] {
        self.references.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn has_reference(&self, name: &str) -> bool {
        self.references.contains_key(name)
    }

    /// All reference data as the JSON object expressions see as `ref`.
    pub fn references_json(&self) -> Arc<Value> {
        self.references_json
            .get_or_init(|| Arc::new(self.build_references_json()))
            .clone()
    }

    fn build_references_json(&self) -> Value {
        Value::Object(
            self.references
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        Value::Array(v.iter().map(|c| Value::String(c.value.clone())).collect()),
                    )
                })
                .collect(),
        )
    }

    pub fn fixture(&self, kind: &str) -> Option<&Arc<dyn Fixture>> {
        self.fixtures.get(kind)
    }

    pub fn expectation(&self, kind: &str) -> Option<&Arc<dyn Expectation>> {
        self.expectations.get(kind)
    }
}

impl FieldCatalog for Registry {
    fn field_type(&self, name: &str) -> Option<&Arc<dyn FieldType>> {
        Registry::field_type(self, name)
    }

    fn field_types(&self) -> Vec<(&str, &Arc<dyn FieldType>)> {
        Registry::field_types(self).collect()
    }

    fn reference(&self, name: &str) -> &[Choice] {
        Registry::reference(self, name)
    }
}
