//! Reading a fundus photograph: a DICOM Ophthalmic Photography instance, or a JPEG/PNG file
//! with its sidecar.
//!
//! # The sidecar of a JPEG/PNG photograph
//!
//! A JSON file beside the image, named after the image's stem: `0001.json` for `0001.jpg`.
//! Unknown keys are refused, so that a misspelt key is not silently ignored.
//!
//! ```json
//! { "patient_id": "P-0042", "laterality": "R", "acquisition_date": "2026-11-23" }
//! ```
//!
//! | key | required | meaning |
//! |---|---|---|
//! | `patient_id` | yes | the patient the photograph belongs to (per-patient screening groups by it) |
//! | `laterality` | yes | `R` (right eye) or `L` (left eye) |
//! | `acquisition_date` | no | `YYYY-MM-DD` |
//! | `study_instance_uid` | no | the study the photograph belongs to, when known |
//!
//! Without a sidecar the photograph is analysed, but its patient and laterality are unknown
//! and the report says so; per-patient screening then treats it as an eye of its own.
//!
//! A DICOM instance carries its own: Patient ID (0010,0020), Image Laterality (0020,0062) or
//! else Laterality (0020,0060), Acquisition Date (0008,0022) or else Content Date (0008,0023),
//! and the Study, Series and SOP Instance UIDs the structured report refers to. The modality
//! must be OP (PS3.3 A.39, Ophthalmic Photography 8 Bit Image IOD).

use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, OpenFileOptions};
use dicom_pixeldata::PixelDecoder;
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::FundusError;

/// Which eye.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Laterality {
    /// Right eye (OD).
    #[serde(rename = "R")]
    Right,
    /// Left eye (OS).
    #[serde(rename = "L")]
    Left,
    /// Not stated (no sidecar, or no laterality in the instance).
    #[serde(rename = "unknown")]
    Unknown,
}

impl Laterality {
    /// `R`, `L` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Laterality::Right => "R",
            Laterality::Left => "L",
            Laterality::Unknown => "unknown",
        }
    }
}

/// The kind of file a photograph came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    /// A DICOM Ophthalmic Photography instance.
    Dicom,
    /// A JPEG file.
    Jpeg,
    /// A PNG file.
    Png,
}

/// Where a photograph came from and whose eye it shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The file as given.
    pub path: String,
    /// DICOM, JPEG or PNG.
    pub format: SourceFormat,
    /// Width and height in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Patient ID, when known.
    pub patient_id: Option<String>,
    /// Which eye.
    pub laterality: Laterality,
    /// Where the laterality came from (`sidecar`, `ImageLaterality`, `Laterality`), or why
    /// it is unknown.
    pub laterality_source: String,
    /// Acquisition date, `YYYY-MM-DD`, when known.
    pub acquisition_date: Option<String>,
    /// Study Instance UID (DICOM, or the sidecar's).
    pub study_instance_uid: Option<String>,
    /// Series Instance UID (DICOM).
    pub series_instance_uid: Option<String>,
    /// SOP Instance UID (DICOM).
    pub sop_instance_uid: Option<String>,
    /// SOP Class UID (DICOM).
    pub sop_class_uid: Option<String>,
}

/// A decoded photograph and what is known about it.
#[derive(Debug, Clone)]
pub struct Photograph {
    /// The pixels, 8-bit RGB.
    pub image: RgbImage,
    /// Where it came from.
    pub source: Source,
}

/// The sidecar of a JPEG/PNG photograph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    /// The patient.
    pub patient_id: String,
    /// `R` or `L`.
    pub laterality: SidecarLaterality,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub acquisition_date: Option<String>,
    /// The study, when known.
    #[serde(default)]
    pub study_instance_uid: Option<String>,
}

/// Laterality as a sidecar may state it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SidecarLaterality {
    /// Right eye.
    R,
    /// Left eye.
    L,
}

/// The sidecar path of a JPEG/PNG photograph: its stem with `.json`.
pub fn sidecar_path(image: &Path) -> PathBuf {
    image.with_extension("json")
}

/// Reads a photograph: DICOM (by its preamble), JPEG or PNG (by their signatures).
pub fn read(path: &Path) -> Result<Photograph, FundusError> {
    let shown = path.display().to_string();
    let head = read_head(path).map_err(|e| FundusError::Read {
        path: shown.clone(),
        source: e,
    })?;
    if head.len() >= 132 && &head[128..132] == b"DICM" {
        read_dicom(path)
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        read_picture(path, SourceFormat::Jpeg)
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        read_picture(path, SourceFormat::Png)
    } else {
        Err(FundusError::UnsupportedFormat { path: shown })
    }
}

fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(132);
    std::fs::File::open(path)?
        .take(132)
        .read_to_end(&mut head)?;
    Ok(head)
}

