//! Reports: JSON (the serialised results) and self-contained HTML with inline SVG plots
//! (ROC, FROC with its bootstrap band, calibration, subgroup forest plot). No script, no
//! style sheet or font from the network: one file that opens anywhere.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::classify::ClassificationMetrics;
use crate::froc::FrocResult;
use crate::stats::Estimate;
use crate::subgroup::SubgroupReport;

/// A classification report: the whole and its subgroups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationReport {
    /// What was evaluated (a model, a predictions file).
    pub title: String,
    /// Metrics over every case.
    pub overall: ClassificationMetrics,
    /// Metrics per subgroup, with flags.
    pub subgroups: SubgroupReport,
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;max-width:60em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}\
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.flag{color:#b00;font-weight:bold}\
svg{border:1px solid #ddd;margin:.5em 1em .5em 0}figure{display:inline-block;margin:0}";

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn fmt_estimate(e: Option<Estimate>) -> String {
    match e {
        Some(e) => format!("{:.4} ({:.4}–{:.4})", e.value, e.low, e.high),
        None => "—".to_string(),
    }
}

/// An x–y plot: axes from the given ranges, polylines (points, colour), an optional band
/// (x, low, high), a diagonal, and a log-2 x axis when asked.
struct Plot<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    x_range: (f64, f64),
    log2_x: bool,
    lines: Vec<(Vec<(f64, f64)>, &'a str)>,
    markers: Vec<(f64, f64)>,
    band: Vec<(f64, f64, f64)>,
    diagonal: bool,
}

impl Plot<'_> {
    fn svg(&self) -> String {
        let (w, h, m) = (360.0, 300.0, 45.0);
        let tx = |x: f64| {
            let (a, b) = self.x_range;
            let (x, a, b) = if self.log2_x {
                (x.max(a).log2(), a.log2(), b.log2())
            } else {
                (x, a, b)
            };
            m + (x - a) / (b - a) * (w - 1.5 * m)
        };
        let ty = |y: f64| h - m - y.clamp(0.0, 1.0) * (h - 1.6 * m);
        let mut s = format!(
            "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\">\
             <title>{}</title><text x=\"{}\" y=\"16\" text-anchor=\"middle\" font-size=\"13\">{}</text>",
            escape(self.title),
            w / 2.0,
            escape(self.title)
        );
        // axes and ticks
        let _ = write!(
            s,
            "<line x1=\"{m}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#000\"/><line x1=\"{m}\" y1=\"{}\" x2=\"{m}\" y2=\"{}\" stroke=\"#000\"/>",
            h - m,
            w - 0.5 * m,
            h - m,
            h - m,
            0.6 * m
        );
        for k in 0..=5 {
            let y = k as f64 / 5.0;
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{y:.1}</text>",
                m - 4.0,
                ty(y) + 3.0
            );
        }
        let ticks: Vec<f64> = if self.log2_x {
            let mut t = vec![];
            let mut x = self.x_range.0;
            while x <= self.x_range.1 * 1.0001 {
                t.push(x);
                x *= 2.0;
            }
            t
        } else {
            (0..=5)
                .map(|k| self.x_range.0 + (self.x_range.1 - self.x_range.0) * k as f64 / 5.0)
                .collect()
        };
        for x in ticks {
            let label = if self.log2_x && x < 1.0 {
                format!("1/{}", (1.0 / x).round())
            } else {
                format!("{x:.1}")
            };
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{label}</text>",
                tx(x),
                h - m + 14.0
            );
        }
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>\
             <text x=\"12\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 12 {})\">{}</text>",
            w / 2.0,
            h - 8.0,
            escape(self.x_label),
            h / 2.0,
            h / 2.0,
            escape(self.y_label)
        );
        if self.diagonal {
            let _ = write!(
                s,
                "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#aaa\" stroke-dasharray=\"4\"/>",
                tx(self.x_range.0),
                ty(0.0),
                tx(self.x_range.1),
                ty(1.0)
            );
        }
        if !self.band.is_empty() {
            let mut points: Vec<String> = self
                .band
                .iter()
                .map(|&(x, lo, _)| format!("{:.1},{:.1}", tx(x), ty(lo)))
                .collect();
            points.extend(
                self.band
                    .iter()
                    .rev()
                    .map(|&(x, _, hi)| format!("{:.1},{:.1}", tx(x), ty(hi))),
            );
            let _ = write!(
                s,
                "<polygon points=\"{}\" fill=\"#9cf\" fill-opacity=\"0.4\"/>",
                points.join(" ")
            );
        }
        for (line, colour) in &self.lines {
            let points: Vec<String> = line
                .iter()
                .filter(|(x, _)| !self.log2_x || *x >= self.x_range.0)
                .filter(|(x, _)| *x <= self.x_range.1)
                .map(|&(x, y)| format!("{:.1},{:.1}", tx(x), ty(y)))
                .collect();
            let _ = write!(
                s,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"/>",
                points.join(" ")
            );
        }
        for &(x, y) in &self.markers {
            let _ = write!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#c30\"/>",
                tx(x),
                ty(y)
            );
        }
        s.push_str("</svg></figure>");
        s
    }
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head>\
         <body><h1>{}</h1>{body}</body></html>\n",
        escape(title),
        escape(title)
    )
}

