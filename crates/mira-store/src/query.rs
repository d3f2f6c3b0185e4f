//! Queries on the catalogue: the attribute matching of PS3.4 C.2.2.2, shared by C-FIND
//! (`mira-net`) and QIDO-RS (`mira-web`).
//!
//! A [`Query`] names a level, matching keys and the attributes to return. Each key's value is
//! parsed by [`Matcher::parse`] according to the attribute's VR:
//!
//! | Value | Matching (PS3.4 C.2.2.2) |
//! |---|---|
//! | empty, or `*` alone | universal: every entity matches, the attribute is returned |
//! | `1.2.3\1.2.4` on a UI attribute | list of UIDs |
//! | `DOE*`, `D?E` on a string VR | wildcard (`*` any run, `?` one character) |
//! | `20200101-20201231`, `-2020…`, `2020…-` on DA/TM/DT | range (inclusive; either end open) |
//! | `CT\MR` on a string VR | any of the values |
//! | anything else | single value: equality (numeric for IS/US/DS) |
//!
//! PN matching is case-insensitive by default, as in Orthanc and most PACS, because names
//! are typed in by hand at modalities; [`QueryOptions::case_insensitive_pn`] turns that off.
//! [`QueryOptions::fuzzy_names`] (QIDO-RS `fuzzymatching=true`) makes each word of a PN
//! value match the start of any name component, ignoring case.
//!
//! Queries may be relational (PS3.4 C.4.1.2.2): keys above the query level are always
//! allowed; keys below it are refused with [`QueryError::BelowLevel`].
//!
//! The catalogue holds the attributes in [`ATTRIBUTES`]; a request for any other attribute is
//! answered by the caller (C-FIND returns it empty, QIDO-RS ignores it with a warning).

use std::fmt;

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use sqlx::Row;

use crate::db::{Backend, SqlBuilder};

use crate::StoreError;
use crate::catalogue::{Catalogue, InstanceLocation};

/// Query/Retrieve level (PS3.4 C.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// PATIENT.
    Patient,
    /// STUDY.
    Study,
    /// SERIES.
    Series,
    /// IMAGE (DIMSE) / instances (QIDO-RS).
    Instance,
}

impl Level {
    /// Parses a Query/Retrieve Level (0008,0052) value.
    pub fn from_dicom(value: &str) -> Option<Level> {
        match value.trim_end_matches(['\0', ' ']).trim_start() {
            "PATIENT" => Some(Level::Patient),
            "STUDY" => Some(Level::Study),
            "SERIES" => Some(Level::Series),
            "IMAGE" => Some(Level::Instance),
            _ => None,
        }
    }

    /// The Query/Retrieve Level value for this level.
    pub fn as_dicom(self) -> &'static str {
        match self {
            Level::Patient => "PATIENT",
            Level::Study => "STUDY",
            Level::Series => "SERIES",
            Level::Instance => "IMAGE",
        }
    }

    /// The unique key of this level.
    pub fn unique_key(self) -> Tag {
        match self {
            Level::Patient => tags::PATIENT_ID,
            Level::Study => tags::STUDY_INSTANCE_UID,
            Level::Series => tags::SERIES_INSTANCE_UID,
            Level::Instance => tags::SOP_INSTANCE_UID,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_dicom())
    }
}

/// How an attribute is held in the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    /// A column: `alias.name`. Text unless the VR is numeric.
    Plain(&'static str),
    /// Computed from lower levels; returned, never matched.
    Computed(&'static str),
    /// Modalities in Study: matched against the study's series.
    ModalitiesInStudy,
}

/// An attribute the catalogue can match on or return.
#[derive(Debug)]
pub struct QueryAttribute {
    /// The tag.
    pub tag: Tag,
    /// The standard keyword.
    pub keyword: &'static str,
    /// The value representation.
    pub vr: VR,
    /// The level it belongs to.
    pub level: Level,
    column: Column,
}

impl QueryAttribute {
    /// Whether a value given for it restricts the matches (computed counts only return).
    pub fn is_matchable(&self) -> bool {
        !matches!(self.column, Column::Computed(_))
    }

    fn select_expr(&self) -> &'static str {
        match self.column {
            Column::Plain(expr) | Column::Computed(expr) => expr,
            Column::ModalitiesInStudy => {
                "(SELECT string_agg(m, '\\' ORDER BY m) FROM (SELECT DISTINCT x.modality AS m \
                 FROM series x WHERE x.study_pk = st.id AND x.modality IS NOT NULL) AS modalities)"
            }
        }
    }
}

macro_rules! attr {
    ($tag:ident, $keyword:literal, $vr:ident, $level:ident, $column:expr) => {
        QueryAttribute {
            tag: tags::$tag,
            keyword: $keyword,
            vr: VR::$vr,
            level: Level::$level,
            column: $column,
        }
    };
}

use Column::{Computed, Plain};

