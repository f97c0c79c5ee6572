//! Paths to a field (`spec.subscriptions[1].endDate`) and the line of a
//! document that field is written on.
//!
//! Finding the line reads the document's text as block-style YAML, the way
//! manifests are written by hand. Where the text is not that simple (flow
//! style `{…}`, a field the document does not have), the line of the nearest
//! ancestor found is used: a message always points somewhere in its document.

use std::fmt;

/// One step of a [`FieldPath`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// Where a field is in an object, e.g. `spec.subscriptions[1].endDate`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// The object itself.
    pub fn root() -> Self {
        Self::default()
    }

    /// Parses `spec.subscriptions[1].endDate`; also accepts a leading `.`,
    /// as CEL field paths are written.
    pub fn parse(text: &str) -> Self {
        let mut segments = Vec::new();
        for part in text.split('.').filter(|part| !part.is_empty()) {
            let (key, mut rest) = part
                .split_once('[')
                .map_or((part, ""), |(key, rest)| (key, rest));
            if !key.is_empty() {
                segments.push(Segment::Key(key.to_owned()));
            }
            while let Some((index, after)) = rest.split_once(']') {
                if let Ok(index) = index.parse() {
                    segments.push(Segment::Index(index));
                }
                rest = after.strip_prefix('[').unwrap_or(after);
            }
        }
        Self(segments)
    }

    #[must_use]
    pub fn key(&self, key: &str) -> Self {
        let mut path = self.clone();
        path.0.push(Segment::Key(key.to_owned()));
        path
    }

    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        let mut path = self.clone();
        path.0.push(Segment::Index(index));
        path
    }

    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                // A label key has dots and slashes of its own.
                Segment::Key(key) if key.contains(['.', '/', '[']) => write!(f, "[{key:?}]")?,
                Segment::Key(key) if i == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// One line of the document's text, as the locator sees it.
#[derive(Debug)]
struct Line<'a> {
    /// Column of a leading `- ` (a sequence item), if any.
    dash: Option<usize>,
    /// Column where the content starts (after the `- `, if any).
    column: usize,
    content: &'a str,
}

fn parse_line(text: &str) -> Option<Line<'_>> {
    let indent = text.len() - text.trim_start_matches(' ').len();
    let rest = &text[indent..];
    if rest.is_empty() || rest.starts_with('#') || rest.starts_with("---") {
        return None;
    }
    if let Some(after) = rest
        .strip_prefix("- ")
        .or(if rest == "-" { Some("") } else { None })
    {
        let inner = after.len() - after.trim_start_matches(' ').len();
        return Some(Line {
            dash: Some(indent),
            column: indent + 2 + inner,
            content: after.trim_start_matches(' '),
        });
    }
    Some(Line {
        dash: None,
        column: indent,
        content: rest,
    })
}

/// Whether `content` is the mapping entry `key: …`.
fn is_key(content: &str, key: &str) -> bool {
    [key.to_owned(), format!("\"{key}\""), format!("'{key}'")]
        .iter()
        .any(|written| {
            content
                .strip_prefix(written.as_str())
                .is_some_and(|rest| rest.starts_with(':'))
        })
}

/// The line (1-based, in the file) where `path` is written in a document that
/// starts on `first_line` with `text`; the nearest ancestor's line when the
/// field itself cannot be found, `first_line` at worst.
pub fn locate(text: &str, first_line: usize, path: &FieldPath) -> usize {
    let lines: Vec<Option<Line<'_>>> = text.lines().map(parse_line).collect();
    // The block being searched, `[start, end)`.
    let mut start = 0;
    let mut end = lines.len();
    let mut found = first_line;
    for segment in path.segments() {
        let Some((line, block_end)) = (match segment {
            Segment::Key(key) => find_key(&lines, start, end, key),
            Segment::Index(index) => find_item(&lines, start, end, *index),
        }) else {
            break;
        };
        found = first_line + line;
        // The field's value: the item's own line for a sequence item (its
        // first key shares the line), the lines below for a mapping key.
        start = if matches!(segment, Segment::Index(_)) {
            line
        } else {
            line + 1
        };
        end = block_end;
    }
    found
}

/// Leftmost significant column of a line: its `- ` or its content.
fn indent(line: &Line<'_>) -> usize {
    line.dash.unwrap_or(line.column)
}

