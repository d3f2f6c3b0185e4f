//! The content tree of TID 1500, built from a [`MeasurementReport`], and its plain-text
//! rendering.
//!
//! The tree is the templates' structure with the model's values in it; [`crate::dataset`]
//! turns it into Content Sequence items. Building it checks what the templates and the IOD
//! require of the values (point counts, images in the library, code lengths), so a tree that
//! builds writes a valid document.

use std::fmt::Write as _;

use crate::codes::{dcm, sct, umls};
use crate::error::SrError;
use crate::model::{
    Algorithm, Code, Evaluation, FindingSite, GraphicType, GraphicType3d, ImageReference,
    ImageSelection, Measurement, MeasurementGroup, MeasurementReport, NumericValue, Observer,
    Region,
};
use crate::uid::{check_uid, generate_uid};

/// Relationship Type (0040,A010) of a content item to its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relationship {
    /// CONTAINS.
    Contains,
    /// HAS OBS CONTEXT.
    HasObsContext,
    /// HAS CONCEPT MOD.
    HasConceptMod,
    /// INFERRED FROM.
    InferredFrom,
    /// SELECTED FROM.
    SelectedFrom,
}

impl Relationship {
    /// The Relationship Type value.
    pub fn keyword(self) -> &'static str {
        match self {
            Relationship::Contains => "CONTAINS",
            Relationship::HasObsContext => "HAS OBS CONTEXT",
            Relationship::HasConceptMod => "HAS CONCEPT MOD",
            Relationship::InferredFrom => "INFERRED FROM",
            Relationship::SelectedFrom => "SELECTED FROM",
        }
    }
}

/// The value of a content item, by Value Type (0040,A040).
#[derive(Debug, Clone, PartialEq)]
pub enum ContentValue {
    /// CONTAINER, with Continuity of Content SEPARATE (the items are independent statements).
    Container,
    /// TEXT.
    Text(String),
    /// CODE.
    Code(Code),
    /// NUM with its unit.
    Num {
        /// Numeric Value (0040,A30A).
        value: NumericValue,
        /// Measurement Units Code Sequence (0040,08EA).
        unit: Code,
    },
    /// UIDREF.
    UidRef(String),
    /// PNAME.
    PersonName(String),
    /// IMAGE.
    Image {
        /// Referenced SOP Class UID.
        sop_class_uid: String,
        /// Referenced SOP Instance UID.
        sop_instance_uid: String,
        /// Referenced Frame Number.
        frame: Option<u32>,
    },
    /// SCOORD: image coordinates; its child is the IMAGE it is SELECTED FROM.
    Scoord {
        /// Graphic Type.
        graphic_type: &'static str,
        /// Graphic Data, (column, row) pairs flattened.
        data: Vec<f32>,
    },
    /// SCOORD3D: patient coordinates in a frame of reference.
    Scoord3d {
        /// Graphic Type.
        graphic_type: &'static str,
        /// Graphic Data, (x, y, z) triples flattened.
        data: Vec<f32>,
        /// Referenced Frame of Reference UID.
        frame_of_reference_uid: String,
    },
}

impl ContentValue {
    /// The Value Type (0040,A040).
    pub fn value_type(&self) -> &'static str {
        match self {
            ContentValue::Container => "CONTAINER",
            ContentValue::Text(_) => "TEXT",
            ContentValue::Code(_) => "CODE",
            ContentValue::Num { .. } => "NUM",
            ContentValue::UidRef(_) => "UIDREF",
            ContentValue::PersonName(_) => "PNAME",
            ContentValue::Image { .. } => "IMAGE",
            ContentValue::Scoord { .. } => "SCOORD",
            ContentValue::Scoord3d { .. } => "SCOORD3D",
        }
    }
}

/// One content item and its children.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentItem {
    /// Relationship to the parent; `None` only for the root.
    pub relationship: Option<Relationship>,
    /// Concept Name; `None` where the template names none (images in the library, the image
    /// a coordinate is selected from).
    pub concept: Option<Code>,
    /// The value.
    pub value: ContentValue,
    /// Children, in template order.
    pub children: Vec<ContentItem>,
}

impl ContentItem {
    fn new(relationship: Relationship, concept: impl Into<Code>, value: ContentValue) -> Self {
        ContentItem {
            relationship: Some(relationship),
            concept: Some(concept.into()),
            value,
            children: Vec::new(),
        }
    }