/// Every attribute held by the catalogue: the required and optional keys of PS3.4 C.6.1/C.6.2
/// and the QIDO-RS return attributes of PS3.18 Tables 10.6.3-3 to -5 that mira records.
pub static ATTRIBUTES: &[QueryAttribute] = &[
    // PATIENT
    attr!(
        PATIENT_NAME,
        "PatientName",
        PN,
        Patient,
        Plain("p.patient_name")
    ),
    attr!(PATIENT_ID, "PatientID", LO, Patient, Plain("p.patient_id")),
    attr!(
        ISSUER_OF_PATIENT_ID,
        "IssuerOfPatientID",
        LO,
        Patient,
        Plain("NULLIF(p.issuer_of_patient_id, '')")
    ),
    attr!(
        PATIENT_BIRTH_DATE,
        "PatientBirthDate",
        DA,
        Patient,
        Plain("p.patient_birth_date")
    ),
    attr!(
        PATIENT_SEX,
        "PatientSex",
        CS,
        Patient,
        Plain("p.patient_sex")
    ),
    attr!(
        NUMBER_OF_PATIENT_RELATED_STUDIES,
        "NumberOfPatientRelatedStudies",
        IS,
        Patient,
        Computed("(SELECT count(*) FROM studies x WHERE x.patient_pk = p.id)")
    ),
    attr!(
        NUMBER_OF_PATIENT_RELATED_SERIES,
        "NumberOfPatientRelatedSeries",
        IS,
        Patient,
        Computed(
            "(SELECT count(*) FROM series x JOIN studies y ON x.study_pk = y.id WHERE y.patient_pk = p.id)"
        )
    ),
    attr!(
        NUMBER_OF_PATIENT_RELATED_INSTANCES,
        "NumberOfPatientRelatedInstances",
        IS,
        Patient,
        Computed(
            "(SELECT count(*) FROM instances z JOIN series x ON z.series_pk = x.id JOIN studies y ON x.study_pk = y.id WHERE y.patient_pk = p.id)"
        )
    ),
    // STUDY
    attr!(
        STUDY_INSTANCE_UID,
        "StudyInstanceUID",
        UI,
        Study,
        Plain("st.study_instance_uid")
    ),
    attr!(STUDY_DATE, "StudyDate", DA, Study, Plain("st.study_date")),
    attr!(STUDY_TIME, "StudyTime", TM, Study, Plain("st.study_time")),
    attr!(
        ACCESSION_NUMBER,
        "AccessionNumber",
        SH,
        Study,
        Plain("st.accession_number")
    ),
    attr!(STUDY_ID, "StudyID", SH, Study, Plain("st.study_id")),
    attr!(
        REFERRING_PHYSICIAN_NAME,
        "ReferringPhysicianName",
        PN,
        Study,
        Plain("st.referring_physician_name")
    ),
    attr!(
        STUDY_DESCRIPTION,
        "StudyDescription",
        LO,
        Study,
        Plain("st.study_description")
    ),
    attr!(
        PATIENT_AGE,
        "PatientAge",
        AS,
        Study,
        Plain("st.patient_age")
    ),
    attr!(
        PATIENT_SIZE,
        "PatientSize",
        DS,
        Study,
        Plain("st.patient_size")
    ),
    attr!(
        PATIENT_WEIGHT,
        "PatientWeight",
        DS,
        Study,
        Plain("st.patient_weight")
    ),
    attr!(
        INSTITUTION_NAME,
        "InstitutionName",
        LO,
        Study,
        Plain("st.institution_name")
    ),
    attr!(
        MODALITIES_IN_STUDY,
        "ModalitiesInStudy",
        CS,
        Study,
        Column::ModalitiesInStudy
    ),
    attr!(
        NUMBER_OF_STUDY_RELATED_SERIES,
        "NumberOfStudyRelatedSeries",
        IS,
        Study,
        Computed("(SELECT count(*) FROM series x WHERE x.study_pk = st.id)")
    ),
    attr!(
        NUMBER_OF_STUDY_RELATED_INSTANCES,
        "NumberOfStudyRelatedInstances",
        IS,
        Study,
        Computed(
            "(SELECT count(*) FROM instances z JOIN series x ON z.series_pk = x.id WHERE x.study_pk = st.id)"
        )
    ),
    // SERIES
    attr!(
        SERIES_INSTANCE_UID,
        "SeriesInstanceUID",
        UI,
        Series,
        Plain("se.series_instance_uid")
    ),
    attr!(MODALITY, "Modality", CS, Series, Plain("se.modality")),
    attr!(
        SERIES_NUMBER,
        "SeriesNumber",
        IS,
        Series,
        Plain("se.series_number")
    ),
    attr!(
        SERIES_DESCRIPTION,
        "SeriesDescription",
        LO,
        Series,
        Plain("se.series_description")
    ),
    attr!(
        SERIES_DATE,
        "SeriesDate",
        DA,
        Series,
        Plain("se.series_date")
    ),
    attr!(
        SERIES_TIME,
        "SeriesTime",
        TM,
        Series,
        Plain("se.series_time")
    ),
    attr!(
        BODY_PART_EXAMINED,
        "BodyPartExamined",
        CS,
        Series,
        Plain("se.body_part_examined")
    ),
    attr!(
        PROTOCOL_NAME,
        "ProtocolName",
        LO,
        Series,
        Plain("se.protocol_name")
    ),
    attr!(LATERALITY, "Laterality", CS, Series, Plain("se.laterality")),
    attr!(
        PERFORMED_PROCEDURE_STEP_START_DATE,
        "PerformedProcedureStepStartDate",
        DA,
        Series,
        Plain("se.performed_procedure_step_start_date")
    ),
    attr!(
        MANUFACTURER,
        "Manufacturer",
        LO,
        Series,
        Plain("se.manufacturer")
    ),
    attr!(
        MANUFACTURER_MODEL_NAME,
        "ManufacturerModelName",
        LO,
        Series,
        Plain("se.manufacturer_model_name")
    ),
    attr!(
        STATION_NAME,
        "StationName",
        SH,
        Series,
        Plain("se.station_name")
    ),
    attr!(
        NUMBER_OF_SERIES_RELATED_INSTANCES,
        "NumberOfSeriesRelatedInstances",
        IS,
        Series,
        Computed("(SELECT count(*) FROM instances z WHERE z.series_pk = se.id)")
    ),
    // IMAGE
    attr!(
        SOP_INSTANCE_UID,
        "SOPInstanceUID",
        UI,
        Instance,
        Plain("i.sop_instance_uid")
    ),
    attr!(
        SOP_CLASS_UID,
        "SOPClassUID",
        UI,
        Instance,
        Plain("i.sop_class_uid")
    ),
    attr!(
        INSTANCE_NUMBER,
        "InstanceNumber",
        IS,
        Instance,
        Plain("i.instance_number")
    ),
    attr!(
        AVAILABLE_TRANSFER_SYNTAX_UID,
        "AvailableTransferSyntaxUID",
        UI,
        Instance,
        Plain("i.transfer_syntax_uid")
    ),
    attr!(IMAGE_TYPE, "ImageType", CS, Instance, Plain("i.image_type")),
    attr!(
        ACQUISITION_DATE,
        "AcquisitionDate",
        DA,
        Instance,
        Plain("i.acquisition_date")
    ),
    attr!(
        ACQUISITION_TIME,
        "AcquisitionTime",
        TM,
        Instance,
        Plain("i.acquisition_time")
    ),
    attr!(
        CONTENT_DATE,
        "ContentDate",
        DA,
        Instance,
        Plain("i.content_date")
    ),
    attr!(
        CONTENT_TIME,
        "ContentTime",
        TM,
        Instance,
        Plain("i.content_time")
    ),
    attr!(ROWS, "Rows", US, Instance, Plain("i.rows")),
    attr!(COLUMNS, "Columns", US, Instance, Plain("i.columns")),
    attr!(
        NUMBER_OF_FRAMES,
        "NumberOfFrames",
        IS,
        Instance,
        Plain("i.number_of_frames")
    ),
    attr!(
        BITS_ALLOCATED,
        "BitsAllocated",
        US,
        Instance,
        Plain("i.bits_allocated")
    ),
    attr!(
        PHOTOMETRIC_INTERPRETATION,
        "PhotometricInterpretation",
        CS,
        Instance,
        Plain("i.photometric_interpretation")
    ),
    attr!(
        SLICE_THICKNESS,
        "SliceThickness",
        DS,
        Instance,
        Plain("i.slice_thickness")
    ),
    attr!(
        SLICE_LOCATION,
        "SliceLocation",
        DS,
        Instance,
        Plain("i.slice_location")
    ),
    attr!(
        VIEW_POSITION,
        "ViewPosition",
        CS,
        Instance,
        Plain("i.view_position")
    ),
];

