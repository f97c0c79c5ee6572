//! The CRD's structural schema, checked offline: types, required and unknown
//! fields, enums, patterns, bounds, lengths, item counts and formats — what
//! the API server checks before it runs the CEL rules.
//!
//! It walks the `openAPIV3Schema` of [`crate::api::crds`] itself, so it can
//! never disagree with the CRDs it checks against. It covers the keywords
//! those schemas use; `allOf`/`anyOf`/`oneOf`/`not`, which they do not use,
//! are not evaluated. An unknown field is an error, as with
//! `kubectl apply --validate=strict`: the API server would drop it silently,
//! and a misspelt `endDate` would lose a termination without a word.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::path::FieldPath;

/// One way a value breaks its schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub path: FieldPath,
    pub message: String,
}

/// Every violation of `schema` by `value`, `value` being at `path`.
pub fn check(schema: &Value, value: &Value, path: &FieldPath) -> Vec<Violation> {
    let mut violations = Vec::new();
    walk(schema, value, path, &mut violations);
    violations
}

fn walk(schema: &Value, value: &Value, path: &FieldPath, out: &mut Vec<Violation>) {
    let mut fail = |message: String| {
        out.push(Violation {
            path: path.clone(),
            message,
        });
    };
    // A null in a field that is not nullable is pruned by the API server:
    // the field counts as absent, which `required` catches in the parent.
    if value.is_null() {
        return;
    }
    if flag(schema, "x-kubernetes-int-or-string") {
        if !(is_integer(value) || value.is_string()) {
            fail(format!(
                "must be an integer or a string such as \"10Gi\", not {}",
                describe(value)
            ));
        }
        return;
    }
    let Some(kind) = schema.get("type").and_then(Value::as_str) else {
        return;
    };
    if !has_type(value, kind) {
        fail(wrong_type(kind, value));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let names: Vec<String> = allowed.iter().map(plain).collect();
        fail(format!(
            "{} is not one of {}",
            describe_short(value),
            names.join(", ")
        ));
        return;
    }
    match value {
        Value::Object(object) => walk_object(schema, object, path, out),
        Value::Array(items) => {
            if let Some(message) = count_bounds(schema, items.len()) {
                fail(message);
            }
            if let Some(item_schema) = schema.get("items") {
                for (index, item) in items.iter().enumerate() {
                    walk(item_schema, item, &path.index(index), out);
                }
            }
        }
        Value::String(text) => {
            if let Some(message) = string_violation(schema, text) {
                fail(message);
            }
        }
        Value::Number(_) => {
            if let Some(message) = number_violation(schema, value) {
                fail(message);
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
}

fn walk_object(
    schema: &Value,
    object: &Map<String, Value>,
    path: &FieldPath,
    out: &mut Vec<Violation>,
) {
    let empty = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let additional = schema.get("additionalProperties");
    let open = flag(schema, "x-kubernetes-preserve-unknown-fields")
        || additional.is_some_and(|a| a.is_object() || a == &Value::Bool(true));
    // A misspelt required field is one mistake: "unknown field (did you mean
    // count?)" says it all, "count: required field is missing" would repeat it.
    let mut meant = Vec::new();
    for (key, child) in object {
        match properties.get(key) {
            Some(child_schema) => walk(child_schema, child, &path.key(key), out),
            None => match additional.filter(|a| a.is_object()) {
                Some(child_schema) => walk(child_schema, child, &path.key(key), out),
                None if open => {}
                None => {
                    let suggestion = suggest(key, properties);
                    meant.extend(suggestion);
                    out.push(Violation {
                        path: path.key(key),
                        message: unknown_field(suggestion, properties),
                    });
                }
            },
        }
    }
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let nullable = properties
            .get(required)
            .is_some_and(|child| flag(child, "nullable"));
        match object.get(required) {
            None if meant.contains(&required) => continue,
            None => {}
            Some(Value::Null) if !nullable => {}
            Some(_) => continue,
        }
        out.push(Violation {
            path: path.key(required),
            message: "required field is missing".into(),
        });
    }
}

fn flag(schema: &Value, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool) == Some(true)
}

fn is_integer(value: &Value) -> bool {
    value.as_i64().is_some() || value.as_u64().is_some()
}

fn has_type(value: &Value, kind: &str) -> bool {
    match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => is_integer(value),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        _ => true,
    }
}

fn wrong_type(kind: &str, value: &Value) -> String {
    let expected = match kind {
        "object" => "a mapping (key: value)",
        "array" => "a list",
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "true or false",
        other => other,
    };
    let mut message = format!("must be {expected}, not {}", describe(value));
    // The classic slip: a number or a boolean written in quotes.
    if let Value::String(text) = value {
        let unquoted = match kind {
            "integer" => text.parse::<i64>().is_ok(),
            "number" => text.parse::<f64>().is_ok(),
            "boolean" => text == "true" || text == "false",
            _ => false,
        };
        if unquoted {
            message.push_str(" (write it without quotes)");
        }
    }
    if kind == "string" && (value.is_number() || value.is_boolean()) {
        let _ = write!(message, " (quote it: \"{}\")", plain(value));
    }
    message
}

