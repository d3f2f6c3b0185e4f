//! The attributes mira indexes, per level of the DICOM information model.
//!
//! Required and unique keys of PS3.4 C.6.1.1 (Patient Root) and C.6.2.1 (Study Root) at each
//! level are all here, so that C-FIND and QIDO-RS can answer from the catalogue alone, plus the
//! acquisition attributes that QC and analysis route and select on (modality, body part,
//! protocol, device, geometry, exposure). Text is decoded with the instance's Specific
//! Character Set by dicom-rs before it gets here, so every string is UTF-8.

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde::{Deserialize, Serialize};

use dicom_core::Tag;

/// Patient-level attributes (PS3.4 C.6.1.1.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PatientAttributes {
    /// Patient ID (0010,0020), unique key.
    pub patient_id: String,
    /// Issuer of Patient ID (0010,0021).
    pub issuer_of_patient_id: Option<String>,
    /// Patient's Name (0010,0010), as the PN value (components separated by `^`, groups by `=`).
    pub patient_name: Option<String>,
    /// Patient's Birth Date (0010,0030), DA.
    pub patient_birth_date: Option<String>,
    /// Patient's Sex (0010,0040).
    pub patient_sex: Option<String>,
}

/// Study-level attributes (PS3.4 C.6.2.1.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StudyAttributes {
    /// Study Instance UID (0020,000D), unique key.
    pub study_instance_uid: String,
    /// Study Date (0008,0020), DA.
    pub study_date: Option<String>,
    /// Study Time (0008,0030), TM.
    pub study_time: Option<String>,
    /// Accession Number (0008,0050).
    pub accession_number: Option<String>,
    /// Study ID (0020,0010).
    pub study_id: Option<String>,
    /// Referring Physician's Name (0008,0090).
    pub referring_physician_name: Option<String>,
    /// Study Description (0008,1030).
    pub study_description: Option<String>,
    /// Patient's Age (0010,1010) at the time of the study, AS.
    pub patient_age: Option<String>,
    /// Patient's Size (0010,1020) in metres.
    pub patient_size: Option<f64>,
    /// Patient's Weight (0010,1030) in kilograms.
    pub patient_weight: Option<f64>,
    /// Institution Name (0008,0080): the site that acquired the study.
    pub institution_name: Option<String>,
}

/// Series-level attributes (PS3.4 C.6.2.1.3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesAttributes {
    /// Series Instance UID (0020,000E), unique key.
    pub series_instance_uid: String,
    /// Modality (0008,0060).
    pub modality: Option<String>,
    /// Series Number (0020,0011).
    pub series_number: Option<i64>,
    /// Series Description (0008,103E).
    pub series_description: Option<String>,
    /// Series Date (0008,0021).
    pub series_date: Option<String>,
    /// Series Time (0008,0031).
    pub series_time: Option<String>,
    /// Body Part Examined (0018,0015).
    pub body_part_examined: Option<String>,
    /// Protocol Name (0018,1030).
    pub protocol_name: Option<String>,
    /// Laterality (0020,0060), for paired body parts such as eyes.
    pub laterality: Option<String>,
    /// Performed Procedure Step Start Date (0040,0244).
    pub performed_procedure_step_start_date: Option<String>,
    /// Manufacturer (0008,0070).
    pub manufacturer: Option<String>,
    /// Manufacturer's Model Name (0008,1090).
    pub manufacturer_model_name: Option<String>,
    /// Station Name (0008,1010).
    pub station_name: Option<String>,
    /// Device Serial Number (0018,1000).
    pub device_serial_number: Option<String>,
}

