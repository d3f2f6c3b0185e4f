//! Statistics behind the metrics: the normal quantile, Wilson score intervals, DeLong's
//! variance of the AUC (the fast midrank algorithm of Sun & Xu 2014), percentile intervals and
//! a small seeded generator for bootstrap resampling (results are reproducible run to run).

use serde::{Deserialize, Serialize};

/// A point estimate with a two-sided confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The estimate.
    pub value: f64,
    /// Lower bound of the interval.
    pub low: f64,
    /// Upper bound of the interval.
    pub high: f64,
}

impl Estimate {
    /// An estimate whose interval is the point itself (nothing to resample).
    pub fn exact(value: f64) -> Estimate {
        Estimate {
            value,
            low: value,
            high: value,
        }
    }
}

/// The standard normal quantile: Φ⁻¹(p), 0 < p < 1 (Acklam's rational approximation refined
/// by one Halley step, relative error below 1e-13).
pub fn normal_quantile(p: f64) -> f64 {
    assert!(p > 0.0 && p < 1.0, "normal_quantile needs 0 < p < 1");
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let low = 0.02425;
    let x = if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    // one Halley step on Φ(x) − p
    let e = 0.5 * erfc(-x / std::f64::consts::SQRT_2) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// The complementary error function: the Maclaurin series of erf below |x| = 2.5, the
/// continued fraction of erfc (evaluated backwards, 200 terms) above; ~1e-15 relative
/// accuracy over the range the quantile's refinement needs.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let value = if z < 2.5 {
        // erf(z) = 2/√π Σ (−1)ⁿ z^(2n+1) / (n! (2n+1))
        let mut term = z;
        let mut sum = z;
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs() {
            n += 1.0;
            term *= -z * z / n;
            sum += term / (2.0 * n + 1.0);
        }
        1.0 - 2.0 / std::f64::consts::PI.sqrt() * sum
    } else {
        // erfc(z) = e^(−z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + …))))
        let mut fraction = z;
        for k in (1..200).rev() {
            fraction = z + (k as f64 / 2.0) / fraction;
        }
        (-z * z).exp() / std::f64::consts::PI.sqrt() / fraction
    };
    if x >= 0.0 { value } else { 2.0 - value }
}

/// The two-sided z for a confidence level, e.g. 1.959964 for 0.95.
pub fn z_for(confidence: f64) -> f64 {
    normal_quantile(1.0 - (1.0 - confidence) / 2.0)
}

/// The Wilson score interval for `successes` out of `trials` (Wilson 1927; Newcombe 1998,
/// method 3), or `None` when there are no trials.
pub fn wilson(successes: u64, trials: u64, confidence: f64) -> Option<Estimate> {
    if trials == 0 || successes > trials {
        return None;
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z = z_for(confidence);
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // at p = 0 or 1 the bound is exactly 0 or 1; the formula can miss it by an ulp
    let low = if successes == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let high = if successes == trials {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    Some(Estimate {
        value: p,
        low,
        high,
    })
}

/// Midranks (average ranks, from 1) of `values`, ties sharing the mean of their ranks.
pub fn midranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// The ROC AUC of scores for positives and negatives with DeLong's variance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DeLong {
    /// The empirical AUC (Mann–Whitney; ties count one half).
    pub auc: f64,
    /// DeLong, DeLong & Clarke-Pearson (1988) variance of the AUC.
    pub variance: f64,
}

impl DeLong {
    /// The AUC and its variance, or `None` without at least one positive and one negative.
    /// Computed with the midrank algorithm of Sun & Xu (2014), O(n log n).
    pub fn new(positives: &[f64], negatives: &[f64]) -> Option<DeLong> {
        let (m, n) = (positives.len(), negatives.len());
        if m == 0 || n == 0 {
            return None;
        }
        let combined: Vec<f64> = positives.iter().chain(negatives).copied().collect();
        let tz = midranks(&combined);
        let tx = midranks(positives);
        let ty = midranks(negatives);
        let (mf, nf) = (m as f64, n as f64);
        let v10: Vec<f64> = (0..m).map(|i| (tz[i] - tx[i]) / nf).collect();
        let v01: Vec<f64> = (0..n).map(|j| 1.0 - (tz[m + j] - ty[j]) / mf).collect();
        let auc = v10.iter().sum::<f64>() / mf;
        let s10 = sample_variance(&v10, auc);
        let s01 = sample_variance(&v01, auc);
        Some(DeLong {
            auc,
            variance: s10 / mf + s01 / nf,
        })
    }

    /// The AUC with its normal-theory interval, clipped to [0, 1] (as pROC does).
    pub fn estimate(&self, confidence: f64) -> Estimate {
        let half = z_for(confidence) * self.variance.sqrt();
        Estimate {
            value: self.auc,
            low: (self.auc - half).max(0.0),
            high: (self.auc + half).min(1.0),
        }
    }
}

fn sample_variance(values: &[f64], mean: f64) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (values.len() - 1) as f64
}

