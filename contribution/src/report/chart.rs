//! Bar charts as inline SVG: no script, no image file, and SVG fills are
//! printed even when the browser drops CSS backgrounds from the print.
//!
//! Lengths are computed in thousandths of the scale with integer arithmetic,
//! like the amounts they stand for.

use std::fmt::Write;

use super::escape;

/// Width of every chart's viewBox: one unit per thousandth of the scale.
const SCALE: i64 = 1_000;

/// One bar of a chart: a label, a value and how the value reads.
#[derive(Debug)]
pub(super) struct Bar<'a> {
    /// What the bar stands for, from the data (escaped when written).
    pub label: &'a str,
    /// The bar's length, in any unit shared by the chart's bars.
    pub value: i64,
    /// The value as people read it, printed next to the bar.
    pub shown: String,
    /// CSS class of the bar's fill, for its colour.
    pub class: &'static str,
}

/// `value` in thousandths of `max`, clamped to the scale: a negative value
/// draws nothing, and an empty scale draws nothing rather than dividing by zero.
fn length(value: i64, max: i64) -> i64 {
    if max <= 0 {
        return 0;
    }
    let thousandths = i128::from(value.clamp(0, max)) * i128::from(SCALE) / i128::from(max);
    i64::try_from(thousandths).unwrap_or(SCALE)
}

/// One bar scaled to `max`, stretched to the width of its container.
pub(super) fn bar(value: i64, max: i64, class: &str) -> String {
    format!(
        r#"<svg class="bar" viewBox="0 0 {SCALE} 10" preserveAspectRatio="none" aria-hidden="true"><rect class="track" width="{SCALE}" height="10"/><rect class="{class}" width="{}" height="10"/></svg>"#,
        length(value, max)
    )
}

/// A horizontal bar chart as a table (label, bar, value), every bar on the
/// scale of the longest one so that the bars compare.
pub(super) fn bars(caption: &str, rows: &[Bar<'_>]) -> String {
    let max = rows.iter().map(|row| row.value).max().unwrap_or(0);
    let mut html = format!(
        r#"<table class="chart"><caption>{}</caption><tbody>"#,
        escape(caption)
    );
    for row in rows {
        let _ = write!(
            html,
            r#"<tr><th scope="row">{}</th><td class="bar-cell">{}</td><td class="num">{}</td></tr>"#,
            escape(row.label),
            bar(row.value, max, row.class),
            escape(&row.shown),
        );
    }
    html.push_str("</tbody></table>");
    html
}

/// A mark on a gauge: a position on its scale and what it stands for.
#[derive(Debug)]
pub(super) struct Mark<'a> {
    pub at: i64,
    pub label: &'a str,
}

/// A gauge: `used` filled on a track as long as the largest of `used` and the
/// marks, each mark a labelled tick. The part of `used` beyond the first mark
/// (the allowance) is drawn in the overrun colour. Marks alternate their
/// labels above and below the track, so that two close marks stay readable;
/// `used_label` is written on the track, after the fill or inside a long one.
pub(super) fn gauge(used: i64, used_label: &str, marks: &[Mark<'_>]) -> String {
    let max = marks.iter().map(|mark| mark.at).fold(used, i64::max);
    let within = marks.first().map_or(used, |mark| used.min(mark.at));
    let filled = length(used, max);
    let (label_x, label_anchor, label_class) = if filled < 700 {
        (filled + 8, "start", "on-track")
    } else {
        (filled - 8, "end", "on-fill")
    };
    let mut svg = format!(
        r#"<svg class="gauge" viewBox="-10 0 {} 74" role="img"><rect class="track" y="24" width="{SCALE}" height="26"/><rect class="fill-overrun" y="24" width="{filled}" height="26"/><rect class="fill-1" y="24" width="{}" height="26"/><text class="{label_class}" x="{label_x}" y="42" text-anchor="{label_anchor}">{}</text>"#,
        SCALE + 20,
        length(within, max),
        escape(used_label),
    );
    for (index, mark) in marks.iter().enumerate() {
        let x = length(mark.at, max);
        let (y, anchor) = (if index % 2 == 0 { 16 } else { 68 }, anchor(x));
        let _ = write!(
            svg,
            r#"<line class="mark" x1="{x}" x2="{x}" y1="18" y2="56"/><text x="{x}" y="{y}" text-anchor="{anchor}">{}</text>"#,
            escape(mark.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Anchors a label so that it stays inside the chart at either end.
fn anchor(x: i64) -> &'static str {
    match x {
        ..200 => "start",
        800.. => "end",
        _ => "middle",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_thousandths_clamped() {
        assert_eq!(length(50, 200), 250);
        assert_eq!(length(200, 200), 1_000);
        assert_eq!(length(300, 200), 1_000);
        assert_eq!(length(-5, 200), 0);
        assert_eq!(length(5, 0), 0);
        assert_eq!(length(i64::MAX, i64::MAX), 1_000);
    }

    #[test]
    fn bars_share_one_scale_and_escape_labels() {
        let rows = [
            Bar {
                label: "Socle <complet>",
                value: 400,
                shown: "4,00 €".to_owned(),
                class: "fill-1",
            },
            Bar {
                label: "Audit",
                value: 100,
                shown: "1,00 €".to_owned(),
                class: "fill-2",
            },
        ];
        let html = bars("Par offre", &rows);
        assert!(
            html.contains(r#"<rect class="fill-1" width="1000""#),
            "{html}"
        );
        assert!(
            html.contains(r#"<rect class="fill-2" width="250""#),
            "{html}"
        );
        assert!(html.contains("Socle &lt;complet&gt;"), "{html}");
    }

    #[test]
    fn a_gauge_shows_the_overrun_beyond_the_allowance() {
        let marks = [
            Mark {
                at: 100,
                label: "franchises",
            },
            Mark {
                at: 200,
                label: "convention",
            },
        ];
        let over = gauge(150, "75 j", &marks);
        assert!(
            over.contains(r#"class="fill-overrun" y="24" width="750""#),
            "{over}"
        );
        assert!(
            over.contains(r#"class="fill-1" y="24" width="500""#),
            "{over}"
        );
        assert!(
            over.contains(r#"text-anchor="end">75 j<"#),
            "inside the long fill: {over}"
        );
        let under = gauge(50, "25 j", &marks);
        assert!(
            under.contains(r#"class="fill-overrun" y="24" width="250""#),
            "{under}"
        );
        assert!(
            under.contains(r#"class="fill-1" y="24" width="250""#),
            "{under}"
        );
        assert!(
            under.contains(r#"text-anchor="start">25 j<"#),
            "after the short fill: {under}"
        );
    }
}
