//! QIDO-RS (PS3.18 §10.6): searches for studies, series and instances on the catalogue
//! (`mira_store::query`), answered as a DICOM JSON array.
//!
//! | Query parameter | Meaning |
//! |---|---|
//! | `{keyword}=value`, `{gggg eeee}=value` | matching key (PS3.4 C.2.2.2: single value, `*`/`?` wildcards, `a-b` ranges on dates and times, lists of UIDs or values separated by `,` or `\`) |
//! | `includefield=a,b` or `includefield=all` | attributes to return beyond the defaults of PS3.18 Table 10.6.3-3 to -5 |
//! | `limit`, `offset` | paging; `limit` is at most `[http.dicomweb] qido_max_limit` and defaults to `qido_default_limit` |
//! | `fuzzymatching=true` | each word of a person name matches the start of a name component, when `[http.dicomweb] fuzzy_matching` is on |
//!
//! A key or a value the catalogue cannot match is a 400 problem; an `includefield` it does not
//! hold is ignored with a `Warning` header, as is `fuzzymatching` when it is off. When more
//! matches exist than the server's limit let through, a `Warning` header says so.

use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dicom_core::dictionary::DataDictionary;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use mira_store::query::{ATTRIBUTES, attribute_by_keyword, attribute_by_tag};
use mira_store::{Level, Match, Query, QueryError, QueryFailure};
use serde_json::{Map, Value, json};

use super::{accepted, base_url, check_uid, retrieve_url};
use crate::{Problem, WebState};

/// Default return attributes per level (PS3.18 Tables 10.6.3-3, -4 and -5, as far as the
/// catalogue holds them); Retrieve URL and Instance Availability are added to each match.
const STUDY_DEFAULTS: &[Tag] = &[
    tags::STUDY_DATE,
    tags::STUDY_TIME,
    tags::ACCESSION_NUMBER,
    tags::MODALITIES_IN_STUDY,
    tags::REFERRING_PHYSICIAN_NAME,
    tags::PATIENT_NAME,
    tags::PATIENT_ID,
    tags::PATIENT_BIRTH_DATE,
    tags::PATIENT_SEX,
    tags::STUDY_INSTANCE_UID,
    tags::STUDY_ID,
    tags::STUDY_DESCRIPTION,
    tags::NUMBER_OF_STUDY_RELATED_SERIES,
    tags::NUMBER_OF_STUDY_RELATED_INSTANCES,
];
const SERIES_DEFAULTS: &[Tag] = &[
    tags::MODALITY,
    tags::SERIES_DESCRIPTION,
    tags::SERIES_INSTANCE_UID,
    tags::SERIES_NUMBER,
    tags::PERFORMED_PROCEDURE_STEP_START_DATE,
    tags::NUMBER_OF_SERIES_RELATED_INSTANCES,
];
const INSTANCE_DEFAULTS: &[Tag] = &[
    tags::SOP_CLASS_UID,
    tags::SOP_INSTANCE_UID,
    tags::INSTANCE_NUMBER,
    tags::ROWS,
    tags::COLUMNS,
    tags::BITS_ALLOCATED,
    tags::NUMBER_OF_FRAMES,
];

/// `GET /dicom-web/studies`.
pub async fn search_studies(
    state: State<WebState>,
    query: UrlQuery<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    search(state, Level::Study, None, None, query, headers).await
}

/// `GET /dicom-web/series`.
pub async fn search_all_series(
    state: State<WebState>,
    query: UrlQuery<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    search(state, Level::Series, None, None, query, headers).await
}

/// `GET /dicom-web/instances`.
pub async fn search_all_instances(
    state: State<WebState>,
    query: UrlQuery<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    search(state, Level::Instance, None, None, query, headers).await
}

/// `GET /dicom-web/studies/{study}/series`.
pub async fn search_study_series(
    state: State<WebState>,
    Path(study): Path<String>,
    query: UrlQuery<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    search(state, Level::Series, Some(study), None, query, headers).await
}

