//! The YAML shape of a scenario file, read with serde like a definition: every step is one
//! of a closed set of kinds with `deny_unknown_fields` parts, so a typo or a value of the wrong
//! shape stops the file at its `file:line:col` before anything runs.

use std::fmt;

use chrono::{DateTime, FixedOffset};
use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::definition::raw::Pos;
use crate::instance::ActorRole;
use crate::runtime::RestartRequest;
use crate::schedule::ScheduleRequest;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScenarioFile {
    pub scenario: String,
    pub clock: DateTime<FixedOffset>,
    /// Definitions of the release running before the package's, deployed at the start
    /// instead of the package (paths relative to the scenario file); a `deploy: package`
    /// step deploys the package later, as a release would.
    #[serde(default)]
    pub previous_release: Vec<String>,
    /// Fixtures by kind; packages define the kinds and read their own shapes.
    #[serde(default)]
    pub given: Map<String, Value>,
    #[serde(default)]
    pub steps: Vec<Pos<Step>>,
    #[serde(default)]
    pub expect: Vec<Pos<Expected>>,
}

/// One expectation: a kind (`task`, `instance`, or a package's) and what it asks for. The
/// kinds are open (packages add them), so each reads its own keys and refuses any other.
pub(super) type Expected = Map<String, Value>;

/// One step: what it does, and whether it must be refused.
#[derive(Debug)]
pub(super) struct Step {
    pub act: Act,
    pub expect_error: Option<ExpectError>,
}

/// What a step does: a mapping with exactly one of these keys (and `expect_error`).
#[derive(Debug)]
pub(super) enum Act {
    Message(MessageStep),
    Advance(AdvanceStep),
    Start(StartStep),
    Complete(CompleteStep),
    Schedule(ScheduleStep),
    RemoveSchedule(RemoveScheduleStep),
    RunJob(RunJobStep),
    Deploy(DeployStep),
    Restart(RestartStep),
    Migrate(MigrateStep),
    Expect(Vec<Expected>),
}

/// The step keys, in the order the docs list them.
const ACTS: &[&str] = &[
    "message",
    "advance",
    "start",
    "complete",
    "schedule",
    "remove_schedule",
    "run_job",
    "deploy",
    "restart",
    "migrate",
    "expect",
];

/// `expect_error: { status: 422 }`: the step must be refused with this HTTP status.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExpectError {
    pub status: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MessageStep {
    #[serde(rename = "type")]
    pub message_type: Word,
    /// Default the data's own `message_id`.
    pub message_id: Option<Word>,
    #[serde(default)]
    pub data: Value,
}

/// `advance: { to: <instant> }` or `advance: { by: P1D }`, exactly one of them.
#[derive(Debug, Deserialize)]
#[serde(try_from = "AdvanceKeys")]
pub(super) enum AdvanceStep {
    To(DateTime<FixedOffset>),
    By(Word),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceKeys {
    to: Option<DateTime<FixedOffset>>,
    by: Option<Word>,
}

impl TryFrom<AdvanceKeys> for AdvanceStep {
    type Error = &'static str;

