//! Synthetic catalogue content, for benchmarks on archives of a realistic size.
//!
//! [`Synth`] describes, deterministically from a seed, a region's worth of patients, studies,
//! series and instances: Chinese names with their ideographic group (`WANG^XIUYING=王^秀英`)
//! and Latin ones (`MUELLER^ANNA^M`), study dates over ten years (more in recent years),
//! modalities CT, CR, DX, MR, OP and US in the proportions a regional network sees, accession
//! numbers, descriptions, institutions, devices and image geometry. The same seed gives the
//! same content on every machine and every version of this module's callers, so two systems
//! (mira and a peer) can be filled with identical data.
//!
//! [`Catalogue::insert_synthetic`] writes it into the same tables that ingest writes, in
//! transactions of about 10,000 instances. Catalogue rows must point at blobs that exist
//! (`Archive::open` reports rows whose blob is missing), and storing a million files would
//! defeat the purpose, so every synthetic instance of a modality references one *template*
//! blob: a real instance of that modality stored beforehand through the normal ingest path
//! ([`Synth::template_instance`] describes them). Reading a synthetic instance's bytes
//! (WADO, C-GET, C-MOVE) therefore returns its template's file, whose UIDs and patient are the
//! template's; everything answered from the catalogue (C-FIND, QIDO-RS) is the synthetic
//! content. [`Synth::metadata_series_instance`] describes one more series, meant to be stored
//! as real files, for benchmarks that read every file of a series.
//!
//! UIDs are `2.25.<n>` where `n` is a version-8 UUID (RFC 9562) made of the SHA-256 of the
//! seed and the entity's position: valid, unique with overwhelming probability (the
//! catalogue's unique constraints would refuse a collision), and reproducible.

use std::collections::HashMap;

use mira_dicom::attributes::{
    InstanceAttributes, InstanceDetails, PatientAttributes, SeriesAttributes, StudyAttributes,
};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{Catalogue, StoreError, db};

/// How much to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthSpec {
    /// Number of studies.
    pub studies: u32,
    /// Series in each study.
    pub series_per_study: u32,
    /// Instances in each series.
    pub instances_per_series: u32,
    /// Seed: the same seed gives the same content.
    pub seed: u64,
}

impl SynthSpec {
    /// Instances [`Catalogue::insert_synthetic`] writes.
    pub fn instances(&self) -> u64 {
        u64::from(self.studies)
            * u64::from(self.series_per_study)
            * u64::from(self.instances_per_series)
    }
}

