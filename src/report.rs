//! Report files for the commands that measure things (`bench`, `probe`): the numbers as JSON,
//! or a line chart as SVG or PNG, opened before any work and written atomically after it.
//!
//! A report is any serializable value that can also describe itself as a [`LineChart`]; this
//! module owns the drawing (plotters, with a bundled font so PNG text does not depend on the
//! system's fonts) and the file handling, so each command only says what to plot.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::output::AtomicFile;

/// Plot size in pixels (the SVG's user units): wide enough for a legend of long GPU names.
const PLOT_SIZE_PX: (u32, u32) = (1024, 640);

/// What a command writes to a [`ReportFile`]: its numbers (serialized as JSON) and a chart of
/// them.
pub trait Report: Serialize {
    /// The chart drawn for a `.svg` or `.png` report.
    fn chart(&self) -> LineChart;
}

/// How an axis maps values to positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AxisScale {
    /// Evenly spaced values; labels as plain numbers.
    Linear,
    /// Evenly spaced powers of ten; non-positive values are left out. Labels carry SI
    /// suffixes (`65.5k`, `4M`), or are written as powers of ten (`1e-8`) outside 0.01 to
    /// 10^12.
    Log,
}

/// One line of a [`LineChart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend's text.
    pub label: String,
    /// `(x, y)` points in order; non-finite points are left out.
    pub points: Vec<(f64, f64)>,
}

/// Where a [`LineChart`]'s legend goes, inside the plotting area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegendCorner {
    /// The upper left corner.
    UpperLeft,
    /// The lower right corner.
    LowerRight,
}

/// Lines over two axes, with a title, axis descriptions and a legend.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// The caption above the chart.
    pub title: String,
    /// The horizontal axis's description.
    pub x_desc: String,
    /// The vertical axis's description.
    pub y_desc: String,
    /// The horizontal axis's scale.
    pub x_scale: AxisScale,
    /// The vertical axis's scale.
    pub y_scale: AxisScale,
    /// The lines, each in its own color, in legend order.
    pub series: Vec<Series>,
    /// The legend's place: the corner the lines leave free.
    pub legend: LegendCorner,
}

/// What a [`ReportFile`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// The report as JSON.
    Json,
    /// The report's chart as SVG.
    Svg,
    /// The report's chart as an RGB PNG.
    Png,
}

/// A report file opened before measuring, so a bad path fails before any work, and written
/// atomically once the numbers are in (an existing file is replaced).
#[derive(Debug)]
pub struct ReportFile {
    file: AtomicFile,
    format: ReportFormat,
}

/// Whether `a` and `b` name the same file: the same path once their directories are
/// resolved (the files themselves need not exist).
fn same_file_name(a: &Path, b: &Path) -> bool {
    let resolve = |p: &Path| {
        let dir = crate::output::atomic::parent_dir(p);
        dir.canonicalize()
            .ok()
            .zip(p.file_name())
            .map(|(d, name)| d.join(name))
    };
    a == b || matches!((resolve(a), resolve(b)), (Some(x), Some(y)) if x == y)
}

impl ReportFile {
    /// A JSON report at `path`, whatever its extension.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `path` is a directory; [`Error::Io`] if no file can be
    /// created in its directory.
    pub fn json(path: &Path) -> Result<Self> {
        Self::create(path, ReportFormat::Json)
    }

