//! Measurement agreement: Bland–Altman bias and 95% limits of agreement of a measurement
//! (nodule diameter, volume) against the reference (Bland & Altman, Lancet 1986), with the
//! approximate intervals of Bland & Altman (1999): SE(bias) = s/√n, SE(limit) ≈ s·√(3/n).

use serde::{Deserialize, Serialize};

use crate::stats::{Estimate, z_for};

/// Bland–Altman agreement of paired measurements.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BlandAltman {
    /// Pairs.
    pub pairs: u64,
    /// Mean of measured − reference.
    pub bias: Estimate,
    /// Standard deviation of the differences.
    pub sd: f64,
    /// bias − 1.96 sd.
    pub lower_limit: Estimate,
    /// bias + 1.96 sd.
    pub upper_limit: Estimate,
    /// Mean absolute difference.
    pub mean_absolute_error: f64,
}

/// Agreement of `(reference, measured)` pairs; `None` with fewer than two.
pub fn bland_altman(pairs: &[(f64, f64)], confidence: f64) -> Option<BlandAltman> {
    let n = pairs.len();
    if n < 2 {
        return None;
    }
    let d: Vec<f64> = pairs.iter().map(|(r, m)| m - r).collect();
    let nf = n as f64;
    let bias = d.iter().sum::<f64>() / nf;
    let sd = (d.iter().map(|x| (x - bias).powi(2)).sum::<f64>() / (nf - 1.0)).sqrt();
    let z = z_for(confidence);
    let se_bias = sd / nf.sqrt();
    let se_limit = sd * (3.0 / nf).sqrt();
    let limit = |centre: f64| Estimate {
        value: centre,
        low: centre - z * se_limit,
        high: centre + z * se_limit,
    };
    Some(BlandAltman {
        pairs: n as u64,
        bias: Estimate {
            value: bias,
            low: bias - z * se_bias,
            high: bias + z * se_bias,
        },
        sd,
        lower_limit: limit(bias - 1.96 * sd),
        upper_limit: limit(bias + 1.96 * sd),
        mean_absolute_error: d.iter().map(|x| x.abs()).sum::<f64>() / nf,
    })
}

/// Agreement per measurement: reference and measured CSV files keyed by `id`, every other
/// column that both files carry (e.g. `diameter_mm`, `volume_mm3`) compared by Bland–Altman.
/// Every id of one file must be in the other; an empty cell leaves that pair out.
pub fn from_csv(
    reference: &std::path::Path,
    measured: &std::path::Path,
    confidence: f64,
) -> Result<std::collections::BTreeMap<String, Option<BlandAltman>>, crate::InputError> {
    use std::collections::BTreeMap;
    let truth = crate::table::Table::read(reference, true)?;
    let pred = crate::table::Table::read(measured, true)?;
    let (t_id, p_id) = (truth.column("id")?, pred.column("id")?);
    let columns: Vec<(String, usize, usize)> = truth
        .header
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != t_id)
        .filter_map(|(i, name)| pred.optional_column(name).map(|j| (name.clone(), i, j)))
        .collect();
    if columns.is_empty() {
        return Err(crate::InputError::Mismatch(format!(
            "{} and {} share no measurement column besides id",
            reference.display(),
            measured.display()
        )));
    }
    let mut measured_rows: BTreeMap<String, (usize, &Vec<String>)> = BTreeMap::new();
    for (line, fields) in &pred.rows {
        let id = fields[p_id].trim().to_string();
        if let Some((first, _)) = measured_rows.insert(id.clone(), (*line, fields)) {
            return Err(crate::InputError::line(
                measured,
                *line,
                format!("id '{id}' already on line {first}"),
            ));
        }
    }
    let mut pairs: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (line, fields) in &truth.rows {
        let id = fields[t_id].trim().to_string();
        let Some((p_line, p_fields)) = measured_rows.remove(&id) else {
            return Err(crate::InputError::Mismatch(format!(
                "{}: id '{id}' (line {line}) has no measurement in {}",
                reference.display(),
                measured.display()
            )));
        };
        for (name, i, j) in &columns {
            if fields[*i].trim().is_empty() || p_fields[*j].trim().is_empty() {
                continue;
            }
            let r = truth.number(*line, fields, *i)?;
            let m = pred.number(p_line, p_fields, *j)?;
            pairs.entry(name.clone()).or_default().push((r, m));
        }
    }
    if let Some((id, (line, _))) = measured_rows.iter().next() {
        return Err(crate::InputError::Mismatch(format!(
            "{}: id '{id}' (line {line}) has no reference in {}",
            measured.display(),
            reference.display()
        )));
    }
    Ok(columns
        .iter()
        .map(|(name, _, _)| {
            let agreement = pairs.get(name).and_then(|p| bland_altman(p, confidence));
            (name.clone(), agreement)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bias_and_limits() {
        // differences 1, 2, 3, 4, 5: mean 3, sd √2.5
        let pairs: Vec<(f64, f64)> = (1..=5).map(|d| (10.0, 10.0 + d as f64)).collect();
        let ba = bland_altman(&pairs, 0.95).unwrap();
        assert!((ba.bias.value - 3.0).abs() < 1e-12);
        assert!((ba.sd - 2.5f64.sqrt()).abs() < 1e-12);
        assert!((ba.upper_limit.value - (3.0 + 1.96 * 2.5f64.sqrt())).abs() < 1e-12);
        assert!(bland_altman(&pairs[..1], 0.95).is_none());
        let same = bland_altman(&[(1.0, 1.0), (2.0, 2.0)], 0.95).unwrap();
        assert_eq!((same.bias.value, same.sd), (0.0, 0.0));
    }
}