/// A FROC report as one HTML page.
pub fn froc_html(title: &str, result: &FrocResult) -> String {
    let c = &result.counts;
    let mut body = String::new();
    let _ = write!(
        body,
        "<h2>Candidates</h2><table><tr><th>true positives</th><th>false positives</th><th>false negatives</th>\
         <th>candidates</th><th>nodules</th><th>scans</th><th>ignored on excluded</th><th>double detections</th><th>sensitivity</th></tr>\
         <tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td></tr></table>",
        c.true_positives,
        c.false_positives,
        c.false_negatives,
        c.candidates,
        c.nodules,
        c.scans,
        c.ignored_on_excluded,
        c.ignored_double_detections,
        c.sensitivity
    );
    body.push_str("<h2>Sensitivity at false positives per scan</h2><table><tr><th>FP/scan</th><th>sensitivity (95% CI)</th></tr>");
    for s in &result.sensitivities {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td></tr>",
            s.fps,
            fmt_estimate(Some(s.sensitivity))
        );
    }
    let _ = write!(
        body,
        "<tr><th>CPM</th><th>{}</th></tr></table>",
        fmt_estimate(Some(result.cpm))
    );
    let plot = Plot {
        title: "FROC",
        x_label: "false positives per scan",
        y_label: "sensitivity",
        x_range: (0.125, 8.0),
        log2_x: true,
        lines: vec![(
            result
                .curve
                .iter()
                .map(|p| (p.fps, p.sensitivity))
                .collect(),
            "#036",
        )],
        markers: result
            .sensitivities
            .iter()
            .map(|s| (s.fps, s.sensitivity.value))
            .collect(),
        band: result.band.clone(),
        diagonal: false,
    };
    body.push_str(&plot.svg());
    let _ = write!(
        body,
        "<p>Bootstrap: {} resamples of scans, seed {}, {}% intervals (LUNA16 script's percentile rule).</p>",
        result.options.bootstrap_samples,
        result.options.seed,
        result.options.confidence * 100.0
    );
    page(title, &body)
}