    /// A plot at `path`, SVG or PNG by its extension (`.svg` or `.png`, any case).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for another extension or a directory; [`Error::Io`] if no
    /// file can be created in its directory.
    pub fn plot(path: &Path) -> Result<Self> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let format = match extension.as_deref() {
            Some("svg") => ReportFormat::Svg,
            Some("png") => ReportFormat::Png,
            _ => {
                return Err(Error::invalid(
                    "plot file",
                    format!("{}: expected a .svg or .png file name", path.display()),
                ));
            }
        };
        Self::create(path, format)
    }

    fn create(path: &Path, format: ReportFormat) -> Result<Self> {
        if path.is_dir() {
            return Err(Error::invalid(
                "report file",
                format!("{} is a directory; give a file name", path.display()),
            ));
        }
        let dir = crate::output::atomic::parent_dir(path);
        if !dir.is_dir() {
            let why = if dir.exists() {
                "is not a directory"
            } else {
                "does not exist"
            };
            return Err(Error::invalid(
                "report file",
                format!("directory {} of {} {why}", dir.display(), path.display()),
            ));
        }
        let file = AtomicFile::create(path).map_err(|e| match e {
            Error::Io { source, .. } => Error::invalid(
                "report file",
                format!("cannot create files in {}: {source}", dir.display()),
            ),
            other => other,
        })?;
        Ok(Self { file, format })
    }

    /// The JSON and plot reports of one run, checked before anything is measured: each is
    /// created as [`ReportFile::json`] and [`ReportFile::plot`] say, and they may not be the
    /// same file (the second would replace the first).
    ///
    /// # Errors
    ///
    /// Those of [`ReportFile::json`] and [`ReportFile::plot`]; [`Error::InvalidArgument`] if
    /// both name one path.
    pub fn pair(json: Option<&Path>, plot: Option<&Path>) -> Result<(Option<Self>, Option<Self>)> {
        if let (Some(j), Some(p)) = (json, plot)
            && same_file_name(j, p)
        {
            return Err(Error::invalid(
                "report file",
                format!(
                    "--json and --plot both name {}; give them different files",
                    p.display()
                ),
            ));
        }
        Ok((
            json.map(Self::json).transpose()?,
            plot.map(Self::plot).transpose()?,
        ))
    }

    /// The format, from the constructor and the extension.
    pub fn format(&self) -> ReportFormat {
        self.format
    }

    /// Writes `report` in the file's format and renames the file into place; returns its path.
    ///
    /// # Errors
    ///
    /// [`Error::PlotFailed`] if drawing or encoding the plot fails; [`Error::Io`] if writing
    /// or renaming fails.
    ///
    /// # Panics
    ///
    /// If the report does not serialize (a report type with a map keyed by non-strings), or
    /// the DejaVu Sans font compiled into the binary does not parse (a broken build).
    pub fn write<R: Report + ?Sized>(mut self, report: &R) -> Result<PathBuf> {
        let bytes = match self.format {
            ReportFormat::Json => {
                let mut text = serde_json::to_string_pretty(report)
                    .expect("reports of numbers and strings serialize");
                text.push('\n');
                text.into_bytes()
            }
            ReportFormat::Svg => plot_svg(&report.chart())?.into_bytes(),
            ReportFormat::Png => plot_png(&report.chart())?,
        };
        self.file.write_all(&bytes)?;
        self.file.commit()
    }
}

/// The chart as an SVG document.
fn plot_svg(chart: &LineChart) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, PLOT_SIZE_PX).into_drawing_area();
        draw(&root, chart)?;
    }
    Ok(svg)
}

/// The chart as a PNG file: drawn into an RGB buffer, then encoded.
fn plot_png(chart: &LineChart) -> Result<Vec<u8>> {
    let (width, height) = PLOT_SIZE_PX;
    let mut rgb = vec![0u8; 3 * width as usize * height as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, PLOT_SIZE_PX).into_drawing_area();
        draw(&root, chart)?;
    }

    let mut png_bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut png_bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(&rgb))
        .map_err(|e| Error::PlotFailed(format!("PNG encoding: {e}")))?;
    Ok(png_bytes)
}

/// Registers DejaVu Sans as plotters' `sans-serif` once: the `ab_glyph` text backend has no
/// fonts of its own, and a bundled font keeps PNG text independent of the system's fonts.
fn register_font() {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        let parsed = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        )
        .is_ok();
        assert!(parsed, "the bundled DejaVu Sans font parses");
    });
}

/// The range an axis shows for `values`: padded by a factor of 1.5 on a log axis and by a
/// twentieth of the span on a linear one, so that one point or a flat line still spans a
/// valid axis.
fn axis_range(scale: AxisScale, values: impl Iterator<Item = f64>) -> (f64, f64) {
    let usable = |v: &f64| v.is_finite() && (scale == AxisScale::Linear || *v > 0.0);
    let (lo, hi) = values
        .filter(usable)
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    match scale {
        _ if lo > hi => (1.0, 10.0),
        AxisScale::Log => (lo / 1.5, hi * 1.5),
        AxisScale::Linear => {
            let pad = ((hi - lo) / 20.0).max(0.5);
            (lo - pad, hi + pad)
        }
    }
}

/// Draws `chart` on `root`: white background, mesh, one colored line per series with points,
/// and a legend in the lower right corner.
fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &LineChart) -> Result<()> {
    register_font();
    let points = || chart.series.iter().flat_map(|s| s.points.iter().copied());
    let x_range = axis_range(chart.x_scale, points().map(|p| p.0));
    let y_range = axis_range(chart.y_scale, points().map(|p| p.1));
    root.fill(&WHITE)
        .map_err(|e| Error::PlotFailed(e.to_string()))?;
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(&chart.title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64);
    // plotters types a chart by its coordinates, so each pair of scales is its own call.
    let (x, y) = (x_range.0..x_range.1, y_range.0..y_range.1);
    match (chart.x_scale, chart.y_scale) {
        (AxisScale::Linear, AxisScale::Linear) => draw_on(&mut builder, x, y, chart),
        (AxisScale::Linear, AxisScale::Log) => draw_on(&mut builder, x, y.log_scale(), chart),
        (AxisScale::Log, AxisScale::Linear) => draw_on(&mut builder, x.log_scale(), y, chart),
        (AxisScale::Log, AxisScale::Log) => {
            draw_on(&mut builder, x.log_scale(), y.log_scale(), chart)
        }
    }?;
    root.present().map_err(|e| Error::PlotFailed(e.to_string()))
}

