//! A mira-models classifier run over a dataset of images: its class probabilities per item,
//! ready for [`crate::classify::evaluate`].

use std::path::PathBuf;

use crate::classify::ClassificationInput;
use crate::dataset::Dataset;

/// Why a model could not be run over a dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// An item lacks what a classification run needs.
    #[error("dataset item '{id}': {reason}")]
    Item {
        /// The item.
        id: String,
        /// What it lacks.
        reason: String,
    },
    /// An image cannot be decoded.
    #[error("{path}: {source}")]
    Image {
        /// The image.
        path: PathBuf,
        /// Why.
        source: image::ImageError,
    },
    /// The model failed on an item.
    #[error("item '{id}': {source}")]
    Model {
        /// The item.
        id: String,
        /// Why.
        source: mira_models::RunError,
    },
}

/// Classifies every item of `dataset` with `model`.
pub fn classify_dataset(
    model: &mira_models::Model,
    dataset: &Dataset,
) -> Result<ClassificationInput, RunError> {
    let classes = model.manifest().classes.len();
    let mut input = ClassificationInput {
        classes,
        ..ClassificationInput::default()
    };
    for item in &dataset.items {
        let missing = |reason: &str| RunError::Item {
            id: item.id.clone(),
            reason: reason.to_string(),
        };
        let label = item.label.ok_or_else(|| missing("no label"))?;
        if label >= classes {
            return Err(missing(&format!(
                "label {label}, but the model has {classes} classes"
            )));
        }
        let path = dataset
            .root
            .join(item.image.as_ref().ok_or_else(|| missing("no image"))?);
        let image = image::open(&path).map_err(|source| RunError::Image {
            path: path.clone(),
            source,
        })?;
        let result = model.classify(&image).map_err(|source| RunError::Model {
            id: item.id.clone(),
            source,
        })?;
        input.ids.push(item.id.clone());
        input.truth.push(label);
        input.probabilities.push(
            result
                .classes
                .iter()
                .map(|c| f64::from(c.probability))
                .collect(),
        );
        input.attributes.push(item.attributes.clone());
    }
    Ok(input)
}
