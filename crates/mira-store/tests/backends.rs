//! The catalogue behaves the same on both engines: the same synthetic archive is written into
//! an SQLite file and into a PostgreSQL database (a private cluster from Debian's binaries),
//! and every query of a battery (single values, lists, wildcards, case-insensitive and fuzzy
//! names, date ranges, Modalities in Study, numbers, site filters, paging) returns the same
//! matches in the same order, with the same counts, and the listings agree.

use dicom_dictionary_std::tags;
use mira_store::Catalogue;
use mira_store::db::{Backend, PoolSettings};
use mira_store::query::{Level, Query, QueryOptions, SiteFilter};
use mira_store::synth::{Synth, SynthSpec};

async fn fill(catalogue: &Catalogue) {
    // rows only: these tests never read blobs
    let templates = mira_store::synth::placeholder_templates();
    let synth = Synth::new(SynthSpec {
        studies: 300,
        series_per_study: 3,
        instances_per_series: 2,
        seed: 11,
    });
    catalogue
        .insert_synthetic(&synth, &templates, |_| {})
        .await
        .unwrap();
}

/// A query of the battery: level, keys, options.
type Case<'a> = (Level, Vec<(dicom_core::Tag, &'a str)>, QueryOptions);

fn rows(matches: &[mira_store::Match]) -> Vec<Vec<Option<String>>> {
    matches
        .iter()
        .map(|m| m.values.iter().map(|v| v.value.clone()).collect())
        .collect()
}