    fn try_from(keys: AdvanceKeys) -> Result<Self, Self::Error> {
        match (keys.to, keys.by) {
            (Some(to), None) => Ok(Self::To(to)),
            (None, Some(by)) => Ok(Self::By(by)),
            (Some(_), Some(_)) => Err("advance takes `to` or `by`, not both"),
            (None, None) => Err("advance needs `to` or `by`"),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StartStep {
    pub process: Word,
    pub subject: Word,
    #[serde(default)]
    pub vars: Map<String, Value>,
    #[serde(rename = "as", default)]
    pub actor: As,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CompleteStep {
    /// A state id or a task kind.
    pub task: Word,
    pub subject: Option<Word>,
    #[serde(default)]
    pub form: Map<String, Value>,
    #[serde(rename = "as", default)]
    pub actor: As,
}

/// `as: { municipality, role, id }`: who does the step (a caseworker by default).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct As {
    pub id: Option<Word>,
    pub municipality: Option<Word>,
    pub role: Option<RoleName>,
}

/// A role as a scenario names it; one nobody has stops the file where it is written.
#[derive(Debug, Clone, Copy)]
pub(super) struct RoleName(pub ActorRole);

impl<'de> Deserialize<'de> for RoleName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Word::deserialize(deserializer)?.0;
        ActorRole::parse(&text).map(RoleName).ok_or_else(|| {
            de::Error::custom(format!(
                "`as.role` `{text}` is not a role (caseworker, admin, designer, ...)"
            ))
        })
    }
}

/// The fields of `POST /api/schedules`, and `warning`: `none`, or text the R27 warning holds.
#[derive(Debug)]
pub(super) struct ScheduleStep {
    pub request: ScheduleRequest,
    pub warning: Option<Word>,
}

impl<'de> Deserialize<'de> for ScheduleStep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (request, warning) = with_own_key(deserializer, "schedule", "warning")?;
        Ok(Self { request, warning })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RemoveScheduleStep {
    /// Every schedule of this job is removed.
    pub process: Word,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RunJobStep {
    pub process: Word,
    #[serde(default)]
    pub parameters: Map<String, Value>,
    #[serde(default)]
    pub confirmed: bool,
}

/// `deploy: package` (the package's definitions) or a list of definition files.
#[derive(Debug)]
pub(super) enum DeployStep {
    Package,
    Files(Vec<String>),
}

impl<'de> Deserialize<'de> for DeployStep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Shape;
        impl<'de> Visitor<'de> for Shape {
            type Value = DeployStep;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`package` or a list of definition files")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<DeployStep, E> {
                if text == "package" {
                    Ok(DeployStep::Package)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(text), &self))
                }
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<DeployStep, A::Error> {
                let mut files = Vec::new();
                while let Some(path) = seq.next_element::<String>()? {
                    files.push(path);
                }
                Ok(DeployStep::Files(files))
            }
        }
        deserializer.deserialize_any(Shape)
    }
}

/// The fields of a restart (`RestartRequest`), and `expect` with the counts it must make.
#[derive(Debug)]
pub(super) struct RestartStep {
    pub request: RestartRequest,
    pub expect: Option<MigrationCounts>,
}

impl<'de> Deserialize<'de> for RestartStep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (request, expect) = with_own_key(deserializer, "restart", "expect")?;
        Ok(Self { request, expect })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MigrateStep {
    /// A plan file, relative to the scenario.
    pub plan: String,
    pub expect: Option<MigrationCounts>,
}

/// `expect: { done: N, skipped: N, failed: N }` of a migration: each count given is exact.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MigrationCounts {
    pub done: Option<i64>,
    pub skipped: Option<i64>,
    pub failed: Option<i64>,
}

/// A code or an id as YAML writes it: `101` and `"101"` are the same word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Word(pub String);

impl<'de> Deserialize<'de> for Word {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Scalar;
        impl Visitor<'_> for Scalar {
            type Value = Word;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a word or a number")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Word, E> {
                Ok(Word(text.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Word, E> {
                Ok(Word(n.to_string()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Word, E> {
                Ok(Word(n.to_string()))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Word, E> {
                Ok(Word(n.to_string()))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Word, E> {
                Ok(Word(b.to_string()))
            }
        }
        deserializer.deserialize_any(Scalar)
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StepVisitor)
    }
}

struct StepVisitor;

impl<'de> Visitor<'de> for StepVisitor {
    type Value = Step;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a step, a mapping with one of {}", ACTS.join(", "))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Step, A::Error> {
        let mut act = None;
        let mut expect_error = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "expect_error" {
                if expect_error.is_some() {
                    return Err(de::Error::duplicate_field("expect_error"));
                }
                expect_error = Some(map.next_value()?);
                continue;
            }
            if let Some(first) = &act {
                return Err(de::Error::custom(format!(
                    "a step does one thing: `{key}` after `{}`",
                    act_name(first)
                )));
            }
            act = Some(match key.as_str() {
                "message" => Act::Message(map.next_value()?),
                "advance" => Act::Advance(map.next_value()?),
                "start" => Act::Start(map.next_value()?),
                "complete" => Act::Complete(map.next_value()?),
                "schedule" => Act::Schedule(map.next_value()?),
                "remove_schedule" => Act::RemoveSchedule(map.next_value()?),
                "run_job" => Act::RunJob(map.next_value()?),
                "deploy" => Act::Deploy(map.next_value()?),
                "restart" => Act::Restart(map.next_value()?),
                "migrate" => Act::Migrate(map.next_value()?),
                "expect" => Act::Expect(map.next_value::<OneOrMany>()?.0),
                _ => return Err(de::Error::unknown_field(&key, ACTS)),
            });
        }
        let act = act
            .ok_or_else(|| de::Error::custom(format!("a step needs one of {}", ACTS.join(", "))))?;
        if matches!(act, Act::Expect(_)) && expect_error.is_some() {
            return Err(de::Error::custom(
                "`expect_error` is for a step that may be refused; an `expect` step is not",
            ));
        }
        Ok(Step { act, expect_error })
    }
}

fn act_name(act: &Act) -> &'static str {
    match act {
        Act::Message(_) => "message",
        Act::Advance(_) => "advance",
        Act::Start(_) => "start",
        Act::Complete(_) => "complete",
        Act::Schedule(_) => "schedule",
        Act::RemoveSchedule(_) => "remove_schedule",
        Act::RunJob(_) => "run_job",
        Act::Deploy(_) => "deploy",
        Act::Restart(_) => "restart",
        Act::Migrate(_) => "migrate",
        Act::Expect(_) => "expect",
    }
}

/// `expect:` in a step takes one expectation or a list of them.
struct OneOrMany(Vec<Expected>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Shape;
        impl<'de> Visitor<'de> for Shape {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an expectation or a list of them")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut all = Vec::new();
                while let Some(one) = seq.next_element()? {
                    all.push(one);
                }
                Ok(OneOrMany(all))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OneOrMany, A::Error> {
                let one = Expected::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(OneOrMany(vec![one]))
            }
        }
        deserializer.deserialize_any(Shape)
    }
}