/// The catalogue attribute with this tag.
pub fn attribute_by_tag(tag: Tag) -> Option<&'static QueryAttribute> {
    ATTRIBUTES.iter().find(|a| a.tag == tag)
}

/// The catalogue attribute with this keyword (case-sensitive, as in PS3.6).
pub fn attribute_by_keyword(keyword: &str) -> Option<&'static QueryAttribute> {
    ATTRIBUTES.iter().find(|a| a.keyword == keyword)
}

/// How a key's value matches (PS3.4 C.2.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// Zero-length value or `*`: matches everything.
    Universal,
    /// Equality.
    Single(String),
    /// Any of these values (UID list matching, or a `\`-separated list of single values).
    AnyOf(Vec<String>),
    /// `*` and `?` wildcards.
    Wildcard(String),
    /// Inclusive range; `None` is an open end.
    Range {
        /// Lower bound.
        from: Option<String>,
        /// Upper bound.
        to: Option<String>,
    },
}

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryError {
    /// The catalogue does not hold the attribute.
    #[error("attribute {0} is not supported as a matching key")]
    UnsupportedAttribute(Tag),
    /// The key belongs to a level below the query level.
    #[error(
        "attribute {tag} belongs to the {attribute_level} level, below the query level {query_level}"
    )]
    BelowLevel {
        /// The attribute.
        tag: Tag,
        /// Its level.
        attribute_level: Level,
        /// The query's level.
        query_level: Level,
    },
    /// The value is not valid for the attribute's VR.
    #[error("invalid value for {tag}: {reason}")]
    BadValue {
        /// The attribute.
        tag: Tag,
        /// What is wrong.
        reason: String,
    },
}

