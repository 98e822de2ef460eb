//! Bar charts drawn on the server as SVG: no script, no library. Each chart
//! is an image with a title and a description for screen readers; the
//! page shows the same numbers in a table beside it, so the chart is never
//! the only way to read them.

use maud::{Markup, html};

/// One bar: its label (already translated) and its value; `None` for a
/// value that is withheld (drawn as an empty outline).
#[derive(Clone, Debug)]
pub struct Bar {
    pub label: String,
    pub value: Option<u64>,
}

/// Layout of a chart, in SVG user units.
const WIDTH: u32 = 480;
const ROW: u32 = 26;
const LABEL: u32 = 190;
const NUMBER: u32 = 60;

/// A horizontal bar chart of `bars`, titled `title` and described by
/// `desc` (both translated); `id` makes the title and description ids
/// unique on the page; `withheld` is the text written on a withheld bar.
pub fn bars(id: &str, title: &str, desc: &str, bars: &[Bar], withheld: &str) -> Markup {
    let max = bars
        .iter()
        .filter_map(|b| b.value)
        .max()
        .unwrap_or(0)
        .max(1);
    let height = ROW * (bars.len() as u32).max(1) + 8;
    let span = WIDTH - LABEL - NUMBER;
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" role="img"
            viewBox=(format!("0 0 {WIDTH} {height}"))
            aria-labelledby=(format!("{title_id} {desc_id}")) {
            title #(title_id) { (title) }
            desc #(desc_id) { (desc) }
            @for (i, bar) in bars.iter().enumerate() {
                @let y = 4 + ROW * i as u32;
                text.label x=(LABEL - 6) y=(y + ROW / 2 + 4) text-anchor="end" { (bar.label) }
                @match bar.value {
                    Some(v) => {
                        @let w = if v == 0 { 0 } else { ((u64::from(span) * v) / max).max(2) as u32 };
                        rect.bar x=(LABEL) y=(y + 3) width=(w) height=(ROW - 8) {}
                        text.value x=(LABEL + w + 6) y=(y + ROW / 2 + 4) { (v) }
                    }
                    None => {
                        rect.withheld x=(LABEL) y=(y + 3) width=(span / 4) height=(ROW - 8) {}
                        text.value x=(LABEL + span / 4 + 6) y=(y + ROW / 2 + 4) { (withheld) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_scaled_to_the_largest_and_withheld_values_are_marked() {
        let svg = bars(
            "k",
            "By kind",
            "Cases by kind",
            &[
                Bar {
                    label: "A".into(),
                    value: Some(10),
                },
                Bar {
                    label: "B".into(),
                    value: Some(5),
                },
                Bar {
                    label: "C".into(),
                    value: None,
                },
            ],
            "withheld",
        )
        .into_string();
        assert!(svg.contains(r#"role="img""#), "{svg}");
        assert!(svg.contains(r#"aria-labelledby="k-title k-desc""#), "{svg}");
        assert!(
            svg.contains(r#"width="230""#),
            "the largest bar spans the chart: {svg}"
        );
        assert!(
            svg.contains(r#"width="115""#),
            "half the largest is half as wide: {svg}"
        );
        assert!(svg.contains(r#"class="withheld""#), "{svg}");
        assert!(svg.contains(">withheld<"), "{svg}");
    }
}