#[tokio::test]
async fn sqlite_and_postgres_answer_every_query_alike() {
    let Some(database) = mira_testdata::postgres::test_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Catalogue::open(&dir.path().join("catalogue.sqlite"))
        .await
        .unwrap();
    let postgres = Catalogue::connect(&database.url, PoolSettings::default())
        .await
        .unwrap();
    assert_eq!(sqlite.backend(), Backend::Sqlite);
    assert_eq!(postgres.backend(), Backend::Postgres);
    fill(&sqlite).await;
    fill(&postgres).await;

    // a name to look for, as stored (case varied below)
    let name = sqlite.list_patients().await.unwrap()[7]
        .patient_name
        .clone()
        .unwrap();
    let family = name.split('^').next().unwrap().to_string();
    let upper_prefix = format!("{}*", family[..2].to_uppercase());
    let lower_prefix = format!("{}*", family[..2].to_lowercase());
    let lower_family = family.to_lowercase();
    let study_date = sqlite.list_studies().await.unwrap()[3]
        .study_date
        .clone()
        .unwrap();
    let date_range = format!("{}-{}", &study_date[..4], study_date);

    let fuzzy = QueryOptions {
        case_insensitive_pn: true,
        fuzzy_names: true,
    };
    let exact_case = QueryOptions {
        case_insensitive_pn: false,
        fuzzy_names: false,
    };
    let cases: Vec<Case> = vec![
        (
            Level::Patient,
            vec![(tags::PATIENT_NAME, "")],
            QueryOptions::default(),
        ),
        (
            Level::Patient,
            vec![(tags::PATIENT_NAME, &lower_family)],
            QueryOptions::default(),
        ),
        (
            Level::Study,
            vec![(tags::PATIENT_NAME, &upper_prefix)],
            QueryOptions::default(),
        ),
        (
            Level::Study,
            vec![(tags::PATIENT_NAME, &upper_prefix)],
            exact_case,
        ),
        (
            Level::Study,
            vec![(tags::PATIENT_NAME, &lower_prefix)],
            QueryOptions::default(),
        ),
        (
            Level::Study,
            vec![(tags::PATIENT_NAME, &lower_prefix)],
            exact_case,
        ),
        (
            Level::Study,
            vec![(tags::PATIENT_NAME, &lower_family)],
            fuzzy,
        ),
        (
            Level::Study,
            vec![(tags::PATIENT_NAME, "*a?e*")],
            QueryOptions::default(),
        ),
        (
            Level::Study,
            vec![(tags::STUDY_DATE, &date_range)],
            QueryOptions::default(),
        ),
        (
            Level::Study,
            vec![(tags::STUDY_DATE, "-20150101")],
            QueryOptions::default(),
        ),
        (
            Level::Study,
            vec![(tags::MODALITIES_IN_STUDY, "CT\\MR")],
            QueryOptions::default(),
        ),
        (
            Level::Study,
            vec![
                (tags::MODALITIES_IN_STUDY, ""),
                (tags::NUMBER_OF_STUDY_RELATED_INSTANCES, ""),
            ],
            QueryOptions::default(),
        ),
        (
            Level::Series,
            vec![(tags::MODALITY, "CT"), (tags::SERIES_NUMBER, "")],
            QueryOptions::default(),
        ),
        (
            Level::Series,
            vec![(tags::SERIES_NUMBER, "2")],
            QueryOptions::default(),
        ),
        (
            Level::Series,
            vec![(tags::SERIES_DESCRIPTION, "*HEAD*")],
            QueryOptions::default(),
        ),
        (
            Level::Instance,
            vec![(tags::INSTANCE_NUMBER, ""), (tags::SOP_CLASS_UID, "")],
            QueryOptions::default(),
        ),
    ];
    for (level, keys, options) in &cases {
        let mut query = Query::new(*level);
        query.options = *options;
        for (tag, value) in keys {
            query.key(*tag, value).unwrap();
        }
        let a = sqlite.query(&query).await.unwrap();
        let b = postgres.query(&query).await.unwrap();
        assert_eq!(rows(&a), rows(&b), "{level:?} {keys:?}");
        assert_eq!(
            sqlite.count(&query).await.unwrap(),
            postgres.count(&query).await.unwrap(),
            "{level:?} {keys:?}"
        );
        // a page in the middle
        query.limit = Some(17);
        query.offset = 5;
        let a = sqlite.query(&query).await.unwrap();
        let b = postgres.query(&query).await.unwrap();
        assert_eq!(rows(&a), rows(&b), "page of {level:?} {keys:?}");
        // no site sees nothing
        query.sites = SiteFilter::Only(Vec::new());
        assert!(postgres.query(&query).await.unwrap().is_empty());
        assert!(sqlite.query(&query).await.unwrap().is_empty());
    }
    // the battery is not vacuous: the name queries find something, case rules differ
    let count = |keys: &[(dicom_core::Tag, &str)], options: QueryOptions| {
        let mut query = Query::new(Level::Study);
        query.options = options;
        for (tag, value) in keys {
            query.key(*tag, value).unwrap();
        }
        query
    };
    let insensitive = postgres
        .count(&count(
            &[(tags::PATIENT_NAME, &lower_prefix)],
            QueryOptions::default(),
        ))
        .await
        .unwrap();
    let sensitive = postgres
        .count(&count(&[(tags::PATIENT_NAME, &lower_prefix)], exact_case))
        .await
        .unwrap();
    assert!(insensitive > 0, "{lower_prefix} matches nothing: {name}");
    assert!(
        sensitive < insensitive,
        "{lower_prefix}: case was not ignored ({name})"
    );

    // listings and locations agree
    let listed = |c: &Catalogue| {
        let c = c.clone();
        async move {
            (
                serde_json::to_value(c.list_patients().await.unwrap()).unwrap(),
                serde_json::to_value(c.list_studies().await.unwrap()).unwrap(),
                serde_json::to_value(c.list_series().await.unwrap()).unwrap(),
                c.all_instance_locations().await.unwrap(),
                c.count_instances().await.unwrap(),
            )
        }
    };
    assert_eq!(listed(&sqlite).await, listed(&postgres).await);
    sqlite.close().await;
    postgres.close().await;
}

/// A statement first run with a NULL float and then with a value works on one connection
/// (sqlx's `Any` driver would otherwise prepare it with `float4` and refuse the `float8`:
/// "incorrect binary data format in bind parameter"; see `db::Float`).
#[tokio::test]
async fn a_null_float_then_a_value_binds_on_postgres() {
    let Some(database) = mira_testdata::postgres::test_database() else {
        return;
    };
    let catalogue = Catalogue::connect(&database.url, PoolSettings { max_connections: 1 })
        .await
        .unwrap();
    for value in [None, Some(72.5), None, Some(1.0e-5)] {
        let back: Option<f64> = sqlx::query_scalar("SELECT CAST($1 AS DOUBLE PRECISION)")
            .bind(mira_store::db::Float(value))
            .fetch_one(catalogue.pool())
            .await
            .unwrap();
        assert_eq!(back, value);
    }
    catalogue.close().await;
}