impl Matcher {
    /// Parses a matching value for an attribute of `vr`.
    pub fn parse(vr: VR, raw: &str) -> Result<Matcher, String> {
        let value = raw.trim_end_matches(['\0', ' ']).trim_start_matches(' ');
        if value.is_empty() || value == "*" {
            return Ok(Matcher::Universal);
        }
        match vr {
            VR::UI => {
                let uids: Vec<String> = value
                    .split('\\')
                    .map(|u| u.trim_matches(['\0', ' ']).to_string())
                    .filter(|u| !u.is_empty())
                    .collect();
                if let Some(bad) = uids
                    .iter()
                    .find(|u| !u.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
                {
                    return Err(format!("{bad:?} is not a UID"));
                }
                Ok(match uids.len() {
                    0 => Matcher::Universal,
                    1 => Matcher::Single(uids.into_iter().next().unwrap_or_default()),
                    _ => Matcher::AnyOf(uids),
                })
            }
            VR::DA | VR::TM | VR::DT => {
                let well_formed = |s: &str| {
                    s.bytes().all(|b| {
                        b.is_ascii_digit() || b == b'.' || b == b'+' || b == b'-' && vr == VR::DT
                    })
                };
                if let Some((from, to)) = split_range(value, vr) {
                    for end in [from, to] {
                        if !well_formed(end) {
                            return Err(format!("{value:?} is not a {vr} range"));
                        }
                    }
                    if from.is_empty() && to.is_empty() {
                        return Ok(Matcher::Universal);
                    }
                    let bound = |s: &str| (!s.is_empty()).then(|| s.to_string());
                    Ok(Matcher::Range {
                        from: bound(from),
                        to: bound(to),
                    })
                } else if value.contains('\\') {
                    let values: Vec<String> = value.split('\\').map(str::to_string).collect();
                    if values.iter().any(|v| !well_formed(v)) {
                        return Err(format!("{value:?} is not a list of {vr} values"));
                    }
                    Ok(Matcher::AnyOf(values))
                } else if well_formed(value) {
                    Ok(Matcher::Single(value.to_string()))
                } else {
                    Err(format!("{value:?} is not a {vr} value"))
                }
            }
            VR::IS | VR::US | VR::UL | VR::SS | VR::SL | VR::DS | VR::FL | VR::FD => {
                let values: Vec<&str> = value.split('\\').map(str::trim).collect();
                if let Some(bad) = values.iter().find(|v| v.parse::<f64>().is_err()) {
                    return Err(format!("{bad:?} is not a number"));
                }
                Ok(if values.len() == 1 {
                    Matcher::Single(values[0].to_string())
                } else {
                    Matcher::AnyOf(values.into_iter().map(str::to_string).collect())
                })
            }
            _ => {
                if value.contains('\\') {
                    Ok(Matcher::AnyOf(
                        value.split('\\').map(str::to_string).collect(),
                    ))
                } else if value.contains(['*', '?']) {
                    Ok(Matcher::Wildcard(value.to_string()))
                } else {
                    Ok(Matcher::Single(value.to_string()))
                }
            }
        }
    }
}

/// Splits `from-to` for DA and TM; DT values carry `-` in UTC offsets, so a DT range is
/// split on the `-` that is followed by nothing or by a full date.
fn split_range(value: &str, vr: VR) -> Option<(&str, &str)> {
    if vr != VR::DT {
        return value.split_once('-');
    }
    value
        .char_indices()
        .filter(|(_, c)| *c == '-')
        .find_map(|(i, _)| {
            let (from, to) = (&value[..i], &value[i + 1..]);
            let date_like = |s: &str| {
                s.is_empty() || s.len() >= 4 && s[..4].bytes().all(|b| b.is_ascii_digit())
            };
            (date_like(to) && (from.is_empty() || from.len() >= 4)).then_some((from, to))
        })
}

/// Options of matching that differ between deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryOptions {
    /// Match PN values without regard to case (the default).
    pub case_insensitive_pn: bool,
    /// Each word of a PN value matches the start of any name component.
    pub fuzzy_names: bool,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            case_insensitive_pn: true,
            fuzzy_names: false,
        }
    }
}

/// A query on the catalogue.
#[derive(Debug, Clone)]
pub struct Query {
    /// The level of the entities returned.
    pub level: Level,
    /// Matching keys other than universal ones.
    pub keys: Vec<(Tag, Matcher)>,
    /// Attributes to return, in order; unique keys of this and higher levels are added.
    pub return_tags: Vec<Tag>,
    /// Most matches to return.
    pub limit: Option<u32>,
    /// Matches to skip.
    pub offset: u32,
    /// Matching options.
    pub options: QueryOptions,
    /// The sites whose studies the asker may see.
    pub sites: SiteFilter,
}

/// Which sites' studies a query or retrieve may reach: site isolation, applied in the SQL of
/// every query and retrieve so that no caller can forget it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "sites", content = "ids")]
pub enum SiteFilter {
    /// Every study, including those of no site (imported without one). For regional roles
    /// granted everything, and for mira's own work (QC, analysis).
    #[default]
    All,
    /// Only studies of these sites (`sites.id`); studies of no site are not included.
    Only(Vec<i64>),
}

impl SiteFilter {
    /// Whether a study of `site` (its `site_pk`) is within the filter.
    pub fn allows(&self, site: Option<i64>) -> bool {
        match self {
            SiteFilter::All => true,
            SiteFilter::Only(ids) => site.is_some_and(|s| ids.contains(&s)),
        }
    }
}

/// One attribute of a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchValue {
    /// The tag.
    pub tag: Tag,
    /// Its VR.
    pub vr: VR,
    /// The value (multiple values joined with `\`), `None` when absent or empty.
    pub value: Option<String>,
}