/// A request type of the API (`T`, which refuses keys it does not know) with one key of the
/// scenario's own beside it (`own`): the mapping is split, and each part read as its type.
fn with_own_key<'de, D, T, O>(
    deserializer: D,
    step: &str,
    own: &str,
) -> Result<(T, Option<O>), D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
    O: DeserializeOwned,
{
    let mut fields = Map::<String, Value>::deserialize(deserializer)?;
    let extra = fields
        .remove(own)
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| de::Error::custom(format!("{step}.{own}: {e}")))?;
    let request = serde_json::from_value(Value::Object(fields))
        .map_err(|e| de::Error::custom(format!("{step}: {e}")))?;
    Ok((request, extra))
}

/// The step as written in the file from its position on: its first line and the lines
/// indented below it, on one line and shortened, for the timeline and failures.
pub(super) fn as_written(text: &str, (line, column): (u64, u64)) -> String {
    let Some(first) = usize::try_from(line).ok().and_then(|l| l.checked_sub(1)) else {
        return String::new();
    };
    let indent = usize::try_from(column).unwrap_or(1).saturating_sub(1);
    let mut lines = text.lines().skip(first);
    let Some(head) = lines.next() else {
        return String::new();
    };
    let mut written: Vec<&str> = vec![head.get(indent..).unwrap_or(head).trim()];
    for next in lines {
        let body = next.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        if next.len() - body.len() < indent
            || body.starts_with("- ") && next.len() - body.len() <= indent
        {
            break;
        }
        written.push(body.trim_end());
    }
    shorten(&written.join(" "))
}