/// A value as a message shows it: `the string "3875"`, `the number 12`.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

fn describe_short(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => plain(other),
    }
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The known field `key` is a misspelling of, if one is close.
fn suggest<'s>(key: &str, properties: &'s Map<String, Value>) -> Option<&'s str> {
    closest(key, properties.keys().map(String::as_str))
}

/// The candidate `name` is most likely a misspelling of, if one is close
/// enough (a couple of letters, more for long names), for "did you mean".
pub fn closest<'n>(name: &str, candidates: impl Iterator<Item = &'n str>) -> Option<&'n str> {
    let name = name.to_lowercase();
    candidates
        .map(|candidate| (distance(&name, &candidate.to_lowercase()), candidate))
        .filter(|(d, candidate)| *d <= 2.max(candidate.len() / 4))
        .min()
        .map(|(_, candidate)| candidate)
}

fn unknown_field(suggestion: Option<&str>, properties: &Map<String, Value>) -> String {
    match suggestion {
        Some(known) => format!("unknown field (did you mean {known}?)"),
        None if properties.is_empty() => "unknown field: this object has no fields".into(),
        None => {
            let known: Vec<&str> = properties.keys().map(String::as_str).collect();
            format!("unknown field; the fields here are {}", known.join(", "))
        }
    }
}

/// Levenshtein distance, for "did you mean".
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

fn bound(schema: &Value, name: &str) -> Option<u64> {
    schema.get(name).and_then(Value::as_u64)
}

fn count_bounds(schema: &Value, count: usize) -> Option<String> {
    let count = count as u64;
    let plural = |n: u64| if n == 1 { "item" } else { "items" };
    if let Some(min) = bound(schema, "minItems").filter(|min| count < *min) {
        return Some(format!(
            "must have at least {min} {}, found {count}",
            plural(min)
        ));
    }
    if let Some(max) = bound(schema, "maxItems").filter(|max| count > *max) {
        return Some(format!(
            "must have at most {max} {}, found {count}",
            plural(max)
        ));
    }
    None
}

fn string_violation(schema: &Value, text: &str) -> Option<String> {
    let length = text.chars().count() as u64;
    if let Some(min) = bound(schema, "minLength").filter(|min| length < *min) {
        return Some(if min == 1 {
            "must not be empty".into()
        } else {
            format!("must be at least {min} characters long, found {length}")
        });
    }
    if let Some(max) = bound(schema, "maxLength").filter(|max| length > *max) {
        return Some(format!(
            "must be at most {max} characters long, found {length}"
        ));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        // The API server's patterns are RE2, which `regex` implements; a
        // pattern it cannot compile is a bug of the CRD, not of the manifest.
        let matches = regex::Regex::new(pattern).map_or(true, |re| re.is_match(text));
        if !matches {
            let mut message = format!("{text:?} does not match {pattern}");
            if let Some(what) = first_sentence(schema) {
                let _ = write!(message, " ({what})");
            }
            return Some(message);
        }
    }
    match schema.get("format").and_then(Value::as_str) {
        Some("date") if !is_date(text) => Some(format!(
            "{text:?} is not a date: write YYYY-MM-DD, e.g. \"2026-01-01\""
        )),
        Some("date-time") if text.parse::<jiff::Timestamp>().is_err() => Some(format!(
            "{text:?} is not a date-time: write RFC 3339, e.g. \"2026-01-01T00:00:00Z\""
        )),
        _ => None,
    }
}

/// `YYYY-MM-DD` naming a day that exists, as the API server's `date` format.
fn is_date(text: &str) -> bool {
    let shape = text.len() == 10
        && text.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    shape && text.parse::<jiff::civil::Date>().is_ok()
}

/// The first sentence of the field's description: what the field is, for a
/// message that must say what a valid value looks like.
fn first_sentence(schema: &Value) -> Option<String> {
    let description = schema.get("description")?.as_str()?.replace('\n', " ");
    // A sentence ends at ". " before a capital letter; "e.g. \"56001\"" does not end one.
    let end = description
        .match_indices(". ")
        .find(|(i, _)| {
            description[i + 2..]
                .chars()
                .next()
                .is_some_and(char::is_uppercase)
        })
        .map_or(description.len(), |(i, _)| i);
    Some(description[..end].trim_end_matches('.').to_owned())
}