    fn container(relationship: Relationship, concept: impl Into<Code>) -> Self {
        ContentItem::new(relationship, concept, ContentValue::Container)
    }

    fn with_children(mut self, children: Vec<ContentItem>) -> Self {
        self.children = children;
        self
    }

    /// Whether this item or a descendant is a SCOORD3D (which needs Comprehensive 3D SR).
    pub fn has_scoord3d(&self) -> bool {
        matches!(self.value, ContentValue::Scoord3d { .. })
            || self.children.iter().any(ContentItem::has_scoord3d)
    }

    /// Every code in this item and its descendants (concept names, values, units).
    pub fn codes(&self) -> Vec<&Code> {
        let mut codes = Vec::new();
        self.collect_codes(&mut codes);
        codes
    }

    fn collect_codes<'a>(&'a self, codes: &mut Vec<&'a Code>) {
        codes.extend(self.concept.as_ref());
        match &self.value {
            ContentValue::Code(code) => codes.push(code),
            ContentValue::Num { unit, .. } => codes.push(unit),
            _ => {}
        }
        for child in &self.children {
            child.collect_codes(codes);
        }
    }

    /// A plain-text rendering of the tree, one item per line, indented by depth; for logs and
    /// tests. The tree holds no Patient module attribute, but free text, tracking
    /// identifiers and observer names appear as given: log it only where they may appear.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out, 0);
        out
    }

    fn render_into(&self, out: &mut String, depth: usize) {
        let indent = "  ".repeat(depth);
        let relationship = self
            .relationship
            .map(|relationship| format!("{} ", relationship.keyword()))
            .unwrap_or_default();
        let concept = self
            .concept
            .as_ref()
            .map(|code| format!(" {}", show_code(code)))
            .unwrap_or_default();
        let value = match &self.value {
            ContentValue::Container => String::new(),
            ContentValue::Text(text) | ContentValue::UidRef(text) => format!(" = {text:?}"),
            ContentValue::PersonName(name) => format!(" = {name}"),
            ContentValue::Code(code) => format!(" = {}", show_code(code)),
            ContentValue::Num { value, unit } => format!(" = {value} {}", unit.value),
            ContentValue::Image {
                sop_class_uid,
                sop_instance_uid,
                frame,
            } => {
                let frame = frame.map(|f| format!(" frame {f}")).unwrap_or_default();
                format!(" = {sop_class_uid} {sop_instance_uid}{frame}")
            }
            ContentValue::Scoord { graphic_type, data }
            | ContentValue::Scoord3d {
                graphic_type, data, ..
            } => format!(" = {graphic_type} {data:?}"),
        };
        let _ = writeln!(
            out,
            "{indent}{relationship}{}{concept}{value}",
            self.value.value_type()
        );
        for child in &self.children {
            child.render_into(out, depth + 1);
        }
    }
}

fn show_code(code: &Code) -> String {
    format!("({}, {}, {:?})", code.value, code.scheme, code.meaning)
}

/// Builds the TID 1500 content tree of a report, checking its values.
pub fn content_tree(
    report: &MeasurementReport,
    uid_root: Option<&str>,
) -> Result<ContentItem, SrError> {
    let builder = TreeBuilder { report, uid_root };
    builder.root()
}

struct TreeBuilder<'a> {
    report: &'a MeasurementReport,
    uid_root: Option<&'a str>,
}

