//! DeLong's interval for the AUC against a published worked example.
//!
//! Data: Hanley & McNeil (1982), "The meaning and use of the area under a receiver operating
//! characteristic (ROC) curve", Radiology 143:29–36, Table 1: 109 CT images rated on a
//! five-point scale by one radiologist, 58 normal (33, 6, 6, 11, 2 at ratings 1–5) and 51
//! abnormal (3, 2, 2, 11, 33).
//!
//! Published result: the Stata Base Reference Manual, `roctab` (whose standard error is
//! DeLong, DeLong & Clarke-Pearson 1988), example 1 on these data (`hanley.dta`): ROC area
//! 0.8932, Std. Err. 0.0307, asymptotic normal 95% interval 0.83295 to 0.95339.

use mira_eval::stats::DeLong;

fn ratings(counts: [usize; 5]) -> Vec<f64> {
    counts
        .iter()
        .enumerate()
        .flat_map(|(r, &n)| std::iter::repeat_n((r + 1) as f64, n))
        .collect()
}

#[test]
fn hanley_mcneil_ct_ratings_match_the_published_delong_interval() {
    let normal = ratings([33, 6, 6, 11, 2]);
    let abnormal = ratings([3, 2, 2, 11, 33]);
    let delong = DeLong::new(&abnormal, &normal).unwrap();
    let e = delong.estimate(0.95);
    assert_eq!((e.value * 1e4).round() / 1e4, 0.8932);
    assert_eq!((delong.variance.sqrt() * 1e4).round() / 1e4, 0.0307);
    assert_eq!((e.low * 1e5).round() / 1e5, 0.83295);
    assert_eq!((e.high * 1e5).round() / 1e5, 0.95339);
}