/// One entity that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// Returned attributes, in the order of [`Query::return_tags`].
    pub values: Vec<MatchValue>,
}

impl Match {
    /// The value of `tag`, if returned and present.
    pub fn get(&self, tag: Tag) -> Option<&str> {
        self.values
            .iter()
            .find(|v| v.tag == tag)
            .and_then(|v| v.value.as_deref())
    }
}

/// The instances a retrieve acts on: a study, or one of its series, or one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Study Instance UID.
    pub study_instance_uid: String,
    /// Series Instance UID, to narrow to a series.
    pub series_instance_uid: Option<String>,
    /// SOP Instance UID, to narrow to an instance.
    pub sop_instance_uid: Option<String>,
}

impl Query {
    /// A query at `level` with no keys: it matches every entity of the level.
    pub fn new(level: Level) -> Self {
        Query {
            level,
            keys: Vec::new(),
            return_tags: Vec::new(),
            limit: None,
            offset: 0,
            options: QueryOptions::default(),
            sites: SiteFilter::All,
        }
    }

    /// Adds a key with a raw DICOM value: it restricts the matches unless universal, and is
    /// returned.
    pub fn key(&mut self, tag: Tag, raw: &str) -> Result<&mut Self, QueryError> {
        let attribute = self.check(tag)?;
        let matcher = Matcher::parse(attribute.vr, raw)
            .map_err(|reason| QueryError::BadValue { tag, reason })?;
        self.key_matcher(tag, matcher)
    }

    /// Adds a key with a parsed matcher.
    pub fn key_matcher(&mut self, tag: Tag, matcher: Matcher) -> Result<&mut Self, QueryError> {
        let attribute = self.check(tag)?;
        if matcher != Matcher::Universal && attribute.is_matchable() {
            self.keys.push((tag, matcher));
        }
        self.include(tag)
    }

    /// Asks for an attribute to be returned.
    pub fn include(&mut self, tag: Tag) -> Result<&mut Self, QueryError> {
        self.check(tag)?;
        if !self.return_tags.contains(&tag) {
            self.return_tags.push(tag);
        }
        Ok(self)
    }

    fn check(&self, tag: Tag) -> Result<&'static QueryAttribute, QueryError> {
        let attribute = attribute_by_tag(tag).ok_or(QueryError::UnsupportedAttribute(tag))?;
        if attribute.level > self.level {
            return Err(QueryError::BelowLevel {
                tag,
                attribute_level: attribute.level,
                query_level: self.level,
            });
        }
        Ok(attribute)
    }

    /// The query for a retrieve scope, at the instance level.
    pub fn for_scope(scope: &Scope) -> Query {
        let mut query = Query::new(Level::Instance);
        query.keys.push((
            tags::STUDY_INSTANCE_UID,
            Matcher::Single(scope.study_instance_uid.clone()),
        ));
        if let Some(series) = &scope.series_instance_uid {
            query
                .keys
                .push((tags::SERIES_INSTANCE_UID, Matcher::Single(series.clone())));
        }
        if let Some(sop) = &scope.sop_instance_uid {
            query
                .keys
                .push((tags::SOP_INSTANCE_UID, Matcher::Single(sop.clone())));
        }
        query
    }

    /// Attributes returned: the unique keys of the levels down to the query's (Patient ID at
    /// every level), then the requested ones.
    fn returned_attributes(&self) -> Vec<&'static QueryAttribute> {
        let mut out: Vec<&'static QueryAttribute> = Vec::new();
        let mut push = |a: &'static QueryAttribute| {
            if !out.iter().any(|o| o.tag == a.tag) {
                out.push(a);
            }
        };
        for tag in &self.return_tags {
            if let Some(a) = attribute_by_tag(*tag) {
                push(a);
            }
        }
        for level in [Level::Patient, Level::Study, Level::Series, Level::Instance] {
            if level <= self.level
                && let Some(a) = attribute_by_tag(level.unique_key())
            {
                push(a);
            }
        }
        out
    }

    fn push_from(&self, sql: &mut SqlBuilder) {
        sql.push(match self.level {
            Level::Patient => " FROM patients p",
            Level::Study => " FROM studies st JOIN patients p ON st.patient_pk = p.id",
            Level::Series => {
                " FROM series se JOIN studies st ON se.study_pk = st.id \
                 JOIN patients p ON st.patient_pk = p.id"
            }
            Level::Instance => {
                " FROM instances i JOIN series se ON i.series_pk = se.id \
                 JOIN studies st ON se.study_pk = st.id JOIN patients p ON st.patient_pk = p.id"
            }
        });
    }

    fn push_where(&self, sql: &mut SqlBuilder, backend: Backend) -> Result<(), QueryError> {
        sql.push(" WHERE TRUE");
        if let SiteFilter::Only(ids) = &self.sites {
            if ids.is_empty() {
                sql.push(" AND FALSE");
            } else {
                sql.push(match self.level {
                    // a patient is visible through a visible study
                    Level::Patient => {
                        " AND p.id IN (SELECT x.patient_pk FROM studies x WHERE x.site_pk IN ("
                    }
                    _ => " AND st.site_pk IN (",
                });
                for (n, id) in ids.iter().enumerate() {
                    if n > 0 {
                        sql.push(", ");
                    }
                    sql.push_bind(*id);
                }
                sql.push(match self.level {
                    Level::Patient => "))",
                    _ => ")",
                });
            }
        }
        for (tag, matcher) in &self.keys {
            let attribute = self.check(*tag)?;
            if !attribute.is_matchable() || *matcher == Matcher::Universal {
                continue;
            }
            sql.push(" AND ");
            match attribute.column {
                Column::ModalitiesInStudy => {
                    // `IN`, not a correlated `EXISTS`: SQLite 3.51 (bundled by sqlx) turns
                    // that EXISTS into a join whose OFFSET counts rows the EXISTS then drops,
                    // so pages overlapped (tests/query_paging.rs)
                    sql.push("st.id IN (SELECT x.study_pk FROM series x WHERE ");
                    push_condition(
                        sql,
                        backend,
                        "x.modality",
                        attribute.vr,
                        matcher,
                        self.options,
                    );
                    sql.push(")");
                }
                Column::Plain(expr) => {
                    push_condition(sql, backend, expr, attribute.vr, matcher, self.options);
                }
                Column::Computed(_) => unreachable!("computed attributes are not matched"),
            }
        }
        Ok(())
    }

    fn order_column(&self) -> &'static str {
        match self.level {
            Level::Patient => "p.id",
            Level::Study => "st.id",
            Level::Series => "se.id",
            Level::Instance => "i.id",
        }
    }

    fn push_paging(&self, sql: &mut SqlBuilder) {
        sql.push(" ORDER BY ").push(self.order_column());
        if self.limit.is_some() || self.offset > 0 {
            sql.push(" LIMIT ")
                .push_bind(self.limit.map_or(i64::MAX, i64::from))
                .push(" OFFSET ")
                .push_bind(i64::from(self.offset));
        }
    }
}

