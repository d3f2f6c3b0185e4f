//! The attributes QC reads from an instance, and reading them.
//!
//! QC parses files itself rather than through `mira_dicom::parse_instance`: it must also
//! check instances the archive would refuse (empty UIDs, no Patient ID), and it reads
//! attributes the catalogue does not index (exposure index, gantry tilt, samples per pixel).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use dicom_core::Tag;
use dicom_dictionary_std::{tags, uids};
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use serde::Serialize;

/// Why a file could not be read as DICOM.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Reading the file failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    /// Not a PS3.10 file.
    #[error("not a DICOM PS3.10 file (no 'DICM' prefix)")]
    NotDicom,
    /// dicom-rs could not parse it.
    #[error("unreadable DICOM: {0}")]
    Parse(String),
    /// The pixel data could not be decoded.
    #[error("pixel data cannot be decoded: {0}")]
    Pixels(String),
    /// An image file could not be decoded.
    #[error("image cannot be decoded: {0}")]
    Image(String),
}

/// The attributes QC reads, as text trimmed of padding (`None`: absent or empty).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Header {
    /// Transfer Syntax UID of the file.
    pub transfer_syntax_uid: Option<String>,
    /// SOP Class UID.
    pub sop_class_uid: Option<String>,
    /// Media Storage SOP Class UID of the File Meta Information.
    pub media_storage_sop_class_uid: Option<String>,
    /// SOP Instance UID.
    pub sop_instance_uid: Option<String>,
    /// Study Instance UID.
    pub study_instance_uid: Option<String>,
    /// Series Instance UID.
    pub series_instance_uid: Option<String>,
    /// Frame of Reference UID.
    pub frame_of_reference_uid: Option<String>,
    /// Modality.
    pub modality: Option<String>,
    /// Patient's Name.
    pub patient_name: Option<String>,
    /// Patient ID.
    pub patient_id: Option<String>,
    /// Patient's Birth Date (DA).
    pub patient_birth_date: Option<String>,
    /// Patient's Sex.
    pub patient_sex: Option<String>,
    /// Patient's Age (AS).
    pub patient_age: Option<String>,
    /// Patient's Weight in kg.
    pub patient_weight: Option<f64>,
    /// Study Date (DA).
    pub study_date: Option<String>,
    /// Series Date (DA).
    pub series_date: Option<String>,
    /// Acquisition Date (DA).
    pub acquisition_date: Option<String>,
    /// Content Date (DA).
    pub content_date: Option<String>,
    /// Accession Number.
    pub accession_number: Option<String>,
    /// Study Description.
    pub study_description: Option<String>,
    /// Series Description.
    pub series_description: Option<String>,
    /// Protocol Name.
    pub protocol_name: Option<String>,
    /// Body Part Examined.
    pub body_part_examined: Option<String>,
    /// View Position.
    pub view_position: Option<String>,
    /// Image Laterality, or Laterality.
    pub laterality: Option<String>,
    /// Institution Name: the site.
    pub institution_name: Option<String>,
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// Manufacturer's Model Name.
    pub manufacturer_model_name: Option<String>,
    /// Station Name.
    pub station_name: Option<String>,
    /// Operators' Name: the technologist.
    pub operators_name: Option<String>,
    /// Instance Number.
    pub instance_number: Option<i64>,
    /// Samples per Pixel.
    pub samples_per_pixel: Option<u16>,
    /// Photometric Interpretation.
    pub photometric_interpretation: Option<String>,
    /// Rows.
    pub rows: Option<u32>,
    /// Columns.
    pub columns: Option<u32>,
    /// Bits Stored.
    pub bits_stored: Option<u16>,
    /// Pixel Spacing as written (row\column, mm).
    pub pixel_spacing: Option<String>,
    /// Imager Pixel Spacing as written (DX, CR).
    pub imager_pixel_spacing: Option<String>,
    /// Image Position (Patient), mm.
    pub image_position: Option<[f64; 3]>,
    /// Image Orientation (Patient), direction cosines of the row and the column.
    pub image_orientation: Option<[f64; 6]>,
    /// Slice Thickness, mm.
    pub slice_thickness: Option<f64>,
    /// Gantry/Detector Tilt, degrees.
    pub gantry_tilt: Option<f64>,
    /// KVP.
    pub kvp: Option<f64>,
    /// CTDIvol, mGy.
    pub ctdi_vol: Option<f64>,
    /// Exposure Index (IEC 62494-1).
    pub exposure_index: Option<f64>,
    /// Target Exposure Index.
    pub target_exposure_index: Option<f64>,
    /// Deviation Index.
    pub deviation_index: Option<f64>,
}

/// An instance's header and, where the check needs it, its data set.
#[derive(Debug)]
pub struct Instance {
    /// The attributes QC reads.
    pub header: Header,
    /// The data set (without pixel data unless asked for).
    pub object: DefaultDicomObject,
}

/// Whether pixel data is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pixels {
    /// Stop before the pixel data: header checks only.
    Skip,
    /// Read everything.
    Read,
}