/// `GET /dicom-web/studies/{study}/instances`.
pub async fn search_study_instances(
    state: State<WebState>,
    Path(study): Path<String>,
    query: UrlQuery<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    search(state, Level::Instance, Some(study), None, query, headers).await
}

/// `GET /dicom-web/studies/{study}/series/{series}/instances`.
pub async fn search_series_instances(
    state: State<WebState>,
    Path((study, series)): Path<(String, String)>,
    query: UrlQuery<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    search(
        state,
        Level::Instance,
        Some(study),
        Some(series),
        query,
        headers,
    )
    .await
}

async fn search(
    State(state): State<WebState>,
    level: Level,
    study: Option<String>,
    series: Option<String>,
    UrlQuery(params): UrlQuery<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    search_inner(&state, level, study, series, &params, &headers)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// A parsed QIDO-RS request.
#[derive(Debug)]
struct Search {
    query: Query,
    /// Whether `limit` came from the client (and was within the maximum).
    client_limit: bool,
    warnings: Vec<String>,
}

/// Names an attribute by keyword or 8 hex digits.
fn attribute_tag(name: &str) -> Result<Tag, Problem> {
    if name.contains('.') {
        return Err(Problem::bad_request(format!(
            "{name}: matching on attributes inside sequences is not supported"
        ))
        .private());
    }
    StandardDataDictionary
        .parse_tag(name)
        .ok_or_else(|| Problem::bad_request(format!("{name} is not a DICOM attribute")).private())
}

fn query_problem(e: QueryError) -> Problem {
    // a bad value is quoted back to the client; it may be a patient's, so not logged
    Problem::bad_request(e.to_string()).private()
}

fn parse_search(
    config: &super::DicomWebConfig,
    level: Level,
    study: Option<&str>,
    series: Option<&str>,
    params: &[(String, String)],
) -> Result<Search, Problem> {
    let mut query = Query::new(level);
    let mut warnings = Vec::new();
    let mut limit: Option<u32> = None;
    let defaults = match level {
        Level::Study | Level::Patient => STUDY_DEFAULTS,
        Level::Series => SERIES_DEFAULTS,
        Level::Instance => INSTANCE_DEFAULTS,
    };
    for tag in defaults {
        query.include(*tag).map_err(query_problem)?;
    }
    if let Some(study) = study {
        check_uid(study, "Study Instance UID")?;
        query
            .key(tags::STUDY_INSTANCE_UID, study)
            .map_err(query_problem)?;
    }
    if let Some(series) = series {
        check_uid(series, "Series Instance UID")?;
        query
            .key(tags::SERIES_INSTANCE_UID, series)
            .map_err(query_problem)?;
    }
    for (name, value) in params {
        match name.as_str() {
            "limit" => {
                limit = Some(value.trim().parse().map_err(|_| {
                    Problem::bad_request("limit is a number of results (0 or more)")
                })?);
            }
            "offset" => {
                query.offset = value.trim().parse().map_err(|_| {
                    Problem::bad_request("offset is a number of results to skip (0 or more)")
                })?;
            }
            "fuzzymatching" => {
                let on = match value.trim() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(Problem::bad_request("fuzzymatching is true or false")),
                };
                if on && !config.fuzzy_matching {
                    warnings
                        .push("fuzzy matching is not enabled: names were matched as given".into());
                }
                query.options.fuzzy_names = on && config.fuzzy_matching;
            }
            "includefield" => {
                for field in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                    if field == "all" {
                        for attribute in ATTRIBUTES.iter().filter(|a| a.level <= level) {
                            query.include(attribute.tag).map_err(query_problem)?;
                        }
                        continue;
                    }
                    let tag = attribute_tag(field)?;
                    if tag == tags::RETRIEVE_URL || tag == tags::INSTANCE_AVAILABILITY {
                        continue;
                    }
                    match query.include(tag) {
                        Ok(_) => {}
                        Err(e @ QueryError::UnsupportedAttribute(_))
                        | Err(e @ QueryError::BelowLevel { .. }) => {
                            warnings.push(format!("includefield {field} ignored: {e}"))
                        }
                        Err(e) => return Err(query_problem(e)),
                    }
                }
            }
            key => {
                let tag = attribute_tag(key)?;
                let Some(attribute) = attribute_by_tag(tag) else {
                    let name = attribute_by_keyword(key).map_or(key, |a| a.keyword);
                    return Err(Problem::bad_request(format!(
                        "{name} is not supported as a matching key"
                    )));
                };
                // PS3.18 8.3.4.1: in a URL, a list of values (UID list matching, several
                // modalities) is separated by commas; DICOM separates them by `\`. Names
                // keep their commas ("DOE, JOHN" is how some sites write them).
                let value = if attribute.vr == dicom_core::VR::PN {
                    value.to_string()
                } else {
                    value.replace(',', "\\")
                };
                query.key(tag, &value).map_err(query_problem)?;
            }
        }
    }
    let client_limit = limit.is_some_and(|l| l <= config.qido_max_limit);
    query.limit = Some(
        limit
            .unwrap_or(config.qido_default_limit)
            .min(config.qido_max_limit),
    );
    Ok(Search {
        query,
        client_limit,
        warnings,
    })
}