fn is_numeric(vr: VR) -> bool {
    matches!(
        vr,
        VR::IS | VR::US | VR::UL | VR::SS | VR::SL | VR::DS | VR::FL | VR::FD
    )
}

/// Appends the SQL condition of one key.
///
/// Case rules are the same on both engines: values match exactly, except that Patient's Name
/// ignores ASCII case when the options say so. SQLite says it with `COLLATE NOCASE`, `LIKE`
/// (which ignores ASCII case) and `GLOB` (which does not); PostgreSQL with `lower()`,
/// `ILIKE` and `LIKE`.
fn push_condition(
    sql: &mut SqlBuilder,
    backend: Backend,
    expr: &str,
    vr: VR,
    matcher: &Matcher,
    options: QueryOptions,
) {
    let ignore_case = vr == VR::PN && options.case_insensitive_pn;
    match matcher {
        Matcher::Universal => {
            sql.push("TRUE");
        }
        Matcher::Single(value) if vr == VR::PN && options.fuzzy_names => {
            push_fuzzy_name(sql, backend, expr, value);
        }
        Matcher::Single(value) if is_numeric(vr) => {
            sql.push(format_args!("CAST({expr} AS DOUBLE PRECISION) = "))
                .push_bind(value.trim().parse::<f64>().unwrap_or(f64::NAN));
        }
        Matcher::Single(value) if ignore_case => match backend {
            Backend::Sqlite => {
                sql.push(expr)
                    .push(" = ")
                    .push_bind(value.clone())
                    .push(" COLLATE NOCASE");
            }
            Backend::Postgres => {
                sql.push(format_args!("lower({expr}) = lower("))
                    .push_bind(value.clone())
                    .push(")");
            }
        },
        Matcher::Single(value) => {
            sql.push(expr).push(" = ").push_bind(value.clone());
        }
        Matcher::AnyOf(values) => {
            sql.push("(");
            for (n, value) in values.iter().enumerate() {
                if n > 0 {
                    sql.push(" OR ");
                }
                let single = Matcher::parse(vr, value).unwrap_or(Matcher::Single(value.clone()));
                let single = match single {
                    // a list of lists cannot be: keep the value literal
                    Matcher::AnyOf(_) => Matcher::Single(value.clone()),
                    other => other,
                };
                push_condition(sql, backend, expr, vr, &single, options);
            }
            sql.push(")");
        }
        Matcher::Wildcard(pattern) if vr == VR::PN && options.fuzzy_names => {
            push_fuzzy_name(sql, backend, expr, pattern.trim_end_matches('*'));
        }
        Matcher::Wildcard(pattern) => match (backend, ignore_case) {
            // SQLite's LIKE ignores ASCII case, its GLOB does not
            (Backend::Sqlite, true) | (Backend::Postgres, false) => {
                sql.push(expr)
                    .push(" LIKE ")
                    .push_bind(like_pattern(pattern))
                    .push(" ESCAPE '\\'");
            }
            (Backend::Sqlite, false) => {
                sql.push(expr)
                    .push(" GLOB ")
                    .push_bind(glob_pattern(pattern));
            }
            (Backend::Postgres, true) => {
                sql.push(expr)
                    .push(" ILIKE ")
                    .push_bind(like_pattern(pattern))
                    .push(" ESCAPE '\\'");
            }
        },
        Matcher::Range { from, to } => {
            sql.push("(").push(expr).push(" IS NOT NULL");
            // DA/TM/DT values compare as text: fixed-width digits, most significant first
            if let Some(from) = from {
                sql.push(" AND ")
                    .push(expr)
                    .push(" >= ")
                    .push_bind(from.clone());
            }
            if let Some(to) = to {
                // a DT upper bound names a moment to its precision: `20200102` includes the
                // whole day. DA is fixed-width, and TM compares as text as Orthanc does.
                let to = if vr == VR::DT {
                    format!("{to}\u{10FFFF}")
                } else {
                    to.clone()
                };
                sql.push(" AND ").push(expr).push(" <= ").push_bind(to);
            }
            sql.push(")");
        }
    }
}

