//! `mira ls`.

use std::io::Write;
use std::process::ExitCode;

use crate::Format;
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// What to list.
    #[arg(value_enum, default_value = "studies")]
    level: Level,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Level {
    Patients,
    Studies,
    Series,
}

pub async fn run(config: Config, args: LsArgs) -> anyhow::Result<ExitCode> {
    let catalogue = config.open_catalogue(true).await?;
    let mut out = std::io::stdout().lock();
    match (args.level, args.format) {
        (Level::Patients, Format::Json) => {
            serde_json::to_writer_pretty(&mut out, &catalogue.list_patients().await?)?
        }
        (Level::Studies, Format::Json) => {
            serde_json::to_writer_pretty(&mut out, &catalogue.list_studies().await?)?
        }
        (Level::Series, Format::Json) => {
            serde_json::to_writer_pretty(&mut out, &catalogue.list_series().await?)?
        }
        (Level::Patients, Format::Table) => {
            let rows = catalogue.list_patients().await?;
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.patient_id.clone(),
                        r.patient_name.clone().unwrap_or_default(),
                        r.patient_birth_date.clone().unwrap_or_default(),
                        r.patient_sex.clone().unwrap_or_default(),
                        r.studies.to_string(),
                    ]
                })
                .collect();
            write_table(
                &mut out,
                &["PATIENT ID", "NAME", "BIRTH DATE", "SEX", "STUDIES"],
                &table,
            )?;
        }
        (Level::Studies, Format::Table) => {
            let rows = catalogue.list_studies().await?;
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.study_instance_uid.clone(),
                        r.patient_id.clone(),
                        r.study_date.clone().unwrap_or_default(),
                        r.modalities_in_study.clone().unwrap_or_default(),
                        r.study_description.clone().unwrap_or_default(),
                        r.series.to_string(),
                        r.instances.to_string(),
                    ]
                })
                .collect();
            write_table(
                &mut out,
                &[
                    "STUDY UID",
                    "PATIENT ID",
                    "DATE",
                    "MODALITIES",
                    "DESCRIPTION",
                    "SERIES",
                    "INSTANCES",
                ],
                &table,
            )?;
        }
        (Level::Series, Format::Table) => {
            let rows = catalogue.list_series().await?;
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.series_instance_uid.clone(),
                        r.study_instance_uid.clone(),
                        r.modality.clone().unwrap_or_default(),
                        r.series_number.map(|n| n.to_string()).unwrap_or_default(),
                        r.series_description.clone().unwrap_or_default(),
                        r.instances.to_string(),
                    ]
                })
                .collect();
            write_table(
                &mut out,
                &[
                    "SERIES UID",
                    "STUDY UID",
                    "MODALITY",
                    "NUMBER",
                    "DESCRIPTION",
                    "INSTANCES",
                ],
                &table,
            )?;
        }
    }
    if args.format == Format::Json {
        writeln!(out)?;
    }
    catalogue.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Left-aligned columns separated by two spaces.
pub fn write_table(
    out: &mut impl Write,
    header: &[&str],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}