async fn search_inner(
    state: &WebState,
    level: Level,
    study: Option<String>,
    series: Option<String>,
    params: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    let json_ok = accepted(headers).iter().any(|r| {
        ["application/dicom+json", "application/json"]
            .iter()
            .any(|t| r.covers(t))
    });
    if !json_ok {
        return Err(Problem::not_acceptable(
            "search results are served as application/dicom+json",
        ));
    }
    let config = &state.config.dicomweb;
    let Search {
        mut query,
        client_limit,
        mut warnings,
    } = parse_search(config, level, study.as_deref(), series.as_deref(), params)?;
    query.sites = crate::auth::caller_sites();
    let limit = query.limit.unwrap_or(config.qido_max_limit);
    // one more than the limit tells whether the server cut the results
    query.limit = Some(limit.saturating_add(1));
    let mut matches = state
        .ingest
        .archive()
        .catalogue
        .query(&query)
        .await
        .map_err(|e| match e {
            QueryFailure::Query(e) => query_problem(e),
            QueryFailure::Store(e) => {
                tracing::error!(error = %e, "QIDO-RS query failed");
                Problem::internal("the catalogue could not be queried")
            }
        })?;
    if matches.len() > limit as usize {
        matches.truncate(limit as usize);
        if !client_limit {
            warnings.push(format!(
                "The number of results exceeded the maximum supported by the server ({limit}). Additional results can be requested with offset."
            ));
        }
    }
    let base = base_url(state, headers);
    let body: Vec<Value> = matches
        .iter()
        .map(|m| match_json(m, level, &base))
        .collect();
    tracing::debug!(level = %level, results = body.len(), "QIDO-RS search");
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/dicom+json")],
        Value::Array(body).to_string(),
    )
        .into_response();
    for warning in warnings {
        let text = format!("299 mira \"{}\"", warning.replace('"', "'"));
        if let Ok(value) = HeaderValue::from_str(&text) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    Ok(response)
}