/// What one modality's studies look like.
#[derive(Debug)]
pub struct ModalityProfile {
    /// Modality (0008,0060).
    pub modality: &'static str,
    /// Relative frequency of studies of this modality.
    pub weight: u32,
    /// SOP Class UID of its instances.
    pub sop_class_uid: &'static str,
    /// Rows and columns of its images (those of its template).
    pub rows: i64,
    /// Columns.
    pub columns: i64,
    /// Bits Allocated.
    pub bits_allocated: i64,
    /// Photometric Interpretation.
    pub photometric_interpretation: &'static str,
    /// (Body Part Examined, Study Description, Series Descriptions) of its studies.
    pub procedures: &'static [(&'static str, &'static str, &'static [&'static str])],
    /// (Manufacturer, Model Name) of its devices.
    pub devices: &'static [(&'static str, &'static str)],
}

/// The modalities generated, with the share of studies a regional network sees: chest CT
/// and radiographs dominate, fundus photography (OP) comes from diabetic screening.
pub static MODALITIES: &[ModalityProfile] = &[
    ModalityProfile {
        modality: "CT",
        weight: 30,
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.2",
        rows: 512,
        columns: 512,
        bits_allocated: 16,
        photometric_interpretation: "MONOCHROME2",
        procedures: &[
            (
                "CHEST",
                "CT CHEST WITHOUT CONTRAST",
                &[
                    "Topogram",
                    "Thorax 5.0 B31f",
                    "Lung 1.0 B70f",
                    "Mediastinum 1.0",
                ],
            ),
            (
                "CHEST",
                "LDCT LUNG SCREENING",
                &["Scout", "Lung 1.25mm", "Soft tissue 1.25mm", "MIP 10mm"],
            ),
            (
                "HEAD",
                "CT HEAD",
                &["Scout", "Head 5mm", "Head 1mm bone", "Head axial"],
            ),
            (
                "ABDOMEN",
                "CT ABDOMEN PELVIS WITH CONTRAST",
                &["Scout", "Arterial 1mm", "Portal venous 1mm", "Delayed 5mm"],
            ),
        ],
        devices: &[
            ("SIEMENS", "SOMATOM Definition AS"),
            ("GE MEDICAL SYSTEMS", "Revolution CT"),
            ("UIH", "uCT 760"),
            ("Philips", "Ingenuity CT"),
        ],
    },
    ModalityProfile {
        modality: "DX",
        weight: 22,
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.1.1",
        rows: 1024,
        columns: 1024,
        bits_allocated: 16,
        photometric_interpretation: "MONOCHROME2",
        procedures: &[
            ("CHEST", "XR CHEST PA AND LATERAL", &["PA", "LAT"]),
            ("CHEST", "XR CHEST AP", &["AP"]),
            ("KNEE", "XR KNEE 2 VIEWS", &["AP", "LAT"]),
            ("LSPINE", "XR LUMBAR SPINE", &["AP", "LAT"]),
        ],
        devices: &[
            ("Carestream Health", "DRX-Evolution"),
            ("SIEMENS", "Ysio Max"),
            ("Wandong", "NewVision"),
        ],
    },
    ModalityProfile {
        modality: "CR",
        weight: 13,
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.1",
        rows: 1024,
        columns: 1024,
        bits_allocated: 16,
        photometric_interpretation: "MONOCHROME1",
        procedures: &[
            ("CHEST", "CR CHEST PA", &["PA"]),
            ("HAND", "CR HAND", &["PA", "OBL"]),
        ],
        devices: &[
            ("FUJIFILM Corporation", "FCR PROFECT CS"),
            ("KODAK", "CR 975"),
        ],
    },
    ModalityProfile {
        modality: "MR",
        weight: 15,
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.4",
        rows: 256,
        columns: 256,
        bits_allocated: 16,
        photometric_interpretation: "MONOCHROME2",
        procedures: &[
            (
                "BRAIN",
                "MR BRAIN WITHOUT CONTRAST",
                &["t1_se_tra", "t2_tse_tra", "t2_flair_tra", "ep2d_diff_tra"],
            ),
            (
                "KNEE",
                "MR KNEE",
                &[
                    "pd_tse_fs_sag",
                    "pd_tse_fs_cor",
                    "t1_tse_sag",
                    "t2_me2d_tra",
                ],
            ),
            (
                "LSPINE",
                "MR LUMBAR SPINE",
                &["t2_tse_sag", "t1_tse_sag", "t2_tse_tra", "stir_sag"],
            ),
        ],
        devices: &[
            ("SIEMENS", "Skyra"),
            ("GE MEDICAL SYSTEMS", "SIGNA Pioneer"),
            ("UIH", "uMR 570"),
        ],
    },
    ModalityProfile {
        modality: "US",
        weight: 12,
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.6.1",
        rows: 480,
        columns: 640,
        bits_allocated: 8,
        photometric_interpretation: "RGB",
        procedures: &[
            (
                "ABDOMEN",
                "US ABDOMEN COMPLETE",
                &["Liver", "Gallbladder", "Kidneys", "Spleen"],
            ),
            (
                "THYROID",
                "US THYROID",
                &["Right lobe", "Left lobe", "Isthmus"],
            ),
            ("BREAST", "US BREAST BILATERAL", &["Right", "Left"]),
        ],
        devices: &[("Mindray", "Resona 7"), ("GE Healthcare", "LOGIQ E10")],
    },
    ModalityProfile {
        modality: "OP",
        weight: 8,
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.77.1.5.1",
        rows: 1024,
        columns: 1024,
        bits_allocated: 8,
        photometric_interpretation: "RGB",
        procedures: &[(
            "EYE",
            "FUNDUS PHOTOGRAPHY DIABETIC SCREENING",
            &["OD macula", "OS macula", "OD disc", "OS disc"],
        )],
        devices: &[("TOPCON", "TRC-NW400"), ("Canon", "CR-2 AF")],
    },
];

const CHINESE_SURNAMES: &[(&str, &str, u32)] = &[
    ("WANG", "王", 72),
    ("LI", "李", 70),
    ("ZHANG", "张", 68),
    ("LIU", "刘", 53),
    ("CHEN", "陈", 45),
    ("YANG", "杨", 31),
    ("HUANG", "黄", 23),
    ("ZHAO", "赵", 22),
    ("WU", "吴", 20),
    ("ZHOU", "周", 19),
    ("XU", "徐", 15),
    ("SUN", "孙", 14),
    ("MA", "马", 13),
    ("ZHU", "朱", 12),
    ("HU", "胡", 11),
    ("GUO", "郭", 11),
    ("HE", "何", 10),
    ("LIN", "林", 9),
    ("GAO", "高", 9),
    ("LUO", "罗", 8),
];
const CHINESE_GIVEN_F: &[(&str, &str)] = &[
    ("XIUYING", "秀英"),
    ("FANG", "芳"),
    ("NA", "娜"),
    ("MIN", "敏"),
    ("JING", "静"),
    ("LI", "丽"),
    ("YAN", "艳"),
    ("JUAN", "娟"),
    ("XIA", "霞"),
    ("GUILAN", "桂兰"),
    ("YUMEI", "玉梅"),
    ("LING", "玲"),
];
const CHINESE_GIVEN_M: &[(&str, &str)] = &[
    ("WEI", "伟"),
    ("QIANG", "强"),
    ("LEI", "磊"),
    ("JUN", "军"),
    ("YONG", "勇"),
    ("JIE", "杰"),
    ("TAO", "涛"),
    ("MING", "明"),
    ("CHAO", "超"),
    ("GANG", "刚"),
    ("JIANGUO", "建国"),
    ("HAO", "浩"),
];
const LATIN_SURNAMES: &[&str] = &[
    "SMITH", "MUELLER", "GARCIA", "ROSSI", "MARTIN", "NGUYEN", "KOWALSKI", "SILVA", "JOHNSON",
    "BROWN", "DUBOIS", "SCHMIDT", "TANAKA", "KIM", "IVANOV", "OKAFOR", "HANSEN", "LOPEZ",
];
const LATIN_GIVEN_F: &[&str] = &[
    "ANNA", "MARIA", "SOPHIE", "EMMA", "LUCIA", "OLIVIA", "HANA", "GRACE",
];
const LATIN_GIVEN_M: &[&str] = &[
    "JOHN", "DAVID", "PAUL", "THOMAS", "LUCA", "AHMED", "PETER", "JAMES",
];
const INSTITUTIONS: &[&str] = &[
    "Regional Central Hospital",
    "Dongcheng District People's Hospital",
    "Xicheng Community Health Centre",
    "Nanshan County People's Hospital",
    "Beiyuan Community Health Centre",
    "Regional Women and Children's Hospital",
    "Huaxi Township Health Centre",
    "Regional Eye Hospital",
    "Jiangbei Traditional Chinese Medicine Hospital",
    "Riverside Community Health Centre",
];
const REFERRING: &[&str] = &[
    "ZHOU^MIN",
    "CHEN^JIANHUA",
    "LI^NA",
    "WANG^GUOQING",
    "SMITH^JOHN",
    "HUANG^LEI",
];

/// First day of the generated study dates, and how many days they span (2016 to 2025).
const FIRST_STUDY_DAY: (i64, u32, u32) = (2016, 1, 1);
const STUDY_DAYS: i64 = 3653;

/// A small deterministic generator (SplitMix64): stable across platforms and crate versions,
/// which a seed-for-seed reproducible data set needs.
#[derive(Debug, Clone)]
pub struct SynthRng(u64);

impl SynthRng {
    fn new(seed: u64, stream: &str, index: u64) -> Self {
        let mut h = Sha256::new();
        h.update(seed.to_le_bytes());
        h.update(stream.as_bytes());
        h.update(index.to_le_bytes());
        let d = h.finalize();
        SynthRng(u64::from_le_bytes(d[..8].try_into().expect("8 bytes")))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn weighted<'a, T>(&mut self, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
        let total: u64 = items.iter().map(|i| u64::from(weight(i))).sum();
        let mut r = self.below(total);
        for item in items {
            let w = u64::from(weight(item));
            if r < w {
                return item;
            }
            r -= w;
        }
        &items[items.len() - 1]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A `2.25` UID from a version-8 UUID made of the SHA-256 of the seed and `parts`.
fn uid(seed: u64, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(b"mira-synth-uid");
    h.update(seed.to_le_bytes());
    for p in parts {
        h.update(p.as_bytes());
        h.update(b"/");
    }
    let d = h.finalize();
    let mut n = u128::from_be_bytes(d[..16].try_into().expect("16 bytes"));
    // version 8 (custom) and the RFC 9562 variant
    n = (n & !(0xF << 76)) | (0x8 << 76);
    n = (n & !(0x3 << 62)) | (0x2 << 62);
    format!("2.25.{n}")
}

/// Civil date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil((y, m, d): (i64, u32, u32)) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn da((y, m, d): (i64, u32, u32)) -> String {
    format!("{y:04}{m:02}{d:02}")
}

/// One synthetic study: its patient, attributes and modality.
#[derive(Debug, Clone)]
pub struct SynthStudy {
    /// Index of the study (0-based).
    pub index: u32,
    /// Index of its patient.
    pub patient_index: u32,
    /// The patient.
    pub patient: PatientAttributes,
    /// Study attributes.
    pub study: StudyAttributes,
    /// Its modality.
    pub profile: &'static ModalityProfile,
    procedure: usize,
    device: usize,
    station: String,
    day: i64,
    seconds: u32,
}

/// The synthetic content of a seed: patients, studies, series and instances.
#[derive(Debug, Clone)]
pub struct Synth {
    spec: SynthSpec,
    patients: u32,
}

impl Synth {
    /// The content of `spec`. Patients have 2.5 studies on average.
    pub fn new(spec: SynthSpec) -> Self {
        Synth {
            spec,
            patients: (spec.studies * 2 / 5).max(1),
        }
    }