/// The percentile interval of bootstrap replicates as the LUNA16 script computes it
/// (`compute_mean_ci`): sort, take the elements at ⌊α/2·B⌋ and ⌊(1−α/2)·B⌋. `None` when
/// there are no finite replicates.
pub fn percentile_interval(
    value: f64,
    replicates: &mut Vec<f64>,
    confidence: f64,
) -> Option<Estimate> {
    replicates.retain(|v| v.is_finite());
    if replicates.is_empty() {
        return None;
    }
    replicates.sort_by(f64::total_cmp);
    let len = replicates.len();
    let tail = (1.0 - confidence) / 2.0;
    let at = |q: f64| replicates[((q * len as f64).floor() as usize).min(len - 1)];
    Some(Estimate {
        value,
        low: at(tail),
        high: at(1.0 - tail),
    })
}

/// SplitMix64 (Steele, Lea & Flood 2014): a small, fast, seeded generator for resampling.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform index below `bound` (Lemire's multiply-shift; the bias is below 2⁻³² for the
    /// sizes resampled here).
    pub fn below(&mut self, bound: usize) -> usize {
        (((self.next_u64() >> 32) * bound as u64) >> 32) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantiles_match_tables() {
        for (p, z) in [
            (0.975, 1.959_963_984_540_054),
            (0.5, 0.0),
            (0.995, 2.575_829_303_548_901),
            (0.025, -1.959_963_984_540_054),
            (0.001, -3.090_232_306_167_813),
        ] {
            assert!(
                (normal_quantile(p) - z).abs() < 1e-12,
                "{p}: {}",
                normal_quantile(p)
            );
        }
    }

    /// Wilson intervals against Newcombe (1998), Table I (method 3), and the boundaries.
    #[test]
    fn wilson_intervals() {
        type Case = (u64, u64, Option<(f64, f64)>);
        let cases: &[Case] = &[
            (81, 263, Some((0.2553, 0.3662))),
            (15, 148, Some((0.0624, 0.1605))),
            (0, 20, Some((0.0, 0.1611))),
            (1, 29, Some((0.0061, 0.1718))),
            (29, 29, Some((0.8830, 1.0))),
            (0, 0, None),
            (3, 2, None),
        ];
        for &(k, n, want) in cases {
            let got = wilson(k, n, 0.95).map(|e| (e.low, e.high));
            match (got, want) {
                (Some((lo, hi)), Some((wlo, whi))) => {
                    assert!(
                        (lo - wlo).abs() < 5e-5 && (hi - whi).abs() < 5e-5,
                        "{k}/{n}: {lo} {hi}"
                    );
                }
                (None, None) => {}
                _ => panic!("{k}/{n}: {got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn midranks_share_ties() {
        assert_eq!(midranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
        assert_eq!(midranks(&[]), Vec::<f64>::new());
    }

    #[test]
    fn delong_needs_both_classes() {
        assert!(DeLong::new(&[], &[1.0]).is_none());
        assert!(DeLong::new(&[1.0], &[]).is_none());
        let perfect = DeLong::new(&[2.0, 3.0], &[0.0, 1.0]).unwrap();
        assert_eq!((perfect.auc, perfect.variance), (1.0, 0.0));
    }

    #[test]
    fn percentile_interval_takes_the_scripts_indices() {
        let mut reps: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        let e = percentile_interval(1.0, &mut reps, 0.95).unwrap();
        assert_eq!((e.low, e.high), (25.0, 975.0));
        assert!(percentile_interval(0.0, &mut vec![f64::NAN], 0.95).is_none());
    }
}