/// One match as a DICOM JSON object, with its Retrieve URL and Instance Availability.
fn match_json(m: &Match, level: Level, base: &str) -> Value {
    let mut object = Map::new();
    for value in &m.values {
        object.insert(
            format!("{:04X}{:04X}", value.tag.group(), value.tag.element()),
            element_json(value.vr, value.value.as_deref()),
        );
    }
    let study = m.get(tags::STUDY_INSTANCE_UID).unwrap_or_default();
    let url = match level {
        Level::Patient | Level::Study => retrieve_url(base, study, None, None),
        Level::Series => retrieve_url(base, study, m.get(tags::SERIES_INSTANCE_UID), None),
        Level::Instance => retrieve_url(
            base,
            study,
            m.get(tags::SERIES_INSTANCE_UID),
            m.get(tags::SOP_INSTANCE_UID),
        ),
    };
    object.insert("00081190".into(), json!({"vr": "UR", "Value": [url]}));
    object.insert("00080056".into(), json!({"vr": "CS", "Value": ["ONLINE"]}));
    Value::Object(object)
}

/// A catalogue value (multiple values joined with `\`) as a DICOM JSON element (PS3.18 F.2).
fn element_json(vr: VR, value: Option<&str>) -> Value {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return json!({ "vr": vr.to_string() });
    };
    let values: Vec<Value> = value
        .split('\\')
        .map(|v| {
            let v = v.trim();
            match vr {
                VR::PN => json!({ "Alphabetic": v }),
                VR::IS | VR::SL | VR::SS | VR::UL | VR::US | VR::SV | VR::UV => v
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::from(v)),
                VR::DS | VR::FL | VR::FD => v
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or_else(|| Value::from(v)),
                _ => Value::from(v),
            }
        })
        .collect();
    json!({ "vr": vr.to_string(), "Value": values })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DicomWebConfig;

    fn params(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keys_by_keyword_or_tag_with_paging_and_includefield() {
        let config = DicomWebConfig::default();
        let search = parse_search(
            &config,
            Level::Study,
            None,
            None,
            &params(&[
                ("PatientName", "DOE*"),
                ("00080020", "20200101-20201231"),
                ("includefield", "InstitutionName,00081030"),
                ("limit", "5"),
                ("offset", "10"),
            ]),
        )
        .unwrap();
        assert_eq!(search.query.keys.len(), 2);
        assert_eq!(search.query.limit, Some(5));
        assert_eq!(search.query.offset, 10);
        assert!(search.client_limit);
        assert!(search.query.return_tags.contains(&tags::INSTITUTION_NAME));
        assert!(search.warnings.is_empty());
    }

    #[test]
    fn limits_are_capped_and_bad_requests_refused() {
        let config = DicomWebConfig {
            qido_max_limit: 50,
            ..Default::default()
        };
        let search = parse_search(
            &config,
            Level::Series,
            None,
            None,
            &params(&[("limit", "500")]),
        )
        .unwrap();
        assert_eq!(search.query.limit, Some(50));
        assert!(!search.client_limit);
        for bad in [
            ("NoSuchKeyword", "x"),
            ("limit", "-1"),
            ("StudyDate", "yesterday"),
            ("PixelData", "x"),
            ("SOPInstanceUID", "1.2.3"),
            ("fuzzymatching", "maybe"),
            ("00400275.00400009", "x"),
        ] {
            let e = parse_search(&config, Level::Series, None, None, &params(&[bad])).unwrap_err();
            assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        }
        let fuzzy = parse_search(
            &config,
            Level::Study,
            None,
            None,
            &params(&[("fuzzymatching", "true")]),
        )
        .unwrap();
        assert!(!fuzzy.query.options.fuzzy_names);
        assert_eq!(fuzzy.warnings.len(), 1);
    }

    #[test]
    fn values_follow_the_dicom_json_types() {
        assert_eq!(
            element_json(VR::PN, Some("DOE^JOHN")),
            json!({"vr": "PN", "Value": [{"Alphabetic": "DOE^JOHN"}]})
        );
        assert_eq!(
            element_json(VR::IS, Some("3")),
            json!({"vr": "IS", "Value": [3]})
        );
        assert_eq!(
            element_json(VR::CS, Some("CT\\MR")),
            json!({"vr": "CS", "Value": ["CT", "MR"]})
        );
        assert_eq!(element_json(VR::DA, None), json!({"vr": "DA"}));
    }
}