    /// What it generates.
    pub fn spec(&self) -> &SynthSpec {
        &self.spec
    }

    /// Patient number `index`.
    pub fn patient(&self, index: u32) -> PatientAttributes {
        let mut rng = SynthRng::new(self.spec.seed, "patient", u64::from(index));
        let female = rng.chance(50);
        let name = if rng.chance(75) {
            let (sur, sur_han, _) = rng.weighted(CHINESE_SURNAMES, |s| s.2);
            let (given, given_han) = rng.pick(if female {
                CHINESE_GIVEN_F
            } else {
                CHINESE_GIVEN_M
            });
            format!("{sur}^{given}={sur_han}^{given_han}")
        } else {
            let sur = rng.pick(LATIN_SURNAMES);
            let given = rng.pick(if female { LATIN_GIVEN_F } else { LATIN_GIVEN_M });
            if rng.chance(30) {
                let middle = (b'A' + rng.below(26) as u8) as char;
                format!("{sur}^{given}^{middle}")
            } else {
                format!("{sur}^{given}")
            }
        };
        // born 1930 to 2020
        let born = days_from_civil((1930, 1, 1)) + rng.below(91 * 365) as i64;
        PatientAttributes {
            patient_id: format!("P{:08}", 10_000_000 + u64::from(index) * 7 + rng.below(7)),
            issuer_of_patient_id: None,
            patient_name: Some(name),
            patient_birth_date: Some(da(civil(born))),
            patient_sex: Some(if female { "F" } else { "M" }.to_string()),
        }
    }

