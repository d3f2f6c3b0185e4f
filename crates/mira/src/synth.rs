//! `mira synth`: fills the catalogue with synthetic content for benchmarks (hidden from
//! `--help`; documented in `bench/README.md`).
//!
//! 1. Writes real DICOM files: one template instance per modality and the metadata series
//!    (one CT series of `--metadata-series-instances` slices), and stores them through the
//!    normal import path, so they are ordinary instances with their own blobs.
//! 2. Writes `studies × series × instances` synthetic rows with
//!    `Catalogue::insert_synthetic`, each instance pointing at its modality's template blob.
//!
//! `--files-out DIR` keeps the real files, for storing the same instances into a peer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use indicatif::{ProgressBar, ProgressStyle};
use mira_dicom::InstanceAttributes;
use mira_ingest::Outcome;
use mira_store::synth::{MODALITIES, ModalityProfile, Synth, SynthSpec, TemplateBlob};

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Synthetic studies.
    #[arg(long, default_value_t = 10_000)]
    studies: u32,
    /// Series in each study.
    #[arg(long, default_value_t = 4)]
    series_per_study: u32,
    /// Instances in each series.
    #[arg(long, default_value_t = 25)]
    instances_per_series: u32,
    /// Seed: the same seed gives the same patients, studies and UIDs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Instances of the metadata series (one CT series stored as real files; 0 for none).
    #[arg(long, default_value_t = 1000)]
    metadata_series_instances: u32,
    /// Keep the real files (templates and the metadata series) in this directory.
    #[arg(long)]
    files_out: Option<PathBuf>,
}

