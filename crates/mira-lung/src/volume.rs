//! Volume assembly: one CT series from its files (or objects) into a grid of Hounsfield units.
//!
//! Slices are sorted along the slice normal (Image Position (Patient) · normal, PS3.3
//! C.7.6.2.1.1), stored values become HU through Rescale Slope and Intercept (PS3.3
//! C.11.1.1.2), and the slice spacing comes from the positions, never from Slice Thickness or
//! Spacing Between Slices. What the detector cannot trust is refused with a [`VolumeError`]:
//! a tilted gantry, an orientation that is not axial or not orthogonal, mixed series, sizes or
//! orientations, missing or duplicated slices, too few slices, or another modality than CT.

use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, OpenFileOptions};
use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder};
use rayon::prelude::*;

/// Fewest slices a volume may have: the 3-D blob detector's largest scale spans about 30 mm,
/// which is ten 3 mm slices.
pub const MIN_SLICES: usize = 10;

/// A gap between neighbouring slices larger than this many times the median spacing means
/// slices are missing (the tolerance QC's CT completeness check also uses).
pub const MAX_GAP_RATIO: f64 = 1.5;

/// Cosine tolerance for "parallel" and "orthogonal" direction checks (about 0.8°).
const DIRECTION_TOLERANCE: f64 = 1e-4;

/// The slice normal must be within about 25° of the patient's feet-head axis for the volume to
/// count as axial: the lung model (apex at the top, lobes by height) assumes axial slices.
const MIN_AXIAL_COSINE: f64 = 0.9;

/// Why a set of slices is not a volume the lung stage can analyse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VolumeError {
    /// A file could not be read as DICOM.
    #[error("{file}: cannot read as DICOM: {reason}")]
    Read {
        /// The file.
        file: String,
        /// What went wrong.
        reason: String,
    },
    /// A required attribute is missing or malformed.
    #[error("{file}: {attribute} is missing or malformed")]
    Attribute {
        /// The file.
        file: String,
        /// Attribute keyword.
        attribute: &'static str,
    },
    /// Pixel data could not be decoded.
    #[error("{file}: cannot decode pixel data: {reason}")]
    Pixels {
        /// The file.
        file: String,
        /// What went wrong.
        reason: String,
    },
    /// Not a CT image.
    #[error("{file}: modality is {modality}, not CT")]
    NotCt {
        /// The file.
        file: String,
        /// Its modality.
        modality: String,
    },
    /// Multi-frame images are not assembled here.
    #[error("{file}: {frames} frames; only single-frame CT slices are assembled")]
    MultiFrame {
        /// The file.
        file: String,
        /// Number of frames.
        frames: u32,
    },
    /// Slices of more than one series.
    #[error("{file}: series {found} differs from {expected}: one series at a time")]
    MixedSeries {
        /// The file.
        file: String,
        /// The first file's series.
        expected: String,
        /// This file's series.
        found: String,
    },
    /// Slices of different sizes, pixel spacings or orientations.
    #[error("{file}: {what} differs from the first slice's")]
    MixedGeometry {
        /// The file.
        file: String,
        /// What differs.
        what: &'static str,
    },
    /// Image Orientation (Patient) is not two orthogonal unit vectors.
    #[error("{file}: image orientation is not orthogonal")]
    NonOrthogonal {
        /// The file.
        file: String,
    },
    /// Slices are not axial.
    #[error("slice normal {normal:?} is not axial (more than ~25° from the feet-head axis)")]
    NotAxial {
        /// The slice normal.
        normal: [f64; 3],
    },
    /// Gantry tilt: slice positions do not move along the slice normal.
    #[error("gantry tilt: slice positions move {degrees:.1}° off the slice normal")]
    GantryTilt {
        /// Angle between the position step and the normal.
        degrees: f64,
    },
    /// Two slices at one position.
    #[error("{file}: same position as another slice ({position_mm:.2} mm)")]
    DuplicatePosition {
        /// The file.
        file: String,
        /// Position along the normal.
        position_mm: f64,
    },
    /// A gap larger than 1.5× the median spacing.
    #[error(
        "missing slices: gap of {gap_mm:.2} mm after {position_mm:.2} mm (median spacing {median_mm:.2} mm)"
    )]
    MissingSlices {
        /// Position along the normal before the gap.
        position_mm: f64,
        /// The gap.
        gap_mm: f64,
        /// The median spacing.
        median_mm: f64,
    },
    /// Too few slices for a volume.
    #[error("{count} slices; at least {min} are needed")]
    TooFewSlices {
        /// Slices given.
        count: usize,
        /// The minimum.
        min: usize,
    },
}