/// The mesh, lines and legend of `chart` on axes `x` and `y`.
fn draw_on<DB, X, Y>(
    builder: &mut ChartBuilder<'_, '_, DB>,
    x: X,
    y: Y,
    chart: &LineChart,
) -> Result<()>
where
    DB: DrawingBackend,
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let failed = |e: DrawingAreaErrorKind<DB::ErrorType>| Error::PlotFailed(e.to_string());
    let mut plot = builder.build_cartesian_2d(x, y).map_err(failed)?;
    let label = |scale: AxisScale, v: f64| match scale {
        AxisScale::Linear => format_linear(v),
        AxisScale::Log => format_count(v),
    };
    plot.configure_mesh()
        .x_desc(&chart.x_desc)
        .y_desc(&chart.y_desc)
        .x_label_formatter(&|v| label(chart.x_scale, *v))
        .y_label_formatter(&|v| label(chart.y_scale, *v))
        .draw()
        .map_err(failed)?;

    for (i, series) in chart.series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points = series
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite());
        plot.draw_series(LineSeries::new(points, color.stroke_width(2)).point_size(3))
            .map_err(failed)?
            .label(series.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    plot.configure_series_labels()
        .position(match chart.legend {
            LegendCorner::UpperLeft => SeriesLabelPosition::UpperLeft,
            LegendCorner::LowerRight => SeriesLabelPosition::LowerRight,
        })
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(failed)
}

/// A linear axis label: whole numbers without decimals, others with up to three.
fn format_linear(x: f64) -> String {
    if x == x.round() {
        format!("{x:.0}")
    } else {
        let text = format!("{x:.3}");
        text.trim_end_matches('0').to_string()
    }
}

/// A positive number with an SI suffix and at most three significant digits (`65.5k`, `4M`,
/// `0.05`), or a power of ten such as `1e-8` below 0.01 and from 10^12 up.
pub fn format_count(x: f64) -> String {
    if !(1e-2..1e12).contains(&x) {
        return format!("{x:.0e}");
    }
    let (value, suffix) = match x {
        x if x >= 1e9 => (x / 1e9, "G"),
        x if x >= 1e6 => (x / 1e6, "M"),
        x if x >= 1e3 => (x / 1e3, "k"),
        x => (x, ""),
    };
    let digits = match value {
        v if v >= 100.0 || v == v.round() => 0,
        v if v >= 10.0 => 1,
        _ => 2,
    };
    format!("{value:.digits$}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_files_need_an_svg_or_png_extension() {
        let dir = tempfile::tempdir().unwrap();
        let e = ReportFile::plot(&dir.path().join("p.jpg")).unwrap_err();
        assert!(e.to_string().contains("expected a .svg or .png"), "{e}");
        assert_eq!(
            ReportFile::plot(&dir.path().join("p.SVG"))
                .unwrap()
                .format(),
            ReportFormat::Svg
        );
        assert!(ReportFile::json(dir.path()).is_err());
    }

    #[test]
    fn counts_print_with_si_suffixes_or_as_powers_of_ten() {
        assert_eq!(format_count(65_536.0), "65.5k");
        assert_eq!(format_count(4_000_000.0), "4M");
        assert_eq!(format_count(1.5), "1.50");
        assert_eq!(format_count(250.0), "250");
        assert_eq!(format_count(0.05), "0.05");
        assert_eq!(format_count(1e-8), "1e-8");
        assert_eq!(format_count(1e30), "1e30");
    }

    #[test]
    fn axis_ranges_pad_and_survive_empty_and_flat_data() {
        assert_eq!(
            axis_range(AxisScale::Log, [2.0, 3.0].into_iter()),
            (2.0 / 1.5, 4.5)
        );
        assert_eq!(
            axis_range(AxisScale::Log, [-1.0, 0.0].into_iter()),
            (1.0, 10.0)
        );
        assert_eq!(axis_range(AxisScale::Linear, [4.0].into_iter()), (3.5, 4.5));
        assert_eq!(
            axis_range(AxisScale::Linear, [0.0, 40.0].into_iter()),
            (-2.0, 42.0)
        );
    }

    #[test]
    fn charts_render_as_svg_and_png_with_their_labels() {
        let chart = LineChart {
            title: "a title".into(),
            x_desc: "layer".into(),
            y_desc: "std".into(),
            x_scale: AxisScale::Linear,
            y_scale: AxisScale::Log,
            series: vec![Series {
                label: "he".into(),
                points: vec![(0.0, 1.0), (1.0, 0.5), (2.0, f64::INFINITY)],
            }],
            legend: LegendCorner::UpperLeft,
        };
        let svg = plot_svg(&chart).unwrap();
        for text in ["a title", "layer", "std", "he"] {
            assert!(svg.contains(text), "{text} missing from the SVG");
        }
        let png = plot_png(&chart).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
}
