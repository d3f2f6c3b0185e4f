//! Paging through the matches of a query (`limit`/`offset`, as C-FIND and QIDO-RS page) must
//! return every match exactly once, in the same order as the query without paging. This once
//! failed for ModalitiesInStudy: SQLite 3.51 applied OFFSET before a correlated EXISTS.

use dicom_dictionary_std::tags;
use mira_store::Catalogue;
use mira_store::query::{Level, Query};
use mira_store::synth::{Synth, SynthSpec};

async fn catalogue(dir: &std::path::Path) -> Catalogue {
    // the PostgreSQL pass of scripts/test runs this suite on PostgreSQL
    let catalogue = match std::env::var("MIRA_TEST_BACKEND").as_deref() {
        Ok("postgres") => {
            let database = mira_testdata::postgres::test_database().expect("PostgreSQL");
            let url = database.url.clone();
            // the database lives as long as the test process
            std::mem::forget(database);
            Catalogue::connect(&url, Default::default()).await.unwrap()
        }
        _ => Catalogue::open(&dir.join("catalogue.sqlite"))
            .await
            .unwrap(),
    };
    // rows only: these tests never read blobs
    let templates = mira_store::synth::placeholder_templates();
    let synth = Synth::new(SynthSpec {
        studies: 600,
        series_per_study: 4,
        instances_per_series: 1,
        seed: 7,
    });
    catalogue
        .insert_synthetic(&synth, &templates, |_| {})
        .await
        .unwrap();
    catalogue
}

fn uids(matches: &[mira_store::Match], tag: dicom_core::Tag) -> Vec<String> {
    matches
        .iter()
        .map(|m| m.get(tag).unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn pages_are_disjoint_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let catalogue = catalogue(dir.path()).await;
    let cases: &[(Level, &[(dicom_core::Tag, &str)])] = &[
        (Level::Study, &[(tags::MODALITIES_IN_STUDY, "CT")]),
        (Level::Study, &[(tags::MODALITIES_IN_STUDY, "CR\\DX")]),
        (Level::Study, &[(tags::PATIENT_NAME, "*a*")]),
        (Level::Study, &[(tags::STUDY_DATE, "20180101-")]),
        (Level::Series, &[(tags::MODALITY, "CT")]),
        (Level::Instance, &[(tags::SOP_CLASS_UID, "")]),
    ];
    for (level, keys) in cases {
        let mut query = Query::new(*level);
        for (tag, value) in *keys {
            query.key(*tag, value).unwrap();
        }
        let unique = level.unique_key();
        let all = uids(&catalogue.query(&query).await.unwrap(), unique);
        assert!(all.len() > 100, "{keys:?}: only {} matches", all.len());
        assert_eq!(
            catalogue.count(&query).await.unwrap(),
            all.len() as u64,
            "{keys:?}"
        );
        let mut paged = Vec::new();
        for page in 0.. {
            query.limit = Some(37);
            query.offset = page * 37;
            let got = uids(&catalogue.query(&query).await.unwrap(), unique);
            let done = got.len() < 37;
            paged.extend(got);
            if done {
                break;
            }
        }
        assert_eq!(paged, all, "{keys:?}: pages differ from the whole");
    }
}