/// One slice of the volume, as DICOM references it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SliceRef {
    /// SOP Instance UID (from the data set, or the file meta header where the data set's is
    /// empty).
    pub sop_instance_uid: String,
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// Image Position (Patient), mm.
    pub position_mm: [f64; 3],
    /// Position along the slice normal, mm.
    pub location_mm: f64,
}

/// A CT volume in Hounsfield units, x (columns) fastest, then y (rows), then z (slices sorted
/// along the normal, ascending).
#[derive(Debug, Clone)]
pub struct Volume {
    /// Columns, rows, slices.
    pub dims: [usize; 3],
    /// Column spacing (x), row spacing (y), slice spacing (z, the median of the position
    /// steps), mm.
    pub spacing_mm: [f64; 3],
    /// Direction of increasing column index (first triplet of Image Orientation (Patient)).
    pub row_direction: [f64; 3],
    /// Direction of increasing row index (second triplet).
    pub column_direction: [f64; 3],
    /// Slice normal (row × column direction).
    pub normal: [f64; 3],
    /// HU per voxel.
    pub hu: Vec<i16>,
    /// Per slice, in volume order.
    pub slices: Vec<SliceRef>,
    /// Study Instance UID (may be empty in anonymised data).
    pub study_instance_uid: String,
    /// Series Instance UID (may be empty).
    pub series_instance_uid: String,
    /// Frame of Reference UID (may be empty).
    pub frame_of_reference_uid: String,
    /// Patient ID (may be empty); for matching priors, never logged.
    pub patient_id: String,
    /// Study Date (YYYYMMDD; may be empty).
    pub study_date: String,
    /// Slice Thickness, mm, where given.
    pub slice_thickness_mm: Option<f64>,
}

struct Slice {
    file: String,
    sop_instance_uid: String,
    sop_class_uid: String,
    series: String,
    study: String,
    frame_of_reference: String,
    patient_id: String,
    study_date: String,
    rows: usize,
    columns: usize,
    pixel_spacing: [f64; 2],
    orientation: [f64; 6],
    position: [f64; 3],
    thickness: Option<f64>,
    tilt: f64,
    hu: Vec<i16>,
}

fn text(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> String {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).trim().to_string())
        .unwrap_or_default()
}

fn floats(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<Vec<f64>> {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_multi_float64().ok())
}

