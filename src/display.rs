//! Printing tensors the way NumPy's `print` does, for the notebook-style CLI output.
//!
//! The layout follows NumPy's `str()` of a float64 array with default print options: values
//! rounded to eight decimals with trailing zeros dropped, padded to a common width so signs
//! and decimal points align; rows in brackets, continuation rows indented by one space per
//! nesting level; rows wrapped at 75 columns; arrays of more than 1000 elements summarized
//! with their first and last three items around `...`.
//!
//! ## Limitations
//!
//! NumPy switches to scientific notation when values span more than three decades or fall
//! below 1e-4; this printer always uses fixed notation with eight decimals.

use std::fmt::Write;

use crate::transform::Distribution;

/// NumPy's default `linewidth`.
const LINE_WIDTH: usize = 75;
/// NumPy's default `threshold`: larger arrays are summarized.
const SUMMARY_THRESHOLD: usize = 1000;
/// NumPy's default `edgeitems`.
const EDGE_ITEMS: usize = 3;
/// NumPy's default `precision`.
const DECIMALS: usize = 8;

/// `name = <array>`, then `Shape of name is (d0, d1),` and a blank line, as the notebook prints
/// each weight matrix.
///
/// # Examples
///
/// ```
/// let text = weight_init::display::notebook_block("W1", &[2, 2], &[0.5, -1.25, 3.0, 0.0]);
/// assert_eq!(text, "W1 = [[ 0.5  -1.25]\n [ 3.    0.  ]]\nShape of W1 is (2, 2),\n\n");
/// ```
pub fn notebook_block(name: &str, shape: &[u64], values: &[f32]) -> String {
    format!(
        "{name} = {}\nShape of {name} is {},\n\n",
        format_array(shape, values),
        shape_tuple(shape)
    )
}

