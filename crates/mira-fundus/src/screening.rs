//! Diabetic-retinopathy screening from the findings, per the International Clinical Diabetic
//! Retinopathy severity scale (ICDR: Wilkinson C.P. et al., "Proposed international clinical
//! diabetic retinopathy and diabetic macular edema disease severity scales", Ophthalmology
//! 2003;110(9):1677-1682; AAO 2002), as digested in `shared/reference/clinical-rules.md` §2.1,
//! §2.2 and §2.5.
//!
//! | ICDR level | findings | here |
//! |---|---|---|
//! | No apparent retinopathy | no abnormalities | [`ScreeningResult::NoApparentRetinopathy`] |
//! | Mild NPDR | microaneurysms only | [`ScreeningResult::MildNpdr`] |
//! | Moderate NPDR | more than just microaneurysms, less than severe | [`ScreeningResult::Referable`] |
//! | Severe NPDR | 4-2-1 rule: > 20 intraretinal haemorrhages in each of 4 quadrants (or venous beading in ≥ 2, IRMA in ≥ 1) | [`ScreeningResult::ReferableUrgent`] (the haemorrhage count only: beading and IRMA are not detected) |
//! | PDR | neovascularisation, vitreous or preretinal haemorrhage | not detected; a model may say so |
//!
//! Referable DR (clinical-rules.md §2.5: EyeArt, Gulshan 2016) is moderate NPDR or worse
//! and/or diabetic macular oedema; hard exudates in the posterior pole are the photographic
//! sign of DME (ICDR DME scale, §2.2), so any exudate candidate makes an eye referable. The
//! platform refers on referable DR, urgently on vision-threatening DR (severe NPDR or PDR),
//! and an ungradable image is "re-image or refer", never "no DR" (§2.5, §2.6).
//!
//! The size that separates a microaneurysm from a haemorrhage is 125 µm (the ETDRS standard
//! photographs' definition; an average optic disc is about 1,800 µm across), so a red candidate
//! counts as microaneurysm-sized when its equivalent diameter is at most
//! [`MICROANEURYSM_DISC_FRACTION`] of the disc diameter.
//!
//! Per eye, the worst photograph decides; per patient, the worst eye (an ungradable eye ranks
//! above "no apparent retinopathy" and "mild", below "referable"). See [`ScreeningResult`]'s
//! order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::input::Laterality;

/// Largest microaneurysm over the disc diameter: 125 µm over about 1,800 µm, with a margin of
/// half again for the working copy's blur.
pub const MICROANEURYSM_DISC_FRACTION: f64 = 125.0 / 1800.0 * 1.5;

/// A candidate counts towards the findings at this score or above.
pub const CANDIDATE_THRESHOLD: f64 = 0.5;

/// The width of the band around [`CANDIDATE_THRESHOLD`] in which a result is stated as
/// borderline.
pub const BORDERLINE_BAND: f64 = 0.15;

/// Haemorrhages per quadrant above which the 4-2-1 rule's haemorrhage criterion holds.
pub const SEVERE_HAEMORRHAGES_PER_QUADRANT: u32 = 20;

/// What the findings support, from least to most severe for the purposes of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScreeningResult {
    /// No lesion candidate: ICDR "no apparent retinopathy".
    NoApparentRetinopathy,
    /// Microaneurysm-sized red candidates only: ICDR mild NPDR; not referable.
    MildNpdr,
    /// The image (or an eye's every image) cannot be graded: re-image or refer. Never "no
    /// retinopathy".
    Ungradable,
    /// More than microaneurysms (haemorrhage-sized red lesions or exudates): moderate NPDR or
    /// worse, or DME: referable.
    Referable,
    /// The 4-2-1 haemorrhage criterion of severe NPDR (or a model's severe NPDR / PDR): refer
    /// urgently.
    ReferableUrgent,
}

impl ScreeningResult {
    /// Whether the result sends the patient to an ophthalmologist (ungradable included: re-image
    /// or refer).
    pub fn needs_action(self) -> bool {
        self >= ScreeningResult::Ungradable
    }

