//! Matching the nodules of a current study with those of a prior study of the same patient:
//! the prior's positions are mapped into the current study by aligning the two lung regions'
//! bounding boxes (per axis: scale and shift, which absorbs a different inspiration and
//! table position), then each current nodule takes the nearest unmatched prior nodule in the
//! same lung within [`MATCH_DISTANCE_MM`] (or 1.5 × its diameter, if larger). Growth and the
//! new/stable/growing status then come from mira-clinical (Lung-RADS v2022: growth is an
//! increase in mean diameter of more than 1.5 mm within 12 months).

use crate::report::{LungReport, LungSummary, NoduleReport};

/// Farthest a prior nodule may lie from a current one, after alignment, to be the same one
/// (mm): registration by bounding boxes is good to a few millimetres; nodules are rarely
/// closer to each other than this.
pub const MATCH_DISTANCE_MM: f64 = 15.0;

/// A prior study's report and how long before the current study it was taken.
#[derive(Debug, Clone, PartialEq)]
pub struct PriorStudy {
    /// The prior study's report (as `analyze` gave it, or deserialised from storage).
    pub report: LungReport,
    /// Months between the prior study and the current one.
    pub months_before: u32,
}

impl PriorStudy {
    /// A prior from its report, with the interval from the two Study Dates (YYYYMMDD) when
    /// both are known.
    pub fn from_dates(report: LungReport, current_study_date: &str) -> Option<PriorStudy> {
        let months = months_between(&report.study_date, current_study_date)?;
        Some(PriorStudy {
            report,
            months_before: months,
        })
    }
}

/// Whole months from `earlier` to `later` (DICOM DA, YYYYMMDD), rounded to the nearest month;
/// `None` when either is malformed or `later` is earlier.
pub fn months_between(earlier: &str, later: &str) -> Option<u32> {
    let parse = |d: &str| -> Option<i64> {
        let d = d.trim();
        if d.len() != 8 || !d.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let y: i64 = d[0..4].parse().ok()?;
        let m: i64 = d[4..6].parse().ok()?;
        let day: i64 = d[6..8].parse().ok()?;
        Some(y * 360 + (m - 1) * 30 + (day - 1))
    };
    let days = parse(later)? - parse(earlier)?;
    (days >= 0).then(|| ((days as f64) / 30.0).round() as u32)
}

fn union_box(lungs: &[LungSummary]) -> Option<([f64; 3], [f64; 3])> {
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for l in lungs {
        for a in 0..3 {
            lo[a] = lo[a].min(l.min_mm[a]);
            hi[a] = hi[a].max(l.max_mm[a]);
        }
    }
    lo[0].is_finite().then_some((lo, hi))
}

/// The prior's position `p` in the current study's coordinates.
pub fn align(p: [f64; 3], prior: &[LungSummary], current: &[LungSummary]) -> [f64; 3] {
    let (Some((plo, phi)), Some((clo, chi))) = (union_box(prior), union_box(current)) else {
        return p;
    };
    let mut q = [0.0; 3];
    for a in 0..3 {
        let span = phi[a] - plo[a];
        q[a] = if span > 1.0 {
            clo[a] + (p[a] - plo[a]) / span * (chi[a] - clo[a])
        } else {
            p[a] - plo[a] + clo[a]
        };
    }
    q
}

/// For each current nodule, the index of its prior nodule and the distance, mm.
pub fn match_nodules(
    current: &[NoduleReport],
    current_lungs: &[LungSummary],
    prior: &LungReport,
) -> Vec<Option<(usize, f64)>> {
    let aligned: Vec<[f64; 3]> = prior
        .nodules
        .iter()
        .map(|n| align(n.centre_mm, &prior.lungs, current_lungs))
        .collect();
    // all pairs within reach, closest first, taken greedily
    let mut pairs = Vec::new();
    for (i, c) in current.iter().enumerate() {
        for (j, p) in prior.nodules.iter().enumerate() {
            if c.lung != p.lung {
                continue;
            }
            let d = (0..3)
                .map(|a| (c.centre_mm[a] - aligned[j][a]).powi(2))
                .sum::<f64>()
                .sqrt();
            let reach = MATCH_DISTANCE_MM.max(1.5 * c.mean_diameter_mm.max(p.mean_diameter_mm));
            if d <= reach {
                pairs.push((d, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut result = vec![None; current.len()];
    let mut taken = vec![false; prior.nodules.len()];
    for (d, i, j) in pairs {
        if result[i].is_none() && !taken[j] {
            result[i] = Some((j, d));
            taken[j] = true;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_between_study_dates() {
        assert_eq!(months_between("20250101", "20260101"), Some(12));
        assert_eq!(months_between("20250101", "20250715"), Some(6));
        assert_eq!(months_between("20260101", "20250101"), None);
        assert_eq!(months_between("", "20250101"), None);
    }
}