/// A shape as a Python tuple: `(4, 2)`, `(5,)`, `()`.
pub fn shape_tuple(shape: &[u64]) -> String {
    match shape {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        dims => {
            let parts: Vec<String> = dims.iter().map(u64::to_string).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// The array as NumPy's `str()` prints it (see the module docs).
///
/// # Panics
///
/// If `values.len()` is not the product of `shape`.
pub fn format_array(shape: &[u64], values: &[f32]) -> String {
    let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    assert_eq!(
        dims.iter().product::<usize>(),
        values.len(),
        "shape {shape:?} vs values"
    );
    if values.is_empty() {
        return "[]".to_string();
    }
    let summarize = values.len() > SUMMARY_THRESHOLD;
    let shown = shown_values(&dims, values, summarize);
    let format = FloatFormat::for_values(&shown);
    if dims.is_empty() {
        return format.apply(values[0]);
    }
    let printer = Printer {
        dims: &dims,
        values,
        format: &format,
        summarize,
    };
    printer.recurse(0, 0, " ", LINE_WIDTH)
}

/// The values that will be printed, so that widths are computed over them alone (as NumPy
/// does when summarizing).
fn shown_values(dims: &[usize], values: &[f32], summarize: bool) -> Vec<f32> {
    if !summarize {
        return values.to_vec();
    }
    let mut out = Vec::new();
    collect_shown(dims, values, &mut out);
    out
}

fn collect_shown(dims: &[usize], values: &[f32], out: &mut Vec<f32>) {
    let Some((&len, rest)) = dims.split_first() else {
        out.push(values[0]);
        return;
    };
    let stride: usize = rest.iter().product();
    for i in edge_indices(len, true) {
        collect_shown(rest, &values[i * stride..(i + 1) * stride], out);
    }
}

/// Indices printed along an axis of `len`, `None`-free: the first and last [`EDGE_ITEMS`] when
/// summarizing a long axis, else all.
fn edge_indices(len: usize, summarize: bool) -> Vec<usize> {
    if summarize && len > 2 * EDGE_ITEMS {
        (0..EDGE_ITEMS).chain(len - EDGE_ITEMS..len).collect()
    } else {
        (0..len).collect()
    }
}

/// Common padding of every printed value: integer part right-aligned, fraction left-aligned.
struct FloatFormat {
    int_width: usize,
    frac_width: usize,
}

impl FloatFormat {
    fn for_values(values: &[f32]) -> Self {
        let parts: Vec<(String, String)> = values.iter().map(|&v| split(v)).collect();
        Self {
            int_width: parts.iter().map(|(i, _)| i.len()).max().unwrap_or(0),
            frac_width: parts.iter().map(|(_, f)| f.len()).max().unwrap_or(0),
        }
    }

    fn apply(&self, v: f32) -> String {
        let (int, frac) = split(v);
        format!(
            "{int:>iw$}.{frac:<fw$}",
            iw = self.int_width,
            fw = self.frac_width
        )
    }
}

/// `v` (as f64) rounded to [`DECIMALS`] decimals, as integer part and trimmed fraction.
fn split(v: f32) -> (String, String) {
    let text = format!("{:.*}", DECIMALS, f64::from(v));
    let (int, frac) = text.split_once('.').unwrap_or((text.as_str(), ""));
    (int.to_string(), frac.trim_end_matches('0').to_string())
}

struct Printer<'a> {
    dims: &'a [usize],
    values: &'a [f32],
    format: &'a FloatFormat,
    summarize: bool,
}

impl Printer<'_> {
    /// NumPy's `_formatArray` recursion over axis `axis` of the sub-array at `offset`.
    fn recurse(&self, axis: usize, offset: usize, hanging: &str, width: usize) -> String {
        let len = self.dims[axis];
        let stride: usize = self.dims[axis + 1..].iter().product();
        let axes_left = self.dims.len() - axis;
        let indices = edge_indices(len, self.summarize);
        let elided_at = (indices.len() < len).then_some(EDGE_ITEMS);
        let next_hanging = format!("{hanging} ");
        let mut s = String::new();

        if axes_left == 1 {
            // Innermost axis: words separated by spaces, wrapped at `width`.
            let mut line = hanging.to_string();
            for (n, &i) in indices.iter().enumerate() {
                if elided_at == Some(n) {
                    extend_line(&mut s, &mut line, "...", width, hanging);
                    line.push(' ');
                }
                let word = self.format.apply(self.values[offset + i]);
                extend_line(&mut s, &mut line, &word, width, hanging);
                if n + 1 < indices.len() {
                    line.push(' ');
                }
            }
            s.push_str(&line);
        } else {
            // Outer axes: one nested block per line, blank lines between higher-rank blocks.
            let separator = "\n".repeat(axes_left - 1);
            for (n, &i) in indices.iter().enumerate() {
                if elided_at == Some(n) {
                    let _ = write!(s, "{hanging}...{separator}");
                }
                let nested = self.recurse(axis + 1, offset + i * stride, &next_hanging, width - 1);
                s.push_str(hanging);
                s.push_str(&nested);
                if n + 1 < indices.len() {
                    s.push_str(&separator);
                }
            }
        }
        format!("[{}]", &s[hanging.len()..])
    }
}

/// Appends `word` to `line`, first flushing the line to `s` if the word would pass `width`
/// (never on a line that holds only its indent).
fn extend_line(s: &mut String, line: &mut String, word: &str, width: usize, hanging: &str) {
    if line.len() + word.len() > width && line.len() > hanging.len() {
        s.push_str(line.trim_end());
        s.push('\n');
        *line = hanging.to_string();
    }
    line.push_str(word);
}

/// `x` with six significant digits: fixed notation from 1e-4 to 1e6, scientific outside.
fn significant(x: f64) -> String {
    if x == 0.0 {
        return "0".to_string();
    }
    let magnitude = x.abs().log10().floor() as i32;
    if (-4..6).contains(&magnitude) {
        format!("{x:.*}", (5 - magnitude) as usize)
    } else {
        format!("{x:.5e}")
    }
}

/// Running mean, standard deviation, minimum and maximum of a tensor's values, fed in
/// batches (sums in f64).
#[derive(Debug, Clone, Default)]
pub struct TensorStats {
    count: u64,
    sum: f64,
    sum_squares: f64,
    min: f32,
    max: f32,
}

impl TensorStats {
    /// Adds a batch of values.
    pub fn add(&mut self, values: &[f32]) {
        for &v in values {
            if self.count == 0 {
                (self.min, self.max) = (v, v);
            }
            self.count += 1;
            self.sum += f64::from(v);
            self.sum_squares += f64::from(v) * f64::from(v);
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
    }

    /// `name: shape (a, b), n elements, expected mean m std s; measured mean ... max ...`.
    pub fn line(&self, name: &str, shape: &[u64], expected: &Distribution) -> String {
        if self.count == 0 {
            return format!("{name}: shape {}, no elements", shape_tuple(shape));
        }
        let n = self.count as f64;
        let mean = self.sum / n;
        let std = (self.sum_squares / n - mean * mean).max(0.0).sqrt();
        format!(
            "{name}: shape {}, {} elements, expected mean {} std {}; measured mean {} std {} \
             min {} max {}",
            shape_tuple(shape),
            self.count,
            significant(expected.mean()),
            significant(expected.std()),
            significant(mean),
            significant(std),
            significant(f64::from(self.min)),
            significant(f64::from(self.max))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_aligns_signs_and_decimal_points() {
        let text = format_array(&[2, 2], &[1.5, -0.25, 10.0, 0.125]);
        assert_eq!(text, "[[ 1.5   -0.25 ]\n [10.     0.125]]");
    }

    #[test]
    fn eight_decimals_are_kept_for_random_looking_values() {
        let text = format_array(&[2], &[0.123_456_79, -1.0]);
        assert_eq!(text, "[ 0.12345679 -1.        ]");
    }

    #[test]
    fn statistics_keep_six_significant_digits_at_any_scale() {
        assert_eq!(significant(0.044194173), "0.0441942");
        assert_eq!(significant(1e-7), "1.00000e-7");
        assert_eq!(significant(-2.5), "-2.50000");
        assert_eq!(significant(0.0), "0");
    }

    #[test]
    fn shapes_print_as_python_tuples() {
        assert_eq!(shape_tuple(&[4, 2]), "(4, 2)");
        assert_eq!(shape_tuple(&[5]), "(5,)");
        assert_eq!(shape_tuple(&[]), "()");
    }

    #[test]
    fn long_rows_wrap_at_75_columns_with_one_space_of_indent() {
        let values: Vec<f32> = (0..10).map(|i| i as f32 + 0.123_456_78).collect();
        let text = format_array(&[10], &values);
        for line in text.lines() {
            assert!(line.len() <= LINE_WIDTH, "{line:?} is {} wide", line.len());
        }
        assert!(text.lines().count() > 1 && text.lines().nth(1).unwrap().starts_with(' '));
    }

    #[test]
    fn large_arrays_are_summarized_with_ellipses() {
        let values: Vec<f32> = (0..40 * 40).map(|i| i as f32).collect();
        let text = format_array(&[40, 40], &values);
        let lines: Vec<&str> = text.lines().collect();
        // 3 rows, the elided-rows line, 3 rows.
        assert_eq!(lines.len(), 7, "{text}");
        assert_eq!(lines[3].trim(), "...");
        assert!(lines[0].contains(" ... "), "{}", lines[0]);
        assert!(lines[6].ends_with("1599.]]"), "{}", lines[6]);
    }

    #[test]
    fn three_dimensional_blocks_are_separated_by_a_blank_line() {
        let text = format_array(&[2, 1, 1], &[1.0, 2.0]);
        assert_eq!(text, "[[[1.]]\n\n [[2.]]]");
    }
}