    /// Study number `index`; indices at or above [`SynthSpec::studies`] are valid too (the
    /// metadata study uses one).
    pub fn study(&self, index: u32) -> SynthStudy {
        let seed = self.spec.seed;
        let mut rng = SynthRng::new(seed, "study", u64::from(index));
        let patient_index = rng.below(u64::from(self.patients)) as u32;
        let patient = self.patient(patient_index);
        let profile = rng.weighted(MODALITIES, |m| m.weight);
        let procedure = rng.below(profile.procedures.len() as u64) as usize;
        let device = rng.below(profile.devices.len() as u64) as usize;
        // more studies in recent years: the square root of a uniform variate skews late
        let u = rng.below(1 << 20) as f64 / f64::from(1 << 20);
        let day = days_from_civil(FIRST_STUDY_DAY) + (u.sqrt() * (STUDY_DAYS - 1) as f64) as i64;
        let date = civil(day);
        // 07:30 to 19:30
        let seconds = 27_000 + rng.below(12 * 3600) as u32;
        let born = patient
            .patient_birth_date
            .as_deref()
            .and_then(|b| b[..4].parse::<i64>().ok())
            .unwrap_or(1970);
        let age = (date.0 - born).max(0);
        let institution = *rng.pick(INSTITUTIONS);
        let station = format!("{}{:02}", profile.modality, 1 + rng.below(6));
        let study = StudyAttributes {
            study_instance_uid: uid(seed, &["study", &index.to_string()]),
            study_date: Some(da(date)),
            study_time: Some(tm(seconds)),
            accession_number: Some(format!("A{}{:07}", date.0, index)),
            study_id: Some(format!("{}", 1 + index % 100_000)),
            referring_physician_name: Some(rng.pick(REFERRING).to_string()),
            study_description: Some(profile.procedures[procedure].1.to_string()),
            patient_age: Some(format!("{age:03}Y")),
            patient_size: Some(f64::from(150 + rng.below(40) as u32) / 100.0),
            patient_weight: Some(f64::from(45 + rng.below(50) as u32)),
            institution_name: Some(institution.to_string()),
        };
        SynthStudy {
            index,
            patient_index,
            patient,
            study,
            profile,
            procedure,
            device,
            station,
            day,
            seconds,
        }
    }

