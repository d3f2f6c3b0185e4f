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
