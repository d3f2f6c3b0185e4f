//! Query/Retrieve (PS3.4 Annex C): identifiers to catalogue queries and matches back to
//! identifiers. The exchange of messages is in `scp.rs`; the sending of instances in
//! `retrieve.rs`.

use dicom_core::header::Header;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR, value::Value};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use mira_store::query::{self, Level, Match, Query, QueryError, QueryOptions};

use crate::dimse::status;

/// The two information models mira serves (PS3.4 C.6.1, C.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Model {
    PatientRoot,
    StudyRoot,
}

/// The DIMSE service of a Q/R SOP class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Find,
    Move,
    Get,
}

/// The Q/R SOP classes mira accepts.
pub(crate) const QUERY_RETRIEVE_SOP_CLASSES: &[&str] = &[
    uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
    uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE,
    uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
    uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
    uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE,
    uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
];

/// The model and service of a Q/R SOP class UID.
pub(crate) fn model_of(sop_class_uid: &str) -> Option<(Model, Service)> {
    Some(match mira_dicom::syntax::trim_uid(sop_class_uid) {
        uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND => {
            (Model::PatientRoot, Service::Find)
        }
        uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE => {
            (Model::PatientRoot, Service::Move)
        }
        uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET => {
            (Model::PatientRoot, Service::Get)
        }
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND => (Model::StudyRoot, Service::Find),
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE => (Model::StudyRoot, Service::Move),
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET => (Model::StudyRoot, Service::Get),
        _ => return None,
    })
}

/// A request that fails before any match: the status and the Error Comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: u16,
    pub comment: String,
}

impl Refusal {
    fn identifier(comment: impl Into<String>) -> Self {
        Refusal {
            status: status::IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
            comment: comment.into(),
        }
    }
}

/// A parsed identifier: the query to run and the attributes to answer with, in the order the
/// requestor sent them (those the catalogue does not hold come back empty).
#[derive(Debug)]
pub(crate) struct FindRequest {
    pub query: Query,
    pub requested: Vec<(Tag, VR)>,
}

/// Reads the Query/Retrieve Level and the keys of an identifier into a catalogue query.
///
/// Keys the catalogue does not hold, and keys of levels below the query level, do not restrict
/// the matches; they are returned empty, as PS3.4 C.2.2.1 allows for optional keys.
pub(crate) fn find_request(
    identifier: &InMemDicomObject,
    model: Model,
    options: QueryOptions,
) -> Result<FindRequest, Refusal> {
    let level_text = identifier
        .get(tags::QUERY_RETRIEVE_LEVEL)
        .and_then(|e| e.to_str().ok())
        .ok_or_else(|| Refusal::identifier("Query/Retrieve Level missing"))?;
    let level = Level::from_dicom(&level_text)
        .ok_or_else(|| Refusal::identifier("Query/Retrieve Level not recognised"))?;
    if model == Model::StudyRoot && level == Level::Patient {
        return Err(Refusal::identifier(
            "PATIENT level is not part of the Study Root model",
        ));
    }
    let mut query = Query::new(level);
    query.options = options;
    let mut requested = Vec::new();
    for element in identifier {
        let tag = element.tag();
        if tag.group() <= 0x0002
            || tag == tags::QUERY_RETRIEVE_LEVEL
            || tag == tags::SPECIFIC_CHARACTER_SET
            || tag.element() == 0x0000
        {
            continue;
        }
        let vr = element.vr();
        requested.push((tag, vr));
        if let Value::Sequence(_) = element.value() {
            continue;
        }
        let raw = element.to_str().map(|s| s.into_owned()).unwrap_or_default();
        match query.key(tag, &raw) {
            Ok(_) => {}
            Err(QueryError::BadValue { reason, .. }) => {
                return Err(Refusal::identifier(format!("{tag}: {reason}")));
            }
            Err(QueryError::UnsupportedAttribute(_)) | Err(QueryError::BelowLevel { .. }) => {
                tracing::debug!(%tag, "key not matched: not held at this level");
            }
            Err(e) => return Err(Refusal::identifier(e.to_string())),
        }
    }
    Ok(FindRequest { query, requested })
}

/// Reads the unique keys of a C-MOVE or C-GET identifier (PS3.4 C.4.2.2.1): the level and
/// the UIDs (or Patient ID) of what to retrieve.
pub(crate) fn retrieve_query(
    identifier: &InMemDicomObject,
    model: Model,
) -> Result<Query, Refusal> {
    let request = find_request(identifier, model, QueryOptions::default())?;
    let mut query = request.query;
    // a retrieve names entities by their unique keys; other keys are not matching keys
    let unique: Vec<Tag> = [Level::Patient, Level::Study, Level::Series, Level::Instance]
        .into_iter()
        .filter(|l| *l <= query.level)
        .map(Level::unique_key)
        .collect();
    query.keys.retain(|(tag, _)| unique.contains(tag));
    if !query
        .keys
        .iter()
        .any(|(tag, _)| *tag == query.level.unique_key())
    {
        return Err(Refusal::identifier(format!(
            "the {} level needs its unique key",
            query.level
        )));
    }
    Ok(query)
}