/// At most 120 characters, cut at a character.
pub(super) fn shorten(text: &str) -> String {
    match text.char_indices().nth(117) {
        Some((cut, _)) if text.chars().count() > 120 => format!("{}…", &text[..cut]),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{Act, DeployStep, ScenarioFile, as_written};

    fn parse(steps: &str) -> Result<ScenarioFile, (u64, u64, String)> {
        let text = format!("scenario: s\nclock: 2025-06-02T09:00:00+02:00\nsteps:\n{steps}");
        serde_saphyr::from_str_with_options(&text, crate::definition::yaml_options()).map_err(
            |e: serde_saphyr::Error| {
                let at = crate::definition::yaml_diagnostic("s.yaml", &e);
                (at.line, at.column, at.message)
            },
        )
    }

    #[test]
    fn every_kind_of_step_reads_into_its_own_shape() {
        let file = parse(
            r#"  - message: { type: demo.move, data: { message_id: m1, person: "0101501234" } }
  - advance: { by: P1D }
  - start: { process: p, subject: 0101501234, as: { municipality: 101, role: admin } }
  - complete: { task: review, subject: "0101501234", form: { decision: approve } }
    expect_error: { status: 404 }
  - schedule: { process: job, start_time: "02:30", weekdays: [mon], warning: none }
  - remove_schedule: { process: job }
  - run_job: { process: job, confirmed: true }
  - deploy: package
  - deploy: [ ../v1/a.yaml ]
  - restart: { process: p, expect: { done: 1 } }
  - migrate: { plan: plan.yaml, expect: { failed: 0 } }
  - expect: { task: { count: 0 } }
"#,
        )
        .expect("parses");
        let acts: Vec<&Act> = file.steps.iter().map(|s| &s.value().act).collect();
        assert!(
            matches!(acts[2], Act::Start(s) if s.subject.0 == "0101501234"
            && s.actor.municipality.as_ref().is_some_and(|m| m.0 == "101"))
        );
        assert_eq!(
            file.steps[3]
                .value()
                .expect_error
                .as_ref()
                .map(|e| e.status),
            Some(404)
        );
        assert!(
            matches!(acts[4], Act::Schedule(s) if s.request.process == "job"
            && s.warning.as_ref().is_some_and(|w| w.0 == "none"))
        );
        assert!(matches!(acts[7], Act::Deploy(DeployStep::Package)));
        assert!(matches!(acts[8], Act::Deploy(DeployStep::Files(f)) if f == &["../v1/a.yaml"]));
        assert!(
            matches!(acts[9], Act::Restart(r) if r.request.process == "p"
            && r.expect.as_ref().is_some_and(|e| e.done == Some(1)))
        );
        assert!(matches!(acts[11], Act::Expect(list) if list.len() == 1));
        assert_eq!(
            file.steps[2].line_col(),
            (6, 5),
            "a step knows where it is written"
        );
    }

    #[test]
    fn a_mistake_in_a_step_stops_the_file_at_its_line_and_column() {
        let cases = [
            ("  - strat: { process: p }\n", 4, "unknown field `strat`"),
            (
                "  - start: { process: p, subjet: x }\n",
                4,
                "unknown field `subjet`",
            ),
            (
                "  - advance: { by: P1D }\n  - start: { process: p, subject: x, as: { role: boss } }\n",
                5,
                "`as.role` `boss` is not a role",
            ),
            (
                "  - start: { process: p, subject: x }\n    advance: { by: P1D }\n",
                4,
                "a step does one thing",
            ),
            (
                "  - advance: { to: 2025-06-03T09:00:00+02:00, by: P1D }\n",
                4,
                "advance takes `to` or `by`, not both",
            ),
            ("  - advance: {}\n", 4, "advance needs `to` or `by`"),
            (
                "  - expect: { task: { count: 0 } }\n    expect_error: { status: 404 }\n",
                4,
                "an `expect` step is not",
            ),
            (
                "  - expect_error: { status: 403 }\n",
                4,
                "a step needs one of",
            ),
            ("  - deploy: everything\n", 4, "`package` or a list"),
            (
                "  - schedule: { process: job, start_tme: \"02:30\" }\n",
                4,
                "unknown field `start_tme`",
            ),
            (
                "  - restart: { process: p, expect: { dne: 1 } }\n",
                4,
                "unknown field `dne`",
            ),
            (
                "  - complete: { task: t, expect_error: 403 }\n",
                4,
                "unknown field `expect_error`",
            ),
        ];
        for (steps, line, says) in cases {
            let (at, _, message) = parse(steps).map(|_| ()).expect_err(steps);
            assert_eq!(at, line, "{steps}: {message}");
            assert!(message.contains(says), "{steps}: {message}");
        }
    }

    #[test]
    fn a_step_as_written_is_its_lines_on_one_line() {
        let text = "steps:\n  - start: { process: p,\n             subject: x }\n    # a comment\n    expect_error: { status: 403 }\n  - advance: { by: P1D }\n";
        assert_eq!(
            as_written(text, (2, 5)),
            "start: { process: p, subject: x } expect_error: { status: 403 }"
        );
        assert_eq!(as_written(text, (6, 5)), "advance: { by: P1D }");
        let long = format!(
            "steps:\n  - message: {{ data: {{ x: \"{}\" }} }}\n",
            "a".repeat(300)
        );
        assert_eq!(as_written(&long, (2, 5)).chars().count(), 118);
    }
}
