//! What the package adds to forms and messages: the `municipality` field type, the legal
//! reasons as reference data (domain Q1), and the check of `cpr.flytning` messages.

use forlob_engine::form::{Choice, FieldContext, FieldType};
use forlob_engine::message::{Code, Message};
use forlob_engine::registry::MessageType;
use serde_json::Value;

use super::kommuner;

/// One of the 98 municipalities, stored as its three-digit code.
pub(crate) struct Municipality;

impl FieldType for Municipality {
    fn parse(&self, raw: &Value, _ctx: &FieldContext<'_>) -> Result<Value, Message> {
        let code = match raw {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            other => return Err(Message::new(Code::NOT_MUNICIPALITY).with("value", other)),
        };
        match kommuner::find(&code) {
            Some(k) => Ok(Value::String(k.code.clone())),
            None => Err(Message::new(Code::NOT_MUNICIPALITY).with("value", code)),
        }
    }

    fn choices(&self) -> Vec<Choice> {
        kommuner::choices()
    }

    fn template(&self) -> &'static str {
        r#"<select id="f-{{field.name}}" name="{{field.name}}"><option value=""></option>{{#each choices}}<option value="{{this.value}}"{{#if (eq this.value ../value)}} selected{{/if}}>{{this.label}}</option>{{/each}}</select>"#
    }
}

/// The kinds of planned ydelser and træk a caseworker creates (`opret-ydelse-eller-traek`);
/// a kind whose name holds `traek` is a deduction, any other a benefit.
pub(crate) fn payment_kinds() -> Vec<Choice> {
    [
        ("personligt-tillaeg", "Personligt tillæg (ydelse)"),
        ("helbredstillaeg", "Helbredstillæg (ydelse)"),
        ("varmetillaeg", "Varmetillæg (ydelse)"),
        ("tilbagebetalingstraek", "Tilbagebetaling (træk)"),
        ("husleje-traek", "Husleje (træk)"),
    ]
    .into_iter()
    .map(|(value, label)| Choice {
        value: value.to_owned(),
        label: label.to_owned(),
    })
    .collect()
}

/// Whether a planned item of `kind` is a deduction (træk) rather than a benefit (ydelse).
pub(crate) fn item_type_of(kind: &str) -> &'static str {
    if kind.contains("traek") {
        "traek"
    } else {
        "ydelse"
    }
}

/// The reasons for a manual acting municipality (retssikkerhedsloven § 9), as data: the
/// unverified parts of the law (stk. 7-12) can change without a code change.
pub(crate) fn rsl9_reasons() -> Vec<Choice> {
    [
        ("rsl-9-stk-3", "§ 9, stk. 3-4: ophold i boform, anbringelse"),
        (
            "rsl-9-stk-5",
            "§ 9, stk. 5-6: KFUM's soldaterhjem, veteranhjem, Veteranbo",
        ),
        (
            "rsl-9-stk-9",
            "§ 9, stk. 9: aftale mellem kommuner (kræver samtykke)",
        ),
    ]
    .into_iter()
    .map(|(value, label)| Choice {
        value: value.to_owned(),
        label: label.to_owned(),
    })
    .collect()
}

/// `cpr.flytning`: {message_id, cpr, move_date, from, to | abroad: true}.
pub(crate) struct CprFlytning;

fn text(data: &Value, key: &str) -> Option<String> {
    match data.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl MessageType for CprFlytning {
    fn validate(&self, data: &Value) -> Result<(), String> {
        let cpr = text(data, "cpr").ok_or("cpr is missing")?;
        if cpr.len() != 10 || !cpr.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("cpr `{cpr}` is not ten digits"));
        }
        let date = text(data, "move_date").ok_or("move_date is missing")?;
        chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d")
            .map_err(|_| format!("move_date `{date}` is not a date"))?;
        let abroad = data.get("abroad").and_then(Value::as_bool).unwrap_or(false);
        match (abroad, text(data, "to")) {
            (true, Some(_)) => return Err("a move abroad has no `to` municipality".into()),
            (false, None) => return Err("`to` is missing (or say abroad: true)".into()),
            (false, Some(to)) if kommuner::find(&to).is_none() => {
                return Err(format!("`to` {to} is not a Danish municipality code"));
            }
            _ => {}
        }
        if let Some(from) = text(data, "from")
            && kommuner::find(&from).is_none()
        {
            return Err(format!("`from` {from} is not a Danish municipality code"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn move_messages_are_checked_before_anything_happens() {
        let ok = json!({"cpr": "0101501234", "move_date": "2025-06-03", "from": 101, "to": 147});
        assert!(CprFlytning.validate(&ok).is_ok());
        assert!(
            CprFlytning
                .validate(&json!({"cpr": "0101501234", "move_date": "2025-06-03", "abroad": true}))
                .is_ok()
        );
        let bad = [
            (
                json!({"cpr": "12", "move_date": "2025-06-03", "to": 147}),
                "ten digits",
            ),
            (
                json!({"cpr": "0101501234", "move_date": "2025-02-30", "to": 147}),
                "not a date",
            ),
            (
                json!({"cpr": "0101501234", "move_date": "2025-06-03", "to": 999}),
                "999 is not",
            ),
            (
                json!({"cpr": "0101501234", "move_date": "2025-06-03"}),
                "`to` is missing",
            ),
        ];
        for (data, why) in bad {
            let err = CprFlytning.validate(&data).expect_err("refused");
            assert!(err.contains(why), "{err}");
        }
    }
}