/// The identifier of one match (PS3.4 C.4.1.3.2): the requested attributes in order, the
/// level, and the AE title the instances can be retrieved from.
pub(crate) fn match_identifier(
    m: &Match,
    request: &FindRequest,
    retrieve_ae_title: &str,
) -> InMemDicomObject {
    let mut obj = InMemDicomObject::new_empty();
    let mut non_ascii = false;
    for (tag, vr) in &request.requested {
        let value = m.get(*tag);
        non_ascii |= value.is_some_and(|v| !v.is_ascii());
        let vr = query::attribute_by_tag(*tag).map_or(*vr, |a| a.vr);
        obj.put(element(*tag, vr, value));
    }
    obj.put(DataElement::new(
        tags::QUERY_RETRIEVE_LEVEL,
        VR::CS,
        PrimitiveValue::from(request.query.level.as_dicom()),
    ));
    obj.put(DataElement::new(
        tags::RETRIEVE_AE_TITLE,
        VR::AE,
        PrimitiveValue::from(retrieve_ae_title),
    ));
    if non_ascii {
        // the catalogue holds text as UTF-8
        obj.put(DataElement::new(
            tags::SPECIFIC_CHARACTER_SET,
            VR::CS,
            PrimitiveValue::from("ISO_IR 192"),
        ));
    }
    obj
}

fn element(tag: Tag, vr: VR, value: Option<&str>) -> DataElement<InMemDicomObject> {
    let Some(value) = value else {
        return if vr == VR::SQ {
            DataElement::new(
                tag,
                VR::SQ,
                Value::from(dicom_core::value::DataSetSequence::<InMemDicomObject>::empty()),
            )
        } else {
            DataElement::new(tag, vr, PrimitiveValue::Empty)
        };
    };
    let parts = || value.split('\\').map(str::trim);
    let primitive = match vr {
        VR::US => parts()
            .map(|v| v.parse::<u16>())
            .collect::<Result<Vec<_>, _>>()
            .map(|v| PrimitiveValue::U16(v.into()))
            .ok(),
        VR::UL => parts()
            .map(|v| v.parse::<u32>())
            .collect::<Result<Vec<_>, _>>()
            .map(|v| PrimitiveValue::U32(v.into()))
            .ok(),
        VR::SQ => None,
        _ => Some(PrimitiveValue::Strs(parts().map(str::to_string).collect())),
    };
    DataElement::new(tag, vr, primitive.unwrap_or(PrimitiveValue::Empty))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identifier(level: &str, keys: &[(Tag, VR, &str)]) -> InMemDicomObject {
        let mut obj = InMemDicomObject::new_empty();
        obj.put(DataElement::new(
            tags::QUERY_RETRIEVE_LEVEL,
            VR::CS,
            PrimitiveValue::from(level),
        ));
        for (tag, vr, value) in keys {
            obj.put(DataElement::new(*tag, *vr, PrimitiveValue::from(*value)));
        }
        obj
    }

    #[test]
    fn identifiers_become_queries() {
        let id = identifier(
            "STUDY",
            &[
                (tags::PATIENT_NAME, VR::PN, "DOE*"),
                (tags::STUDY_INSTANCE_UID, VR::UI, ""),
                (tags::STUDY_DATE, VR::DA, "20200101-"),
                (tags::MODALITY, VR::CS, "CT"),
                (tags::PERFORMING_PHYSICIAN_NAME, VR::PN, "X"),
            ],
        );
        let request = find_request(&id, Model::StudyRoot, QueryOptions::default()).unwrap();
        assert_eq!(request.query.level, Level::Study);
        let matched: Vec<Tag> = request.query.keys.iter().map(|(t, _)| *t).collect();
        // identifiers are read in tag order
        assert_eq!(matched, vec![tags::STUDY_DATE, tags::PATIENT_NAME]);
        // below-level and unknown keys are answered, empty
        assert_eq!(request.requested.len(), 5);
    }

    #[test]
    fn bad_identifiers_are_refused_with_a900() {
        for (id, model) in [
            (InMemDicomObject::new_empty(), Model::StudyRoot),
            (identifier("PATIENT", &[]), Model::StudyRoot),
            (identifier("WARD", &[]), Model::PatientRoot),
            (
                identifier("STUDY", &[(tags::STUDY_DATE, VR::DA, "last week")]),
                Model::StudyRoot,
            ),
        ] {
            let refusal = find_request(&id, model, QueryOptions::default()).unwrap_err();
            assert_eq!(refusal.status, 0xA900, "{}", refusal.comment);
        }
    }

    #[test]
    fn retrieves_need_the_unique_key_of_their_level() {
        let id = identifier("SERIES", &[(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3")]);
        assert!(retrieve_query(&id, Model::StudyRoot).is_err());
        let id = identifier(
            "SERIES",
            &[
                (tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3"),
                (tags::SERIES_INSTANCE_UID, VR::UI, "1.2.3.4\\1.2.3.5"),
                (tags::MODALITY, VR::CS, "CT"),
            ],
        );
        let query = retrieve_query(&id, Model::StudyRoot).unwrap();
        assert_eq!(query.keys.len(), 2);
    }
}