/// The line of `key` among the entries of the mapping in `[start, end)`,
/// and the end of its value.
fn find_key(
    lines: &[Option<Line<'_>>],
    start: usize,
    end: usize,
    key: &str,
) -> Option<(usize, usize)> {
    let column = (start..end).find_map(|i| lines[i].as_ref().map(|line| line.column))?;
    (start..end)
        .find(|&i| {
            lines[i].as_ref().is_some_and(|line| {
                // A `- ` line is an entry only as the block's first line (the
                // first key of a sequence item); elsewhere it is an item of a
                // sequence written at the key's own column.
                line.column == column
                    && (line.dash.is_none() || i == start)
                    && is_key(line.content, key)
            })
        })
        .map(|i| (i, value_end(lines, i + 1, end, column)))
}

/// The line of item `index` of the sequence in `[start, end)`, and its end.
fn find_item(
    lines: &[Option<Line<'_>>],
    start: usize,
    end: usize,
    index: usize,
) -> Option<(usize, usize)> {
    let first = (start..end).find(|&i| lines[i].is_some())?;
    let dash = lines[first].as_ref()?.dash?;
    (first..end)
        .filter(|&i| {
            lines[i]
                .as_ref()
                .is_some_and(|line| line.dash == Some(dash))
        })
        .nth(index)
        .map(|i| {
            let item_end = (i + 1..end)
                .find(|&j| lines[j].as_ref().is_some_and(|line| indent(line) <= dash))
                .unwrap_or(end);
            (i, item_end)
        })
}

/// End of the value of a key written at `column`: the next line left of
/// it, or at its column but not an item of a sequence written there.
fn value_end(lines: &[Option<Line<'_>>], from: usize, end: usize, column: usize) -> usize {
    (from..end)
        .find(|&i| {
            lines[i].as_ref().is_some_and(|line| {
                indent(line) < column || (indent(line) == column && line.dash != Some(column))
            })
        })
        .unwrap_or(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMBER: &str = r#"apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: Member
metadata:
  name: allaire   # the tenant is commune-allaire
spec:
  displayName: Allaire
  population:
    count: 3875
    year: 2021
  subscriptions:
    - offer: Audit
      effectiveDate: "2025-02-01"

    - offer: SocleComplet
      effectiveDate: "2025-09-01"
      endDate: "2027-08-31"
  vpn:
    gateway: vpn-datacenter
    siteCidrs:
    - 192.168.10.0/24
    - 192.168.11.0/24
    router: {address: r.example, dialect: openwrt}
"#;

    fn line(path: &str) -> usize {
        locate(MEMBER, 10, &FieldPath::parse(path)) - 9
    }

    #[test]
    fn paths_print_as_people_write_them() {
        let path = FieldPath::parse(".spec.subscriptions[1].endDate");
        assert_eq!(path.to_string(), "spec.subscriptions[1].endDate");
        assert_eq!(
            FieldPath::root().key("spec").index(0).to_string(),
            "spec[0]"
        );
        assert_eq!(FieldPath::parse("a[0][2].b").to_string(), "a[0][2].b");
        let label = FieldPath::root()
            .key("metadata")
            .key("labels")
            .key("example.org/a");
        assert_eq!(label.to_string(), "metadata.labels[\"example.org/a\"]");
    }

    #[test]
    fn fields_are_found_on_their_own_line() {
        assert_eq!(line("metadata.name"), 4);
        assert_eq!(line("spec.population.year"), 9);
        assert_eq!(line("spec.subscriptions"), 10);
        assert_eq!(line("spec.subscriptions[0]"), 11);
        assert_eq!(line("spec.subscriptions[0].offer"), 11);
        assert_eq!(line("spec.subscriptions[0].effectiveDate"), 12);
        assert_eq!(line("spec.subscriptions[1].offer"), 14);
        assert_eq!(line("spec.subscriptions[1].endDate"), 16);
        assert_eq!(line("spec.vpn.siteCidrs[1]"), 21);
        assert_eq!(line("spec.vpn.gateway"), 18);
    }

    #[test]
    fn a_field_not_written_points_at_its_nearest_ancestor() {
        assert_eq!(line("spec.subscriptions[0].endDate"), 11);
        assert_eq!(line("spec.tariffOverride"), 5);
        assert_eq!(line("spec.vpn.router.address"), 22);
        assert_eq!(line("spec.subscriptions[7]"), 10);
        assert_eq!(line(""), 1);
    }

    proptest::proptest! {
        /// Whatever the text and the path, the line is one of the document's.
        #[test]
        fn the_line_is_always_in_the_document(
            text in "([ -]{0,6}[a-z]{0,3}(: ?[a-z0-9]{0,3})?\n){0,12}",
            keys in proptest::collection::vec("[a-z]{0,3}", 0..5),
            first in 1_usize..100,
        ) {
            let mut path = FieldPath::root();
            for (i, key) in keys.iter().enumerate() {
                path = if i % 2 == 1 { path.index(key.len()) } else { path.key(key) };
            }
            let line = locate(&text, first, &path);
            proptest::prop_assert!(line >= first && line <= first + text.lines().count().max(1));
        }
    }

    #[test]
    fn a_key_is_not_found_in_a_sibling_block() {
        // `year` exists under population, not under spec itself.
        assert_eq!(line("spec.year"), 5);
        assert_eq!(line("spec.population.gateway"), 7);
    }
}
