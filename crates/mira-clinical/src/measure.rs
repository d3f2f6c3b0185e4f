//! Nodule measurements with exact decimal arithmetic.
//!
//! ACR Lung-RADS v2022 measures a nodule on lung windows: the long axis and the short axis,
//! each to one decimal place in millimetres, and reports their mean to one decimal place; a
//! volume, where obtained, to the nearest whole mm³. Every threshold applies to that rounded
//! mean. Fleischner 2017 (MacMahon et al., Radiology 2017;284:228-243; Bankier et al.,
//! Radiology 2017;285:584-600) rounds the same mean to the nearest whole millimetre.
//!
//! Lengths are [`Mm`]: an integer number of tenths of a millimetre, never a binary float, so
//! that the mean of 4.1 mm and 3.8 mm is exactly 3.95 mm and rounds *half up* to 4.0 mm (in
//! `f64`, `(4.1 + 3.8) / 2` is 3.9499999999999997, which rounds to 3.9 and would move a new
//! solid nodule from category 3 to 2). The rounding mode is not specified by the ACR; mira uses
//! decimal round-half-up and says so here.

use std::fmt;

/// Largest length accepted, in millimetres: nothing in a chest is longer.
const MAX_MM: i64 = 1000;

/// Why a measurement was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MeasurementError {
    /// The text is not a plain non-negative decimal number such as `3.95`.
    #[error("not a plain decimal length in mm: {0:?}")]
    Malformed(String),
    /// A length is negative, infinite or not a number.
    #[error("length must be a finite non-negative number of mm")]
    NotFiniteOrNegative,
    /// A length exceeds 1000 mm.
    #[error("length exceeds {MAX_MM} mm")]
    OutOfRange,
    /// A threshold has more decimal places than one.
    #[error("length {0:?} has more than one decimal place")]
    TooPrecise(String),
    /// The short axis is longer than the long axis.
    #[error("short axis {short} mm exceeds long axis {long} mm")]
    ShortAxisExceedsLong {
        /// Long axis.
        long: Mm,
        /// Short axis.
        short: Mm,
    },
    /// No contour with at least one point was given.
    #[error("no contour points to measure")]
    NoContour,
}

/// A length in millimetres, held exactly as an integer number of tenths of a millimetre.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mm {
    tenths: i64,
}

impl Mm {
    /// Zero millimetres.
    pub const ZERO: Mm = Mm { tenths: 0 };

    /// A length of `tenths` tenths of a millimetre (`Mm::from_tenths(40)` is 4.0 mm).
    pub const fn from_tenths(tenths: i64) -> Mm {
        Mm { tenths }
    }

    /// The length in tenths of a millimetre.
    pub const fn tenths(self) -> i64 {
        self.tenths
    }

    /// Parses a plain decimal (`"3.95"`, `"12"`, `"0.5"`) and rounds it half up to 0.1 mm,
    /// digit by digit: `"3.95"` → 4.0, `"3.94"` → 3.9, `"3.9499"` → 3.9.
    pub fn parse(text: &str) -> Result<Mm, MeasurementError> {
        let (whole, fraction) = split_decimal(text)?;
        let first = fraction.first().copied().unwrap_or(0);
        let round_up = fraction.get(1).is_some_and(|&d| d >= 5);
        Mm::checked(whole, first, round_up)
    }

    /// Parses a plain decimal with at most one decimal place, exactly (a profile threshold).
    pub fn parse_exact(text: &str) -> Result<Mm, MeasurementError> {
        let (whole, fraction) = split_decimal(text)?;
        if fraction.iter().skip(1).any(|&d| d != 0) {
            return Err(MeasurementError::TooPrecise(text.to_string()));
        }
        Mm::checked(whole, fraction.first().copied().unwrap_or(0), false)
    }

    /// A length from a float, taken as the decimal it prints as (Rust prints the shortest
    /// decimal that reads back as the same float, so `3.95_f64` is `"3.95"`), then rounded half
    /// up to 0.1 mm as [`Mm::parse`] does.
    pub fn from_f64(value: f64) -> Result<Mm, MeasurementError> {
        if !value.is_finite() || value < 0.0 {
            return Err(MeasurementError::NotFiniteOrNegative);
        }
        Mm::parse(&format!("{value}"))
    }

