//! Datasets with ground truth: images (or scans) with their classes, boxes or nodule centres
//! and diameters, and subgroup attributes; imported from JSON or CSV, versioned by a content
//! hash (the items and the bytes of every image they name), their provenance recorded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::InputError;
use crate::table::Table;

/// A ground-truth box in pixels of the image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthBox {
    /// Class index.
    pub class: usize,
    /// Left, top, right, bottom in pixels.
    pub bounds: [f64; 4],
}

/// A ground-truth nodule: centre in world mm and diameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthNodule {
    /// Centre, world coordinates in mm.
    pub centre: [f64; 3],
    /// Diameter in mm.
    pub diameter_mm: f64,
}

/// One case of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Case identifier (unique in the dataset).
    pub id: String,
    /// The image, relative to the dataset file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<PathBuf>,
    /// The true class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<usize>,
    /// Boxes (detection on images).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boxes: Vec<TruthBox>,
    /// Nodules (detection on CT).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodules: Vec<TruthNodule>,
    /// Subgroup attributes: sex, age, site, manufacturer, model.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// Where a dataset came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Who made it, from what (as the dataset file says).
    pub source: String,
    /// Its licence.
    pub licence: String,
    /// The file it was imported from.
    pub imported_from: PathBuf,
    /// SHA-256 of that file.
    pub file_sha256: String,
}

/// The dataset file's JSON form.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatasetFile {
    name: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    licence: String,
    #[serde(default)]
    classes: Vec<String>,
    items: Vec<Item>,
}

/// A dataset with its version and provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Its name, which gates refer to.
    pub name: String,
    /// Content hash: SHA-256 over the items and every image's bytes.
    pub version: String,
    /// Class names, in class-index order (may be empty).
    pub classes: Vec<String>,
    /// Its cases.
    pub items: Vec<Item>,
    /// Where it came from.
    pub provenance: Provenance,
    /// The directory images are relative to.
    pub root: PathBuf,
}

impl Dataset {
    /// Imports a dataset from `path`: JSON (`{"name", "source", "licence", "classes",
    /// "items": [...]}`) or CSV (`id,label` with optional `image` and subgroup columns; the
    /// name is the file's stem).
    pub fn import(path: &Path) -> Result<Dataset, InputError> {
        let bytes = std::fs::read(path).map_err(|source| InputError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let file_sha256 = hex::encode(Sha256::digest(&bytes));
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let file = if is_json {
            serde_json::from_slice::<DatasetFile>(&bytes)
                .map_err(|e| InputError::line(path, e.line(), e.to_string()))?
        } else {
            read_csv(path)?
        };
        let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        for item in &file.items {
            if !seen.insert(item.id.as_str()) {
                return Err(InputError::file(
                    path,
                    format!("item id '{}' appears twice", item.id),
                ));
            }
            if let Some(label) = item.label
                && !file.classes.is_empty()
                && label >= file.classes.len()
            {
                return Err(InputError::file(
                    path,
                    format!(
                        "item '{}': label {label} but {} classes",
                        item.id,
                        file.classes.len()
                    ),
                ));
            }
        }
        // the version covers what the items say and the bytes of every image they name
        let mut hasher = Sha256::new();
        hasher.update(
            serde_json::to_vec(&(&file.name, &file.classes, &file.items)).unwrap_or_default(),
        );
        for item in &file.items {
            if let Some(image) = &item.image {
                let image_path = root.join(image);
                let image_bytes =
                    std::fs::read(&image_path).map_err(|source| InputError::Read {
                        path: image_path.clone(),
                        source,
                    })?;
                hasher.update(Sha256::digest(&image_bytes));
            }
        }
        Ok(Dataset {
            name: file.name,
            version: hex::encode(hasher.finalize()),
            classes: file.classes,
            items: file.items,
            provenance: Provenance {
                source: file.source,
                licence: file.licence,
                imported_from: path.to_path_buf(),
                file_sha256,
            },
            root,
        })
    }
}

fn read_csv(path: &Path) -> Result<DatasetFile, InputError> {
    let table = Table::read(path, true)?;
    let id = table.column("id")?;
    let label = table.optional_column("label");
    let image = table.optional_column("image");
    let mut items = Vec::new();
    for (line, fields) in &table.rows {
        let label = match label {
            Some(c) => {
                let text = fields[c].trim();
                Some(text.parse::<usize>().map_err(|_| {
                    InputError::line(path, *line, format!("label '{text}' is not a class number"))
                })?)
            }
            None => None,
        };
        let attributes = table
            .header
            .iter()
            .enumerate()
            .filter(|(_, name)| !["id", "label", "image"].contains(&name.as_str()))
            .filter(|(c, _)| !fields[*c].trim().is_empty())
            .map(|(c, name)| (name.clone(), fields[c].trim().to_string()))
            .collect();
        items.push(Item {
            id: fields[id].trim().to_string(),
            image: image.map(|c| PathBuf::from(fields[c].trim())),
            label,
            boxes: Vec::new(),
            nodules: Vec::new(),
            attributes,
        });
    }
    Ok(DatasetFile {
        name: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        source: String::new(),
        licence: String::new(),
        classes: Vec::new(),
        items,
    })
}
