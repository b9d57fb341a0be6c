//! The report's charts: plotters draws each into an RGB buffer with the embedded DejaVu Sans (no
//! system fonts needed, so a bare server draws the same picture as a laptop), and `png` encodes
//! it. Each chart is a pure function of figures the stages already stored; none reads a store or
//! a database. A chart with nothing to show is not drawn (the report says so in words instead).

use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use serde::Serialize;

use crate::drift::{Histogram, Severity};
use crate::metrics::{GainsPoint, ReliabilityBin};

/// DejaVu Sans (Bitstream Vera licence, `reports/fonts/LICENSE-DejaVu.txt`).
const FONT: &[u8] = include_bytes!("../../reports/fonts/DejaVuSans.ttf");
const FONT_FAMILY: &str = "sans-serif";

/// Width and height of every chart, in pixels: two fit side by side in a 900-pixel email, one
/// reads well on a phone.
pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 320;

const INK: RGBColor = RGBColor(34, 34, 34);
const GRID: RGBColor = RGBColor(221, 221, 221);
const REFERENCE: RGBColor = RGBColor(160, 160, 160);
const TODAY: RGBColor = RGBColor(41, 128, 185);
const ESTIMATE: RGBColor = RGBColor(230, 126, 34);
/// Tier colours from the riskiest down (tiers are named by the DAG, so by rank, not by name).
const TIER_COLOURS: [RGBColor; 6] = [
    RGBColor(192, 57, 43),
    RGBColor(230, 126, 34),
    RGBColor(241, 196, 15),
    RGBColor(39, 174, 96),
    RGBColor(41, 128, 185),
    RGBColor(142, 68, 173),
];

/// One drawn chart: its id (the email's `Content-ID`), what it shows in words (the `alt` text
/// and the caption), and the PNG.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    pub id: String,
    pub alt: String,
    pub width: u32,
    pub height: u32,
    #[serde(skip)]
    pub png: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("drawing chart `{chart}`: {reason}")]
    Draw { chart: String, reason: String },
    #[error("encoding chart `{chart}` as PNG: {source}")]
    Encode {
        chart: String,
        source: png::EncodingError,
    },
}

/// One day's customers per tier, riskiest tier first.
#[derive(Debug, Clone, PartialEq)]
pub struct TierDay {
    pub date: String,
    pub tiers: Vec<(String, i64)>,
}

/// One score date's ROC AUC: realised once its labels landed, and estimated that night.
#[derive(Debug, Clone, PartialEq)]
pub struct PerformancePoint {
    pub date: String,
    pub realised: f64,
    pub estimated: Option<f64>,
}

/// One input's drift, for the bar chart.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftBar {
    pub feature: String,
    pub psi: f64,
    pub severity: Severity,
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is compiled in and known to parse (every chart test draws text with it).
        let _ = plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT);
    });
}

/// Draws with `paint` on a white canvas and encodes the picture.
fn draw<F>(id: &str, alt: String, paint: F) -> Result<Chart, ChartError>
where
    F: FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), String>,
{
    register_font();
    let failed = |reason: String| ChartError::Draw {
        chart: id.to_string(),
        reason,
    };
    let mut pixels = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed(e.to_string()))?;
        paint(&root).map_err(failed)?;
        root.present().map_err(|e| failed(e.to_string()))?;
    }
    let png = encode_png(&pixels).map_err(|source| ChartError::Encode {
        chart: id.to_string(),
        source,
    })?;
    Ok(Chart {
        id: id.to_string(),
        alt,
        width: WIDTH,
        height: HEIGHT,
        png,
    })
}

fn encode_png(rgb: &[u8]) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Best);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

fn text(size: u32) -> TextStyle<'static> {
    (FONT_FAMILY, size).into_font().color(&INK)
}

fn percent(value: &f64) -> String {
    format!("{:.0}%", value * 100.0)
}

/// A chart of two numeric axes, as every chart here but the drift bars is.
type Plane<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A plane on `root` with the caption, margins and label areas the charts share.
fn plane<'a, 'b>(
    root: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    caption: &str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    y_label_area: u32,
) -> Result<Plane<'a, 'b>, String> {
    ChartBuilder::on(root)
        .caption(caption, text(16))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(y_label_area)
        .build_cartesian_2d(x, y)
        .map_err(|e| e.to_string())
}

