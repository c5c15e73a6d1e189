//! Latency histograms, summaries, JSON and the SVG plot.

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::fmt::Write;

/// Latencies in microseconds, 1 µs to 60 s, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// p50/p99/p99.9/max in milliseconds.
pub fn percentiles(histogram: &Histogram<u64>) -> Value {
    let ms = |us: u64| (us as f64 / 1000.0 * 100.0).round() / 100.0;
    json!({
        "count": histogram.len(),
        "p50_ms": ms(histogram.value_at_quantile(0.50)),
        "p99_ms": ms(histogram.value_at_quantile(0.99)),
        "p99_9_ms": ms(histogram.value_at_quantile(0.999)),
        "max_ms": ms(histogram.max()),
    })
}

/// A readable summary of any result object.
pub fn human(result: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "== {} ==", result["scenario"].as_str().unwrap_or("?"));
    if let Some(object) = result.as_object() {
        for (key, value) in object {
            if key == "scenario" || key == "timeline" {
                continue;
            }
            let _ = writeln!(out, "{key:>28}: {value}");
        }
    }
    out
}

/// An SVG plot of purchases per second and p99 hold latency per second over the sale.
pub fn plot(title: &str, timeline: &[(f64, f64, f64)]) -> String {
    let (width, height, margin) = (800.0, 360.0, 50.0);
    let max_x = timeline.iter().map(|p| p.0).fold(1.0, f64::max);
    let max_rate = timeline.iter().map(|p| p.1).fold(1.0, f64::max);
    let max_latency = timeline.iter().map(|p| p.2).fold(1.0, f64::max);
    let x = |t: f64| margin + t / max_x * (width - 2.0 * margin);
    let y = |v: f64, max: f64| height - margin - v / max * (height - 2.0 * margin);
    let line = |pick: &dyn Fn(&(f64, f64, f64)) -> f64, max: f64| {
        timeline.iter().map(|p| format!("{:.1},{:.1}", x(p.0), y(pick(p), max))).collect::<Vec<_>>().join(" ")
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{margin}" y="20" font-size="14">{title}</text>
<line x1="{margin}" y1="{b}" x2="{r}" y2="{b}" stroke="black"/><line x1="{margin}" y1="{margin}" x2="{margin}" y2="{b}" stroke="black"/>
<text x="{r}" y="{lx}" text-anchor="end">seconds since the sale opened (0 to {max_x:.0})</text>
<polyline fill="none" stroke="#1f6feb" stroke-width="2" points="{rate}"/>
<polyline fill="none" stroke="#d1242f" stroke-width="1.5" stroke-dasharray="4 3" points="{latency}"/>
<text x="{margin}" y="40" fill="#1f6feb">purchases/s (peak {max_rate:.0})</text>
<text x="260" y="40" fill="#d1242f">p99 hold latency, ms (peak {max_latency:.0})</text>
</svg>
"##,
        b = height - margin,
        r = width - margin,
        lx = height - margin + 30.0,
        rate = line(&|p| p.1, max_rate),
        latency = line(&|p| p.2, max_latency),
    );
    svg
}