/// A classification report as one HTML page.
pub fn classification_html(report: &ClassificationReport) -> String {
    let m = &report.overall;
    let mut body = String::new();
    body.push_str("<h2>Metrics</h2><table><tr><th>metric</th><th>estimate (95% CI)</th></tr>");
    let _ = write!(body, "<tr><td>cases</td><td>{}</td></tr>", m.cases);
    for (name, e) in m.headline() {
        let _ = write!(
            body,
            "<tr><td>{name}</td><td>{}</td></tr>",
            fmt_estimate(Some(e))
        );
    }
    body.push_str("</table><h2>Confusion matrix</h2><table><tr><th>true \\ predicted</th>");
    for c in 0..m.classes {
        let _ = write!(body, "<th>{c}</th>");
    }
    body.push_str("</tr>");
    for (t, row) in m.confusion.iter().enumerate() {
        let _ = write!(body, "<tr><th>{t}</th>");
        for v in row {
            let _ = write!(body, "<td>{v}</td>");
        }
        body.push_str("</tr>");
    }
    body.push_str("</table><h2>Per class</h2><table><tr><th>class</th><th>support</th><th>sensitivity</th><th>specificity</th><th>F1</th><th>AUC (one vs rest)</th></tr>");
    for c in &m.per_class {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{}</td></tr>",
            c.class,
            c.support,
            fmt_estimate(c.sensitivity),
            fmt_estimate(c.specificity),
            c.f1,
            fmt_estimate(c.auc)
        );
    }
    body.push_str("</table>");
    let roc = Plot {
        title: "ROC",
        x_label: "1 − specificity",
        y_label: "sensitivity",
        x_range: (0.0, 1.0),
        log2_x: false,
        lines: vec![(m.roc.iter().map(|p| (p.fpr, p.tpr)).collect(), "#036")],
        markers: match (m.sensitivity, m.specificity) {
            (Some(se), Some(sp)) => vec![(1.0 - sp.value, se.value)],
            _ => vec![],
        },
        band: vec![],
        diagonal: true,
    };
    let calibration = Plot {
        title: "Calibration",
        x_label: "predicted probability",
        y_label: "observed frequency",
        x_range: (0.0, 1.0),
        log2_x: false,
        lines: vec![(
            m.calibration
                .iter()
                .map(|b| (b.predicted, b.observed))
                .collect(),
            "#036",
        )],
        markers: m
            .calibration
            .iter()
            .map(|b| (b.predicted, b.observed))
            .collect(),
        band: vec![],
        diagonal: true,
    };
    body.push_str(&roc.svg());
    body.push_str(&calibration.svg());
    body.push_str(&forest_plot(&report.subgroups));
    page(&report.title, &body)
}

/// The subgroup table and forest plot of the flagged metric.
fn forest_plot(subgroups: &SubgroupReport) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<h2>Subgroups</h2><p>Flagged: a subgroup's {} below the whole by more than {:.2}.</p>",
        escape(&subgroups.metric),
        subgroups.margin
    );
    if subgroups.groups.is_empty() {
        s.push_str("<p>No subgroup attributes in the ground truth.</p>");
        return s;
    }
    let row_h = 18.0;
    let (w, left) = (560.0, 200.0);
    let h = row_h * (subgroups.groups.len() as f64 + 2.0);
    let tx = |v: f64| left + v.clamp(0.0, 1.0) * (w - left - 20.0);
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\"><title>forest plot</title>"
    );
    if let Some(overall) = subgroups.overall {
        let _ = write!(
            s,
            "<line x1=\"{x}\" y1=\"0\" x2=\"{x}\" y2=\"{h}\" stroke=\"#888\" stroke-dasharray=\"3\"/>",
            x = tx(overall.value)
        );
    }
    for (i, g) in subgroups.groups.iter().enumerate() {
        let y = row_h * (i as f64 + 1.0);
        let colour = if g.flagged { "#b00" } else { "#036" };
        let _ = write!(
            s,
            "<text x=\"4\" y=\"{}\" font-size=\"11\" fill=\"{colour}\">{} = {} (n={})</text>",
            y + 4.0,
            escape(&g.attribute),
            escape(&g.value),
            g.cases
        );
        if let Some(e) = g.estimate {
            let _ = write!(
                s,
                "<line x1=\"{:.1}\" y1=\"{y}\" x2=\"{:.1}\" y2=\"{y}\" stroke=\"{colour}\"/><rect x=\"{:.1}\" y=\"{}\" width=\"6\" height=\"6\" fill=\"{colour}\"/>",
                tx(e.low),
                tx(e.high),
                tx(e.value) - 3.0,
                y - 3.0
            );
        }
    }
    for k in 0..=5 {
        let v = k as f64 / 5.0;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{v:.1}</text>",
            tx(v),
            h - 4.0
        );
    }
    s.push_str("</svg><table><tr><th>subgroup</th><th>n</th>");
    let _ = write!(
        s,
        "<th>{} (95% CI)</th><th>flag</th></tr>",
        escape(&subgroups.metric)
    );
    for g in &subgroups.groups {
        let _ = write!(
            s,
            "<tr><td>{} = {}</td><td>{}</td><td>{}</td><td class=\"flag\">{}</td></tr>",
            escape(&g.attribute),
            escape(&g.value),
            g.cases,
            fmt_estimate(g.estimate),
            if g.flagged { "below the whole" } else { "" }
        );
    }
    s.push_str("</table>");
    s
}