    /// Series number `k` of a study.
    pub fn series(&self, study: &SynthStudy, k: u32) -> SeriesAttributes {
        let p = study.profile;
        let (body_part, _, descriptions) = p.procedures[study.procedure];
        let (manufacturer, model) = p.devices[study.device];
        let laterality = match p.modality {
            "OP" => Some(if k.is_multiple_of(2) { "R" } else { "L" }.to_string()),
            _ => None,
        };
        SeriesAttributes {
            series_instance_uid: uid(
                self.spec.seed,
                &["series", &study.index.to_string(), &k.to_string()],
            ),
            modality: Some(p.modality.to_string()),
            series_number: Some(i64::from(k) + 1),
            series_description: Some(descriptions[k as usize % descriptions.len()].to_string()),
            series_date: Some(da(civil(study.day))),
            series_time: Some(tm(study.seconds + 60 * k)),
            body_part_examined: Some(body_part.to_string()),
            protocol_name: Some(p.procedures[study.procedure].1.to_string()),
            laterality,
            performed_procedure_step_start_date: Some(da(civil(study.day))),
            manufacturer: Some(manufacturer.to_string()),
            manufacturer_model_name: Some(model.to_string()),
            station_name: Some(study.station.clone()),
            device_serial_number: Some(format!("SN{:05}", 1000 + study.device * 17)),
        }
    }

    /// Instance number `i` of series `k` of a study: its SOP Instance UID and details. The
    /// transfer syntax is left empty: it is the template's, or the written file's.
    pub fn instance(&self, study: &SynthStudy, k: u32, i: u32) -> (String, InstanceDetails) {
        let p = study.profile;
        let sop_instance_uid = uid(
            self.spec.seed,
            &[
                "instance",
                &study.index.to_string(),
                &k.to_string(),
                &i.to_string(),
            ],
        );
        let cross_sectional = matches!(p.modality, "CT" | "MR");
        let z = -(i as f64) * 1.25;
        let content_time = tm(study.seconds + 60 * k + i / 4);
        let details = InstanceDetails {
            sop_class_uid: p.sop_class_uid.to_string(),
            instance_number: Some(i64::from(i) + 1),
            transfer_syntax_uid: String::new(),
            image_type: Some(if k == 0 && cross_sectional {
                "ORIGINAL\\PRIMARY\\LOCALIZER".to_string()
            } else {
                "ORIGINAL\\PRIMARY\\AXIAL".to_string()
            }),
            acquisition_date: Some(da(civil(study.day))),
            acquisition_time: Some(content_time.clone()),
            content_date: Some(da(civil(study.day))),
            content_time: Some(content_time),
            rows: Some(p.rows),
            columns: Some(p.columns),
            number_of_frames: None,
            bits_allocated: Some(p.bits_allocated),
            photometric_interpretation: Some(p.photometric_interpretation.to_string()),
            image_position_patient: cross_sectional.then(|| format!("-250\\-250\\{z}")),
            image_orientation_patient: cross_sectional.then(|| "1\\0\\0\\0\\1\\0".to_string()),
            pixel_spacing: matches!(p.modality, "CT" | "MR" | "DX" | "CR").then(|| {
                if cross_sectional {
                    "0.9765625\\0.9765625"
                } else {
                    "0.139\\0.139"
                }
                .to_string()
            }),
            slice_thickness: cross_sectional.then_some(1.25),
            slice_location: cross_sectional.then_some(z),
            kvp: matches!(p.modality, "CT" | "DX" | "CR").then_some(120.0),
            ctdi_vol: (p.modality == "CT").then_some(7.5),
            view_position: matches!(p.modality, "DX" | "CR").then(|| {
                let (_, _, views) = p.procedures[study.procedure];
                views[k as usize % views.len()].to_string()
            }),
        };
        (sop_instance_uid, details)
    }