fn read_slice(file: &str, obj: &DefaultDicomObject) -> Result<Slice, VolumeError> {
    let modality = text(obj, tags::MODALITY);
    if modality != "CT" {
        return Err(VolumeError::NotCt {
            file: file.into(),
            modality: if modality.is_empty() {
                "missing".into()
            } else {
                modality
            },
        });
    }
    let attribute = |attribute| VolumeError::Attribute {
        file: file.into(),
        attribute,
    };
    let frames = text(obj, tags::NUMBER_OF_FRAMES)
        .parse::<u32>()
        .unwrap_or(1);
    if frames > 1 {
        return Err(VolumeError::MultiFrame {
            file: file.into(),
            frames,
        });
    }
    let mut sop_instance_uid = text(obj, tags::SOP_INSTANCE_UID);
    if sop_instance_uid.is_empty() {
        sop_instance_uid = obj
            .meta()
            .media_storage_sop_instance_uid()
            .trim_end_matches('\0')
            .to_string();
    }
    let mut sop_class_uid = text(obj, tags::SOP_CLASS_UID);
    if sop_class_uid.is_empty() {
        sop_class_uid = obj
            .meta()
            .media_storage_sop_class_uid()
            .trim_end_matches('\0')
            .to_string();
    }
    let orientation: [f64; 6] = floats(obj, tags::IMAGE_ORIENTATION_PATIENT)
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| attribute("ImageOrientationPatient"))?;
    let position: [f64; 3] = floats(obj, tags::IMAGE_POSITION_PATIENT)
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| attribute("ImagePositionPatient"))?;
    let pixel_spacing: [f64; 2] = floats(obj, tags::PIXEL_SPACING)
        .and_then(|v| v.try_into().ok())
        .filter(|s: &[f64; 2]| s.iter().all(|v| v.is_finite() && *v > 0.0))
        .ok_or_else(|| attribute("PixelSpacing"))?;
    let rows = text(obj, tags::ROWS)
        .parse::<usize>()
        .ok()
        .filter(|&r| r > 0)
        .ok_or_else(|| attribute("Rows"))?;
    let columns = text(obj, tags::COLUMNS)
        .parse::<usize>()
        .ok()
        .filter(|&c| c > 0)
        .ok_or_else(|| attribute("Columns"))?;
    let slope = floats(obj, tags::RESCALE_SLOPE)
        .and_then(|v| v.first().copied())
        .unwrap_or(1.0);
    let intercept = floats(obj, tags::RESCALE_INTERCEPT)
        .and_then(|v| v.first().copied())
        .unwrap_or(0.0);
    let tilt = floats(obj, tags::GANTRY_DETECTOR_TILT)
        .and_then(|v| v.first().copied())
        .unwrap_or(0.0);
    let decoded = obj.decode_pixel_data().map_err(|e| VolumeError::Pixels {
        file: file.into(),
        reason: e.to_string(),
    })?;
    if decoded.samples_per_pixel() != 1 {
        return Err(VolumeError::Pixels {
            file: file.into(),
            reason: format!("{} samples per pixel", decoded.samples_per_pixel()),
        });
    }
    let options = ConvertOptions::new().with_modality_lut(ModalityLutOption::None);
    let stored: Vec<i32> = decoded
        .to_vec_frame_with_options(0, &options)
        .map_err(|e| VolumeError::Pixels {
            file: file.into(),
            reason: e.to_string(),
        })?;
    if stored.len() != rows * columns {
        return Err(VolumeError::Pixels {
            file: file.into(),
            reason: format!("{} values for {rows}×{columns}", stored.len()),
        });
    }
    let hu = stored
        .iter()
        .map(|&v| {
            (f64::from(v) * slope + intercept)
                .round()
                .clamp(-32768.0, 32767.0) as i16
        })
        .collect();
    Ok(Slice {
        file: file.into(),
        sop_instance_uid,
        sop_class_uid,
        series: text(obj, tags::SERIES_INSTANCE_UID),
        study: text(obj, tags::STUDY_INSTANCE_UID),
        frame_of_reference: text(obj, tags::FRAME_OF_REFERENCE_UID),
        patient_id: text(obj, tags::PATIENT_ID),
        study_date: text(obj, tags::STUDY_DATE),
        rows,
        columns,
        pixel_spacing,
        orientation,
        position,
        thickness: floats(obj, tags::SLICE_THICKNESS).and_then(|v| v.first().copied()),
        tilt,
        hu,
    })
}

pub(crate) fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

