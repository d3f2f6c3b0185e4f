//! Transfer syntaxes and SOP classes that mira's archive accepts.
//!
//! | Transfer syntax | UID | accepted | data set parsed |
//! |---|---|---|---|
//! | Implicit VR Little Endian | 1.2.840.10008.1.2 | yes | yes |
//! | Explicit VR Little Endian | 1.2.840.10008.1.2.1 | yes | yes |
//! | Deflated Explicit VR Little Endian | 1.2.840.10008.1.2.1.99 | yes | yes (flate2) |
//! | Explicit VR Big Endian (retired) | 1.2.840.10008.1.2.2 | yes | yes |
//! | JPEG Baseline / Extended / Lossless (all processes) | 1.2.840.10008.1.2.4.50–.70 | yes, as sent | yes (pixel data kept encapsulated) |
//! | JPEG-LS lossless / near-lossless | 1.2.840.10008.1.2.4.80, .81 | yes, as sent | yes |
//! | JPEG 2000 (lossless only / lossy) | 1.2.840.10008.1.2.4.90, .91 | yes, as sent | yes |
//! | RLE Lossless | 1.2.840.10008.1.2.5 | yes, as sent | yes |
//!
//! The archive stores instances in the transfer syntax they arrive in; it never transcodes on
//! ingest, so what a modality sent is what a viewer gets back.

use dicom_dictionary_std::uids;

/// Transfer syntaxes accepted by the storage SCP, in the order mira prefers them when a
/// requestor proposes several in one presentation context. Compressed syntaxes come first so
/// that a modality that offers its native compression keeps it (accepted as sent).
pub const ACCEPTED_TRANSFER_SYNTAXES: &[&str] = &[
    uids::JPEG2000_LOSSLESS,
    uids::JPEG2000,
    uids::JPEGLS_LOSSLESS,
    uids::JPEGLS_NEAR_LOSSLESS,
    uids::JPEG_LOSSLESS_SV1,
    uids::JPEG_LOSSLESS,
    uids::JPEG_BASELINE8_BIT,
    uids::JPEG_EXTENDED12_BIT,
    uids::RLE_LOSSLESS,
    uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    #[allow(deprecated)]
    uids::EXPLICIT_VR_BIG_ENDIAN,
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
];

/// Whether `uid` is one of [`ACCEPTED_TRANSFER_SYNTAXES`].
pub fn is_accepted_transfer_syntax(uid: &str) -> bool {
    let uid = trim_uid(uid);
    ACCEPTED_TRANSFER_SYNTAXES.contains(&uid)
}