    /// All indexed attributes of an instance, for writing it as a real file.
    pub fn instance_attributes(&self, study: &SynthStudy, k: u32, i: u32) -> InstanceAttributes {
        let series = self.series(study, k);
        let (sop_instance_uid, instance) = self.instance(study, k, i);
        InstanceAttributes {
            sop_instance_uid,
            series_instance_uid: series.series_instance_uid.clone(),
            patient: study.patient.clone(),
            study: study.study.clone(),
            series,
            instance,
            specific_character_set: Some(character_set(&study.patient).to_string()),
        }
    }

    /// The template instance of `profile`: one instance of a study of its own (patient
    /// `MIRA-SYNTH-TEMPLATE`), one series per modality, whose stored file every synthetic
    /// instance of that modality points at.
    pub fn template_instance(&self, profile: &'static ModalityProfile) -> InstanceAttributes {
        let k = MODALITIES
            .iter()
            .position(|m| std::ptr::eq(m, profile))
            .unwrap_or(0) as u32;
        let mut study = self.study(u32::MAX);
        study.profile = profile;
        study.procedure = 0;
        study.device = 0;
        study.station = format!("{}01", profile.modality);
        study.patient = PatientAttributes {
            patient_id: "MIRA-SYNTH-TEMPLATE".to_string(),
            issuer_of_patient_id: None,
            patient_name: Some("TEMPLATE^SYNTHETIC".to_string()),
            patient_birth_date: None,
            patient_sex: Some("O".to_string()),
        };
        study.study.study_instance_uid = uid(self.spec.seed, &["template-study"]);
        study.study.study_description = Some("MIRA SYNTHETIC TEMPLATES".to_string());
        study.study.accession_number = None;
        let mut a = self.instance_attributes(&study, k, 0);
        a.series.series_instance_uid = uid(self.spec.seed, &["template-series", profile.modality]);
        a.series_instance_uid = a.series.series_instance_uid.clone();
        a.sop_instance_uid = uid(self.spec.seed, &["template-instance", profile.modality]);
        a.specific_character_set = Some("ISO_IR 100".to_string());
        a
    }

    /// The study of the metadata series: a CT study after the synthetic ones, whose one
    /// series of `n` instances is meant to be stored as real files.
    pub fn metadata_study(&self) -> SynthStudy {
        let mut study = self.study(self.spec.studies);
        study.profile = &MODALITIES[0];
        study.procedure = 0;
        study.station = "CT01".to_string();
        study.study.study_description = Some(MODALITIES[0].procedures[0].1.to_string());
        study
    }

    /// Instance `i` of the metadata series (see [`Synth::metadata_study`]).
    pub fn metadata_series_instance(&self, study: &SynthStudy, i: u32) -> InstanceAttributes {
        self.instance_attributes(study, 1, i)
    }
}

fn tm(seconds: u32) -> String {
    let s = seconds % 86_400;
    format!("{:02}{:02}{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// The Specific Character Set a modality would send the patient's name in.
fn character_set(patient: &PatientAttributes) -> &'static str {
    if patient
        .patient_name
        .as_deref()
        .is_some_and(|n| !n.is_ascii())
    {
        "ISO_IR 192"
    } else {
        "ISO_IR 100"
    }
}

/// A stored instance that synthetic instances of one modality point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateBlob {
    /// Its blob key (and data set digest).
    pub blob_key: String,
    /// Offset of the data set in the file.
    pub dataset_offset: i64,
    /// File size.
    pub size_bytes: i64,
    /// Transfer syntax of the file.
    pub transfer_syntax_uid: String,
}

/// A template per modality that points at no file: for tests and measurements of the
/// catalogue alone, which never read a blob.
pub fn placeholder_templates() -> std::collections::HashMap<&'static str, TemplateBlob> {
    MODALITIES
        .iter()
        .map(|m| {
            let blob = TemplateBlob {
                blob_key: format!("{:064x}", m.modality.len()),
                dataset_offset: 132,
                size_bytes: 1000,
                transfer_syntax_uid: "1.2.840.10008.1.2.1".into(),
            };
            (m.modality, blob)
        })
        .collect()
}

/// What [`Catalogue::insert_synthetic`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SynthSummary {
    /// Patients created.
    pub patients: u64,
    /// Studies.
    pub studies: u64,
    /// Series.
    pub series: u64,
    /// Instances.
    pub instances: u64,
}

/// Instances written per transaction.
const INSTANCES_PER_TRANSACTION: u64 = 10_000;