/// Instance-level attributes (PS3.4 C.6.2.1.4) and the image geometry QC and analysis need.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceDetails {
    /// SOP Class UID (0008,0016).
    pub sop_class_uid: String,
    /// Instance Number (0020,0013).
    pub instance_number: Option<i64>,
    /// Transfer Syntax UID (0002,0010) the instance is stored in.
    pub transfer_syntax_uid: String,
    /// Image Type (0008,0008), values joined with `\`.
    pub image_type: Option<String>,
    /// Acquisition Date (0008,0022).
    pub acquisition_date: Option<String>,
    /// Acquisition Time (0008,0032).
    pub acquisition_time: Option<String>,
    /// Content Date (0008,0023).
    pub content_date: Option<String>,
    /// Content Time (0008,0033).
    pub content_time: Option<String>,
    /// Rows (0028,0010).
    pub rows: Option<i64>,
    /// Columns (0028,0011).
    pub columns: Option<i64>,
    /// Number of Frames (0028,0008).
    pub number_of_frames: Option<i64>,
    /// Bits Allocated (0028,0100).
    pub bits_allocated: Option<i64>,
    /// Photometric Interpretation (0028,0004).
    pub photometric_interpretation: Option<String>,
    /// Image Position (Patient) (0020,0032), x\y\z in mm.
    pub image_position_patient: Option<String>,
    /// Image Orientation (Patient) (0020,0037), six direction cosines.
    pub image_orientation_patient: Option<String>,
    /// Pixel Spacing (0028,0030), row\column spacing in mm.
    pub pixel_spacing: Option<String>,
    /// Slice Thickness (0018,0050) in mm.
    pub slice_thickness: Option<f64>,
    /// Slice Location (0020,1041) in mm.
    pub slice_location: Option<f64>,
    /// KVP (0018,0060).
    pub kvp: Option<f64>,
    /// CTDIvol (0018,9345) in mGy.
    pub ctdi_vol: Option<f64>,
    /// View Position (0018,5101), for projection radiographs.
    pub view_position: Option<String>,
}

/// All indexed attributes of one instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceAttributes {
    /// SOP Instance UID (0008,0018), the identity of the instance.
    pub sop_instance_uid: String,
    /// Series Instance UID (0020,000E).
    pub series_instance_uid: String,
    /// Patient level.
    pub patient: PatientAttributes,
    /// Study level.
    pub study: StudyAttributes,
    /// Series level.
    pub series: SeriesAttributes,
    /// Instance level.
    pub instance: InstanceDetails,
    /// Specific Character Set (0008,0005) the text was decoded from, for re-encoding later.
    pub specific_character_set: Option<String>,
}

/// A Type 1 attribute the archive cannot index an instance without.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequiredAttribute {
    /// The attribute's tag.
    pub tag: Tag,
    /// The attribute's keyword, as in PS3.6.
    pub keyword: &'static str,
}

/// The attributes [`InstanceAttributes::from_object`] requires, in the order it checks them.
pub const REQUIRED_ATTRIBUTES: &[RequiredAttribute] = &[
    RequiredAttribute {
        tag: tags::SOP_CLASS_UID,
        keyword: "SOPClassUID",
    },
    RequiredAttribute {
        tag: tags::SOP_INSTANCE_UID,
        keyword: "SOPInstanceUID",
    },
    RequiredAttribute {
        tag: tags::STUDY_INSTANCE_UID,
        keyword: "StudyInstanceUID",
    },
    RequiredAttribute {
        tag: tags::SERIES_INSTANCE_UID,
        keyword: "SeriesInstanceUID",
    },
    RequiredAttribute {
        tag: tags::PATIENT_ID,
        keyword: "PatientID",
    },
];

