//! The coverage-over-time figure of an `explore` run: distinct features
//! reached (y) after each run (x), one line per campaign (shard), with the
//! runs that failed marked. An inline SVG, like the timelines: the page
//! stays one file with nothing fetched.

use std::fmt::Write as _;

use crate::explore::history::History;
use crate::sweep::xml::text;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 34.0;
const TOP: f64 = 14.0;
const RIGHT: f64 = 16.0;

/// Line colours, one per campaign (repeating after eight).
const COLOURS: [&str; 8] = [
    "#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#0a3069", "#d1242f", "#57606a",
];

pub fn svg(history: &History) -> String {
    let runs_max = history
        .campaigns
        .iter()
        .map(|c| c.points.len())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let features_max = history
        .campaigns
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.features))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let x = |run: f64| LEFT + (WIDTH - LEFT - RIGHT) * run / runs_max;
    let y = |features: f64| HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP) * features / features_max;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         font-family=\"sans-serif\" font-size=\"11\" role=\"img\" \
         aria-label=\"features reached over runs\">"
    );
    // Axes, with the maxima as their only ticks: the shape is the point.
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#888\"/>\
         <line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{0}\" stroke=\"#888\"/>\
         <text x=\"{LEFT}\" y=\"{2}\">0</text>\
         <text x=\"{1}\" y=\"{2}\" text-anchor=\"end\">{3} runs</text>\
         <text x=\"{4}\" y=\"{5}\" text-anchor=\"end\">{6}</text>\
         <text x=\"{4}\" y=\"{0}\" text-anchor=\"end\">0</text>",
        HEIGHT - BOTTOM,
        WIDTH - RIGHT,
        HEIGHT - BOTTOM + 14.0,
        runs_max,
        LEFT - 4.0,
        TOP + 8.0,
        features_max
    );
    let _ = write!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">features reached</text>",
        LEFT + 80.0,
        TOP + 8.0
    );
    for (index, campaign) in history.campaigns.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let points: Vec<String> = std::iter::once((0.0, 0.0))
            .chain(
                campaign
                    .points
                    .iter()
                    .map(|p| (p.run as f64, p.features as f64)),
            )
            .map(|(run, features)| format!("{:.1},{:.1}", x(run), y(features)))
            .collect();
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"><title>{}</title></polyline>",
            points.join(" "),
            text(&campaign.label)
        );
        for point in campaign.points.iter().filter(|p| p.failed) {
            let _ = write!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"><title>run {} (id {}) failed</title></circle>",
                x(point.run as f64),
                y(point.features as f64),
                point.run,
                point.run_id
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// The figure with a caption per campaign: its label, runs, features, corpus.
pub fn section(history: &History) -> String {
    let mut out = String::from("<h2>Coverage over time (explore)</h2>\n");
    out.push_str(&svg(history));
    out.push_str("\n<ul class=\"violations\">\n");
    for (index, campaign) in history.campaigns.iter().enumerate() {
        let last = campaign.points.last();
        let _ = writeln!(
            out,
            "<li><span style=\"color:{}\">&#9632;</span> {}: {} runs, {} features, corpus of {}, {} failed (dots)</li>",
            COLOURS[index % COLOURS.len()],
            text(&campaign.label),
            campaign.points.len(),
            last.map_or(0, |p| p.features),
            last.map_or(0, |p| p.corpus),
            campaign.points.iter().filter(|p| p.failed).count()
        );
    }
    out.push_str("</ul>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explore::campaign::Point;
    use crate::explore::history::Curve;

    fn point(run: u64, features: usize, failed: bool) -> Point {
        Point {
            run,
            run_id: run + 100,
            parent: None,
            moves: "fresh".into(),
            new_features: 1,
            features,
            corpus: 1,
            failed,
        }
    }

    #[test]
    fn each_campaign_is_a_line_and_each_failure_a_dot() {
        let history = History {
            campaigns: vec![
                Curve {
                    label: "shard 0/2 <a>".into(),
                    points: vec![point(1, 10, false), point(2, 30, true)],
                },
                Curve {
                    label: "shard 1/2".into(),
                    points: vec![point(1, 12, false)],
                },
            ],
        };
        let section = section(&history);
        assert_eq!(section.matches("<polyline").count(), 2);
        assert_eq!(section.matches("<circle").count(), 1);
        assert!(section.contains("shard 0/2 &lt;a&gt;"), "{section}");
        assert!(
            section.contains(">30</text>"),
            "the y axis ends at the maximum"
        );
    }
}