fn read_picture(path: &Path, format: SourceFormat) -> Result<Photograph, FundusError> {
    let shown = path.display().to_string();
    let image = image::open(path)
        .map_err(|e| FundusError::Decode {
            path: shown.clone(),
            reason: e.to_string(),
        })?
        .to_rgb8();
    let sidecar_file = sidecar_path(path);
    let sidecar =
        match std::fs::read(&sidecar_file) {
            Ok(bytes) => Some(serde_json::from_slice::<Sidecar>(&bytes).map_err(|e| {
                FundusError::Sidecar {
                    path: sidecar_file.display().to_string(),
                    reason: e.to_string(),
                }
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(FundusError::Read {
                    path: sidecar_file.display().to_string(),
                    source: e,
                });
            }
        };
    let (laterality, laterality_source) = match &sidecar {
        Some(s) => (
            match s.laterality {
                SidecarLaterality::R => Laterality::Right,
                SidecarLaterality::L => Laterality::Left,
            },
            "sidecar".to_string(),
        ),
        None => (
            Laterality::Unknown,
            format!("no sidecar ({} not found)", sidecar_file.display()),
        ),
    };
    Ok(Photograph {
        source: Source {
            path: shown,
            format,
            width: image.width(),
            height: image.height(),
            patient_id: sidecar.as_ref().map(|s| s.patient_id.clone()),
            laterality,
            laterality_source,
            acquisition_date: sidecar.as_ref().and_then(|s| s.acquisition_date.clone()),
            study_instance_uid: sidecar.as_ref().and_then(|s| s.study_instance_uid.clone()),
            series_instance_uid: None,
            sop_instance_uid: None,
            sop_class_uid: None,
        },
        image,
    })
}

fn text(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<String> {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn dicom_date(raw: Option<String>) -> Option<String> {
    raw.filter(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()))
        .map(|d| format!("{}-{}-{}", &d[0..4], &d[4..6], &d[6..8]))
}

/// JPEG Baseline (Process 1).
const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";

/// The first frame of a single-frame JPEG Baseline instance, decoded from its fragments with
/// the image crate; `None` for anything else.
fn baseline_jpeg_frame(obj: &dicom_object::DefaultDicomObject) -> Option<RgbImage> {
    if obj.meta().transfer_syntax() != JPEG_BASELINE {
        return None;
    }
    let frames = text(obj, tags::NUMBER_OF_FRAMES)
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(1);
    if frames != 1 {
        return None;
    }
    let element = obj.element(tags::PIXEL_DATA).ok()?;
    let fragments = element.value().fragments()?;
    let bytes: Vec<u8> = fragments.iter().flatten().copied().collect();
    image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
        .ok()
        .map(|i| i.to_rgb8())
}

fn read_dicom(path: &Path) -> Result<Photograph, FundusError> {
    let shown = path.display().to_string();
    let obj = OpenFileOptions::new()
        .open_file(path)
        .map_err(|e| FundusError::Decode {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    let modality = text(&obj, tags::MODALITY);
    if modality.as_deref() != Some("OP") {
        return Err(FundusError::NotFundus {
            path: shown,
            modality: modality.unwrap_or_else(|| "none".into()),
        });
    }
    let image = match obj.decode_pixel_data() {
        Ok(decoded) => {
            let (w, h) = (decoded.columns(), decoded.rows());
            let samples: Vec<u8> = decoded.to_vec_frame(0).map_err(|e| FundusError::Decode {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
            let rgb = match decoded.samples_per_pixel() {
                3 => samples,
                1 => samples.iter().flat_map(|v| [*v, *v, *v]).collect(),
                n => {
                    return Err(FundusError::Decode {
                        path: shown,
                        reason: format!("{n} samples per pixel"),
                    });
                }
            };
            RgbImage::from_raw(w, h, rgb).ok_or_else(|| FundusError::Decode {
                path: shown.clone(),
                reason: "pixel data shorter than rows x columns".into(),
            })?
        }
        // Cameras (and dcmtk's img2dcm) wrap the camera's own JPEG, EXIF segments and all,
        // which dicom-pixeldata's decoder can refuse; the image crate reads such files.
        Err(e) => baseline_jpeg_frame(&obj).ok_or_else(|| FundusError::Decode {
            path: shown.clone(),
            reason: e.to_string(),
        })?,
    };
    let (w, h) = image.dimensions();
    let (laterality, laterality_source) = match (
        text(&obj, tags::IMAGE_LATERALITY),
        text(&obj, tags::LATERALITY),
    ) {
        (Some(l), _) if l == "R" || l == "L" => (l, "ImageLaterality".to_string()),
        (_, Some(l)) if l == "R" || l == "L" => (l, "Laterality".to_string()),
        (Some(l), _) => (String::new(), format!("ImageLaterality is {l}, not R or L")),
        _ => (
            String::new(),
            "no ImageLaterality or Laterality".to_string(),
        ),
    };
    Ok(Photograph {
        source: Source {
            path: shown,
            format: SourceFormat::Dicom,
            width: w,
            height: h,
            patient_id: text(&obj, tags::PATIENT_ID),
            laterality: match laterality.as_str() {
                "R" => Laterality::Right,
                "L" => Laterality::Left,
                _ => Laterality::Unknown,
            },
            laterality_source,
            acquisition_date: dicom_date(
                text(&obj, tags::ACQUISITION_DATE).or_else(|| text(&obj, tags::CONTENT_DATE)),
            ),
            study_instance_uid: text(&obj, tags::STUDY_INSTANCE_UID),
            series_instance_uid: text(&obj, tags::SERIES_INSTANCE_UID),
            sop_instance_uid: text(&obj, tags::SOP_INSTANCE_UID),
            sop_class_uid: text(&obj, tags::SOP_CLASS_UID),
        },
        image,
    })
}