impl TreeBuilder<'_> {
    /// TID 1500 rows 1–12, in the template's order.
    fn root(&self) -> Result<ContentItem, SrError> {
        let report = self.report;
        if report.procedures_reported.is_empty() {
            return Err(SrError::NoProcedureReported);
        }
        let mut children = vec![ContentItem::new(
            Relationship::HasConceptMod,
            dcm::LANGUAGE_OF_CONTENT,
            ContentValue::Code(report.language.code()),
        )];
        for observer in &report.observers {
            children.extend(observer_context(observer)?);
        }
        for procedure in &report.procedures_reported {
            children.push(ContentItem::new(
                Relationship::HasConceptMod,
                dcm::PROCEDURE_REPORTED,
                ContentValue::Code(procedure.clone()),
            ));
        }
        if !report.image_library.is_empty() {
            children.push(image_library(&report.image_library)?);
        }
        // TID 1500 row 6 is mandatory when no other measurement container is present: an
        // empty container says "measured nothing", which is a statement a draft can make.
        let groups = report
            .measurement_groups
            .iter()
            .map(|group| self.measurement_group(group))
            .collect::<Result<Vec<_>, _>>()?;
        children.push(
            ContentItem::container(Relationship::Contains, dcm::IMAGING_MEASUREMENTS)
                .with_children(groups),
        );
        if !report.evaluations.is_empty() {
            let evaluations = report.evaluations.iter().map(evaluation).collect();
            children.push(
                ContentItem::container(Relationship::Contains, umls::QUALITATIVE_EVALUATIONS)
                    .with_children(evaluations),
            );
        }
        let root = ContentItem {
            relationship: None,
            concept: Some(dcm::IMAGING_MEASUREMENT_REPORT.code()),
            value: ContentValue::Container,
            children,
        };
        for code in root.codes() {
            check_code(code)?;
        }
        Ok(root)
    }

    /// TID 1501, rows in the template's order.
    fn measurement_group(&self, group: &MeasurementGroup) -> Result<ContentItem, SrError> {
        let tracking_uid = match &group.tracking_uid {
            Some(uid) => {
                check_uid("tracking UID", uid)?;
                uid.clone()
            }
            None => generate_uid(self.uid_root),
        };
        let mut children = vec![
            ContentItem::new(
                Relationship::Contains,
                dcm::TRACKING_IDENTIFIER,
                ContentValue::Text(group.tracking_identifier.clone()),
            ),
            ContentItem::new(
                Relationship::Contains,
                dcm::TRACKING_UNIQUE_IDENTIFIER,
                ContentValue::UidRef(tracking_uid),
            ),
        ];
        if let Some(finding) = &group.finding {
            children.push(ContentItem::new(
                Relationship::Contains,
                dcm::FINDING,
                ContentValue::Code(finding.clone()),
            ));
        }
        if let Some(algorithm) = &group.algorithm {
            children.extend(algorithm_identification(algorithm));
        }
        if let Some(site) = &group.finding_site {
            children.push(finding_site(site));
        }
        if let Some(region) = &group.region {
            // A group with a region is shaped as TID 1410 (Planar ROI), whose Image Region is
            // one region: several unconnected points are not one (highdicom and dcmjs refuse
            // MULTIPOINT there too).
            let multipoint = match region {
                Region::Image { graphic_type, .. } => *graphic_type == GraphicType::Multipoint,
                Region::Volume { graphic_type, .. } => *graphic_type == GraphicType3d::Multipoint,
            };
            if multipoint {
                return Err(SrError::InvalidRegion {
                    graphic_type: "MULTIPOINT image region",
                    count: region.point_count(),
                });
            }
            children.push(self.region(region, Relationship::Contains, dcm::IMAGE_REGION.code())?);
        }
        for measurement in &group.measurements {
            children.push(self.measurement(measurement)?);
        }
        children.extend(group.evaluations.iter().map(evaluation));
        for comment in &group.comments {
            children.push(ContentItem::new(
                Relationship::Contains,
                dcm::COMMENT,
                ContentValue::Text(comment.clone()),
            ));
        }
        Ok(
            ContentItem::container(Relationship::Contains, dcm::MEASUREMENT_GROUP)
                .with_children(children),
        )
    }

    /// TID 300.
    fn measurement(&self, measurement: &Measurement) -> Result<ContentItem, SrError> {
        let mut children = Vec::new();
        if let Some(method) = &measurement.method {
            children.push(ContentItem::new(
                Relationship::HasConceptMod,
                sct::MEASUREMENT_METHOD,
                ContentValue::Code(method.clone()),
            ));
        }
        if let Some(derivation) = &measurement.derivation {
            children.push(ContentItem::new(
                Relationship::HasConceptMod,
                dcm::DERIVATION,
                ContentValue::Code(derivation.clone()),
            ));
        }
        if let Some(region) = &measurement.region {
            // TID 300 row 10 includes TID 320 with $Purpose "Source of Measurement".
            children.push(self.region(
                region,
                Relationship::InferredFrom,
                dcm::SOURCE_OF_MEASUREMENT.code(),
            )?);
        }
        Ok(ContentItem::new(
            Relationship::Contains,
            measurement.concept.clone(),
            ContentValue::Num {
                value: measurement.value.clone(),
                unit: measurement.unit.clone(),
            },
        )
        .with_children(children))
    }

    /// A SCOORD SELECTED FROM its image, or a SCOORD3D.
    fn region(
        &self,
        region: &Region,
        relationship: Relationship,
        concept: Code,
    ) -> Result<ContentItem, SrError> {
        match region {
            Region::Image {
                graphic_type,
                points,
                image,
            } => {
                if !graphic_type.accepts(points.len()) {
                    return Err(SrError::InvalidRegion {
                        graphic_type: graphic_type.keyword(),
                        count: points.len(),
                    });
                }
                let selected = self.selected_image(image)?;
                Ok(ContentItem::new(
                    relationship,
                    concept,
                    ContentValue::Scoord {
                        graphic_type: graphic_type.keyword(),
                        data: points.iter().flatten().copied().collect(),
                    },
                )
                .with_children(vec![selected]))
            }
            Region::Volume {
                graphic_type,
                points,
                frame_of_reference_uid,
            } => {
                if !graphic_type.accepts(points.len()) {
                    return Err(SrError::InvalidRegion {
                        graphic_type: graphic_type.keyword(),
                        count: points.len(),
                    });
                }
                check_uid("frame of reference UID", frame_of_reference_uid)?;
                Ok(ContentItem::new(
                    relationship,
                    concept,
                    ContentValue::Scoord3d {
                        graphic_type: graphic_type.keyword(),
                        data: points.iter().flatten().copied().collect(),
                        frame_of_reference_uid: frame_of_reference_uid.clone(),
                    },
                ))
            }
        }
    }

    /// The IMAGE a SCOORD is SELECTED FROM; it must be in the library, hence in the evidence.
    fn selected_image(&self, image: &ImageSelection) -> Result<ContentItem, SrError> {
        let entry = self
            .report
            .image_library
            .iter()
            .find(|entry| entry.sop_instance_uid == image.sop_instance_uid)
            .ok_or_else(|| SrError::ImageNotInLibrary {
                sop_instance_uid: image.sop_instance_uid.clone(),
            })?;
        Ok(ContentItem {
            relationship: Some(Relationship::SelectedFrom),
            concept: None,
            value: ContentValue::Image {
                sop_class_uid: entry.sop_class_uid.clone(),
                sop_instance_uid: entry.sop_instance_uid.clone(),
                frame: image.frame,
            },
            children: Vec::new(),
        })
    }
}

