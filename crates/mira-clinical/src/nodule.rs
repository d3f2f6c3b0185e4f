//! What is known about one nodule: size, attenuation, benign features, location, history.

use serde::Deserialize;

use crate::measure::{Mm, NoduleSize};

/// Attenuation type of a nodule (ACR Lung-RADS v2022; Fleischner 2017 "solid" and "subsolid").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attenuation {
    /// Solid.
    Solid,
    /// Part-solid, with its solid component's mean diameter where measured.
    PartSolid {
        /// Mean diameter of the solid component (0.1 mm).
        solid_component: Option<Mm>,
    },
    /// Non-solid: pure ground-glass.
    GroundGlass,
}

impl Attenuation {
    /// The kind, as profiles name it.
    pub fn kind(self) -> AttenuationKind {
        match self {
            Attenuation::Solid => AttenuationKind::Solid,
            Attenuation::PartSolid { .. } => AttenuationKind::PartSolid,
            Attenuation::GroundGlass => AttenuationKind::GroundGlass,
        }
    }

    /// The solid component's mean diameter, for a part-solid nodule where measured.
    pub fn solid_component(self) -> Option<Mm> {
        match self {
            Attenuation::PartSolid { solid_component } => solid_component,
            _ => None,
        }
    }
}

/// Attenuation without its measurements: `solid`, `part-solid`, `ground-glass` in profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttenuationKind {
    /// Solid.
    Solid,
    /// Part-solid.
    PartSolid,
    /// Ground-glass (non-solid).
    GroundGlass,
}

/// A feature that makes a nodule benign (Lung-RADS category 1): benign calcification or fat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenignFeature {
    /// Calcification in a benign pattern.
    Calcification(CalcificationPattern),
    /// Fat within the nodule.
    Fat,
}

/// Benign calcification patterns (ACR Lung-RADS v2022, category 1). Eccentric or stippled
/// calcification is not benign and is not represented here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalcificationPattern {
    /// Complete (diffuse, solid) calcification.
    Complete,
    /// Central calcification.
    Central,
    /// Popcorn calcification.
    Popcorn,
    /// Concentric rings (laminated).
    ConcentricRings,
}

/// Where the nodule lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// In the lung parenchyma, away from pleura and airways.
    Parenchymal,
    /// Against the costal, mediastinal or diaphragmatic pleura or a fissure.
    Juxtapleural {
        /// Smooth margins.
        smooth_margins: bool,
        /// Oval, lentiform or triangular.
        benign_shape: bool,
    },
    /// Endotracheal or endobronchial.
    Airway(AirwayLevel),
}

impl Location {
    /// The kind, as profiles name it.
    pub fn kind(self) -> LocationKind {
        match self {
            Location::Parenchymal => LocationKind::Parenchymal,
            Location::Juxtapleural {
                smooth_margins: true,
                benign_shape: true,
            } => LocationKind::JuxtapleuralTypical,
            Location::Juxtapleural { .. } => LocationKind::JuxtapleuralOther,
            Location::Airway(AirwayLevel::Subsegmental) => LocationKind::AirwaySubsegmental,
            Location::Airway(AirwayLevel::SegmentalOrProximal) => LocationKind::AirwaySegmental,
        }
    }
}

/// Level of an airway nodule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AirwayLevel {
    /// Subsegmental.
    Subsegmental,
    /// Segmental or more proximal.
    SegmentalOrProximal,
}

/// Location as profiles name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LocationKind {
    /// Parenchymal.
    Parenchymal,
    /// Juxtapleural with smooth margins and an oval, lentiform or triangular shape.
    JuxtapleuralTypical,
    /// Juxtapleural otherwise.
    JuxtapleuralOther,
    /// Subsegmental airway.
    AirwaySubsegmental,
    /// Segmental or more proximal airway.
    AirwaySegmental,
}

/// Features of an atypical pulmonary cyst (ACR Lung-RADS v2022, categories 3, 4A and 4B); the
/// caller gives the most specific one that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CystFeature {
    /// A thick-walled cyst whose cystic component (mean diameter) grows.
    GrowingCysticComponent,
    /// A thick-walled cyst.
    ThickWalled,
    /// A multilocular cyst at baseline.
    Multilocular,
    /// A thin- or thick-walled cyst that has become multilocular.
    BecameMultilocular,
    /// A thick-walled cyst with growing wall thickness or nodularity.
    GrowingWallOrNodularity,
    /// A growing multilocular cyst (mean diameter).
    GrowingMultilocular,
    /// A multilocular cyst with increased loculation or a new or increased opacity (nodular,
    /// ground-glass or consolidation).
    IncreasedLoculationOrOpacity,
}

/// A nodule as measured on an earlier exam.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorMeasurement {
    /// Months between that exam and this one.
    pub months_before: u32,
    /// Mean diameter then (0.1 mm).
    pub mean_diameter: Mm,
    /// Solid component's mean diameter then, for a part-solid nodule (`None`: none or pure
    /// ground-glass).
    pub solid_component: Option<Mm>,
    /// The category it was given then, as the profile names it, where known.
    pub category: Option<String>,
}

/// The nodule's history across screening exams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum History {
    /// First screening exam (baseline).
    Baseline,
    /// A follow-up exam on which the nodule is new (absent from the prior exam).
    New,
    /// Seen before: earlier measurements, oldest first, the last one the most recent.
    Seen(Vec<PriorMeasurement>),
}

/// Status derived from the history: baseline, new, growing, slowly growing or stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoduleStatus {
    /// First screening exam.
    Baseline,
    /// New since the prior exam.
    New,
    /// Growing: mean diameter (for a part-solid nodule, its solid component) up by more than
    /// the profile's growth threshold (Lung-RADS: > 1.5 mm) against any earlier measurement
    /// within its window (12 months).
    Growing,
    /// Growing over several exams (at least two earlier measurements, each larger than the one
    /// before, the current the largest) without meeting the growth definition.
    SlowlyGrowing,
    /// Seen before and neither growing nor slowly growing.
    Stable,
}

/// One nodule as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nodule {
    /// Long and short axis (and volume).
    pub size: NoduleSize,
    /// Solid, part-solid or ground-glass.
    pub attenuation: Attenuation,
    /// Benign calcification or fat, if any.
    pub benign_feature: Option<BenignFeature>,
    /// Where it lies.
    pub location: Location,
    /// Baseline, new or seen before.
    pub history: History,
    /// Additional features or findings that increase suspicion for lung cancer (spiculation,
    /// lymphadenopathy, metastatic disease; Lung-RADS 4X).
    pub suspicious_features: bool,
    /// An atypical cyst, with its feature; `None` for a nodule.
    pub cyst: Option<CystFeature>,
    /// Proven benign after diagnostic workup (Lung-RADS: a 4B lesion so proven steps down to 2).
    pub proven_benign: bool,
}

impl Nodule {
    /// A parenchymal nodule at baseline, without benign or suspicious features.
    pub fn baseline(size: NoduleSize, attenuation: Attenuation) -> Nodule {
        Nodule {
            size,
            attenuation,
            benign_feature: None,
            location: Location::Parenchymal,
            history: History::Baseline,
            suspicious_features: false,
            cyst: None,
            proven_benign: false,
        }
    }
}