pub async fn run(config: Config, args: SynthArgs) -> anyhow::Result<ExitCode> {
    let spec = SynthSpec {
        studies: args.studies,
        series_per_study: args.series_per_study,
        instances_per_series: args.instances_per_series,
        seed: args.seed,
    };
    if spec.series_per_study == 0 || spec.instances_per_series == 0 {
        bail!("--series-per-study and --instances-per-series must be positive");
    }
    let synth = Synth::new(spec);
    let ingest = config.open_ingest().await?;
    let catalogue = ingest.archive().catalogue.clone();
    let first = synth.instance(&synth.study(0), 0, 0).0;
    if spec.studies > 0 && catalogue.instance_location(&first).await?.is_some() {
        bail!(
            "{} holds the synthetic studies of seed {} already",
            config.data_dir.display(),
            spec.seed
        );
    }

    // 1. real files through the import path
    let started = Instant::now();
    let (dir, keep) = match &args.files_out {
        Some(dir) => (dir.clone(), true),
        None => (
            std::env::temp_dir().join(format!("mira-synth-{}", std::process::id())),
            false,
        ),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut files = Vec::new();
    for profile in MODALITIES {
        let attrs = synth.template_instance(profile);
        let path = dir.join(format!("template-{}.dcm", profile.modality));
        write_instance(&path, &attrs, profile)?;
        files.push(path);
    }
    let study = synth.metadata_study();
    for i in 0..args.metadata_series_instances {
        let attrs = synth.metadata_series_instance(&study, i);
        let path = dir.join(format!("metadata-series-{:04}.dcm", i + 1));
        write_instance(&path, &attrs, &MODALITIES[0])?;
        files.push(path);
    }
    for path in &files {
        let receipt = ingest
            .import_file(path)
            .await
            .with_context(|| format!("cannot store {}", path.display()))?;
        if !matches!(receipt.outcome, Outcome::Stored | Outcome::Duplicate) {
            bail!("{} was not stored: {:?}", path.display(), receipt.outcome);
        }
    }
    if !keep {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    let real_secs = started.elapsed().as_secs_f64();

    let mut templates = HashMap::new();
    for profile in MODALITIES {
        let uid = synth.template_instance(profile).sop_instance_uid;
        let location = catalogue
            .instance_location(&uid)
            .await?
            .context("a template just stored is not in the catalogue")?;
        templates.insert(
            profile.modality,
            TemplateBlob {
                blob_key: location.blob_key,
                dataset_offset: location.dataset_offset,
                size_bytes: location.size_bytes,
                transfer_syntax_uid: location.transfer_syntax_uid,
            },
        );
    }

    // 2. synthetic rows
    let progress = ProgressBar::new(spec.instances());
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} instances {per_sec} {eta}")
            .expect("valid template"),
    );
    let started = Instant::now();
    let summary = catalogue
        .insert_synthetic(&synth, &templates, |n| progress.set_position(n))
        .await?;
    progress.finish_and_clear();
    let synth_secs = started.elapsed().as_secs_f64();
    let total = catalogue.count_instances().await?;
    ingest.archive().catalogue.close().await;
    println!(
        "real files: {} ({} templates, metadata series of {}) stored in {real_secs:.1} s",
        files.len(),
        MODALITIES.len(),
        args.metadata_series_instances,
    );
    println!(
        "synthetic: {} patients, {} studies, {} series, {} instances in {synth_secs:.1} s ({:.0} instances/s)",
        summary.patients,
        summary.studies,
        summary.series,
        summary.instances,
        summary.instances as f64 / synth_secs.max(1e-9),
    );
    println!("catalogue: {total} instances");
    println!(
        "metadata series: study {} series {}",
        study.study.study_instance_uid,
        synth.series(&study, 1).series_instance_uid
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `attrs` as an Explicit VR Little Endian file with a generated image of the
/// profile's geometry.
fn write_instance(
    path: &Path,
    attrs: &InstanceAttributes,
    profile: &ModalityProfile,
) -> anyhow::Result<()> {
    let mut obj = InMemDicomObject::new_empty();
    let mut put = |tag: Tag, vr: VR, value: Option<&str>| {
        if let Some(v) = value {
            obj.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
        }
    };
    let (p, st, se, i) = (&attrs.patient, &attrs.study, &attrs.series, &attrs.instance);
    let num = |x: Option<f64>| x.map(|v| v.to_string());
    let int = |x: Option<i64>| x.map(|v| v.to_string());
    put(
        tags::SPECIFIC_CHARACTER_SET,
        VR::CS,
        attrs.specific_character_set.as_deref(),
    );
    put(tags::IMAGE_TYPE, VR::CS, i.image_type.as_deref());
    put(tags::SOP_CLASS_UID, VR::UI, Some(&i.sop_class_uid));
    put(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        Some(&attrs.sop_instance_uid),
    );
    put(tags::STUDY_DATE, VR::DA, st.study_date.as_deref());
    put(tags::SERIES_DATE, VR::DA, se.series_date.as_deref());
    put(
        tags::ACQUISITION_DATE,
        VR::DA,
        i.acquisition_date.as_deref(),
    );
    put(tags::CONTENT_DATE, VR::DA, i.content_date.as_deref());
    put(tags::STUDY_TIME, VR::TM, st.study_time.as_deref());
    put(tags::SERIES_TIME, VR::TM, se.series_time.as_deref());
    put(
        tags::ACQUISITION_TIME,
        VR::TM,
        i.acquisition_time.as_deref(),
    );
    put(tags::CONTENT_TIME, VR::TM, i.content_time.as_deref());
    put(
        tags::ACCESSION_NUMBER,
        VR::SH,
        st.accession_number.as_deref(),
    );
    put(tags::MODALITY, VR::CS, se.modality.as_deref());
    put(tags::MANUFACTURER, VR::LO, se.manufacturer.as_deref());
    put(
        tags::INSTITUTION_NAME,
        VR::LO,
        st.institution_name.as_deref(),
    );
    put(
        tags::REFERRING_PHYSICIAN_NAME,
        VR::PN,
        st.referring_physician_name.as_deref(),
    );
    put(tags::STATION_NAME, VR::SH, se.station_name.as_deref());
    put(
        tags::STUDY_DESCRIPTION,
        VR::LO,
        st.study_description.as_deref(),
    );
    put(
        tags::SERIES_DESCRIPTION,
        VR::LO,
        se.series_description.as_deref(),
    );
    put(
        tags::MANUFACTURER_MODEL_NAME,
        VR::LO,
        se.manufacturer_model_name.as_deref(),
    );
    put(tags::PATIENT_NAME, VR::PN, p.patient_name.as_deref());
    put(tags::PATIENT_ID, VR::LO, Some(&p.patient_id));
    put(
        tags::PATIENT_BIRTH_DATE,
        VR::DA,
        p.patient_birth_date.as_deref(),
    );
    put(tags::PATIENT_SEX, VR::CS, p.patient_sex.as_deref());
    put(tags::PATIENT_AGE, VR::AS, st.patient_age.as_deref());
    put(tags::PATIENT_SIZE, VR::DS, num(st.patient_size).as_deref());
    put(
        tags::PATIENT_WEIGHT,
        VR::DS,
        num(st.patient_weight).as_deref(),
    );
    put(
        tags::BODY_PART_EXAMINED,
        VR::CS,
        se.body_part_examined.as_deref(),
    );
    put(
        tags::SLICE_THICKNESS,
        VR::DS,
        num(i.slice_thickness).as_deref(),
    );
    put(tags::KVP, VR::DS, num(i.kvp).as_deref());
    put(
        tags::DEVICE_SERIAL_NUMBER,
        VR::LO,
        se.device_serial_number.as_deref(),
    );
    put(tags::PROTOCOL_NAME, VR::LO, se.protocol_name.as_deref());
    put(tags::VIEW_POSITION, VR::CS, i.view_position.as_deref());
    put(
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        Some(&st.study_instance_uid),
    );
    put(
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        Some(&se.series_instance_uid),
    );
    put(tags::STUDY_ID, VR::SH, st.study_id.as_deref());
    put(
        tags::SERIES_NUMBER,
        VR::IS,
        int(se.series_number).as_deref(),
    );
    put(
        tags::INSTANCE_NUMBER,
        VR::IS,
        int(i.instance_number).as_deref(),
    );
    put(
        tags::IMAGE_POSITION_PATIENT,
        VR::DS,
        i.image_position_patient.as_deref(),
    );
    put(
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        i.image_orientation_patient.as_deref(),
    );
    put(tags::LATERALITY, VR::CS, se.laterality.as_deref());
    put(
        tags::SLICE_LOCATION,
        VR::DS,
        num(i.slice_location).as_deref(),
    );
    put(
        tags::PERFORMED_PROCEDURE_STEP_START_DATE,
        VR::DA,
        se.performed_procedure_step_start_date.as_deref(),
    );
    put(tags::PIXEL_SPACING, VR::DS, i.pixel_spacing.as_deref());
    let rgb = profile.photometric_interpretation == "RGB";
    put(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        Some(profile.photometric_interpretation),
    );
    if profile.modality == "CT" {
        put(tags::RESCALE_INTERCEPT, VR::DS, Some("-1024"));
        put(tags::RESCALE_SLOPE, VR::DS, Some("1"));
        put(tags::WINDOW_CENTER, VR::DS, Some("-600"));
        put(tags::WINDOW_WIDTH, VR::DS, Some("1500"));
    }
    if let Some(ctdi) = i.ctdi_vol {
        obj.put(DataElement::new(
            tags::CTD_IVOL,
            VR::FD,
            PrimitiveValue::from(ctdi),
        ));
    }
    let u16_of = |tag: Tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    let bits = profile.bits_allocated as u16;
    obj.put(u16_of(tags::SAMPLES_PER_PIXEL, if rgb { 3 } else { 1 }));
    if rgb {
        obj.put(u16_of(tags::PLANAR_CONFIGURATION, 0));
    }
    obj.put(u16_of(tags::ROWS, profile.rows as u16));
    obj.put(u16_of(tags::COLUMNS, profile.columns as u16));
    obj.put(u16_of(tags::BITS_ALLOCATED, bits));
    obj.put(u16_of(tags::BITS_STORED, if bits == 16 { 12 } else { 8 }));
    obj.put(u16_of(tags::HIGH_BIT, if bits == 16 { 11 } else { 7 }));
    obj.put(u16_of(tags::PIXEL_REPRESENTATION, 0));
    obj.put(pixel_data(profile, i.instance_number.unwrap_or(1)));

    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .media_storage_sop_class_uid(i.sop_class_uid.as_str())
                .media_storage_sop_instance_uid(attrs.sop_instance_uid.as_str())
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .implementation_class_uid(mira_dicom::part10::IMPLEMENTATION_CLASS_UID)
                .implementation_version_name(mira_dicom::part10::IMPLEMENTATION_VERSION_NAME),
        )
        .context("cannot build the file meta group")?;
    file.write_to_file(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// A disc phantom whose radius changes with the slice: plausible to look at, cheap to make.
fn pixel_data(profile: &ModalityProfile, slice: i64) -> DataElement<InMemDicomObject> {
    let (rows, cols) = (profile.rows as usize, profile.columns as usize);
    let radius = (rows.min(cols) as f64 / 2.5) * (1.0 - (slice % 200) as f64 / 400.0);
    let inside = |r: usize, c: usize| {
        let (dy, dx) = (r as f64 - rows as f64 / 2.0, c as f64 - cols as f64 / 2.0);
        dx * dx + dy * dy < radius * radius
    };
    if profile.bits_allocated == 16 {
        let mut px = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                // CT: air (-1000 HU) outside, soft tissue (40 HU) inside, rescaled by +1024
                px.push(if inside(r, c) { 1064u16 } else { 24 });
            }
        }
        DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(px.into()))
    } else {
        let samples = if profile.photometric_interpretation == "RGB" {
            3
        } else {
            1
        };
        let mut px = Vec::with_capacity(rows * cols * samples);
        for r in 0..rows {
            for c in 0..cols {
                let v = if inside(r, c) { 160u8 } else { 8 };
                for s in 0..samples {
                    px.push(if s == 0 { v } else { v / 2 });
                }
            }
        }
        DataElement::new(tags::PIXEL_DATA, VR::OB, PrimitiveValue::U8(px.into()))
    }
}