/// TID 1002: Observer Type, then TID 1003 (person) or TID 1004 (device).
fn observer_context(observer: &Observer) -> Result<Vec<ContentItem>, SrError> {
    let context = |concept, value| ContentItem::new(Relationship::HasObsContext, concept, value);
    let mut items = Vec::new();
    match observer {
        Observer::Device(device) => {
            check_uid("device observer UID", &device.uid)?;
            items.push(context(
                dcm::OBSERVER_TYPE,
                ContentValue::Code(dcm::DEVICE.code()),
            ));
            items.push(context(
                dcm::DEVICE_OBSERVER_UID,
                ContentValue::UidRef(device.uid.clone()),
            ));
            let optional = [
                (dcm::DEVICE_OBSERVER_NAME, &device.name),
                (dcm::DEVICE_OBSERVER_MANUFACTURER, &device.manufacturer),
                (dcm::DEVICE_OBSERVER_MODEL_NAME, &device.model_name),
            ];
            for (concept, text) in optional {
                if let Some(text) = text {
                    items.push(context(concept, ContentValue::Text(text.clone())));
                }
            }
        }
        Observer::Person(person) => {
            items.push(context(
                dcm::OBSERVER_TYPE,
                ContentValue::Code(dcm::PERSON.code()),
            ));
            items.push(context(
                dcm::PERSON_OBSERVER_NAME,
                ContentValue::PersonName(person.name.clone()),
            ));
            if let Some(organization) = &person.organization {
                items.push(context(
                    dcm::PERSON_OBSERVER_ORGANIZATION_NAME,
                    ContentValue::Text(organization.clone()),
                ));
            }
        }
    }
    Ok(items)
}