/// Whether the instance's pixel checks need the pixel data: projection radiographs and
/// ophthalmic photographs.
pub fn needs_pixels(header: &Header) -> bool {
    matches!(header.modality.as_deref(), Some("CR" | "DX" | "OP"))
}

/// Whether `source` starts like a PS3.10 file.
pub fn is_dicom<R: Read + Seek>(source: &mut R) -> std::io::Result<bool> {
    let mut head = [0u8; 132];
    source.seek(SeekFrom::Start(0))?;
    let ok = match source.read_exact(&mut head) {
        Ok(()) => &head[128..] == b"DICM",
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => false,
        Err(e) => return Err(e),
    };
    source.seek(SeekFrom::Start(0))?;
    Ok(ok)
}

/// The first tag after every attribute the header checks read.
pub const HEADER_UNTIL: Tag = Tag(0x2050, 0x0021);

/// Reads a PS3.10 file.
pub fn read_file(path: &Path, pixels: Pixels) -> Result<Instance, ReadError> {
    let mut file = std::io::BufReader::new(std::fs::File::open(path)?);
    read_from(&mut file, pixels)
}

/// Reads a PS3.10 file from any seekable source (a file, bytes in a `Cursor`).
pub fn read_from<R: Read + Seek>(source: &mut R, pixels: Pixels) -> Result<Instance, ReadError> {
    if !is_dicom(source)? {
        return Err(ReadError::NotDicom);
    }
    source.seek(SeekFrom::Start(128))?;
    let mut options = OpenFileOptions::new();
    if pixels == Pixels::Skip {
        // everything QC reads lies before group 2050 (Presentation LUT Shape is the last);
        // what follows (RT contour data, overlays, pixel data) need not be decoded
        options = options.read_until(HEADER_UNTIL);
    }
    let object = options
        .from_reader(source)
        .map_err(|e| ReadError::Parse(e.to_string()))?;
    let mut header = Header::from_object(&object);
    header.transfer_syntax_uid = Some(uid(object.meta().transfer_syntax()));
    header.media_storage_sop_class_uid =
        Some(uid(object.meta().media_storage_sop_class_uid())).filter(|u| !u.is_empty());
    Ok(Instance { header, object })
}

fn uid(text: &str) -> String {
    text.trim_end_matches(['\0', ' ']).to_string()
}

impl Header {
    /// Reads the attributes QC needs from a data set.
    pub fn from_object(obj: &InMemDicomObject) -> Self {
        Header {
            transfer_syntax_uid: None,
            media_storage_sop_class_uid: None,
            sop_class_uid: text(obj, tags::SOP_CLASS_UID),
            sop_instance_uid: text(obj, tags::SOP_INSTANCE_UID),
            study_instance_uid: text(obj, tags::STUDY_INSTANCE_UID),
            series_instance_uid: text(obj, tags::SERIES_INSTANCE_UID),
            frame_of_reference_uid: text(obj, tags::FRAME_OF_REFERENCE_UID),
            modality: text(obj, tags::MODALITY).map(|m| m.to_ascii_uppercase()),
            patient_name: text(obj, tags::PATIENT_NAME),
            patient_id: text(obj, tags::PATIENT_ID),
            patient_birth_date: text(obj, tags::PATIENT_BIRTH_DATE),
            patient_sex: text(obj, tags::PATIENT_SEX),
            patient_age: text(obj, tags::PATIENT_AGE),
            patient_weight: float(obj, tags::PATIENT_WEIGHT),
            study_date: text(obj, tags::STUDY_DATE),
            series_date: text(obj, tags::SERIES_DATE),
            acquisition_date: text(obj, tags::ACQUISITION_DATE),
            content_date: text(obj, tags::CONTENT_DATE),
            accession_number: text(obj, tags::ACCESSION_NUMBER),
            study_description: text(obj, tags::STUDY_DESCRIPTION),
            series_description: text(obj, tags::SERIES_DESCRIPTION),
            protocol_name: text(obj, tags::PROTOCOL_NAME),
            body_part_examined: text(obj, tags::BODY_PART_EXAMINED),
            view_position: text(obj, tags::VIEW_POSITION),
            laterality: text(obj, tags::IMAGE_LATERALITY).or_else(|| text(obj, tags::LATERALITY)),
            institution_name: text(obj, tags::INSTITUTION_NAME),
            manufacturer: text(obj, tags::MANUFACTURER),
            manufacturer_model_name: text(obj, tags::MANUFACTURER_MODEL_NAME),
            station_name: text(obj, tags::STATION_NAME),
            operators_name: text(obj, tags::OPERATORS_NAME),
            instance_number: float(obj, tags::INSTANCE_NUMBER).map(|v| v as i64),
            samples_per_pixel: unsigned(obj, tags::SAMPLES_PER_PIXEL).map(|v| v as u16),
            photometric_interpretation: text(obj, tags::PHOTOMETRIC_INTERPRETATION)
                .map(|p| p.to_ascii_uppercase()),
            rows: unsigned(obj, tags::ROWS),
            columns: unsigned(obj, tags::COLUMNS),
            bits_stored: unsigned(obj, tags::BITS_STORED).map(|v| v as u16),
            pixel_spacing: text(obj, tags::PIXEL_SPACING),
            imager_pixel_spacing: text(obj, tags::IMAGER_PIXEL_SPACING),
            image_position: floats::<3>(obj, tags::IMAGE_POSITION_PATIENT),
            image_orientation: floats::<6>(obj, tags::IMAGE_ORIENTATION_PATIENT),
            slice_thickness: float(obj, tags::SLICE_THICKNESS),
            gantry_tilt: float(obj, tags::GANTRY_DETECTOR_TILT),
            kvp: float(obj, tags::KVP),
            ctdi_vol: float(obj, tags::CTD_IVOL),
            exposure_index: float(obj, tags::EXPOSURE_INDEX),
            target_exposure_index: float(obj, tags::TARGET_EXPOSURE_INDEX),
            deviation_index: float(obj, tags::DEVIATION_INDEX),
        }
    }