impl Catalogue {
    /// Writes the synthetic studies of `synth` (those numbered `0..studies`), pointing each
    /// instance at the template blob of its modality. `progress` is called after each
    /// transaction with the number of instances written so far.
    ///
    /// Fails without writing anything if a template is missing, and with a unique-constraint
    /// error if the catalogue holds this seed's studies already.
    pub async fn insert_synthetic(
        &self,
        synth: &Synth,
        templates: &HashMap<&'static str, TemplateBlob>,
        mut progress: impl FnMut(u64),
    ) -> Result<SynthSummary, StoreError> {
        if let Some(missing) = MODALITIES
            .iter()
            .find(|m| !templates.contains_key(m.modality))
        {
            return Err(StoreError::MissingTemplate(missing.modality));
        }
        let spec = *synth.spec();
        let per_study = u64::from(spec.series_per_study) * u64::from(spec.instances_per_series);
        let studies_per_tx = (INSTANCES_PER_TRANSACTION / per_study.max(1)).max(1) as u32;
        let mut summary = SynthSummary::default();
        let mut patient_pks: HashMap<u32, i64> = HashMap::new();
        let mut first = 0u32;
        while first < spec.studies {
            let last = first.saturating_add(studies_per_tx).min(spec.studies);
            let mut tx = self.begin().await?;
            for index in first..last {
                let study = synth.study(index);
                let patient_pk = match patient_pks.get(&study.patient_index) {
                    Some(pk) => *pk,
                    None => {
                        let pk = insert_patient(&mut tx, &study.patient).await?;
                        patient_pks.insert(study.patient_index, pk);
                        summary.patients += 1;
                        pk
                    }
                };
                let study_pk = insert_study(&mut tx, &study.study, patient_pk).await?;
                summary.studies += 1;
                let template = &templates[study.profile.modality];
                let charset = character_set(&study.patient);
                for k in 0..spec.series_per_study {
                    let series = synth.series(&study, k);
                    let series_pk = insert_series(&mut tx, &series, study_pk).await?;
                    summary.series += 1;
                    for i in 0..spec.instances_per_series {
                        let (sop_instance_uid, details) = synth.instance(&study, k, i);
                        insert_instance(
                            &mut tx,
                            &sop_instance_uid,
                            series_pk,
                            &details,
                            charset,
                            template,
                        )
                        .await?;
                        summary.instances += 1;
                    }
                }
            }
            tx.commit().await?;
            progress(summary.instances);
            first = last;
        }
        Ok(summary)
    }
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

async fn insert_patient(tx: &mut Tx, p: &PatientAttributes) -> Result<i64, StoreError> {
    // a patient may exist already: the metadata study's patient is stored through ingest
    Ok(sqlx::query(
        "INSERT INTO patients (patient_id, issuer_of_patient_id, patient_name, patient_birth_date, patient_sex)
         VALUES ($1, '', $2, $3, $4)
         ON CONFLICT (patient_id, issuer_of_patient_id) DO UPDATE SET patient_name = excluded.patient_name
         RETURNING id",
    )
    .bind(&p.patient_id)
    .bind(&p.patient_name)
    .bind(&p.patient_birth_date)
    .bind(&p.patient_sex)
    .fetch_one(&mut **tx)
    .await?
    .get(0))
}

async fn insert_study(
    tx: &mut Tx,
    s: &StudyAttributes,
    patient_pk: i64,
) -> Result<i64, StoreError> {
    Ok(sqlx::query(
        "INSERT INTO studies (study_instance_uid, patient_pk, study_date, study_time, accession_number, study_id,
            referring_physician_name, study_description, patient_age, patient_size, patient_weight, institution_name)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         RETURNING id",
    )
    .bind(&s.study_instance_uid)
    .bind(patient_pk)
    .bind(&s.study_date)
    .bind(&s.study_time)
    .bind(&s.accession_number)
    .bind(&s.study_id)
    .bind(&s.referring_physician_name)
    .bind(&s.study_description)
    .bind(&s.patient_age)
    .bind(db::Float(s.patient_size))
    .bind(db::Float(s.patient_weight))
    .bind(&s.institution_name)
    .fetch_one(&mut **tx)
    .await?
    .get(0))
}

