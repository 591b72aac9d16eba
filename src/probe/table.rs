//! A [`ProbeReport`] for people: text tables (layer rows, scheme columns) and a chart of the
//! activations' std against depth.

use std::fmt::Write as _;

use super::{NonFinite, Overflow, ProbeReport, SchemeProbe};
use crate::report::{AxisScale, LegendCorner, LineChart, Report, Series};

/// The smallest width of a scheme's column, enough for `overflow` and `9.999e-10`.
const MIN_COLUMN_CHARS: usize = 10;

/// The std of the activations after every layer, one column per scheme, then one line per
/// scheme that overflowed, such as `normal: overflow (inf) from layer 32; later layers not
/// computed`. Rows are `input` and the layers 1 to depth; an overflowing layer's cell says
/// `overflow` and the cells below it stay empty.
pub fn activation_table(report: &ProbeReport) -> String {
    let mut text = format!(
        "std of the activations after each layer ({}, width {}, batch {}, seed {})\n",
        report.activation, report.width, report.batch, report.seed
    );
    let rows = (0..=report.depth).map(|i| {
        let label = if i == 0 {
            "input".to_string()
        } else {
            i.to_string()
        };
        (label, i)
    });
    let cell = |probe: &SchemeProbe, i: usize| {
        cell_text(probe.activation_std[i], probe.overflow, i).unwrap_or_default()
    };
    table(&mut text, report, rows, cell);
    for probe in &report.schemes {
        if let Some(o) = probe.overflow {
            let _ = writeln!(
                text,
                "{}: {} from layer {}; later layers not computed",
                probe.label,
                overflow_words(o),
                o.layer
            );
        }
    }
    text
}

/// `‖∂L/∂W_i‖_F` for every layer, one column per scheme, then one line per scheme without
/// gradients: its forward pass overflowed, or its backward pass did.
pub fn gradient_table(report: &ProbeReport) -> String {
    let mut text = format!(
        "gradient norm ||dL/dW_i||_F per layer, one backward pass of {}\n",
        report.loss
    );
    let rows = (1..=report.depth).map(|i| (i.to_string(), i));
    let cell = |probe: &SchemeProbe, i: usize| {
        cell_text(probe.grad_norm[i - 1], probe.grad_overflow, i).unwrap_or_else(|| {
            let skipped = if probe.overflow.is_some() { "-" } else { "" };
            skipped.to_string()
        })
    };
    table(&mut text, report, rows, cell);
    for probe in &report.schemes {
        if let Some(o) = probe.overflow {
            let _ = writeln!(
                text,
                "{}: not computed, the forward pass overflowed at layer {}",
                probe.label, o.layer
            );
        } else if let Some(o) = probe.grad_overflow {
            let _ = writeln!(
                text,
                "{}: gradient {} at layer {}; layers below not computed",
                probe.label,
                overflow_words(o),
                o.layer
            );
        }
    }
    text
}

/// Appends a header (`layer` and the scheme labels) and one line per row to `text`, columns
/// right-aligned.
fn table(
    text: &mut String,
    report: &ProbeReport,
    rows: impl Iterator<Item = (String, usize)>,
    cell: impl Fn(&SchemeProbe, usize) -> String,
) {
    let widths: Vec<usize> = report
        .schemes
        .iter()
        .map(|p| p.label.chars().count().max(MIN_COLUMN_CHARS))
        .collect();
    let _ = write!(text, "{:<6}", "layer");
    for (probe, w) in report.schemes.iter().zip(&widths) {
        let _ = write!(text, "  {:>w$}", probe.label);
    }
    text.push('\n');
    for (label, i) in rows {
        let _ = write!(text, "{label:<6}");
        for (probe, w) in report.schemes.iter().zip(&widths) {
            let _ = write!(text, "  {:>w$}", cell(probe, i));
        }
        // Empty trailing cells leave no trailing spaces.
        text.truncate(text.trim_end_matches(' ').len());
        text.push('\n');
    }
}

/// A cell of `layer`: the value, or `overflow` at the layer that overflowed; `None` for a
/// layer that was not computed.
fn cell_text(value: Option<f64>, overflow: Option<Overflow>, layer: usize) -> Option<String> {
    match (value, overflow) {
        (Some(v), _) => Some(format_value(v)),
        (None, Some(o)) if o.layer == layer => Some("overflow".to_string()),
        (None, _) => None,
    }
}

/// `overflow (inf)` or `overflow (NaN)`.
fn overflow_words(overflow: Overflow) -> &'static str {
    match overflow.value {
        NonFinite::Inf => "overflow (inf)",
        NonFinite::Nan => "overflow (NaN)",
    }
}

/// Four significant digits: fixed point from 0.001 to 10^4 (`0.8262`, `12.53`), scientific
/// outside it (`1.634e30`, `2.980e-8`), and `0` for zero.
fn format_value(v: f64) -> String {
    match v.abs() {
        0.0 => "0".to_string(),
        a if (1e-3..1e4).contains(&a) => {
            let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
            format!("{v:.decimals$}")
        }
        _ => format!("{v:.3e}"),
    }
}

impl Report for ProbeReport {
    /// The std of the activations against the layer (0 for the input), log scale, one line
    /// per scheme; the legend, upper left where every line starts near 1, names the layer
    /// where a scheme overflowed.
    fn chart(&self) -> LineChart {
        let series = self
            .schemes
            .iter()
            .map(|probe| {
                let label = match probe.overflow {
                    Some(o) => format!(
                        "{} ({} from layer {})",
                        probe.label,
                        overflow_words(o),
                        o.layer
                    ),
                    None => probe.label.clone(),
                };
                let points = probe
                    .activation_std
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| v.filter(|v| *v > 0.0).map(|v| (i as f64, v)))
                    .collect();
                Series { label, points }
            })
            .collect();
        LineChart {
            title: format!(
                "std of the activations by layer ({}, width {}, batch {})",
                self.activation, self.width, self.batch
            ),
            x_desc: "layer (0 = input)".into(),
            y_desc: "std of the activations (log scale)".into(),
            x_scale: AxisScale::Linear,
            y_scale: AxisScale::Log,
            series,
            legend: LegendCorner::UpperLeft,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_with_four_significant_digits() {
        assert_eq!(format_value(0.826_19), "0.8262");
        assert_eq!(format_value(12.534), "12.53");
        assert_eq!(format_value(1234.56), "1235");
        assert_eq!(format_value(0.001_234_6), "0.001235");
        assert_eq!(format_value(1.634e30), "1.634e30");
        assert_eq!(format_value(2.98e-8), "2.980e-8");
        assert_eq!(format_value(0.0), "0");
    }
}