/// Every storage SOP class of the standard (PS3.4 Annex B and its successors, PS3.6 Table
/// A-1), retired ones included since old modalities still send them. Generated from the SOP
/// class constants of `dicom-dictionary-std` (every "... Storage" class except Media Storage
/// Directory, Storage Commitment and the retrieve classes); the test below checks each entry
/// against the dictionary.
#[allow(deprecated)]
pub const STORAGE_SOP_CLASSES: &[&str] = &[
    uids::STORED_PRINT_STORAGE, // Stored Print Storage SOP Class (Retired)
    uids::HARDCOPY_GRAYSCALE_IMAGE_STORAGE, // Hardcopy Grayscale Image Storage SOP Class (Retired)
    uids::HARDCOPY_COLOR_IMAGE_STORAGE, // Hardcopy Color Image Storage SOP Class (Retired)
    uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE, // Computed Radiography Image Storage
    uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION, // Digital X-Ray Image Storage - For Presentation
    uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PROCESSING, // Digital X-Ray Image Storage - For Processing
    uids::DIGITAL_MAMMOGRAPHY_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION, // Digital Mammography X-Ray Image Storage - For Presentation
    uids::DIGITAL_MAMMOGRAPHY_X_RAY_IMAGE_STORAGE_FOR_PROCESSING, // Digital Mammography X-Ray Image Storage - For Processing
    uids::DIGITAL_INTRA_ORAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION, // Digital Intra-Oral X-Ray Image Storage - For Presentation
    uids::DIGITAL_INTRA_ORAL_X_RAY_IMAGE_STORAGE_FOR_PROCESSING, // Digital Intra-Oral X-Ray Image Storage - For Processing
    uids::STANDALONE_MODALITY_LUT_STORAGE, // Standalone Modality LUT Storage (Retired)
    uids::ENCAPSULATED_PDF_STORAGE,        // Encapsulated PDF Storage
    uids::ENCAPSULATED_CDA_STORAGE,        // Encapsulated CDA Storage
    uids::ENCAPSULATED_STL_STORAGE,        // Encapsulated STL Storage
    uids::ENCAPSULATED_OBJ_STORAGE,        // Encapsulated OBJ Storage
    uids::ENCAPSULATED_MTL_STORAGE,        // Encapsulated MTL Storage
    uids::STANDALONE_VOILUT_STORAGE,       // Standalone VOI LUT Storage (Retired)
    uids::GRAYSCALE_SOFTCOPY_PRESENTATION_STATE_STORAGE, // Grayscale Softcopy Presentation State Storage
    uids::SEGMENTED_VOLUME_RENDERING_VOLUMETRIC_PRESENTATION_STATE_STORAGE, // Segmented Volume Rendering Volumetric Presentation State Storage
    uids::MULTIPLE_VOLUME_RENDERING_VOLUMETRIC_PRESENTATION_STATE_STORAGE, // Multiple Volume Rendering Volumetric Presentation State Storage
    uids::VARIABLE_MODALITY_LUT_SOFTCOPY_PRESENTATION_STATE_STORAGE, // Variable Modality LUT Softcopy Presentation State Storage
    uids::COLOR_SOFTCOPY_PRESENTATION_STATE_STORAGE, // Color Softcopy Presentation State Storage
    uids::PSEUDO_COLOR_SOFTCOPY_PRESENTATION_STATE_STORAGE, // Pseudo-Color Softcopy Presentation State Storage
    uids::BLENDING_SOFTCOPY_PRESENTATION_STATE_STORAGE, // Blending Softcopy Presentation State Storage
    uids::XAXRF_GRAYSCALE_SOFTCOPY_PRESENTATION_STATE_STORAGE, // XA/XRF Grayscale Softcopy Presentation State Storage
    uids::GRAYSCALE_PLANAR_MPR_VOLUMETRIC_PRESENTATION_STATE_STORAGE, // Grayscale Planar MPR Volumetric Presentation State Storage
    uids::COMPOSITING_PLANAR_MPR_VOLUMETRIC_PRESENTATION_STATE_STORAGE, // Compositing Planar MPR Volumetric Presentation State Storage
    uids::ADVANCED_BLENDING_PRESENTATION_STATE_STORAGE, // Advanced Blending Presentation State Storage
    uids::VOLUME_RENDERING_VOLUMETRIC_PRESENTATION_STATE_STORAGE, // Volume Rendering Volumetric Presentation State Storage
    uids::X_RAY_ANGIOGRAPHIC_IMAGE_STORAGE, // X-Ray Angiographic Image Storage
    uids::ENHANCED_XA_IMAGE_STORAGE,        // Enhanced XA Image Storage
    uids::X_RAY_RADIOFLUOROSCOPIC_IMAGE_STORAGE, // X-Ray Radiofluoroscopic Image Storage
    uids::ENHANCED_XRF_IMAGE_STORAGE,       // Enhanced XRF Image Storage
    uids::X_RAY_ANGIOGRAPHIC_BI_PLANE_IMAGE_STORAGE, // X-Ray Angiographic Bi-Plane Image Storage (Retired)
    uids::POSITRON_EMISSION_TOMOGRAPHY_IMAGE_STORAGE, // Positron Emission Tomography Image Storage
    uids::LEGACY_CONVERTED_ENHANCED_PET_IMAGE_STORAGE, // Legacy Converted Enhanced PET Image Storage
    uids::STANDALONE_PET_CURVE_STORAGE,                // Standalone PET Curve Storage (Retired)
    uids::X_RAY3_D_ANGIOGRAPHIC_IMAGE_STORAGE,         // X-Ray 3D Angiographic Image Storage
    uids::X_RAY3_D_CRANIOFACIAL_IMAGE_STORAGE,         // X-Ray 3D Craniofacial Image Storage
    uids::BREAST_TOMOSYNTHESIS_IMAGE_STORAGE,          // Breast Tomosynthesis Image Storage
    uids::BREAST_PROJECTION_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION, // Breast Projection X-Ray Image Storage - For Presentation
    uids::BREAST_PROJECTION_X_RAY_IMAGE_STORAGE_FOR_PROCESSING, // Breast Projection X-Ray Image Storage - For Processing
    uids::ENHANCED_PET_IMAGE_STORAGE,                           // Enhanced PET Image Storage
    uids::BASIC_STRUCTURED_DISPLAY_STORAGE,                     // Basic Structured Display Storage
    uids::INTRAVASCULAR_OPTICAL_COHERENCE_TOMOGRAPHY_IMAGE_STORAGE_FOR_PRESENTATION, // Intravascular Optical Coherence Tomography Image Storage - For Presentation
    uids::INTRAVASCULAR_OPTICAL_COHERENCE_TOMOGRAPHY_IMAGE_STORAGE_FOR_PROCESSING, // Intravascular Optical Coherence Tomography Image Storage - For Processing
    uids::CT_IMAGE_STORAGE,                           // CT Image Storage
    uids::ENHANCED_CT_IMAGE_STORAGE,                  // Enhanced CT Image Storage
    uids::LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE, // Legacy Converted Enhanced CT Image Storage
    uids::CT_IMAGE_STORAGE_FOR_PROCESSING,            // CT Image Storage - For Processing
    uids::ENHANCED_CT_IMAGE_STORAGE_FOR_PROCESSING,   // Enhanced CT Image Storage - For Processing
    uids::LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE_FOR_PROCESSING, // Legacy Converted Enhanced CT Image Storage - For Processing
    uids::NUCLEAR_MEDICINE_IMAGE_STORAGE, // Nuclear Medicine Image Storage
    uids::CT_DEFINED_PROCEDURE_PROTOCOL_STORAGE, // CT Defined Procedure Protocol Storage
    uids::CT_PERFORMED_PROCEDURE_PROTOCOL_STORAGE, // CT Performed Procedure Protocol Storage
    uids::PROTOCOL_APPROVAL_STORAGE,      // Protocol Approval Storage
    uids::XA_DEFINED_PROCEDURE_PROTOCOL_STORAGE, // XA Defined Procedure Protocol Storage
    uids::XA_PERFORMED_PROCEDURE_PROTOCOL_STORAGE, // XA Performed Procedure Protocol Storage
    uids::INVENTORY_STORAGE,              // Inventory Storage
    uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE_RETIRED, // Ultrasound Multi-frame Image Storage (Retired)
    uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE,         // Ultrasound Multi-frame Image Storage
    uids::PARAMETRIC_MAP_STORAGE,                       // Parametric Map Storage
    uids::MR_IMAGE_STORAGE,                             // MR Image Storage
    uids::ENHANCED_MR_IMAGE_STORAGE,                    // Enhanced MR Image Storage
    uids::MR_SPECTROSCOPY_STORAGE,                      // MR Spectroscopy Storage
    uids::ENHANCED_MR_COLOR_IMAGE_STORAGE,              // Enhanced MR Color Image Storage
    uids::LEGACY_CONVERTED_ENHANCED_MR_IMAGE_STORAGE, // Legacy Converted Enhanced MR Image Storage
    uids::RT_IMAGE_STORAGE,                           // RT Image Storage
    uids::RT_PHYSICIAN_INTENT_STORAGE,                // RT Physician Intent Storage
    uids::RT_SEGMENT_ANNOTATION_STORAGE,              // RT Segment Annotation Storage
    uids::RT_RADIATION_SET_STORAGE,                   // RT Radiation Set Storage
    uids::C_ARM_PHOTON_ELECTRON_RADIATION_STORAGE,    // C-Arm Photon-Electron Radiation Storage
    uids::TOMOTHERAPEUTIC_RADIATION_STORAGE,          // Tomotherapeutic Radiation Storage
    uids::ROBOTIC_ARM_RADIATION_STORAGE,              // Robotic-Arm Radiation Storage
    uids::RT_RADIATION_RECORD_SET_STORAGE,            // RT Radiation Record Set Storage
    uids::RT_RADIATION_SALVAGE_RECORD_STORAGE,        // RT Radiation Salvage Record Storage
    uids::TOMOTHERAPEUTIC_RADIATION_RECORD_STORAGE,   // Tomotherapeutic Radiation Record Storage
    uids::C_ARM_PHOTON_ELECTRON_RADIATION_RECORD_STORAGE, // C-Arm Photon-Electron Radiation Record Storage
    uids::RT_DOSE_STORAGE,                                // RT Dose Storage
    uids::ROBOTIC_RADIATION_RECORD_STORAGE,               // Robotic Radiation Record Storage
    uids::RT_RADIATION_SET_DELIVERY_INSTRUCTION_STORAGE, // RT Radiation Set Delivery Instruction Storage
    uids::RT_TREATMENT_PREPARATION_STORAGE,              // RT Treatment Preparation Storage
    uids::ENHANCED_RT_IMAGE_STORAGE,                     // Enhanced RT Image Storage
    uids::ENHANCED_CONTINUOUS_RT_IMAGE_STORAGE,          // Enhanced Continuous RT Image Storage
    uids::RT_PATIENT_POSITION_ACQUISITION_INSTRUCTION_STORAGE, // RT Patient Position Acquisition Instruction Storage
    uids::RT_STRUCTURE_SET_STORAGE,                            // RT Structure Set Storage
    uids::RT_BEAMS_TREATMENT_RECORD_STORAGE,                   // RT Beams Treatment Record Storage
    uids::RT_PLAN_STORAGE,                                     // RT Plan Storage
    uids::RT_BRACHY_TREATMENT_RECORD_STORAGE,                  // RT Brachy Treatment Record Storage
    uids::RT_TREATMENT_SUMMARY_RECORD_STORAGE, // RT Treatment Summary Record Storage
    uids::RT_ION_PLAN_STORAGE,                 // RT Ion Plan Storage
    uids::RT_ION_BEAMS_TREATMENT_RECORD_STORAGE, // RT Ion Beams Treatment Record Storage
    uids::NUCLEAR_MEDICINE_IMAGE_STORAGE_RETIRED, // Nuclear Medicine Image Storage (Retired)
    uids::DICOSCT_IMAGE_STORAGE,               // DICOS CT Image Storage
    uids::DICOS_DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION, // DICOS Digital X-Ray Image Storage - For Presentation
    uids::DICOS_DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PROCESSING, // DICOS Digital X-Ray Image Storage - For Processing
    uids::DICOS_THREAT_DETECTION_REPORT_STORAGE,            // DICOS Threat Detection Report Storage
    uids::DICOS2DAIT_STORAGE,                               // DICOS 2D AIT Storage
    uids::DICOS3DAIT_STORAGE,                               // DICOS 3D AIT Storage
    uids::DICOS_QUADRUPOLE_RESONANCE_STORAGE, // DICOS Quadrupole Resonance (QR) Storage
    uids::ULTRASOUND_IMAGE_STORAGE_RETIRED,   // Ultrasound Image Storage (Retired)
    uids::ULTRASOUND_IMAGE_STORAGE,           // Ultrasound Image Storage
    uids::ENHANCED_US_VOLUME_STORAGE,         // Enhanced US Volume Storage
    uids::PHOTOACOUSTIC_IMAGE_STORAGE,        // Photoacoustic Image Storage
    uids::EDDY_CURRENT_IMAGE_STORAGE,         // Eddy Current Image Storage
    uids::EDDY_CURRENT_MULTI_FRAME_IMAGE_STORAGE, // Eddy Current Multi-frame Image Storage
    uids::THERMOGRAPHY_IMAGE_STORAGE,         // Thermography Image Storage
    uids::THERMOGRAPHY_MULTI_FRAME_IMAGE_STORAGE, // Thermography Multi-frame Image Storage
    uids::ULTRASOUND_WAVEFORM_STORAGE,        // Ultrasound Waveform Storage
    uids::RAW_DATA_STORAGE,                   // Raw Data Storage
    uids::SPATIAL_REGISTRATION_STORAGE,       // Spatial Registration Storage
    uids::SPATIAL_FIDUCIALS_STORAGE,          // Spatial Fiducials Storage
    uids::DEFORMABLE_SPATIAL_REGISTRATION_STORAGE, // Deformable Spatial Registration Storage
    uids::SEGMENTATION_STORAGE,               // Segmentation Storage
    uids::SURFACE_SEGMENTATION_STORAGE,       // Surface Segmentation Storage
    uids::TRACTOGRAPHY_RESULTS_STORAGE,       // Tractography Results Storage
    uids::LABEL_MAP_SEGMENTATION_STORAGE,     // Label Map Segmentation Storage
    uids::HEIGHT_MAP_SEGMENTATION_STORAGE,    // Height Map Segmentation Storage
    uids::REAL_WORLD_VALUE_MAPPING_STORAGE,   // Real World Value Mapping Storage
    uids::SURFACE_SCAN_MESH_STORAGE,          // Surface Scan Mesh Storage
    uids::SURFACE_SCAN_POINT_CLOUD_STORAGE,   // Surface Scan Point Cloud Storage
    uids::SECONDARY_CAPTURE_IMAGE_STORAGE,    // Secondary Capture Image Storage
    uids::MULTI_FRAME_SINGLE_BIT_SECONDARY_CAPTURE_IMAGE_STORAGE, // Multi-frame Single Bit Secondary Capture Image Storage
    uids::MULTI_FRAME_GRAYSCALE_BYTE_SECONDARY_CAPTURE_IMAGE_STORAGE, // Multi-frame Grayscale Byte Secondary Capture Image Storage
    uids::MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE, // Multi-frame Grayscale Word Secondary Capture Image Storage
    uids::MULTI_FRAME_TRUE_COLOR_SECONDARY_CAPTURE_IMAGE_STORAGE, // Multi-frame True Color Secondary Capture Image Storage
    uids::VL_IMAGE_STORAGE_TRIAL, // VL Image Storage - Trial (Retired)
    uids::VL_ENDOSCOPIC_IMAGE_STORAGE, // VL Endoscopic Image Storage
    uids::VIDEO_ENDOSCOPIC_IMAGE_STORAGE, // Video Endoscopic Image Storage
    uids::VL_MICROSCOPIC_IMAGE_STORAGE, // VL Microscopic Image Storage
    uids::VIDEO_MICROSCOPIC_IMAGE_STORAGE, // Video Microscopic Image Storage
    uids::VL_SLIDE_COORDINATES_MICROSCOPIC_IMAGE_STORAGE, // VL Slide-Coordinates Microscopic Image Storage
    uids::VL_PHOTOGRAPHIC_IMAGE_STORAGE,                  // VL Photographic Image Storage
    uids::VIDEO_PHOTOGRAPHIC_IMAGE_STORAGE,               // Video Photographic Image Storage
    uids::OPHTHALMIC_PHOTOGRAPHY8_BIT_IMAGE_STORAGE, // Ophthalmic Photography 8 Bit Image Storage
    uids::OPHTHALMIC_PHOTOGRAPHY16_BIT_IMAGE_STORAGE, // Ophthalmic Photography 16 Bit Image Storage
    uids::STEREOMETRIC_RELATIONSHIP_STORAGE,         // Stereometric Relationship Storage
    uids::OPHTHALMIC_TOMOGRAPHY_IMAGE_STORAGE,       // Ophthalmic Tomography Image Storage
    uids::WIDE_FIELD_OPHTHALMIC_PHOTOGRAPHY_STEREOGRAPHIC_PROJECTION_IMAGE_STORAGE, // Wide Field Ophthalmic Photography Stereographic Projection Image Storage
    uids::WIDE_FIELD_OPHTHALMIC_PHOTOGRAPHY3_D_COORDINATES_IMAGE_STORAGE, // Wide Field Ophthalmic Photography 3D Coordinates Image Storage
    uids::OPHTHALMIC_OPTICAL_COHERENCE_TOMOGRAPHY_EN_FACE_IMAGE_STORAGE, // Ophthalmic Optical Coherence Tomography En Face Image Storage
    uids::OPHTHALMIC_OPTICAL_COHERENCE_TOMOGRAPHY_BSCAN_VOLUME_ANALYSIS_STORAGE, // Ophthalmic Optical Coherence Tomography B-scan Volume Analysis Storage
    uids::VL_WHOLE_SLIDE_MICROSCOPY_IMAGE_STORAGE, // VL Whole Slide Microscopy Image Storage
    uids::DERMOSCOPIC_PHOTOGRAPHY_IMAGE_STORAGE,   // Dermoscopic Photography Image Storage
    uids::CONFOCAL_MICROSCOPY_IMAGE_STORAGE,       // Confocal Microscopy Image Storage
    uids::CONFOCAL_MICROSCOPY_TILED_PYRAMIDAL_IMAGE_STORAGE, // Confocal Microscopy Tiled Pyramidal Image Storage
    uids::VL_MULTI_FRAME_IMAGE_STORAGE_TRIAL, // VL Multi-frame Image Storage - Trial (Retired)
    uids::LENSOMETRY_MEASUREMENTS_STORAGE,    // Lensometry Measurements Storage
    uids::AUTOREFRACTION_MEASUREMENTS_STORAGE, // Autorefraction Measurements Storage
    uids::KERATOMETRY_MEASUREMENTS_STORAGE,   // Keratometry Measurements Storage
    uids::SUBJECTIVE_REFRACTION_MEASUREMENTS_STORAGE, // Subjective Refraction Measurements Storage
    uids::VISUAL_ACUITY_MEASUREMENTS_STORAGE, // Visual Acuity Measurements Storage
    uids::SPECTACLE_PRESCRIPTION_REPORT_STORAGE, // Spectacle Prescription Report Storage
    uids::OPHTHALMIC_AXIAL_MEASUREMENTS_STORAGE, // Ophthalmic Axial Measurements Storage
    uids::INTRAOCULAR_LENS_CALCULATIONS_STORAGE, // Intraocular Lens Calculations Storage
    uids::MACULAR_GRID_THICKNESS_AND_VOLUME_REPORT_STORAGE, // Macular Grid Thickness and Volume Report Storage
    uids::STANDALONE_OVERLAY_STORAGE,                       // Standalone Overlay Storage (Retired)
    uids::OPHTHALMIC_VISUAL_FIELD_STATIC_PERIMETRY_MEASUREMENTS_STORAGE, // Ophthalmic Visual Field Static Perimetry Measurements Storage
    uids::OPHTHALMIC_THICKNESS_MAP_STORAGE, // Ophthalmic Thickness Map Storage
    uids::CORNEAL_TOPOGRAPHY_MAP_STORAGE,   // Corneal Topography Map Storage
    uids::TEXT_SR_STORAGE_TRIAL,            // Text SR Storage - Trial (Retired)
    uids::BASIC_TEXT_SR_STORAGE,            // Basic Text SR Storage
    uids::AUDIO_SR_STORAGE_TRIAL,           // Audio SR Storage - Trial (Retired)
    uids::ENHANCED_SR_STORAGE,              // Enhanced SR Storage
    uids::DETAIL_SR_STORAGE_TRIAL,          // Detail SR Storage - Trial (Retired)
    uids::COMPREHENSIVE_SR_STORAGE,         // Comprehensive SR Storage
    uids::COMPREHENSIVE3_DSR_STORAGE,       // Comprehensive 3D SR Storage
    uids::EXTENSIBLE_SR_STORAGE,            // Extensible SR Storage
    uids::COMPREHENSIVE_SR_STORAGE_TRIAL,   // Comprehensive SR Storage - Trial (Retired)
    uids::PROCEDURE_LOG_STORAGE,            // Procedure Log Storage
    uids::MAMMOGRAPHY_CADSR_STORAGE,        // Mammography CAD SR Storage
    uids::KEY_OBJECT_SELECTION_DOCUMENT_STORAGE, // Key Object Selection Document Storage
    uids::CHEST_CADSR_STORAGE,              // Chest CAD SR Storage
    uids::X_RAY_RADIATION_DOSE_SR_STORAGE,  // X-Ray Radiation Dose SR Storage
    uids::RADIOPHARMACEUTICAL_RADIATION_DOSE_SR_STORAGE, // Radiopharmaceutical Radiation Dose SR Storage
    uids::COLON_CADSR_STORAGE,                           // Colon CAD SR Storage
    uids::IMPLANTATION_PLAN_SR_STORAGE,                  // Implantation Plan SR Storage
    uids::ACQUISITION_CONTEXT_SR_STORAGE,                // Acquisition Context SR Storage
    uids::SIMPLIFIED_ADULT_ECHO_SR_STORAGE,              // Simplified Adult Echo SR Storage
    uids::PATIENT_RADIATION_DOSE_SR_STORAGE,             // Patient Radiation Dose SR Storage
    uids::PLANNED_IMAGING_AGENT_ADMINISTRATION_SR_STORAGE, // Planned Imaging Agent Administration SR Storage
    uids::PERFORMED_IMAGING_AGENT_ADMINISTRATION_SR_STORAGE, // Performed Imaging Agent Administration SR Storage
    uids::ENHANCED_X_RAY_RADIATION_DOSE_SR_STORAGE, // Enhanced X-Ray Radiation Dose SR Storage
    uids::WAVEFORM_ANNOTATION_SR_STORAGE,           // Waveform Annotation SR Storage
    uids::STANDALONE_CURVE_STORAGE,                 // Standalone Curve Storage (Retired)
    uids::WAVEFORM_STORAGE_TRIAL,                   // Waveform Storage - Trial (Retired)
    uids::TWELVE_LEAD_ECG_WAVEFORM_STORAGE,         // 12-lead ECG Waveform Storage
    uids::GENERAL_ECG_WAVEFORM_STORAGE,             // General ECG Waveform Storage
    uids::AMBULATORY_ECG_WAVEFORM_STORAGE,          // Ambulatory ECG Waveform Storage
    uids::GENERAL32BIT_ECG_WAVEFORM_STORAGE,        // General 32-bit ECG Waveform Storage
    uids::WAVEFORM_PRESENTATION_STATE_STORAGE,      // Waveform Presentation State Storage
    uids::WAVEFORM_ACQUISITION_PRESENTATION_STATE_STORAGE, // Waveform Acquisition Presentation State Storage
    uids::HEMODYNAMIC_WAVEFORM_STORAGE,                    // Hemodynamic Waveform Storage
    uids::CARDIAC_ELECTROPHYSIOLOGY_WAVEFORM_STORAGE, // Cardiac Electrophysiology Waveform Storage
    uids::BASIC_VOICE_AUDIO_WAVEFORM_STORAGE,         // Basic Voice Audio Waveform Storage
    uids::GENERAL_AUDIO_WAVEFORM_STORAGE,             // General Audio Waveform Storage
    uids::ARTERIAL_PULSE_WAVEFORM_STORAGE,            // Arterial Pulse Waveform Storage
    uids::RESPIRATORY_WAVEFORM_STORAGE,               // Respiratory Waveform Storage
    uids::MULTICHANNEL_RESPIRATORY_WAVEFORM_STORAGE,  // Multi-channel Respiratory Waveform Storage
    uids::ROUTINE_SCALP_ELECTROENCEPHALOGRAM_WAVEFORM_STORAGE, // Routine Scalp Electroencephalogram Waveform Storage
    uids::ELECTROMYOGRAM_WAVEFORM_STORAGE,                     // Electromyogram Waveform Storage
    uids::ELECTROOCULOGRAM_WAVEFORM_STORAGE,                   // Electrooculogram Waveform Storage
    uids::SLEEP_ELECTROENCEPHALOGRAM_WAVEFORM_STORAGE, // Sleep Electroencephalogram Waveform Storage
    uids::BODY_POSITION_WAVEFORM_STORAGE,              // Body Position Waveform Storage
    uids::CONTENT_ASSESSMENT_RESULTS_STORAGE,          // Content Assessment Results Storage
    uids::MICROSCOPY_BULK_SIMPLE_ANNOTATIONS_STORAGE,  // Microscopy Bulk Simple Annotations Storage
    uids::RT_BEAMS_DELIVERY_INSTRUCTION_STORAGE_TRIAL, // RT Beams Delivery Instruction Storage - Trial (Retired)
    uids::RT_BRACHY_APPLICATION_SETUP_DELIVERY_INSTRUCTION_STORAGE, // RT Brachy Application Setup Delivery Instruction Storage
    uids::RT_BEAMS_DELIVERY_INSTRUCTION_STORAGE, // RT Beams Delivery Instruction Storage
    uids::HANGING_PROTOCOL_STORAGE,              // Hanging Protocol Storage
    uids::COLOR_PALETTE_STORAGE,                 // Color Palette Storage
    uids::GENERIC_IMPLANT_TEMPLATE_STORAGE,      // Generic Implant Template Storage
    uids::IMPLANT_ASSEMBLY_TEMPLATE_STORAGE,     // Implant Assembly Template Storage
    uids::IMPLANT_TEMPLATE_GROUP_STORAGE,        // Implant Template Group Storage
];