impl InstanceAttributes {
    /// Extracts the indexed attributes from a parsed data set.
    ///
    /// Fails with the first of [`REQUIRED_ATTRIBUTES`] that is absent or empty. Optional
    /// attributes that are present but unreadable (a number that does not parse) are left out
    /// rather than refusing the instance: QC reports them, the archive keeps the object.
    pub fn from_object(
        obj: &InMemDicomObject,
        transfer_syntax_uid: &str,
    ) -> Result<Self, RequiredAttribute> {
        let required = |attr: &RequiredAttribute| -> Result<String, RequiredAttribute> {
            text(obj, attr.tag).ok_or(*attr)
        };
        let [sop_class, sop_instance, study_uid, series_uid, patient_id] = REQUIRED_ATTRIBUTES
        else {
            unreachable!("five required attributes")
        };
        let sop_class_uid = required(sop_class)?;
        let sop_instance_uid = required(sop_instance)?;
        let study_instance_uid = required(study_uid)?;
        let series_instance_uid = required(series_uid)?;
        let patient_id = required(patient_id)?;

        Ok(InstanceAttributes {
            sop_instance_uid,
            series_instance_uid: series_instance_uid.clone(),
            specific_character_set: text(obj, tags::SPECIFIC_CHARACTER_SET),
            patient: PatientAttributes {
                patient_id,
                issuer_of_patient_id: text(obj, tags::ISSUER_OF_PATIENT_ID),
                patient_name: text(obj, tags::PATIENT_NAME),
                patient_birth_date: text(obj, tags::PATIENT_BIRTH_DATE),
                patient_sex: text(obj, tags::PATIENT_SEX),
            },
            study: StudyAttributes {
                study_instance_uid,
                study_date: text(obj, tags::STUDY_DATE),
                study_time: text(obj, tags::STUDY_TIME),
                accession_number: text(obj, tags::ACCESSION_NUMBER),
                study_id: text(obj, tags::STUDY_ID),
                referring_physician_name: text(obj, tags::REFERRING_PHYSICIAN_NAME),
                study_description: text(obj, tags::STUDY_DESCRIPTION),
                patient_age: text(obj, tags::PATIENT_AGE),
                patient_size: float(obj, tags::PATIENT_SIZE),
                patient_weight: float(obj, tags::PATIENT_WEIGHT),
                institution_name: text(obj, tags::INSTITUTION_NAME),
            },
            series: SeriesAttributes {
                series_instance_uid,
                modality: text(obj, tags::MODALITY),
                series_number: int(obj, tags::SERIES_NUMBER),
                series_description: text(obj, tags::SERIES_DESCRIPTION),
                series_date: text(obj, tags::SERIES_DATE),
                series_time: text(obj, tags::SERIES_TIME),
                body_part_examined: text(obj, tags::BODY_PART_EXAMINED),
                protocol_name: text(obj, tags::PROTOCOL_NAME),
                laterality: text(obj, tags::LATERALITY)
                    .or_else(|| text(obj, tags::IMAGE_LATERALITY)),
                performed_procedure_step_start_date: text(
                    obj,
                    tags::PERFORMED_PROCEDURE_STEP_START_DATE,
                ),
                manufacturer: text(obj, tags::MANUFACTURER),
                manufacturer_model_name: text(obj, tags::MANUFACTURER_MODEL_NAME),
                station_name: text(obj, tags::STATION_NAME),
                device_serial_number: text(obj, tags::DEVICE_SERIAL_NUMBER),
            },
            instance: InstanceDetails {
                sop_class_uid,
                instance_number: int(obj, tags::INSTANCE_NUMBER),
                transfer_syntax_uid: crate::syntax::trim_uid(transfer_syntax_uid).to_string(),
                image_type: text(obj, tags::IMAGE_TYPE),
                acquisition_date: text(obj, tags::ACQUISITION_DATE),
                acquisition_time: text(obj, tags::ACQUISITION_TIME),
                content_date: text(obj, tags::CONTENT_DATE),
                content_time: text(obj, tags::CONTENT_TIME),
                rows: int(obj, tags::ROWS),
                columns: int(obj, tags::COLUMNS),
                number_of_frames: int(obj, tags::NUMBER_OF_FRAMES),
                bits_allocated: int(obj, tags::BITS_ALLOCATED),
                photometric_interpretation: text(obj, tags::PHOTOMETRIC_INTERPRETATION),
                image_position_patient: text(obj, tags::IMAGE_POSITION_PATIENT),
                image_orientation_patient: text(obj, tags::IMAGE_ORIENTATION_PATIENT),
                pixel_spacing: text(obj, tags::PIXEL_SPACING),
                slice_thickness: float(obj, tags::SLICE_THICKNESS),
                slice_location: float(obj, tags::SLICE_LOCATION),
                kvp: float(obj, tags::KVP),
                ctdi_vol: float(obj, tags::CTD_IVOL),
                view_position: text(obj, tags::VIEW_POSITION),
            },
        })
    }

    /// Study Instance UID, a shortcut into [`StudyAttributes`].
    pub fn study_instance_uid(&self) -> &str {
        &self.study.study_instance_uid
    }
}

/// The element's value as trimmed text, `None` when absent, empty or not text.
fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let element = obj.get(tag)?;
    let value = element.to_str().ok()?;
    let trimmed = value.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

fn float(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    let value = text(obj, tag)?;
    let first = value.split('\\').next()?.trim();
    first.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn int(obj: &InMemDicomObject, tag: Tag) -> Option<i64> {
    let value = text(obj, tag)?;
    let first = value.split('\\').next()?.trim();
    first
        .parse::<i64>()
        .ok()
        .or_else(|| first.parse::<f64>().ok().map(|v| v as i64))
}