fn number_violation(schema: &Value, value: &Value) -> Option<String> {
    let number = value.as_f64()?;
    let shown = plain(value);
    let limit = |name: &str| schema.get(name).and_then(Value::as_f64);
    let show = |limit: f64| {
        if limit.fract() == 0.0 && limit.abs() < 1e15 {
            format!("{limit:.0}")
        } else {
            limit.to_string()
        }
    };
    let exclusive = |name: &str| flag(schema, name);
    if let Some(min) = limit("minimum")
        && (number < min || (exclusive("exclusiveMinimum") && number <= min))
    {
        return Some(format!("{shown} is below the minimum {}", show(min)));
    }
    if let Some(max) = limit("maximum")
        && (number > max || (exclusive("exclusiveMaximum") && number >= max))
    {
        return Some(format!("{shown} is above the maximum {}", show(max)));
    }
    let fits = match schema.get("format").and_then(Value::as_str) {
        Some("int32") => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        Some("int64") => value.as_i64().is_some(),
        _ => true,
    };
    (!fits).then(|| format!("{shown} is out of range"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn messages(schema: &Value, value: &Value) -> Vec<String> {
        check(schema, value, &FieldPath::root().key("spec"))
            .into_iter()
            .map(|v| format!("{}: {}", v.path, v.message))
            .collect()
    }

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["inseeCode", "population"],
            "properties": {
                "inseeCode": {
                    "type": "string",
                    "pattern": "^([0-9]{5}|2[AB][0-9]{3})$",
                    "description": "INSEE code of the commune: five characters. Not a postcode."
                },
                "population": {
                    "type": "object",
                    "required": ["count"],
                    "properties": {
                        "count": {"type": "integer", "format": "int64", "minimum": 1.0},
                        "year": {"type": "integer", "format": "int32", "maximum": 2100.0}
                    }
                },
                "offer": {"type": "string", "enum": ["Audit", "SocleComplet"]},
                "effectiveDate": {"type": "string", "format": "date"},
                "siteCidrs": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
                "size": {"x-kubernetes-int-or-string": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "note": {"type": "string", "nullable": true, "minLength": 1}
            }
        })
    }

    #[test]
    fn a_valid_value_has_no_violation() {
        let value = json!({
            "inseeCode": "2A004", "population": {"count": 3875, "year": 2021},
            "offer": "Audit", "effectiveDate": "2024-02-29", "siteCidrs": ["10.0.0.0/8"],
            "size": "10Gi", "labels": {"a": "b"}, "note": null
        });
        assert_eq!(messages(&schema(), &value), Vec::<String>::new());
    }

    #[test]
    fn each_mistake_is_named_with_its_field() {
        let value = json!({
            "inseeCode": "5600",
            "population": {"count": "3875", "yaer": 2021},
            "offer": "Socle",
            "effectiveDate": "2026-02-30",
            "siteCidrs": [],
            "size": 1.5,
            "labels": {"departement": 56},
            "note": ""
        });
        let mut found = messages(&schema(), &value);
        found.sort();
        assert_eq!(
            found,
            [
                "spec.effectiveDate: \"2026-02-30\" is not a date: write YYYY-MM-DD, e.g. \"2026-01-01\"",
                "spec.inseeCode: \"5600\" does not match ^([0-9]{5}|2[AB][0-9]{3})$ (INSEE code of the commune: five characters)",
                "spec.labels.departement: must be a string, not the number 56 (quote it: \"56\")",
                "spec.note: must not be empty",
                "spec.offer: \"Socle\" is not one of Audit, SocleComplet",
                "spec.population.count: must be an integer, not the string \"3875\" (write it without quotes)",
                "spec.population.yaer: unknown field (did you mean year?)",
                "spec.siteCidrs: must have at least 1 item, found 0",
                "spec.size: must be an integer or a string such as \"10Gi\", not the number 1.5",
            ]
        );
    }

    #[test]
    fn missing_and_null_required_fields_are_reported_once() {
        let value = json!({"population": null});
        assert_eq!(
            messages(&schema(), &value),
            [
                "spec.inseeCode: required field is missing",
                "spec.population: required field is missing"
            ]
        );
    }

    #[test]
    fn a_misspelt_required_field_is_one_mistake() {
        let value = json!({"inseeCode": "56001", "population": {"cuont": 3875}});
        assert_eq!(
            messages(&schema(), &value),
            ["spec.population.cuont: unknown field (did you mean count?)"]
        );
    }

    #[test]
    fn bounds_and_formats_of_numbers() {
        let value =
            json!({"inseeCode": "56001", "population": {"count": 0, "year": 99_999_999_999_i64}});
        assert_eq!(
            messages(&schema(), &value),
            [
                "spec.population.count: 0 is below the minimum 1",
                "spec.population.year: 99999999999 is above the maximum 2100"
            ]
        );
    }

    #[test]
    fn an_unknown_field_far_from_any_lists_the_fields() {
        let value = json!({"inseeCode": "56001", "population": {"count": 1, "inhabitants": 3}});
        assert_eq!(
            messages(&schema(), &value),
            ["spec.population.inhabitants: unknown field; the fields here are count, year"]
        );
    }
}