async fn insert_series(
    tx: &mut Tx,
    se: &SeriesAttributes,
    study_pk: i64,
) -> Result<i64, StoreError> {
    Ok(sqlx::query(
        "INSERT INTO series (series_instance_uid, study_pk, modality, series_number, series_description, series_date,
            series_time, body_part_examined, protocol_name, laterality, performed_procedure_step_start_date,
            manufacturer, manufacturer_model_name, station_name, device_serial_number)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         RETURNING id",
    )
    .bind(&se.series_instance_uid)
    .bind(study_pk)
    .bind(&se.modality)
    .bind(se.series_number)
    .bind(&se.series_description)
    .bind(&se.series_date)
    .bind(&se.series_time)
    .bind(&se.body_part_examined)
    .bind(&se.protocol_name)
    .bind(&se.laterality)
    .bind(&se.performed_procedure_step_start_date)
    .bind(&se.manufacturer)
    .bind(&se.manufacturer_model_name)
    .bind(&se.station_name)
    .bind(&se.device_serial_number)
    .fetch_one(&mut **tx)
    .await?
    .get(0))
}

async fn insert_instance(
    tx: &mut Tx,
    sop_instance_uid: &str,
    series_pk: i64,
    i: &InstanceDetails,
    specific_character_set: &str,
    template: &TemplateBlob,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO instances (sop_instance_uid, series_pk, sop_class_uid, instance_number, transfer_syntax_uid,
            image_type, acquisition_date, acquisition_time, content_date, content_time, rows, columns,
            number_of_frames, bits_allocated, photometric_interpretation, image_position_patient,
            image_orientation_patient, pixel_spacing, slice_thickness, slice_location, kvp, ctdi_vol, view_position,
            specific_character_set, blob_key, dataset_digest, dataset_offset, size_bytes, received_from)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, 'synth')",
    )
    .bind(sop_instance_uid)
    .bind(series_pk)
    .bind(&i.sop_class_uid)
    .bind(i.instance_number)
    .bind(&template.transfer_syntax_uid)
    .bind(&i.image_type)
    .bind(&i.acquisition_date)
    .bind(&i.acquisition_time)
    .bind(&i.content_date)
    .bind(&i.content_time)
    .bind(i.rows)
    .bind(i.columns)
    .bind(i.number_of_frames)
    .bind(i.bits_allocated)
    .bind(&i.photometric_interpretation)
    .bind(&i.image_position_patient)
    .bind(&i.image_orientation_patient)
    .bind(&i.pixel_spacing)
    .bind(db::Float(i.slice_thickness))
    .bind(db::Float(i.slice_location))
    .bind(db::Float(i.kvp))
    .bind(db::Float(i.ctdi_vol))
    .bind(&i.view_position)
    .bind(specific_character_set)
    .bind(&template.blob_key)
    .bind(&template.blob_key)
    .bind(template.dataset_offset)
    .bind(template.size_bytes)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SynthSpec {
        SynthSpec {
            studies: 50,
            series_per_study: 2,
            instances_per_series: 3,
            seed: 7,
        }
    }

    #[test]
    fn dates_round_trip() {
        for days in [-1, 0, 59, 60, 365, 11_016, 16_801, 20_454] {
            assert_eq!(days_from_civil(civil(days)), days);
        }
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(da(civil(days_from_civil((2024, 2, 29)))), "20240229");
    }

    #[test]
    fn same_seed_same_content_and_uids_are_valid_and_unique() {
        let a = Synth::new(spec());
        let b = Synth::new(spec());
        let mut uids = std::collections::HashSet::new();
        for index in 0..spec().studies {
            let (sa, sb) = (a.study(index), b.study(index));
            assert_eq!(sa.study, sb.study);
            assert_eq!(sa.patient, sb.patient);
            let date = sa.study.study_date.as_deref().unwrap_or_default();
            assert!(("20160101"..="20251231").contains(&date), "{date}");
            for k in 0..2 {
                let series = a.series(&sa, k);
                assert!(uids.insert(series.series_instance_uid.clone()));
                for i in 0..3 {
                    let (uid, details) = a.instance(&sa, k, i);
                    assert_eq!(details, b.instance(&sb, k, i).1);
                    assert!(uid.len() <= 64 && uid.starts_with("2.25."));
                    assert!(!uid[5..].starts_with('0'));
                    assert!(uid.bytes().all(|c| c.is_ascii_digit() || c == b'.'));
                    assert!(uids.insert(uid));
                }
            }
            assert!(uids.insert(sa.study.study_instance_uid.clone()));
        }
        let other = Synth::new(SynthSpec { seed: 8, ..spec() });
        assert_ne!(
            other.study(0).study.study_instance_uid,
            a.study(0).study.study_instance_uid
        );
    }
}