    /// The IOD this instance claims, by SOP Class (the File Meta Information's when the data
    /// set's is empty): its required attributes.
    pub fn iod(&self) -> Option<&'static [crate::iod::Required]> {
        self.iod_with_modality().map(|(_, table)| table)
    }

    fn iod_with_modality(&self) -> Option<(&'static str, &'static [crate::iod::Required])> {
        use crate::iod::*;
        let sop_class = self
            .sop_class_uid
            .as_deref()
            .or(self.media_storage_sop_class_uid.as_deref());
        Some(match sop_class {
            Some(uids::CT_IMAGE_STORAGE) => ("CT", CT_IMAGE),
            Some(uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE) => ("CR", CR_IMAGE),
            Some(
                uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION
                | uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PROCESSING,
            ) => ("DX", DX_IMAGE),
            Some(uids::OPHTHALMIC_PHOTOGRAPHY8_BIT_IMAGE_STORAGE) => ("OP", OP_8BIT_IMAGE),
            _ => return None,
        })
    }

    /// The modality the header says, or else the one its IOD implies (a CT Image without
    /// Modality is still checked as CT).
    pub fn effective_modality(&self) -> Option<&str> {
        self.modality
            .as_deref()
            .or_else(|| self.iod_with_modality().map(|(m, _)| m))
    }

    /// The device: manufacturer, model and station, `/`-joined, or `None` when all are
    /// unknown.
    pub fn device(&self) -> Option<String> {
        let parts = [
            self.manufacturer.as_deref(),
            self.manufacturer_model_name.as_deref(),
            self.station_name.as_deref(),
        ];
        parts
            .iter()
            .any(Option::is_some)
            .then(|| parts.map(|p| p.unwrap_or("?")).join(" / "))
    }

    /// Whether this is a chest examination as far as the header says (or does not say).
    pub fn is_chest_or_unspecified(&self) -> bool {
        match self.body_part_examined.as_deref() {
            None => true,
            Some(b) => {
                let b = b.to_ascii_uppercase();
                b.contains("CHEST") || b.contains("THORAX") || b.contains("LUNG")
            }
        }
    }
}

/// The element's value as trimmed text, `None` when absent, empty or not text.
pub(crate) fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let element = obj.get(tag)?;
    let value = element.to_str().ok()?;
    let trimmed = value.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// Whether the element is present, and whether it has a non-empty value.
pub(crate) fn presence(obj: &InMemDicomObject, tag: Tag) -> (bool, bool) {
    match obj.get(tag) {
        None => (false, false),
        Some(e) => {
            let has_value = match e.value() {
                dicom_core::DicomValue::Sequence(seq) => !seq.items().is_empty(),
                dicom_core::DicomValue::PixelSequence(_) => true,
                dicom_core::DicomValue::Primitive(p) => {
                    if p.multiplicity() == 0 {
                        false
                    } else {
                        match e.to_str() {
                            Ok(s) => !s.trim_matches(|c: char| c == '\0' || c == ' ').is_empty(),
                            Err(_) => true,
                        }
                    }
                }
            };
            (true, has_value)
        }
    }
}

fn float(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    let element = obj.get(tag)?;
    element
        .to_float64()
        .ok()
        .or_else(|| text(obj, tag)?.split('\\').next()?.trim().parse().ok())
        .filter(|v: &f64| v.is_finite())
}

fn unsigned(obj: &InMemDicomObject, tag: Tag) -> Option<u32> {
    obj.get(tag)?.to_int::<u32>().ok()
}

fn floats<const N: usize>(obj: &InMemDicomObject, tag: Tag) -> Option<[f64; N]> {
    let element = obj.get(tag)?;
    let values: Vec<f64> = element.to_multi_float64().ok().or_else(|| {
        text(obj, tag)?
            .split('\\')
            .map(|v| v.trim().parse::<f64>().ok())
            .collect::<Option<Vec<_>>>()
    })?;
    let array: [f64; N] = values.get(..N)?.try_into().ok()?;
    array.iter().all(|v| v.is_finite()).then_some(array)
}
