//! Small inline SVG charts for the HTML reports: bars per day and lines per series. No script,
//! no external asset; every label is escaped.

use super::html_escape;
use std::fmt::Write;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 48.0;
/// Colours that stay apart for most readers (Okabe-Ito).
const PALETTE: [&str; 7] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
];

/// One named series of values, one per label.
pub struct Series<'a> {
    /// Its name in the legend.
    pub name: &'a str,
    /// One value per label.
    pub values: Vec<u64>,
}

/// A round upper bound for the axis and its tick step.
fn scale(max: u64) -> (u64, u64) {
    let max = max.max(1);
    let mut step = 1;
    while max.div_ceil(step) > 5 {
        step = next_step(step);
    }
    (max.div_ceil(step) * step, step)
}

/// The next step in 1, 2, 5, 10, 20, 50, ...
fn next_step(step: u64) -> u64 {
    let mut magnitude = 1;
    while magnitude * 10 <= step {
        magnitude *= 10;
    }
    match step / magnitude {
        1 => 2 * magnitude,
        2 => 5 * magnitude,
        _ => 10 * magnitude,
    }
}

fn frame(s: &mut String, title: &str, labels: &[String], top: u64, step: u64) -> (f64, f64) {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" font-family=\"system-ui, sans-serif\" font-size=\"11\">\n<title>{}</title>\n<text x=\"{LEFT}\" y=\"18\" font-size=\"14\" font-weight=\"600\">{}</text>\n",
        html_escape(title),
        html_escape(title)
    );
    let mut tick = 0;
    while tick <= top {
        let y = TOP + plot_h - plot_h * tick as f64 / top as f64;
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{tick}</text>",
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0
        );
        tick += step;
    }
    let slot = plot_w / labels.len().max(1) as f64;
    // At most about twelve labels under the axis.
    let every = labels.len().div_ceil(12).max(1);
    for (i, label) in labels.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let x = LEFT + slot * (i as f64 + 0.5);
        let _ = writeln!(
            s,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            TOP + plot_h + 16.0,
            html_escape(label)
        );
    }
    (slot, plot_h)
}

fn legend(s: &mut String, names: &[&str]) {
    let mut x = LEFT;
    for (i, name) in names.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let _ = writeln!(
            s,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            HEIGHT - 18.0,
            x + 14.0,
            HEIGHT - 9.0,
            html_escape(name)
        );
        x += 24.0 + 7.0 * name.chars().count() as f64;
    }
}

/// Stacked bars: per label, the series stacked in order.
pub fn stacked_bars(title: &str, labels: &[String], series: &[Series]) -> String {
    let totals: Vec<u64> = (0..labels.len())
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let (top, step) = scale(totals.iter().copied().max().unwrap_or(0));
    let mut s = String::new();
    let (slot, plot_h) = frame(&mut s, title, labels, top, step);
    for (i, label) in labels.iter().enumerate() {
        let mut base = 0;
        for (k, ser) in series.iter().enumerate() {
            let v = ser.values.get(i).copied().unwrap_or(0);
            if v == 0 {
                continue;
            }
            let y = TOP + plot_h - plot_h * (base + v) as f64 / top as f64;
            let h = plot_h * v as f64 / top as f64;
            let _ = writeln!(
                s,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{}: {} {v}</title></rect>",
                LEFT + slot * i as f64 + slot * 0.15,
                slot * 0.7,
                PALETTE[k % PALETTE.len()],
                html_escape(label),
                html_escape(ser.name)
            );
            base += v;
        }
    }
    legend(&mut s, &series.iter().map(|s| s.name).collect::<Vec<_>>());
    s.push_str("</svg>\n");
    s
}

/// Lines with points: one line per series.
pub fn lines(title: &str, labels: &[String], series: &[Series]) -> String {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0);
    let (top, step) = scale(max);
    let mut s = String::new();
    let (slot, plot_h) = frame(&mut s, title, labels, top, step);
    for (k, ser) in series.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let points: Vec<(f64, f64, u64)> = ser
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let x = LEFT + slot * (i as f64 + 0.5);
                let y = TOP + plot_h - plot_h * *v as f64 / top as f64;
                (x, y, *v)
            })
            .collect();
        let path: Vec<String> = points
            .iter()
            .map(|(x, y, _)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = writeln!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>",
            path.join(" ")
        );
        for ((x, y, v), label) in points.iter().zip(labels) {
            let _ = writeln!(
                s,
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{colour}\"><title>{}: {} {v}</title></circle>",
                html_escape(label),
                html_escape(ser.name)
            );
        }
    }
    legend(&mut s, &series.iter().map(|s| s.name).collect::<Vec<_>>());
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_ends_on_a_round_number_above_the_largest_value() {
        assert_eq!(scale(0), (1, 1));
        assert_eq!(scale(4), (4, 1));
        assert_eq!(scale(7), (8, 2));
        assert_eq!(scale(23), (25, 5));
        assert_eq!(scale(4_210), (5_000, 1_000));
    }

    #[test]
    fn charts_escape_their_labels_and_draw_every_value() {
        let labels = vec!["2026-06-01".to_string(), "2026-06-02".to_string()];
        let series = [
            Series {
                name: "deleted <b>",
                values: vec![3, 0],
            },
            Series {
                name: "anonymized",
                values: vec![1, 2],
            },
        ];
        let bars = stacked_bars("changed", &labels, &series);
        assert!(bars.starts_with("<svg") && bars.ends_with("</svg>\n"));
        assert!(!bars.contains("<b>") && bars.contains("deleted &lt;b&gt;"));
        assert_eq!(
            bars.matches("<rect").count(),
            3 + 2,
            "3 bars, 2 legend keys"
        );
        let l = lines("held", &labels, &series);
        assert_eq!(l.matches("<polyline").count(), 2);
        assert_eq!(l.matches("<circle").count(), 4);
    }
}