    /// What to do, in words.
    pub fn statement(self) -> &'static str {
        match self {
            ScreeningResult::NoApparentRetinopathy => {
                "no apparent retinopathy: not referable, rescreen as scheduled"
            }
            ScreeningResult::MildNpdr => {
                "microaneurysms only (mild NPDR): not referable, rescreen as scheduled"
            }
            ScreeningResult::Ungradable => "ungradable — re-image or refer",
            ScreeningResult::Referable => {
                "referable: more than mild NPDR or signs of macular oedema; refer to ophthalmology"
            }
            ScreeningResult::ReferableUrgent => {
                "referable, severe NPDR suspected (4-2-1 haemorrhage criterion); refer urgently"
            }
        }
    }
}

/// Counts of confident candidates, the input of [`screen`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Findings {
    /// Whether QC graded the photograph Good or Usable.
    pub gradable: bool,
    /// Red candidates of microaneurysm size.
    pub microaneurysms: u32,
    /// Red candidates larger than a microaneurysm.
    pub haemorrhages: u32,
    /// Bright (hard exudate) candidates.
    pub exudates: u32,
    /// Haemorrhage-sized red candidates per quadrant about the field's centre (upper
    /// temporal/nasal order is not needed: the 4-2-1 rule asks for all four).
    pub haemorrhages_per_quadrant: [u32; 4],
}

/// The ICDR rules applied to findings (the table in the module docs, first match wins).
pub fn screen(f: &Findings) -> ScreeningResult {
    if !f.gradable {
        // clinical-rules.md §2.5: ungradable → refer or re-image, never "no DR"
        return ScreeningResult::Ungradable;
    }
    if f.haemorrhages_per_quadrant
        .iter()
        .all(|n| *n > SEVERE_HAEMORRHAGES_PER_QUADRANT)
    {
        // ICDR severe NPDR, 4-2-1 rule: > 20 intraretinal haemorrhages in each of 4 quadrants
        return ScreeningResult::ReferableUrgent;
    }
    if f.haemorrhages > 0 || f.exudates > 0 {
        // ICDR moderate NPDR: more than just microaneurysms; hard exudates: DME (referable)
        return ScreeningResult::Referable;
    }
    if f.microaneurysms > 0 {
        // ICDR mild NPDR: microaneurysms only
        return ScreeningResult::MildNpdr;
    }
    ScreeningResult::NoApparentRetinopathy
}

/// How sure a result is: the score it rests on, against the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Certainty {
    /// The deciding score is more than [`BORDERLINE_BAND`] from the threshold.
    Clear,
    /// Within the band: a small change in the image would change the result.
    Borderline,
    /// Not applicable (ungradable).
    NotApplicable,
}

/// The screening statement of one photograph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Screening {
    /// What the findings support.
    pub result: ScreeningResult,
    /// `result` in words, with what to do.
    pub statement: String,
    /// Whether a person must act (refer or re-image).
    pub referable: bool,
    /// The score the result rests on: the highest candidate score that counts towards the
    /// result (for "no apparent retinopathy", the highest candidate score of all), or a
    /// model's probability of referable DR when that decided.
    pub deciding_score: f64,
    /// The threshold `deciding_score` is compared with.
    pub threshold: f64,
    /// Clear or borderline.
    pub certainty: Certainty,
    /// The image-level lesion score (0..1, [`crate::ImageFeatures::lesion_score`]), not
    /// calibrated.
    pub lesion_score: f64,
    /// What decided: `classical`, or `classical+model` when a DR model's grade was worse.
    pub basis: String,
}

/// Certainty of a score against a threshold.
pub fn certainty(score: f64, threshold: f64) -> Certainty {
    if (score - threshold).abs() <= BORDERLINE_BAND {
        Certainty::Borderline
    } else {
        Certainty::Clear
    }
}

/// One eye's screening: the worst of its photographs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EyeScreening {
    /// Which eye.
    pub laterality: Laterality,
    /// The photographs of this eye (paths as given).
    pub images: Vec<String>,
    /// The worst result of its photographs.
    pub result: ScreeningResult,
    /// In words.
    pub statement: String,
    /// The highest lesion score of its gradable photographs.
    pub lesion_score: f64,
}

/// One patient's screening: the worst eye.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientScreening {
    /// The patient, or `None` for a photograph of unknown patient (each such photograph is a
    /// patient of its own).
    pub patient_id: Option<String>,
    /// Per eye.
    pub eyes: Vec<EyeScreening>,
    /// The worst eye's result.
    pub result: ScreeningResult,
    /// In words.
    pub statement: String,
    /// Whether a person must act.
    pub referable: bool,
    /// What is missing, e.g. `left eye not imaged`, `laterality unknown`.
    pub notes: Vec<String>,
}