impl Volume {
    /// Reads and assembles the files of one series (decoding in parallel).
    pub fn from_paths<P: AsRef<Path> + Sync>(paths: &[P]) -> Result<Volume, VolumeError> {
        let slices = paths
            .par_iter()
            .map(|path| {
                let path = path.as_ref();
                let file = path.display().to_string();
                let obj =
                    OpenFileOptions::new()
                        .open_file(path)
                        .map_err(|e| VolumeError::Read {
                            file: file.clone(),
                            reason: e.to_string(),
                        })?;
                read_slice(&file, &obj)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Volume::assemble(slices)
    }

    /// Assembles objects already in memory, each with a name for messages.
    pub fn from_objects(objects: &[(String, DefaultDicomObject)]) -> Result<Volume, VolumeError> {
        let slices = objects
            .par_iter()
            .map(|(name, obj)| read_slice(name, obj))
            .collect::<Result<Vec<_>, _>>()?;
        Volume::assemble(slices)
    }

    /// Every regular file directly in `dir` (sorted by name), for [`Volume::from_paths`].
    pub fn files_in(dir: &Path) -> Result<Vec<PathBuf>, VolumeError> {
        let read = |e: std::io::Error| VolumeError::Read {
            file: dir.display().to_string(),
            reason: e.to_string(),
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(read)? {
            let path = entry.map_err(read)?.path();
            if path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }

    fn assemble(mut slices: Vec<Slice>) -> Result<Volume, VolumeError> {
        if slices.len() < MIN_SLICES {
            return Err(VolumeError::TooFewSlices {
                count: slices.len(),
                min: MIN_SLICES,
            });
        }
        let first = &slices[0];
        let row_direction = [
            first.orientation[0],
            first.orientation[1],
            first.orientation[2],
        ];
        let column_direction = [
            first.orientation[3],
            first.orientation[4],
            first.orientation[5],
        ];
        let unit = |v: [f64; 3]| (dot(v, v).sqrt() - 1.0).abs() < 1e-3;
        if !unit(row_direction)
            || !unit(column_direction)
            || dot(row_direction, column_direction).abs() > 1e-3
        {
            return Err(VolumeError::NonOrthogonal {
                file: first.file.clone(),
            });
        }
        let normal = cross(row_direction, column_direction);
        if normal[2].abs() < MIN_AXIAL_COSINE {
            return Err(VolumeError::NotAxial { normal });
        }
        let (series, rows, columns, spacing) = (
            first.series.clone(),
            first.rows,
            first.columns,
            first.pixel_spacing,
        );
        for s in &slices {
            if s.series != series {
                return Err(VolumeError::MixedSeries {
                    file: s.file.clone(),
                    expected: series,
                    found: s.series.clone(),
                });
            }
            let what = if (s.rows, s.columns) != (rows, columns) {
                Some("image size")
            } else if (s.pixel_spacing[0] - spacing[0]).abs() > 1e-3
                || (s.pixel_spacing[1] - spacing[1]).abs() > 1e-3
            {
                Some("pixel spacing")
            } else if s
                .orientation
                .iter()
                .zip(&first.orientation)
                .any(|(a, b)| (a - b).abs() > 1e-3)
            {
                Some("image orientation")
            } else {
                None
            };
            if let Some(what) = what {
                return Err(VolumeError::MixedGeometry {
                    file: s.file.clone(),
                    what,
                });
            }
            if s.tilt.abs() > 0.01 {
                return Err(VolumeError::GantryTilt {
                    degrees: s.tilt.abs(),
                });
            }
        }
        slices.sort_by(|a, b| dot(a.position, normal).total_cmp(&dot(b.position, normal)));
        let locations: Vec<f64> = slices.iter().map(|s| dot(s.position, normal)).collect();
        let mut steps = Vec::with_capacity(slices.len() - 1);
        for i in 1..slices.len() {
            let step = locations[i] - locations[i - 1];
            if step < 1e-3 {
                return Err(VolumeError::DuplicatePosition {
                    file: slices[i].file.clone(),
                    position_mm: locations[i],
                });
            }
            let d = sub(slices[i].position, slices[i - 1].position);
            let cosine = dot(d, normal) / dot(d, d).sqrt();
            if cosine < 1.0 - DIRECTION_TOLERANCE {
                return Err(VolumeError::GantryTilt {
                    degrees: cosine.clamp(-1.0, 1.0).acos().to_degrees(),
                });
            }
            steps.push(step);
        }
        let mut sorted = steps.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        for (i, &step) in steps.iter().enumerate() {
            if step > MAX_GAP_RATIO * median {
                return Err(VolumeError::MissingSlices {
                    position_mm: locations[i],
                    gap_mm: step,
                    median_mm: median,
                });
            }
        }
        let first = &slices[0];
        let mut volume = Volume {
            dims: [columns, rows, slices.len()],
            // PixelSpacing is (row spacing, column spacing) = (y, x)
            spacing_mm: [spacing[1], spacing[0], median],
            row_direction,
            column_direction,
            normal,
            hu: Vec::with_capacity(rows * columns * slices.len()),
            slices: Vec::with_capacity(slices.len()),
            study_instance_uid: first.study.clone(),
            series_instance_uid: first.series.clone(),
            frame_of_reference_uid: first.frame_of_reference.clone(),
            patient_id: first.patient_id.clone(),
            study_date: first.study_date.clone(),
            slice_thickness_mm: first.thickness,
        };
        for (s, location) in slices.into_iter().zip(locations) {
            volume.hu.extend_from_slice(&s.hu);
            volume.slices.push(SliceRef {
                sop_instance_uid: s.sop_instance_uid,
                sop_class_uid: s.sop_class_uid,
                position_mm: s.position,
                location_mm: location,
            });
        }
        Ok(volume)
    }

    /// A volume from HU values already in memory (phantoms, tests), axial, with the first
    /// voxel at `origin_mm` and slices `spacing_mm[2]` apart going up (feet to head).
    pub fn from_hu(
        dims: [usize; 3],
        spacing_mm: [f64; 3],
        origin_mm: [f64; 3],
        hu: Vec<i16>,
    ) -> Volume {
        assert_eq!(
            hu.len(),
            dims[0] * dims[1] * dims[2],
            "hu.len() != product of dims"
        );
        let slices = (0..dims[2])
            .map(|k| {
                let z = origin_mm[2] + k as f64 * spacing_mm[2];
                SliceRef {
                    sop_instance_uid: format!("2.25.{}", 1000 + k),
                    sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
                    position_mm: [origin_mm[0], origin_mm[1], z],
                    location_mm: z,
                }
            })
            .collect();
        Volume {
            dims,
            spacing_mm,
            row_direction: [1.0, 0.0, 0.0],
            column_direction: [0.0, 1.0, 0.0],
            normal: [0.0, 0.0, 1.0],
            hu,
            slices,
            study_instance_uid: String::new(),
            series_instance_uid: String::new(),
            frame_of_reference_uid: String::new(),
            patient_id: String::new(),
            study_date: String::new(),
            slice_thickness_mm: Some(spacing_mm[2]),
        }
    }

    /// Index of voxel (x, y, z).
    #[inline]
    pub fn index(&self, x: usize, y: usize, z: usize) -> usize {
        (z * self.dims[1] + y) * self.dims[0] + x
    }

    /// Patient coordinates (mm) of a (possibly fractional) voxel position.
    pub fn to_patient(&self, x: f64, y: f64, z: f64) -> [f64; 3] {
        let k = (z.round().max(0.0) as usize).min(self.dims[2] - 1);
        let base = self.slices[k].position_mm;
        let dz = (z - k as f64) * self.spacing_mm[2];
        let mut p = [0.0; 3];
        for (a, value) in p.iter_mut().enumerate() {
            *value = base[a]
                + x * self.spacing_mm[0] * self.row_direction[a]
                + y * self.spacing_mm[1] * self.column_direction[a]
                + dz * self.normal[a];
        }
        p
    }
}
