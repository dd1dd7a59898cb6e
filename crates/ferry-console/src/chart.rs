//! Small inline SVG charts, drawn on the server from numbers only: no
//! script, no external file, and nothing a message could inject (the only
//! text in them is a title chosen here and numbers). Colours come from the
//! console's style sheet through classes.

use std::fmt::Write as _;

const WIDTH: u64 = 300;
const HEIGHT: u64 = 64;

/// One chart: a title for screen readers and the values to draw.
pub(crate) struct Chart<'a> {
    pub(crate) title: &'a str,
    /// The class of the marks, which picks their colour.
    pub(crate) class: &'a str,
    pub(crate) values: &'a [u64],
}

impl Chart<'_> {
    fn open(&self, out: &mut String) {
        let _ = write!(
            out,
            r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="none" role="img" aria-label="{title}"><title>{title}</title><line class="axis" x1="0" y1="{bottom}" x2="{WIDTH}" y2="{bottom}"/>"#,
            title = self.title,
            bottom = HEIGHT - 1,
        );
    }

    fn max(&self) -> u64 {
        self.values.iter().copied().max().unwrap_or(0).max(1)
    }

    /// One bar per value, side by side (the activity per minute, the
    /// backlog per partition).
    pub(crate) fn bars(&self) -> String {
        let mut out = String::new();
        self.open(&mut out);
        let n = u64::try_from(self.values.len()).unwrap_or(1).max(1);
        let slot = WIDTH as f64 / n as f64;
        let max = self.max() as f64;
        for (i, value) in self.values.iter().enumerate() {
            let height = (*value as f64 / max * (HEIGHT - 2) as f64).round();
            if *value > 0 {
                let _ = write!(
                    out,
                    r#"<rect class="{class}" x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{height:.2}"><title>{value}</title></rect>"#,
                    class = self.class,
                    x = i as f64 * slot + slot * 0.1,
                    y = (HEIGHT - 1) as f64 - height,
                    w = slot * 0.8,
                );
            }
        }
        out.push_str("</svg>");
        out
    }

    /// A line through the values, evenly spaced (a gauge over time).
    pub(crate) fn line(&self) -> String {
        let mut out = String::new();
        self.open(&mut out);
        let n = self.values.len();
        let max = self.max() as f64;
        let step = if n > 1 {
            WIDTH as f64 / (n - 1) as f64
        } else {
            0.0
        };
        let points: Vec<String> = self
            .values
            .iter()
            .enumerate()
            .map(|(i, value)| {
                let y = (HEIGHT - 1) as f64 - *value as f64 / max * (HEIGHT - 2) as f64;
                format!("{:.2},{y:.2}", i as f64 * step)
            })
            .collect();
        if !points.is_empty() {
            let _ = write!(
                out,
                r#"<polyline class="{class}" fill="none" points="{points}"/>"#,
                class = self.class,
                points = points.join(" "),
            );
        }
        out.push_str("</svg>");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_value_and_skip_zeros() {
        let chart = Chart {
            title: "t",
            class: "c",
            values: &[0, 5, 10],
        };
        let svg = chart.bars();
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains(r#"height="62.00""#), "{svg}");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn a_line_has_one_point_per_value() {
        let chart = Chart {
            title: "t",
            class: "c",
            values: &[1, 2, 3, 4],
        };
        let svg = chart.line();
        let points = svg.split("points=\"").nth(1).unwrap();
        assert_eq!(points.split('"').next().unwrap().split(' ').count(), 4);
    }
}