    /// A threshold from a float, exactly: it must have at most one decimal place.
    pub fn exact_from_f64(value: f64) -> Result<Mm, MeasurementError> {
        if !value.is_finite() || value < 0.0 {
            return Err(MeasurementError::NotFiniteOrNegative);
        }
        Mm::parse_exact(&format!("{value}"))
    }

    fn checked(whole: i64, tenth: u8, round_up: bool) -> Result<Mm, MeasurementError> {
        if whole > MAX_MM {
            return Err(MeasurementError::OutOfRange);
        }
        let tenths = whole * 10 + i64::from(tenth) + i64::from(round_up);
        if tenths > MAX_MM * 10 {
            return Err(MeasurementError::OutOfRange);
        }
        Ok(Mm { tenths })
    }

    /// The length as a float, for display and statistics only; no rule uses it.
    pub fn as_f64(self) -> f64 {
        self.tenths as f64 / 10.0
    }

    /// This length minus `other` (may be negative).
    pub fn minus(self, other: Mm) -> Mm {
        Mm {
            tenths: self.tenths - other.tenths,
        }
    }
}

/// Splits `"12.345"` into 12 and [3, 4, 5]; refuses signs, exponents and empty parts.
fn split_decimal(text: &str) -> Result<(i64, Vec<u8>), MeasurementError> {
    let malformed = || MeasurementError::Malformed(text.to_string());
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) || (text.contains('.') && fraction.is_empty())
    {
        return Err(malformed());
    }
    let whole = whole.trim_start_matches('0').parse::<i64>().or_else(|_| {
        if whole.bytes().all(|b| b == b'0') {
            Ok(0)
        } else {
            Err(MeasurementError::OutOfRange)
        }
    })?;
    Ok((whole, fraction.bytes().map(|b| b - b'0').collect()))
}

impl fmt::Display for Mm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.tenths < 0 { "-" } else { "" };
        let abs = self.tenths.abs();
        write!(f, "{sign}{}.{}", abs / 10, abs % 10)
    }
}

/// How a profile rounds a mean diameter before applying its thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// To 0.1 mm, half up (ACR Lung-RADS v2022).
    TenthMm,
    /// To the nearest whole millimetre, half up (Fleischner 2017).
    WholeMm,
}

impl Precision {
    /// The mean of two lengths, rounded half up to this precision.
    pub fn mean(self, a: Mm, b: Mm) -> Mm {
        // Sum in tenths; the exact mean is sum/2 tenths, i.e. sum*5 hundredths.
        let hundredths = (a.tenths + b.tenths) * 5;
        self.round_hundredths(hundredths)
    }

    /// `length` rounded half up to this precision.
    pub fn round(self, length: Mm) -> Mm {
        self.round_hundredths(length.tenths * 10)
    }

    /// Whether `length` is a multiple of this precision's step.
    pub fn holds(self, length: Mm) -> bool {
        match self {
            Precision::TenthMm => true,
            Precision::WholeMm => length.tenths % 10 == 0,
        }
    }

    fn round_hundredths(self, hundredths: i64) -> Mm {
        // Lengths are non-negative, so integer division truncates towards zero as floor does.
        let step = match self {
            Precision::TenthMm => 10,
            Precision::WholeMm => 100,
        };
        let steps = (hundredths + step / 2) / step;
        Mm::from_tenths(steps * step / 10)
    }
}

/// A nodule's size: long and short axis (each to 0.1 mm) and, where obtained, its volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoduleSize {
    long_axis: Mm,
    short_axis: Mm,
    volume_mm3: Option<u64>,
}

impl NoduleSize {
    /// A size from its two axes; the short axis may not exceed the long one.
    pub fn new(long_axis: Mm, short_axis: Mm) -> Result<NoduleSize, MeasurementError> {
        if short_axis > long_axis {
            return Err(MeasurementError::ShortAxisExceedsLong {
                long: long_axis,
                short: short_axis,
            });
        }
        Ok(NoduleSize {
            long_axis,
            short_axis,
            volume_mm3: None,
        })
    }

    /// A size from two decimal texts, each rounded half up to 0.1 mm (`"4.1"`, `"3.8"`).
    pub fn parse(long_axis: &str, short_axis: &str) -> Result<NoduleSize, MeasurementError> {
        NoduleSize::new(Mm::parse(long_axis)?, Mm::parse(short_axis)?)
    }