/// TID 1600: one Image Library Group per series, then one IMAGE per instance (TID 1601).
fn image_library(entries: &[ImageReference]) -> Result<ContentItem, SrError> {
    let mut groups: Vec<(&str, Vec<ContentItem>)> = Vec::new();
    for entry in entries {
        check_uid("image study instance UID", &entry.study_instance_uid)?;
        check_uid("image series instance UID", &entry.series_instance_uid)?;
        check_uid("image SOP class UID", &entry.sop_class_uid)?;
        check_uid("image SOP instance UID", &entry.sop_instance_uid)?;
        let image = ContentItem {
            relationship: Some(Relationship::Contains),
            concept: None,
            value: ContentValue::Image {
                sop_class_uid: entry.sop_class_uid.clone(),
                sop_instance_uid: entry.sop_instance_uid.clone(),
                frame: None,
            },
            children: Vec::new(),
        };
        match groups
            .iter_mut()
            .find(|(series, _)| *series == entry.series_instance_uid)
        {
            Some((_, images)) => images.push(image),
            None => groups.push((&entry.series_instance_uid, vec![image])),
        }
    }
    let groups = groups
        .into_iter()
        .map(|(_, images)| {
            ContentItem::container(Relationship::Contains, dcm::IMAGE_LIBRARY_GROUP)
                .with_children(images)
        })
        .collect();
    Ok(ContentItem::container(Relationship::Contains, dcm::IMAGE_LIBRARY).with_children(groups))
}

/// TID 4019.
fn algorithm_identification(algorithm: &Algorithm) -> [ContentItem; 2] {
    [
        ContentItem::new(
            Relationship::HasConceptMod,
            dcm::ALGORITHM_NAME,
            ContentValue::Text(algorithm.name.clone()),
        ),
        ContentItem::new(
            Relationship::HasConceptMod,
            dcm::ALGORITHM_VERSION,
            ContentValue::Text(algorithm.version.clone()),
        ),
    ]
}

/// Finding Site with Laterality as its concept modifier (TID 1501 rows 8–9).
fn finding_site(site: &FindingSite) -> ContentItem {
    let laterality = site.laterality.iter().map(|laterality| {
        ContentItem::new(
            Relationship::HasConceptMod,
            sct::LATERALITY,
            ContentValue::Code(laterality.clone()),
        )
    });
    ContentItem::new(
        Relationship::HasConceptMod,
        sct::FINDING_SITE,
        ContentValue::Code(site.site.clone()),
    )
    .with_children(laterality.collect())
}

fn evaluation(evaluation: &Evaluation) -> ContentItem {
    match evaluation {
        Evaluation::Coded { concept, value } => ContentItem::new(
            Relationship::Contains,
            concept.clone(),
            ContentValue::Code(value.clone()),
        ),
        Evaluation::Text { concept, text } => ContentItem::new(
            Relationship::Contains,
            concept.clone(),
            ContentValue::Text(text.clone()),
        ),
    }
}

/// Code Value is SH (16 characters), Coding Scheme Designator SH, Code Meaning LO (64).
fn check_code(code: &Code) -> Result<(), SrError> {
    let fail = |reason| {
        Err(SrError::InvalidCode {
            value: code.value.clone(),
            scheme: code.scheme.clone(),
            meaning: code.meaning.clone(),
            reason,
        })
    };
    if code.value.is_empty() || code.value.chars().count() > 16 {
        return fail("code value must be 1 to 16 characters");
    }
    if code.scheme.is_empty() || code.scheme.chars().count() > 16 {
        return fail("coding scheme designator must be 1 to 16 characters");
    }
    if code.meaning.is_empty() || code.meaning.chars().count() > 64 {
        return fail("code meaning must be 1 to 64 characters");
    }
    if code.value.contains('\\') || code.meaning.contains('\\') {
        return fail("a backslash would split the value");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_checked_against_their_vrs() {
        assert!(check_code(&Code::new("126000", "DCM", "Imaging Measurement Report")).is_ok());
        assert!(check_code(&Code::new("结节", "99MIRA", "中文含义")).is_ok());
        for code in [
            Code::new("", "DCM", "x"),
            Code::new("12345678901234567", "DCM", "x"),
            Code::new("1", "", "x"),
            Code::new("1", "DCM", ""),
            Code::new("1", "DCM", "x".repeat(65)),
            Code::new("1", "DCM", "a\\b"),
        ] {
            assert!(check_code(&code).is_err(), "{code:?}");
        }
    }
}