/// How a plane's axes are labelled.
struct Axes<'f> {
    x_desc: &'f str,
    y_desc: &'f str,
    /// How many x labels at most (plotters' choice when None).
    x_labels: Option<usize>,
    x_format: &'f dyn Fn(&f64) -> String,
    y_format: &'f dyn Fn(&f64) -> String,
}

/// The light grid and labels every plane shares.
fn mesh(chart: &mut Plane<'_, '_>, axes: Axes<'_>) -> Result<(), String> {
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(WHITE)
        .bold_line_style(GRID)
        .x_desc(axes.x_desc)
        .y_desc(axes.y_desc)
        .x_label_formatter(axes.x_format)
        .y_label_formatter(axes.y_format)
        .label_style(text(12))
        .axis_desc_style(text(12));
    if let Some(n) = axes.x_labels {
        mesh.x_labels(n);
    }
    mesh.draw().map_err(|e| e.to_string())
}

/// A labelled line through `points` with a dot on each.
fn line_with_dots(
    chart: &mut Plane<'_, '_>,
    points: Vec<(f64, f64)>,
    colour: RGBColor,
    label: &str,
) -> Result<(), String> {
    chart
        .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
        .map_err(|e| e.to_string())?
        .label(label)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2)));
    chart
        .draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, colour.filled())),
        )
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// A labelled dashed reference line from `from` to `to`.
fn dashed(
    chart: &mut Plane<'_, '_>,
    from: (f64, f64),
    to: (f64, f64),
    colour: RGBColor,
    label: &str,
) -> Result<(), String> {
    chart
        .draw_series(DashedLineSeries::new(
            [from, to],
            6,
            4,
            colour.stroke_width(1),
        ))
        .map_err(|e| e.to_string())?
        .label(label)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], colour));
    Ok(())
}

/// The legend of a plane's labelled series, at `position`.
fn legend<'a, 'b: 'a>(
    chart: &mut Plane<'a, 'b>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font(text(12))
        .background_style(WHITE.mix(0.85))
        .border_style(GRID)
        .draw()
        .map_err(|e| e.to_string())
}

/// Today's scores against the training reference, as shares of customers per score bin.
pub fn score_distribution(histogram: &Histogram) -> Result<Option<Chart>, ChartError> {
    let bins = histogram.reference.len();
    if bins == 0 || histogram.current.len() != bins {
        return Ok(None);
    }
    let width = (histogram.upper - histogram.lower) / bins as f64;
    let top = histogram
        .reference
        .iter()
        .chain(&histogram.current)
        .fold(0.0f64, |a, b| a.max(*b))
        * 1.15;
    let alt = "Share of customers per churn-probability band: today's scores (blue) against the \
               training reference (grey)"
        .to_string();
    draw("score_distribution", alt, |root| {
        let mut chart = plane(
            root,
            "Scores today against training",
            histogram.lower..histogram.upper,
            0.0..top.max(0.01),
            52,
        )?;
        mesh(
            &mut chart,
            Axes {
                x_desc: "churn probability",
                y_desc: "share of customers",
                x_labels: None,
                x_format: &percent,
                y_format: &percent,
            },
        )?;
        let bar = |i: usize, share: f64, inset: f64| {
            let x0 = histogram.lower + i as f64 * width;
            [
                (x0 + width * inset, 0.0),
                (x0 + width * (1.0 - inset), share),
            ]
        };
        for (shares, inset, colour, label) in [
            (
                &histogram.reference,
                0.05,
                REFERENCE.mix(0.6),
                "training reference",
            ),
            (&histogram.current, 0.25, TODAY.mix(0.85), "today"),
        ] {
            chart
                .draw_series(
                    shares
                        .iter()
                        .enumerate()
                        .map(|(i, s)| Rectangle::new(bar(i, *s, inset), colour.filled())),
                )
                .map_err(|e| e.to_string())?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour.filled())
                });
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
    .map(Some)
}