    /// The same size with a volume, in whole mm³.
    pub fn with_volume(self, volume_mm3: u64) -> NoduleSize {
        NoduleSize {
            volume_mm3: Some(volume_mm3),
            ..self
        }
    }

    /// Long axis.
    pub fn long_axis(&self) -> Mm {
        self.long_axis
    }

    /// Short axis.
    pub fn short_axis(&self) -> Mm {
        self.short_axis
    }

    /// Volume in whole mm³, if obtained.
    pub fn volume_mm3(&self) -> Option<u64> {
        self.volume_mm3
    }

    /// Mean diameter: (long + short) / 2, rounded half up to `precision`.
    pub fn mean_diameter(&self, precision: Precision) -> Mm {
        precision.mean(self.long_axis, self.short_axis)
    }
}

/// One axial contour of a nodule: its boundary points in millimetres in the image plane.
#[derive(Debug, Clone, PartialEq)]
pub struct AxialContour {
    /// Boundary points (x, y) in mm.
    pub points_mm: Vec<(f64, f64)>,
}

impl AxialContour {
    /// Area enclosed by the boundary (shoelace formula), mm².
    fn area_mm2(&self) -> f64 {
        let n = self.points_mm.len();
        let twice: f64 = (0..n)
            .map(|i| {
                let (x0, y0) = self.points_mm[i];
                let (x1, y1) = self.points_mm[(i + 1) % n];
                x0 * y1 - x1 * y0
            })
            .sum();
        twice.abs() / 2.0
    }

    /// Long axis (greatest distance between two boundary points) and short axis (the extent
    /// perpendicular to the long axis), in mm.
    fn axes(&self) -> (f64, f64) {
        let p = &self.points_mm;
        let mut best = (0.0_f64, (0.0, 0.0), (0.0, 0.0));
        for (i, &a) in p.iter().enumerate() {
            for &b in &p[i + 1..] {
                let d = ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
                if d > best.0 {
                    best = (d, a, b);
                }
            }
        }
        let (long, a, b) = best;
        if long == 0.0 {
            return (0.0, 0.0);
        }
        // Unit vector perpendicular to the long axis; the short axis is the boundary's extent
        // along it.
        let (nx, ny) = (-(b.1 - a.1) / long, (b.0 - a.0) / long);
        let projections = p.iter().map(|&(x, y)| x * nx + y * ny);
        let (min, max) = projections.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        (long, (max - min).min(long))
    }
}