/// Fuzzy PN matching: every word of `value` must start some component of the name.
fn push_fuzzy_name(sql: &mut SqlBuilder, backend: Backend, expr: &str, value: &str) {
    let words: Vec<&str> = value
        .split(|c: char| c == '^' || c == '=' || c.is_whitespace() || c == '*' || c == '?')
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        sql.push("TRUE");
        return;
    }
    // like SQLite's LIKE, ignore ASCII case
    let like = match backend {
        Backend::Sqlite => "LIKE",
        Backend::Postgres => "ILIKE",
    };
    sql.push("(");
    for (n, word) in words.iter().enumerate() {
        if n > 0 {
            sql.push(" AND ");
        }
        sql.push(format_args!(
            "(' ' || replace(replace(replace({expr}, '^', ' '), '=', ' '), ',', ' ')) {like} "
        ))
        .push_bind(format!("% {}%", escape_like(word)))
        .push(" ESCAPE '\\'");
    }
    sql.push(")");
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `*`/`?` → LIKE's `%`/`_`, escaping LIKE's own specials.
fn like_pattern(pattern: &str) -> String {
    escape_like(pattern).replace('*', "%").replace('?', "_")
}

/// `*`/`?` are GLOB's too; only `[` needs escaping.
fn glob_pattern(pattern: &str) -> String {
    pattern.replace('[', "[[]")
}

impl Catalogue {
    /// Runs a query; matches come in the order entities were first stored.
    pub async fn query(&self, query: &Query) -> Result<Vec<Match>, QueryFailure> {
        let attributes = query.returned_attributes();
        let mut sql = SqlBuilder::new("SELECT ");
        for (n, a) in attributes.iter().enumerate() {
            if n > 0 {
                sql.push(", ");
            }
            sql.push(format_args!("CAST({} AS TEXT)", a.select_expr()));
        }
        query.push_from(&mut sql);
        if query.limit.is_some() || query.offset > 0 {
            // The page's keys first, then the returned attributes for those rows only:
            // otherwise the counts and Modalities in Study are computed for every match of a
            // dense name prefix before LIMIT cuts (25 ms → 1 ms for 1,691 matches at 1M).
            let key = query.order_column();
            sql.push(format_args!(" WHERE {key} IN (SELECT {key}"));
            query.push_from(&mut sql);
            query.push_where(&mut sql, self.backend())?;
            query.push_paging(&mut sql);
            sql.push(format_args!(") ORDER BY {key}"));
        } else {
            query.push_where(&mut sql, self.backend())?;
            query.push_paging(&mut sql);
        }
        let rows = sql
            .build()
            .fetch_all(self.pool())
            .await
            .map_err(StoreError::from)?;
        Ok(rows
            .into_iter()
            .map(|row| Match {
                values: attributes
                    .iter()
                    .enumerate()
                    .map(|(n, a)| MatchValue {
                        tag: a.tag,
                        vr: a.vr,
                        value: row
                            .get::<Option<String>, _>(n)
                            .filter(|v| !v.is_empty())
                            .map(|v| tidy_number(a.vr, v)),
                    })
                    .collect(),
            })
            .collect())
    }

    /// Counts the matches of a query, ignoring its paging.
    pub async fn count(&self, query: &Query) -> Result<u64, QueryFailure> {
        let mut sql = SqlBuilder::new("SELECT count(*)");
        query.push_from(&mut sql);
        query.push_where(&mut sql, self.backend())?;
        let n: i64 = sql
            .build()
            .fetch_one(self.pool())
            .await
            .map_err(StoreError::from)?
            .get(0);
        Ok(n as u64)
    }

    /// Where the instances under the matches of `query` are, whatever its level: a C-MOVE or
    /// C-GET at the study level retrieves every instance of the matched studies. In study,
    /// series and instance number order.
    pub async fn locate_matches(
        &self,
        query: &Query,
    ) -> Result<Vec<InstanceLocation>, QueryFailure> {
        let mut at_instances = query.clone();
        at_instances.level = Level::Instance;
        at_instances.limit = None;
        at_instances.offset = 0;
        let mut sql = SqlBuilder::new(
            "SELECT i.sop_instance_uid, i.blob_key, i.dataset_digest, i.dataset_offset, i.size_bytes, \
             i.transfer_syntax_uid, i.sop_class_uid, se.series_instance_uid, st.study_instance_uid",
        );
        at_instances.push_from(&mut sql);
        at_instances.push_where(&mut sql, self.backend())?;
        sql.push(" ORDER BY st.id, se.series_number, se.id, i.instance_number, i.id");
        let rows = sql
            .build()
            .fetch_all(self.pool())
            .await
            .map_err(StoreError::from)?;
        Ok(rows
            .into_iter()
            .map(|r| InstanceLocation::from_row(&r))
            .collect())
    }