/// One photograph as [`screen_patients`] needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct EyeImage<'a> {
    /// The patient, when known.
    pub patient_id: Option<&'a str>,
    /// The eye.
    pub laterality: Laterality,
    /// The photograph's path.
    pub path: &'a str,
    /// Its result.
    pub result: ScreeningResult,
    /// Its lesion score.
    pub lesion_score: f64,
}

/// Groups photographs by patient and eye: per eye the worst photograph, per patient the worst
/// eye. Photographs of unknown patient are each a patient of their own.
pub fn screen_patients(images: &[EyeImage<'_>]) -> Vec<PatientScreening> {
    type Eyes<'a, 'b> = BTreeMap<Laterality, Vec<&'b EyeImage<'a>>>;
    let mut patients: BTreeMap<(Option<&str>, usize), Eyes<'_, '_>> = BTreeMap::new();
    for (i, img) in images.iter().enumerate() {
        let key = match img.patient_id {
            Some(id) => (Some(id), 0),
            None => (None, i),
        };
        patients
            .entry(key)
            .or_default()
            .entry(img.laterality)
            .or_default()
            .push(img);
    }
    patients
        .into_iter()
        .map(|((patient_id, _), eyes)| {
            let eyes: Vec<EyeScreening> = eyes
                .into_iter()
                .map(|(laterality, imgs)| {
                    let result = imgs.iter().map(|i| i.result).max().unwrap_or(ScreeningResult::Ungradable);
                    EyeScreening {
                        laterality,
                        images: imgs.iter().map(|i| i.path.to_string()).collect(),
                        result,
                        statement: result.statement().into(),
                        lesion_score: imgs
                            .iter()
                            .filter(|i| i.result != ScreeningResult::Ungradable)
                            .map(|i| i.lesion_score)
                            .fold(0.0, f64::max),
                    }
                })
                .collect();
            let result = eyes
                .iter()
                .map(|e| e.result)
                .max()
                .unwrap_or(ScreeningResult::Ungradable);
            let mut notes = Vec::new();
            let has = |l: Laterality| eyes.iter().any(|e| e.laterality == l);
            if has(Laterality::Unknown) {
                notes.push("laterality unknown for some photographs (no sidecar or no laterality attribute)".into());
            }
            if patient_id.is_none() {
                notes.push("patient unknown: this photograph is screened on its own".into());
            } else {
                if !has(Laterality::Right) {
                    notes.push("right eye not imaged".into());
                }
                if !has(Laterality::Left) {
                    notes.push("left eye not imaged".into());
                }
            }
            PatientScreening {
                patient_id: patient_id.map(str::to_string),
                eyes,
                result,
                statement: result.statement().into(),
                referable: result.needs_action(),
                notes,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ScreeningResult::*;

    fn findings(gradable: bool, ma: u32, haem: u32, ex: u32, quadrants: [u32; 4]) -> Findings {
        Findings {
            gradable,
            microaneurysms: ma,
            haemorrhages: haem,
            exudates: ex,
            haemorrhages_per_quadrant: quadrants,
        }
    }

    #[test]
    fn icdr_rules_at_every_boundary() {
        let q0 = [0; 4];
        let cases = [
            // (gradable, MAs, haemorrhages, exudates, per quadrant) → result
            (findings(true, 0, 0, 0, q0), NoApparentRetinopathy),
            (findings(true, 1, 0, 0, q0), MildNpdr),
            (findings(true, 50, 0, 0, q0), MildNpdr),
            (findings(true, 0, 1, 0, q0), Referable),
            (findings(true, 1, 1, 0, q0), Referable),
            (findings(true, 0, 0, 1, q0), Referable),
            (findings(true, 3, 0, 1, q0), Referable),
            (findings(true, 0, 80, 0, [20, 20, 20, 20]), Referable),
            (findings(true, 0, 83, 0, [21, 21, 21, 20]), Referable),
            (findings(true, 0, 84, 0, [21, 21, 21, 21]), ReferableUrgent),
            (findings(true, 0, 84, 0, [21, 21, 21, 21]), ReferableUrgent),
            // ungradable is never "no retinopathy", whatever else was seen
            (findings(false, 0, 0, 0, q0), Ungradable),
            (findings(false, 1, 0, 0, q0), Ungradable),
            (findings(false, 0, 5, 2, q0), Ungradable),
            (findings(false, 0, 84, 0, [21; 4]), Ungradable),
        ];
        for (f, want) in cases {
            assert_eq!(screen(&f), want, "{f:?}");
        }
    }

    #[test]
    fn microaneurysm_size_is_125_micrometres_of_a_1800_micrometre_disc_with_margin() {
        assert!((MICROANEURYSM_DISC_FRACTION - 0.104_166).abs() < 1e-5);
    }

    #[test]
    fn certainty_band_boundaries() {
        assert_eq!(certainty(0.5, 0.5), Certainty::Borderline);
        assert_eq!(certainty(0.649, 0.5), Certainty::Borderline);
        assert_eq!(certainty(0.351, 0.5), Certainty::Borderline);
        assert_eq!(certainty(0.651, 0.5), Certainty::Clear);
        assert_eq!(certainty(0.349, 0.5), Certainty::Clear);
    }

    #[test]
    fn only_referable_and_ungradable_need_action() {
        assert!(!NoApparentRetinopathy.needs_action());
        assert!(!MildNpdr.needs_action());
        assert!(Ungradable.needs_action());
        assert!(Referable.needs_action());
        assert!(ReferableUrgent.needs_action());
    }

    fn img<'a>(
        patient: Option<&'a str>,
        l: Laterality,
        path: &'a str,
        r: ScreeningResult,
    ) -> EyeImage<'a> {
        EyeImage {
            patient_id: patient,
            laterality: l,
            path,
            result: r,
            lesion_score: 0.1,
        }
    }

    #[test]
    fn patient_is_the_worst_eye_and_an_ungradable_eye_is_never_clear() {
        use Laterality::*;
        let cases: [(&[(Laterality, ScreeningResult)], ScreeningResult); 8] = [
            (
                &[
                    (Right, NoApparentRetinopathy),
                    (Left, NoApparentRetinopathy),
                ],
                NoApparentRetinopathy,
            ),
            (
                &[(Right, NoApparentRetinopathy), (Left, MildNpdr)],
                MildNpdr,
            ),
            (
                &[(Right, NoApparentRetinopathy), (Left, Ungradable)],
                Ungradable,
            ),
            (&[(Right, MildNpdr), (Left, Ungradable)], Ungradable),
            (&[(Right, Referable), (Left, Ungradable)], Referable),
            (
                &[(Right, Referable), (Left, ReferableUrgent)],
                ReferableUrgent,
            ),
            // two photographs of one eye: the worse counts
            (
                &[
                    (Right, NoApparentRetinopathy),
                    (Right, Ungradable),
                    (Left, NoApparentRetinopathy),
                ],
                Ungradable,
            ),
            (
                &[(Right, NoApparentRetinopathy), (Right, Referable)],
                Referable,
            ),
        ];
        for (eyes, want) in cases {
            let images: Vec<EyeImage> = eyes
                .iter()
                .map(|(l, r)| img(Some("P1"), *l, "x.jpg", *r))
                .collect();
            let patients = screen_patients(&images);
            assert_eq!(patients.len(), 1);
            assert_eq!(patients[0].result, want, "{eyes:?}");
            assert_eq!(patients[0].referable, want.needs_action());
        }
    }

    #[test]
    fn missing_eyes_and_unknown_patients_are_stated() {
        let images = [
            img(
                Some("P1"),
                Laterality::Right,
                "a.jpg",
                NoApparentRetinopathy,
            ),
            img(None, Laterality::Unknown, "b.jpg", MildNpdr),
            img(None, Laterality::Unknown, "c.jpg", Referable),
        ];
        let patients = screen_patients(&images);
        assert_eq!(patients.len(), 3, "unknown patients are not merged");
        let p1 = patients
            .iter()
            .find(|p| p.patient_id.as_deref() == Some("P1"))
            .unwrap();
        assert_eq!(p1.notes, vec!["left eye not imaged".to_string()]);
        let unknown: Vec<_> = patients.iter().filter(|p| p.patient_id.is_none()).collect();
        assert!(
            unknown
                .iter()
                .all(|p| p.notes.iter().any(|n| n.contains("laterality unknown")))
        );
    }
}