/// Measures a nodule from its axial contours as Lung-RADS asks: long and short axis on the
/// axial slice where the nodule's long axis is greatest (of equal ones, the slice with the
/// longer short axis), each rounded half up to 0.1 mm, and the
/// volume as the contours' areas times the slice spacing, to the nearest whole mm³.
pub fn measure_axial(
    contours: &[AxialContour],
    slice_spacing_mm: f64,
) -> Result<NoduleSize, MeasurementError> {
    if !slice_spacing_mm.is_finite() || slice_spacing_mm < 0.0 {
        return Err(MeasurementError::NotFiniteOrNegative);
    }
    let widest = contours
        .iter()
        .filter(|c| !c.points_mm.is_empty())
        .map(AxialContour::axes)
        // Ties on the long axis (common on a pixel grid): the slice with the longer short axis.
        .max_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)))
        .ok_or(MeasurementError::NoContour)?;
    let long = Mm::from_f64(widest.0)?;
    let short = Mm::from_f64(widest.1)?.min(long);
    let volume: f64 = contours.iter().map(|c| c.area_mm2()).sum::<f64>() * slice_spacing_mm;
    Ok(NoduleSize::new(long, short)?.with_volume(volume.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rounds_half_up_digit_by_digit() {
        for (text, tenths) in [
            ("3.95", 40),
            ("3.94", 39),
            ("3.9499", 39),
            ("3.950", 40),
            ("0.05", 1),
            ("0.04", 0),
            ("12", 120),
            ("007.25", 73),
            ("9.99", 100),
        ] {
            assert_eq!(Mm::parse(text).unwrap().tenths(), tenths, "{text}");
        }
        for bad in ["", ".5", "5.", "-1", "1e3", "3,9", " 3.9", "nan"] {
            assert!(
                matches!(Mm::parse(bad), Err(MeasurementError::Malformed(_))),
                "{bad}"
            );
        }
        assert_eq!(Mm::parse("1000.1"), Err(MeasurementError::OutOfRange));
        assert_eq!(
            Mm::parse("99999999999999999999999"),
            Err(MeasurementError::OutOfRange)
        );
    }

    #[test]
    fn floats_are_taken_as_the_decimal_they_print_as() {
        assert_eq!(Mm::from_f64(3.95).unwrap(), Mm::from_tenths(40));
        assert_eq!(Mm::from_f64(3.94).unwrap(), Mm::from_tenths(39));
        assert_eq!(Mm::from_f64(2.675).unwrap(), Mm::from_tenths(27));
        assert_eq!(
            Mm::from_f64(-0.1),
            Err(MeasurementError::NotFiniteOrNegative)
        );
        assert_eq!(
            Mm::from_f64(f64::NAN),
            Err(MeasurementError::NotFiniteOrNegative)
        );
        assert_eq!(
            Mm::exact_from_f64(5.95),
            Err(MeasurementError::TooPrecise("5.95".into()))
        );
        assert_eq!(Mm::exact_from_f64(30.0).unwrap(), Mm::from_tenths(300));
    }

    #[test]
    fn the_3_95_boundary_is_exact() {
        // In binary floating point the mean of 4.1 and 3.8 falls just below 3.95 and rounds down.
        let float_mean = (4.1_f64 + 3.8) / 2.0;
        assert!(float_mean < 3.95);
        assert_eq!(format!("{float_mean:.1}"), "3.9");
        let size = NoduleSize::parse("4.1", "3.8").unwrap();
        assert_eq!(size.mean_diameter(Precision::TenthMm).to_string(), "4.0");
        let size = NoduleSize::parse("4.1", "3.7").unwrap();
        assert_eq!(size.mean_diameter(Precision::TenthMm).to_string(), "3.9");
        // Whole-millimetre rounding (Fleischner): 8.4 → 8, 8.5 → 9, 5.45 → 5.
        for (long, short, whole) in [("8.6", "8.2", "8.0"), ("9.0", "8.0", "9.0")] {
            let size = NoduleSize::parse(long, short).unwrap();
            assert_eq!(size.mean_diameter(Precision::WholeMm).to_string(), whole);
        }
        assert_eq!(
            Precision::WholeMm.round(Mm::parse("5.4").unwrap()),
            Mm::from_tenths(50)
        );
        assert_eq!(
            Precision::WholeMm.round(Mm::parse("5.5").unwrap()),
            Mm::from_tenths(60)
        );
    }

    #[test]
    fn short_axis_may_not_exceed_long() {
        assert!(matches!(
            NoduleSize::parse("5.0", "5.1"),
            Err(MeasurementError::ShortAxisExceedsLong { .. })
        ));
    }

    #[test]
    fn axial_measurement_of_a_rectangle_and_a_disc() {
        // A 10 × 4 mm rectangle on one slice and a 6 × 2 mm one on the next, 1 mm apart.
        let rect = |w: f64, h: f64| AxialContour {
            points_mm: vec![(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)],
        };
        let size = measure_axial(&[rect(6.0, 2.0), rect(10.0, 4.0)], 1.0).unwrap();
        // The diagonal is the greatest distance: sqrt(116) = 10.77 → 10.8.
        assert_eq!(size.long_axis().to_string(), "10.8");
        assert_eq!(size.volume_mm3(), Some(52));
        // The extent perpendicular to the diagonal of a 10 × 4 rectangle: 2·10·4/sqrt(116) = 7.43.
        assert_eq!(size.short_axis().to_string(), "7.4");
        // A polygonal disc of radius 5: both axes 10.0.
        let disc = AxialContour {
            points_mm: (0..360)
                .map(|d| {
                    let a = f64::from(d).to_radians();
                    (5.0 * a.cos(), 5.0 * a.sin())
                })
                .collect(),
        };
        let size = measure_axial(&[disc], 2.0).unwrap();
        assert_eq!(size.long_axis().to_string(), "10.0");
        assert_eq!(size.short_axis().to_string(), "10.0");
        assert_eq!(size.volume_mm3(), Some(157));
        assert_eq!(measure_axial(&[], 1.0), Err(MeasurementError::NoContour));
    }
}