/// Whether `uid` is a standard storage SOP class.
pub fn is_storage_sop_class(uid: &str) -> bool {
    STORAGE_SOP_CLASSES.contains(&trim_uid(uid))
}

/// Strips the padding (NUL or space) that DICOM puts after odd-length UIDs.
pub fn trim_uid(uid: &str) -> &str {
    uid.trim_end_matches(['\0', ' '])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_the_storage_classes_modalities_send() {
        let all = STORAGE_SOP_CLASSES;
        for uid in [
            uids::CT_IMAGE_STORAGE,
            uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
            uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
            uids::OPHTHALMIC_PHOTOGRAPHY8_BIT_IMAGE_STORAGE,
            uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
            uids::COMPREHENSIVE_SR_STORAGE,
            uids::ENCAPSULATED_PDF_STORAGE,
            uids::RT_STRUCTURE_SET_STORAGE,
        ] {
            assert!(all.contains(&uid), "{uid} missing");
        }
        assert!(!is_storage_sop_class(uids::STORAGE_COMMITMENT_PUSH_MODEL));
        assert!(!is_storage_sop_class(uids::VERIFICATION));
        assert!(!is_storage_sop_class(
            uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE
        ));
        assert!(is_storage_sop_class("1.2.840.10008.5.1.4.1.1.2\0"));
        assert!(!is_storage_sop_class(uids::MEDIA_STORAGE_DIRECTORY_STORAGE));
        let dict = dicom_dictionary_std::StandardSopClassDictionary;
        for uid in STORAGE_SOP_CLASSES {
            let entry = dicom_core::dictionary::UidDictionary::by_uid(&dict, uid)
                .unwrap_or_else(|| panic!("{uid} is not a SOP class"));
            assert!(entry.name.contains("Storage"), "{uid}: {}", entry.name);
        }
    }

    #[test]
    fn accepts_padded_transfer_syntax_uids() {
        assert!(is_accepted_transfer_syntax("1.2.840.10008.1.2.1\0"));
        assert!(!is_accepted_transfer_syntax("1.2.840.10008.1.2.4.100"));
    }
}