/// The reliability curve: per score band, the observed churn rate against the mean score. On the
/// diagonal, a score of 30% means 3 in 10 churn.
pub fn reliability(bins: &[ReliabilityBin]) -> Result<Option<Chart>, ChartError> {
    if bins.is_empty() {
        return Ok(None);
    }
    let top = bins
        .iter()
        .map(|b| b.upper.max(b.observed_rate))
        .fold(0.1f64, f64::max)
        .min(1.0);
    let alt = "Reliability: observed churn rate against the predicted probability per score band; \
               the dashed diagonal is perfect calibration"
        .to_string();
    draw("reliability", alt, |root| {
        let mut chart = plane(root, "Are the probabilities right?", 0.0..top, 0.0..top, 52)?;
        mesh(
            &mut chart,
            Axes {
                x_desc: "predicted churn probability",
                y_desc: "observed churn rate",
                x_labels: None,
                x_format: &percent,
                y_format: &percent,
            },
        )?;
        dashed(
            &mut chart,
            (0.0, 0.0),
            (top, top),
            REFERENCE,
            "perfect calibration",
        )?;
        let points = bins
            .iter()
            .map(|b| (b.mean_score, b.observed_rate))
            .collect();
        line_with_dots(&mut chart, points, TODAY, "model (validation rows)")?;
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
    .map(Some)
}

/// Cumulative gains: the share of churners reached when contacting the riskiest share of
/// customers, against contacting at random.
pub fn cumulative_gains(points: &[GainsPoint]) -> Result<Option<Chart>, ChartError> {
    if points.is_empty() {
        return Ok(None);
    }
    let reached_at_tenth = points
        .iter()
        .find(|p| (p.share - 0.1).abs() < 0.01)
        .map(|p| {
            format!(
                "; the riskiest 10% hold {:.0}% of churners",
                p.captured * 100.0
            )
        })
        .unwrap_or_default();
    let alt = format!(
        "Cumulative gains: share of churners reached against share of customers contacted, \
         riskiest first{reached_at_tenth}"
    );
    draw("cumulative_gains", alt, |root| {
        let mut chart = plane(
            root,
            "Churners reached by contacting the riskiest first",
            0.0..1.0,
            0.0..1.0,
            52,
        )?;
        mesh(
            &mut chart,
            Axes {
                x_desc: "customers contacted",
                y_desc: "churners reached",
                x_labels: None,
                x_format: &percent,
                y_format: &percent,
            },
        )?;
        dashed(&mut chart, (0.0, 0.0), (1.0, 1.0), REFERENCE, "at random")?;
        let line = std::iter::once((0.0, 0.0))
            .chain(points.iter().map(|p| (p.share, p.captured)))
            .collect();
        line_with_dots(&mut chart, line, TODAY, "model (validation rows)")?;
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
    .map(Some)
}

/// A date's label on a time axis: month and day (the year is in the caption's range).
fn short_date(date: &str) -> String {
    date.get(5..).unwrap_or(date).to_string()
}

/// Labels of index positions on a time axis: a date at whole indexes, nothing between.
fn date_labels(dates: &[String]) -> impl Fn(&f64) -> String + '_ {
    move |x: &f64| {
        let nearest = x.round();
        if (x - nearest).abs() > 1e-6 || nearest < 0.0 {
            return String::new();
        }
        dates
            .get(nearest as usize)
            .map(|d| short_date(d))
            .unwrap_or_default()
    }
}

/// Customers per tier over the last runs, one line per tier (riskiest first).
pub fn tier_history(days: &[TierDay]) -> Result<Option<Chart>, ChartError> {
    if days.len() < 2 {
        return Ok(None);
    }
    let mut tiers: Vec<String> = Vec::new();
    for day in days {
        for (tier, _) in &day.tiers {
            if !tiers.contains(tier) {
                tiers.push(tier.clone());
            }
        }
    }
    let top = days
        .iter()
        .flat_map(|d| d.tiers.iter().map(|(_, n)| *n))
        .max()
        .unwrap_or(0)
        .max(1) as f64
        // Room above the highest line for the legend.
        * 1.45;
    let dates: Vec<String> = days.iter().map(|d| d.date.clone()).collect();
    let first = dates.first().cloned().unwrap_or_default();
    let last = dates.last().cloned().unwrap_or_default();
    let alt = format!(
        "Customers per risk tier on each of the last {} runs, {first} to {last}",
        days.len()
    );
    let span = (days.len() - 1) as f64;
    draw("tier_history", alt, |root| {
        let caption = format!("Customers per tier, {first} to {last}");
        let mut chart = plane(root, &caption, -0.3..span + 0.3, 0.0..top, 60)?;
        mesh(
            &mut chart,
            Axes {
                x_desc: "",
                y_desc: "customers",
                x_labels: Some(days.len().min(8)),
                x_format: &date_labels(&dates),
                y_format: &|v: &f64| format!("{v:.0}"),
            },
        )?;
        for (rank, tier) in tiers.iter().enumerate() {
            let line = days
                .iter()
                .enumerate()
                .filter_map(|(i, day)| {
                    day.tiers
                        .iter()
                        .find(|(t, _)| t == tier)
                        .map(|(_, n)| (i as f64, *n as f64))
                })
                .collect();
            line_with_dots(
                &mut chart,
                line,
                TIER_COLOURS[rank % TIER_COLOURS.len()],
                tier,
            )?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
    .map(Some)
}

/// Realised ROC AUC per score date once the labels landed, beside the night's estimate, with
/// the policy's floor when there is one.
pub fn performance_trend(
    points: &[PerformancePoint],
    floor: Option<f64>,
) -> Result<Option<Chart>, ChartError> {
    if points.is_empty() {
        return Ok(None);
    }
    let values = points
        .iter()
        .flat_map(|p| std::iter::once(p.realised).chain(p.estimated))
        .chain(floor)
        .filter(|v| v.is_finite());
    let (low, high) = values.fold((1.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (low, high) = ((low - 0.03).max(0.0), (high + 0.03).min(1.0));
    let dates: Vec<String> = points.iter().map(|p| p.date.clone()).collect();
    let span = (points.len().saturating_sub(1)) as f64;
    let latest = points.last().map(|p| p.realised).unwrap_or_default();
    let alt = format!(
        "Realised ROC AUC of the scores sent to the CRM, by score date, beside the estimate made \
         that night; latest {latest:.3}"
    );
    draw("performance_trend", alt, |root| {
        let mut chart = plane(
            root,
            "How well past scores ranked the churners",
            -0.3..span + 0.3,
            low..high,
            52,
        )?;
        mesh(
            &mut chart,
            Axes {
                x_desc: "score date (outcomes known one label horizon later)",
                y_desc: "ROC AUC",
                x_labels: Some(points.len().clamp(2, 8)),
                x_format: &date_labels(&dates),
                y_format: &|v: &f64| format!("{v:.2}"),
            },
        )?;
        if let Some(floor) = floor {
            let label = format!("policy floor {floor:.2}");
            dashed(
                &mut chart,
                (-0.3, floor),
                (span + 0.3, floor),
                TIER_COLOURS[0],
                &label,
            )?;
        }
        let realised = points
            .iter()
            .enumerate()
            .map(|(i, p)| (i as f64, p.realised))
            .collect();
        line_with_dots(&mut chart, realised, TODAY, "realised")?;
        let estimated: Vec<(f64, f64)> = points
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.estimated.map(|e| (i as f64, e)))
            .collect();
        if !estimated.is_empty() {
            chart
                .draw_series(
                    estimated
                        .into_iter()
                        .map(|p| Cross::new(p, 5, ESTIMATE.stroke_width(2))),
                )
                .map_err(|e| e.to_string())?
                .label("estimated that night")
                .legend(|(x, y)| Cross::new((x + 8, y), 5, ESTIMATE.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::LowerLeft)
    })
    .map(Some)
}

/// Most drifted inputs first, as horizontal bars of PSI coloured by severity.
pub fn drift_effects(bars: &[DriftBar], shown: usize) -> Result<Option<Chart>, ChartError> {
    let mut bars: Vec<&DriftBar> = bars.iter().filter(|b| b.psi.is_finite()).collect();
    if bars.is_empty() {
        return Ok(None);
    }
    bars.sort_by(|a, b| b.psi.total_cmp(&a.psi));
    bars.truncate(shown.max(1));
    // Drawn bottom-up: the most drifted on top.
    bars.reverse();
    let top = bars.iter().map(|b| b.psi).fold(0.05f64, f64::max) * 1.1;
    let names: Vec<String> = bars.iter().map(|b| b.feature.clone()).collect();
    let alt = format!(
        "Drift since training (PSI) of the {} most drifted inputs; red is high, amber medium",
        bars.len()
    );
    draw("drift_effects", alt, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("What moved since training (PSI)", text(16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(150)
            // A discrete range holds both ends: n bars take 0..n-1 (one bar keeps a second,
            // empty slot: a range of one value would collapse to a line).
            .build_cartesian_2d(0.0..top, (0..(bars.len() - 1).max(1)).into_segmented())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .disable_y_mesh()
            .y_labels(bars.len())
            .y_label_formatter(&|v: &SegmentValue<usize>| match v {
                SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_label_formatter(&|v: &f64| format!("{v:.2}"))
            .label_style(text(12))
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, bar)| {
                let colour = match bar.severity {
                    Severity::High => TIER_COLOURS[0],
                    Severity::Medium => TIER_COLOURS[1],
                    Severity::Low | Severity::None => REFERENCE,
                };
                let mut rect = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(i)),
                        (bar.psi, SegmentValue::Exact(i + 1)),
                    ],
                    colour.filled(),
                );
                rect.set_margin(3, 3, 0, 0);
                rect
            }))
            .map_err(|e| e.to_string())?;
        Ok(())
    })
    .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_png(chart: &Chart) -> bool {
        chart.png.starts_with(b"\x89PNG\r\n\x1a\n")
    }

    /// Decodes a chart and counts pixels that are not white: a chart with text, axes and data.
    fn inked_pixels(chart: &Chart) -> usize {
        let decoder = png::Decoder::new(std::io::Cursor::new(&chart.png));
        let mut reader = decoder.read_info().expect("our own PNG decodes");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("one frame");
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        buf[..info.buffer_size()]
            .chunks(3)
            .filter(|px| px != &[255, 255, 255])
            .count()
    }

    #[test]
    fn every_chart_draws_a_png_with_ink_on_it() {
        let histogram = Histogram {
            lower: 0.0,
            upper: 1.0,
            reference: vec![0.5, 0.3, 0.15, 0.05],
            current: vec![0.4, 0.35, 0.15, 0.1],
        };
        let bins = vec![ReliabilityBin {
            lower: 0.0,
            upper: 0.1,
            mean_score: 0.05,
            observed_rate: 0.06,
            rows: 10,
        }];
        let gains: Vec<GainsPoint> = (1..=10)
            .map(|k| GainsPoint {
                share: k as f64 / 10.0,
                captured: (k as f64 / 10.0).sqrt(),
            })
            .collect();
        let days: Vec<TierDay> = (1..=3)
            .map(|d| TierDay {
                date: format!("2026-11-0{d}"),
                tiers: vec![("high".into(), 100 * d), ("low".into(), 900)],
            })
            .collect();
        let trend = vec![
            PerformancePoint {
                date: "2026-08-01".into(),
                realised: 0.81,
                estimated: Some(0.8),
            },
            PerformancePoint {
                date: "2026-09-01".into(),
                realised: 0.78,
                estimated: None,
            },
        ];
        let bars = vec![
            DriftBar {
                feature: "tenure_months".into(),
                psi: 0.3,
                severity: Severity::High,
            },
            DriftBar {
                feature: "(score)".into(),
                psi: 0.02,
                severity: Severity::None,
            },
        ];
        let charts = [
            score_distribution(&histogram).unwrap(),
            reliability(&bins).unwrap(),
            cumulative_gains(&gains).unwrap(),
            tier_history(&days).unwrap(),
            performance_trend(&trend, Some(0.75)).unwrap(),
            drift_effects(&bars, 12).unwrap(),
            drift_effects(&bars[..1], 12).unwrap(),
        ];
        for chart in charts {
            let chart = chart.expect("each has data to draw");
            assert!(is_png(&chart), "{} is a PNG", chart.id);
            let ink = inked_pixels(&chart);
            // Axes, labels and data cover a few percent of the picture at least; a blank or
            // fully painted canvas would be a drawing failure.
            let total = (WIDTH * HEIGHT) as usize;
            assert!(
                ink > total / 100 && ink < total / 2,
                "{}: {ink} of {total}",
                chart.id
            );
        }
    }

    #[test]
    fn a_chart_without_data_is_not_drawn() {
        assert!(reliability(&[]).unwrap().is_none());
        assert!(cumulative_gains(&[]).unwrap().is_none());
        assert!(performance_trend(&[], None).unwrap().is_none());
        assert!(drift_effects(&[], 12).unwrap().is_none());
        let one_day = [TierDay {
            date: "2026-11-01".into(),
            tiers: vec![("high".into(), 1)],
        }];
        assert!(
            tier_history(&one_day).unwrap().is_none(),
            "a trend needs two days"
        );
        let mismatched = Histogram {
            lower: 0.0,
            upper: 1.0,
            reference: vec![1.0],
            current: vec![0.5, 0.5],
        };
        assert!(score_distribution(&mismatched).unwrap().is_none());
    }
}