    /// Where the instances of a study, series or instance are.
    pub async fn locate(&self, scope: &Scope) -> Result<Vec<InstanceLocation>, StoreError> {
        self.locate_within(scope, &SiteFilter::All).await
    }

    /// [`locate`](Self::locate), restricted to the studies of `sites`: a study outside them
    /// is as absent as an unknown one.
    pub async fn locate_within(
        &self,
        scope: &Scope,
        sites: &SiteFilter,
    ) -> Result<Vec<InstanceLocation>, StoreError> {
        let mut query = Query::for_scope(scope);
        query.sites = sites.clone();
        self.locate_matches(&query).await.map_err(|e| match e {
            QueryFailure::Store(e) => e,
            QueryFailure::Query(e) => unreachable!("a scope's keys are always valid: {e}"),
        })
    }
}

/// SQLite renders a REAL as `70.0` (PostgreSQL as `70`); DICOM DS/IS values are written without a needless `.0`.
fn tidy_number(vr: VR, value: String) -> String {
    if is_numeric(vr)
        && let Some(whole) = value.strip_suffix(".0")
    {
        return whole.to_string();
    }
    value
}

/// A query that could not run.
#[derive(Debug, thiserror::Error)]
pub enum QueryFailure {
    /// The query is not valid.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The catalogue failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_by_vr() {
        let table: &[(VR, &str, Matcher)] = &[
            (VR::PN, "", Matcher::Universal),
            (VR::PN, "*", Matcher::Universal),
            (VR::PN, "DOE^JOHN", Matcher::Single("DOE^JOHN".into())),
            (VR::PN, "DOE*", Matcher::Wildcard("DOE*".into())),
            (VR::LO, "A?C", Matcher::Wildcard("A?C".into())),
            (
                VR::CS,
                "CT\\MR",
                Matcher::AnyOf(vec!["CT".into(), "MR".into()]),
            ),
            (VR::UI, "1.2.3", Matcher::Single("1.2.3".into())),
            (
                VR::UI,
                "1.2.3\\1.2.4",
                Matcher::AnyOf(vec!["1.2.3".into(), "1.2.4".into()]),
            ),
            (VR::UI, "1.2.3\0", Matcher::Single("1.2.3".into())),
            (
                VR::DA,
                "20200101-20201231",
                Matcher::Range {
                    from: Some("20200101".into()),
                    to: Some("20201231".into()),
                },
            ),
            (
                VR::DA,
                "-20201231",
                Matcher::Range {
                    from: None,
                    to: Some("20201231".into()),
                },
            ),
            (
                VR::DA,
                "20200101-",
                Matcher::Range {
                    from: Some("20200101".into()),
                    to: None,
                },
            ),
            (VR::DA, "-", Matcher::Universal),
            (VR::DA, "20200101", Matcher::Single("20200101".into())),
            (
                VR::TM,
                "0800-1200",
                Matcher::Range {
                    from: Some("0800".into()),
                    to: Some("1200".into()),
                },
            ),
            (
                VR::DT,
                "20200101120000+0800-20200102",
                Matcher::Range {
                    from: Some("20200101120000+0800".into()),
                    to: Some("20200102".into()),
                },
            ),
            (VR::IS, "3", Matcher::Single("3".into())),
            (VR::IS, "3 ", Matcher::Single("3".into())),
        ];
        for (vr, raw, expected) in table {
            assert_eq!(
                Matcher::parse(*vr, raw).as_ref(),
                Ok(expected),
                "{vr} {raw:?}"
            );
        }
    }

    #[test]
    fn bad_values_are_refused() {
        for (vr, raw) in [
            (VR::UI, "1.2.*"),
            (VR::UI, "abc"),
            (VR::DA, "2020*"),
            (VR::DA, "yesterday"),
            (VR::DA, "2020-01-01-2021"),
            (VR::IS, "three"),
        ] {
            assert!(
                Matcher::parse(vr, raw).is_err(),
                "{vr} {raw:?} must be refused"
            );
        }
    }

    #[test]
    fn keys_below_the_level_are_refused() {
        let mut query = Query::new(Level::Study);
        assert!(query.key(tags::PATIENT_NAME, "DOE*").is_ok());
        assert!(matches!(
            query.key(tags::MODALITY, "CT"),
            Err(QueryError::BelowLevel { .. })
        ));
        assert!(matches!(
            query.key(tags::PIXEL_DATA, ""),
            Err(QueryError::UnsupportedAttribute(_))
        ));
    }

    #[test]
    fn wildcards_escape_sql_specials() {
        assert_eq!(like_pattern("A_B%C*D?"), "A\\_B\\%C%D_");
        assert_eq!(glob_pattern("[x]*"), "[[]x]*");
    }

    #[test]
    fn every_attribute_is_in_the_dictionary_with_its_keyword() {
        use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
        let dict = dicom_dictionary_std::StandardDataDictionary;
        for a in ATTRIBUTES {
            let entry = dict
                .by_tag(a.tag)
                .unwrap_or_else(|| panic!("{}", a.keyword));
            assert_eq!(entry.alias(), a.keyword);
        }
    }
}
