//! Issue 3, DICOMweb: STOW-RS, QIDO-RS and WADO-RS against a running `mira serve`, with real
//! files from the shared test data, over real sockets; and Python's `dicomweb-client` driving
//! all three.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// The nine encodings of one MR slice (dcm_qa_ts): explicit LE, implicit LE, big endian, RLE,
/// JPEG lossless ×2, JPEG-LS ×2, JPEG 2000. One study, one series, nine SOP instances.
fn mr_slices() -> Option<Vec<PathBuf>> {
    let dir = testdata()?.join("dicom/dcm_qa_ts/In");
    Some((1..=9).map(|n| dir.join(format!("{n}.dcm"))).collect())
}

/// The first value of a DICOM JSON element.
fn first<'a>(object: &'a Value, tag: &str) -> &'a Value {
    &object[tag]["Value"][0]
}

/// The path of an absolute URL on the server.
fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest[rest.find('/').expect("a path")..].to_string()
}

fn study_uid(file: &std::path::Path) -> String {
    open(file)
        .element(dicom_object::Tag(0x0020, 0x000D))
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(['\0', ' '])
        .to_string()
}

fn series_uid(file: &std::path::Path) -> String {
    open(file)
        .element(dicom_object::Tag(0x0020, 0x000E))
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(['\0', ' '])
        .to_string()
}

fn assert_problem(response: &HttpResponse, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json"),
        "{}",
        response.text()
    );
    let problem = response.json();
    assert_eq!(problem["status"], status);
    assert!(
        problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{problem}"
    );
    problem
}

#[test]
fn a_study_stored_with_stow_comes_back_from_wado_as_it_was_stored() {
    let files = require!(mr_slices());
    let server = Server::start(&[]);
    let stored = server.stow("/dicom-web/studies", &files);
    assert_eq!(stored.status, 200, "{}", stored.text());
    assert_eq!(
        stored.header("content-type"),
        Some("application/dicom+json")
    );
    let report = stored.json();
    let study = study_uid(&files[0]);
    let series = series_uid(&files[0]);
    assert!(report.get("00081198").is_none(), "{report}");
    let referenced = report["00081199"]["Value"].as_array().unwrap();
    assert_eq!(referenced.len(), files.len());
    for (item, file) in referenced.iter().zip(&files) {
        let meta = Part10::read(file);
        assert_eq!(first(item, "00081155"), meta.sop_instance_uid.as_str());
        assert_eq!(first(item, "00081150"), meta.sop_class_uid.as_str());
        assert!(
            first(item, "00081190")
                .as_str()
                .unwrap()
                .ends_with(&format!(
                    "/dicom-web/studies/{study}/series/{series}/instances/{}",
                    meta.sop_instance_uid
                )),
            "{item}"
        );
    }
    assert!(
        first(&report, "00081190")
            .as_str()
            .unwrap()
            .ends_with(&format!("/dicom-web/studies/{study}"))
    );
    server.assert_consistent();

    // the study, as stored: every part's data set is the original's, byte for byte
    let retrieved = server.get(&format!("/dicom-web/studies/{study}"), &[]);
    assert_eq!(retrieved.status, 200, "{}", retrieved.text());
    assert!(
        retrieved
            .header("content-type")
            .unwrap()
            .contains("type=\"application/dicom\"")
    );
    let parts = retrieved.parts();
    assert_eq!(parts.len(), files.len());
    let originals: BTreeMap<String, &PathBuf> = files
        .iter()
        .map(|f| (Part10::read(f).sop_instance_uid, f))
        .collect();
    let scratch = server.scratch("retrieved");
    for (n, (headers, bytes)) in parts.iter().enumerate() {
        let out = scratch.join(format!("{n}.dcm"));
        std::fs::write(&out, bytes).unwrap();
        let sop = Part10::read(&out).sop_instance_uid;
        let original = originals
            .get(&sop)
            .unwrap_or_else(|| panic!("part {n} is no instance that was stored"));
        assert_same_dataset(&out, original);
        let content_type = &headers.iter().find(|(h, _)| h == "content-type").unwrap().1;
        assert_eq!(
            content_type,
            &format!(
                "application/dicom; transfer-syntax={}",
                Part10::read(original).transfer_syntax_uid
            )
        );
    }

    // a series and an instance, the same way
    let series_parts = server
        .get(&format!("/dicom-web/studies/{study}/series/{series}"), &[])
        .parts();
    assert_eq!(series_parts.len(), files.len());
    let sop = Part10::read(&files[3]).sop_instance_uid;
    let one = server.get(
        &format!("/dicom-web/studies/{study}/series/{series}/instances/{sop}"),
        &[(
            "Accept",
            "multipart/related; type=\"application/dicom\"; transfer-syntax=*",
        )],
    );
    let one = one.parts();
    assert_eq!(one.len(), 1);
    let out = scratch.join("one.dcm");
    std::fs::write(&out, &one[0].1).unwrap();
    assert_same_dataset(&out, &files[3]);

    // unknown study, series, instance
    assert_problem(&server.get("/dicom-web/studies/1.2.3.4.5", &[]), 404);
    assert_problem(
        &server.get(&format!("/dicom-web/studies/{study}/series/1.2.3"), &[]),
        404,
    );
    assert_problem(&server.get("/dicom-web/studies/not-a-uid", &[]), 400);
}

#[test]
fn wado_converts_uncompressed_instances_and_refuses_to_transcode_compressed_ones() {
    let files = require!(mr_slices());
    let server = Server::start(&[]);
    assert_eq!(server.stow("/dicom-web/studies", &files).status, 200);
    let study = study_uid(&files[0]);
    let series = series_uid(&files[0]);
    let explicit =
        "multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.840.10008.1.2.1";

    // implicit VR (2.dcm) asked for as explicit VR little endian: converted, same elements
    let implicit = Part10::read(&files[1]);
    let response = server.get(
        &format!(
            "/dicom-web/studies/{study}/series/{series}/instances/{}",
            implicit.sop_instance_uid
        ),
        &[("Accept", explicit)],
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let parts = response.parts();
    let out = server.scratch("converted").join("explicit.dcm");
    std::fs::write(&out, &parts[0].1).unwrap();
    let converted = Part10::read(&out);
    assert_eq!(converted.transfer_syntax_uid, "1.2.840.10008.1.2.1");
    let (a, b) = (open(&out), open(&files[1]));
    let pixel_data = dicom_object::Tag(0x7FE0, 0x0010);
    assert_eq!(
        a.element(pixel_data).unwrap().to_bytes().unwrap(),
        b.element(pixel_data).unwrap().to_bytes().unwrap()
    );
    assert_eq!(a.tags().collect::<Vec<_>>(), b.tags().collect::<Vec<_>>());

    // the whole study holds compressed instances: 406, nothing half-sent
    let refused = server.get(
        &format!("/dicom-web/studies/{study}"),
        &[("Accept", explicit)],
    );
    let problem = assert_problem(&refused, 406);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("transfer-syntax=*"),
        "{problem}"
    );
    assert_problem(
        &server.get(
            &format!("/dicom-web/studies/{study}"),
            &[("Accept", "application/dicom+json")],
        ),
        406,
    );
}

#[test]
fn metadata_frames_and_bulk_data_agree_with_the_files() {
    let files = require!(mr_slices());
    let server = Server::start(&[]);
    assert_eq!(server.stow("/dicom-web/studies", &files).status, 200);
    let study = study_uid(&files[0]);
    let series = series_uid(&files[0]);
    let instance = |file: &PathBuf| {
        format!(
            "/dicom-web/studies/{study}/series/{series}/instances/{}",
            Part10::read(file).sop_instance_uid
        )
    };
    let original = open(&files[0]);
    let rows = original
        .element(dicom_object::Tag(0x0028, 0x0010))
        .unwrap()
        .to_int::<usize>()
        .unwrap();
    let columns = original
        .element(dicom_object::Tag(0x0028, 0x0011))
        .unwrap()
        .to_int::<usize>()
        .unwrap();
    let bits = original
        .element(dicom_object::Tag(0x0028, 0x0100))
        .unwrap()
        .to_int::<usize>()
        .unwrap();
    let samples = original
        .element(dicom_object::Tag(0x0028, 0x0002))
        .unwrap()
        .to_int::<usize>()
        .unwrap();
    let frame_len = rows * columns * samples * bits / 8;
    assert_eq!(frame_len, 384 * 384 * 2);

    // metadata: DICOM JSON with the file's values and pixel data as a Bulk Data URI
    let response = server.get(&format!("{}/metadata", instance(&files[0])), &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("application/dicom+json")
    );
    let metadata = response.json();
    let object = &metadata[0];
    assert_eq!(first(object, "00280010"), rows);
    assert_eq!(first(object, "00280011"), columns);
    assert_eq!(first(object, "0020000D"), study.as_str());
    assert_eq!(first(object, "00080060"), "MR");
    assert_eq!(object["00100010"]["vr"], "PN");
    assert!(object["7FE00010"].get("InlineBinary").is_none());
    let bulk_uri = object["7FE00010"]["BulkDataURI"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(bulk_uri.ends_with("/bulkdata/7FE00010"), "{bulk_uri}");
    let series_metadata = server
        .get(
            &format!("/dicom-web/studies/{study}/series/{series}/metadata"),
            &[],
        )
        .json();
    assert_eq!(series_metadata.as_array().unwrap().len(), files.len());

    // frame 1 of the explicit-VR file is its pixel data
    let expected = original
        .element(dicom_object::Tag(0x7FE0, 0x0010))
        .unwrap()
        .to_bytes()
        .unwrap()
        .to_vec();
    let frames = server.get(&format!("{}/frames/1", instance(&files[0])), &[]);
    assert_eq!(frames.status, 200, "{}", frames.text());
    let parts = frames.parts();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].1.len(), frame_len);
    assert_eq!(parts[0].1, expected);
    let bulk = server.get(&path_of(&bulk_uri), &[]).parts();
    assert_eq!(bulk.len(), 1);
    assert_eq!(bulk[0].1, expected);

    // every other encoding decodes to the same pixels, except JPEG-LS, which this build
    // cannot decode: 406 with a way out, and as stored it comes
    for file in &files[1..] {
        let meta = Part10::read(file);
        let response = server.get(&format!("{}/frames/1", instance(file)), &[]);
        if meta
            .transfer_syntax_uid
            .starts_with("1.2.840.10008.1.2.4.8")
        {
            let problem = assert_problem(&response, 406);
            assert!(
                problem["detail"]
                    .as_str()
                    .unwrap()
                    .contains("transfer-syntax=*")
            );
            let as_stored = server.get(
                &format!("{}/frames/1", instance(file)),
                &[(
                    "Accept",
                    "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*",
                )],
            );
            let parts = as_stored.parts();
            assert_eq!(parts.len(), 1);
            assert!(
                parts[0]
                    .0
                    .iter()
                    .any(|(h, v)| h == "content-type" && v.starts_with("image/jls"))
            );
            // a JPEG-LS codestream: SOI then SOF55
            assert_eq!(&parts[0].1[..4], &[0xFF, 0xD8, 0xFF, 0xF7]);
            continue;
        }
        let parts = response.parts();
        assert_eq!(
            parts[0].1,
            expected,
            "frame 1 of {} ({})",
            file.display(),
            meta.transfer_syntax_uid
        );
    }

    // JPEG 2000 as stored: the codestream
    let j2k = server.get(
        &format!("{}/frames/1", instance(&files[8])),
        &[("Accept", "multipart/related; type=\"image/jp2\"")],
    );
    let parts = j2k.parts();
    assert_eq!(&parts[0].1[..4], &[0xFF, 0x4F, 0xFF, 0x51]);

    assert_problem(
        &server.get(&format!("{}/frames/2", instance(&files[0])), &[]),
        404,
    );
    assert_problem(
        &server.get(&format!("{}/frames/0", instance(&files[0])), &[]),
        400,
    );
}

fn decode_image(response: &HttpResponse, format: image::ImageFormat) -> image::DynamicImage {
    assert_eq!(response.status, 200, "{}", response.text());
    image::load_from_memory_with_format(&response.body, format).expect("a decodable image")
}

#[test]
fn rendered_frames_and_thumbnails_decode_at_the_right_size() {
    let files = require!(mr_slices());
    let server = Server::start(&[]);
    assert_eq!(server.stow("/dicom-web/studies", &files).status, 200);
    let study = study_uid(&files[0]);
    let series = series_uid(&files[0]);
    let instance = format!(
        "/dicom-web/studies/{study}/series/{series}/instances/{}",
        Part10::read(&files[0]).sop_instance_uid
    );
    let png = server.get(&format!("{instance}/rendered"), &[("Accept", "image/png")]);
    assert_eq!(png.header("content-type"), Some("image/png"));
    let image = decode_image(&png, image::ImageFormat::Png);
    assert_eq!((image.width(), image.height()), (384, 384));
    let pixels = image.to_luma8();
    assert!(pixels.iter().any(|&p| p > 200) && pixels.iter().any(|&p| p < 20));

    // a narrow window saturates more pixels than the default one
    let narrow = server.get(
        &format!("{instance}/frames/1/rendered?window=100,10,linear"),
        &[("Accept", "image/png")],
    );
    let narrow = decode_image(&narrow, image::ImageFormat::Png).to_luma8();
    let saturated = |img: &image::GrayImage| img.iter().filter(|&&p| p == 0 || p == 255).count();
    assert!(saturated(&narrow) > saturated(&pixels));

    let jpeg = server.get(&format!("{instance}/rendered?viewport=96,96"), &[]);
    assert_eq!(jpeg.header("content-type"), Some("image/jpeg"));
    let small = decode_image(&jpeg, image::ImageFormat::Jpeg);
    assert_eq!((small.width(), small.height()), (96, 96));

    for thumbnail in [
        format!("{instance}/thumbnail"),
        format!("/dicom-web/studies/{study}/series/{series}/thumbnail"),
        format!("/dicom-web/studies/{study}/thumbnail"),
    ] {
        let image = decode_image(&server.get(&thumbnail, &[]), image::ImageFormat::Jpeg);
        assert_eq!((image.width(), image.height()), (128, 128), "{thumbnail}");
    }

    // pixel data this build cannot decode: a problem document, and the server goes on
    let jpeg_ls = format!(
        "/dicom-web/studies/{study}/series/{series}/instances/{}/rendered",
        Part10::read(&files[6]).sop_instance_uid
    );
    let problem = assert_problem(&server.get(&jpeg_ls, &[]), 501);
    assert!(
        problem["detail"].as_str().unwrap().contains("JPEG-LS"),
        "{problem}"
    );
    assert_problem(
        &server.get(&format!("{instance}/rendered?window=1"), &[]),
        400,
    );
    assert_problem(
        &server.get(&format!("{instance}/rendered"), &[("Accept", "image/gif")]),
        406,
    );
    assert_eq!(server.get("/healthz", &[]).status, 200);
}

#[test]
fn monochrome1_is_rendered_inverted() {
    let original = require!(mira_testdata::file("cxr/siim_cr_chest_jpeg_baseline.dcm"));
    let relabelled = require!(mira_testdata::file(
        "cxr/siim_cr_chest_relabelled_monochrome1.dcm"
    ));
    // both files carry the same SOP Instance UID: the second replaces the first
    let server = Server::start(&[("MIRA__ARCHIVE__CONFLICT_POLICY", "replace")]);
    let instance = format!(
        "/dicom-web/studies/{}/series/{}/instances/{}/rendered",
        study_uid(&original),
        series_uid(&original),
        Part10::read(&original).sop_instance_uid
    );
    assert_eq!(server.stow("/dicom-web/studies", &[original]).status, 200);
    let accept = [("Accept", "image/png")];
    let mono2 = decode_image(&server.get(&instance, &accept), image::ImageFormat::Png).to_luma8();
    assert_eq!(server.stow("/dicom-web/studies", &[relabelled]).status, 200);
    let mono1 = decode_image(&server.get(&instance, &accept), image::ImageFormat::Png).to_luma8();
    assert_eq!(mono1.dimensions(), (1024, 1024));
    let off = mono2
        .iter()
        .zip(mono1.iter())
        .filter(|&(&a, &b)| (i32::from(a) + i32::from(b) - 255).abs() > 1)
        .count();
    assert!(
        off * 100 < mono1.len(),
        "{off} of {} pixels are not inverted",
        mono1.len()
    );
    assert!(mono1.iter().zip(mono2.iter()).any(|(a, b)| a != b));
}

#[test]
fn stow_reports_each_failed_instance_with_its_reason() {
    let files = require!(mr_slices());
    let server = Server::start(&[]);
    let good = std::fs::read(&files[0]).unwrap();
    let sop = Part10::read(&files[0]).sop_instance_uid;
    let class = Part10::read(&files[0]).sop_class_uid;

    // a study UID in the path that is not the instance's: 409, A900, nothing stored
    let wrong = server.stow(
        "/dicom-web/studies/1.2.826.0.1.3680043.2.1125.1",
        &files[..1],
    );
    assert_eq!(wrong.status, 409, "{}", wrong.text());
    assert_eq!(wrong.header("content-type"), Some("application/dicom+json"));
    let report = wrong.json();
    assert!(report.get("00081199").is_none(), "{report}");
    let failed = &report["00081198"]["Value"][0];
    assert_eq!(first(failed, "00081197"), 0xA900);
    assert_eq!(first(failed, "00081155"), sop.as_str());
    assert_eq!(first(failed, "00081150"), class.as_str());
    assert!(server.instances().is_empty());
    assert!(server.staging_files().is_empty());

    // one good instance, a text part and a part that is not DICOM: 202, two C000
    let mixed = server.stow_parts(
        "/dicom-web/studies",
        &[
            ("application/dicom", good.clone()),
            ("text/plain", b"hello".to_vec()),
            (
                "application/dicom",
                b"this is not a DICOM file at all".to_vec(),
            ),
        ],
    );
    assert_eq!(mixed.status, 202, "{}", mixed.text());
    let report = mixed.json();
    assert_eq!(report["00081199"]["Value"].as_array().unwrap().len(), 1);
    let failed = report["00081198"]["Value"].as_array().unwrap();
    assert_eq!(failed.len(), 2);
    for item in failed {
        assert_eq!(first(item, "00081197"), 0xC000);
    }
    assert_eq!(server.assert_consistent().len(), 1);

    // the right study in the path, and the same instance again: stored (a duplicate)
    let again = server.stow(
        &format!("/dicom-web/studies/{}", study_uid(&files[0])),
        &files[..1],
    );
    assert_eq!(again.status, 200, "{}", again.text());

    // not multipart/related application/dicom: 415; a broken body: 400
    let json = http(
        server.http_addr(),
        "POST",
        "/dicom-web/studies",
        &[
            ("Content-Type", "application/dicom+json"),
            ("Authorization", &server.bearer()),
        ],
        b"[]",
    );
    assert_problem(&json, 415);
    let broken = http(
        server.http_addr(),
        "POST",
        "/dicom-web/studies",
        &[
            (
                "Content-Type",
                "multipart/related; type=\"application/dicom\"; boundary=xyz",
            ),
            ("Authorization", &server.bearer()),
        ],
        b"no boundary here",
    );
    assert_problem(&broken, 400);
    assert_eq!(server.assert_consistent().len(), 1);
}

#[test]
fn qido_searches_studies_series_and_instances() {
    let files = require!(mr_slices());
    let cxr = require!(mira_testdata::file("cxr/siim_cr_chest_jpeg_baseline.dcm"));
    let dx = require!(mira_testdata::file("cxr/nih_dx_chest_implicit_vr.dcm"));
    let server = Server::start(&[("MIRA__HTTP__DICOMWEB__QIDO_MAX_LIMIT", "2")]);
    let mut all = files.clone();
    all.extend([cxr.clone(), dx]);
    assert_eq!(server.stow("/dicom-web/studies", &all).status, 200);
    let study = study_uid(&files[0]);
    let series = series_uid(&files[0]);

    // by patient name, wildcard and case-insensitive
    for filter in ["PatientName=stc*", "00100010=STC_TEST"] {
        let found = server.get(&format!("/dicom-web/studies?{filter}"), &[]);
        assert_eq!(found.status, 200, "{}", found.text());
        assert_eq!(found.header("content-type"), Some("application/dicom+json"));
        let found = found.json();
        let found = found.as_array().unwrap();
        assert_eq!(found.len(), 1, "{filter}: {found:?}");
        assert_eq!(first(&found[0], "0020000D"), study.as_str());
        assert_eq!(first(&found[0], "00201208"), 9);
        assert_eq!(first(&found[0], "00080061"), "MR");
        assert_eq!(first(&found[0], "00100010")["Alphabetic"], "stc_test");
        assert!(
            first(&found[0], "00081190")
                .as_str()
                .unwrap()
                .ends_with(&format!("/dicom-web/studies/{study}"))
        );
    }

    // three studies; the server's maximum is 2: cut, with a Warning
    let page = server.get("/dicom-web/studies", &[]);
    assert_eq!(page.json().as_array().unwrap().len(), 2);
    assert!(page.header("warning").is_some_and(|w| w.starts_with("299")));
    let rest = server.get("/dicom-web/studies?limit=2&offset=2", &[]);
    assert_eq!(rest.json().as_array().unwrap().len(), 1);
    assert!(rest.header("warning").is_none());
    let uids = |r: &HttpResponse| -> Vec<String> {
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|s| first(s, "0020000D").as_str().unwrap().to_string())
            .collect()
    };
    let mut every = uids(&page);
    every.extend(uids(&rest));
    every.sort();
    every.dedup();
    assert_eq!(every.len(), 3);

    // includefield, series of a study, instances of a series
    let with_field = server
        .get(
            &format!(
                "/dicom-web/studies?StudyInstanceUID={study}&includefield=InstitutionName,00081030"
            ),
            &[],
        )
        .json();
    assert!(with_field[0].get("00080080").is_some(), "{with_field}");
    let found_series = server
        .get(&format!("/dicom-web/studies/{study}/series"), &[])
        .json();
    assert_eq!(found_series.as_array().unwrap().len(), 1);
    assert_eq!(first(&found_series[0], "0020000E"), series.as_str());
    assert_eq!(first(&found_series[0], "00080060"), "MR");
    assert_eq!(first(&found_series[0], "00201209"), 9);
    // more instances than the server's maximum: paged through with offset
    let mut sops: Vec<String> = Vec::new();
    for offset in (0..).step_by(2) {
        let page = server.get(
            &format!(
                "/dicom-web/studies/{study}/series/{series}/instances?limit=20&offset={offset}"
            ),
            &[],
        );
        assert!(page.header("warning").is_some() || page.json().as_array().unwrap().len() < 2);
        let page = page.json();
        let page = page.as_array().unwrap();
        sops.extend(
            page.iter()
                .map(|i| first(i, "00080018").as_str().unwrap().to_string()),
        );
        if page.is_empty() {
            break;
        }
    }
    sops.sort();
    let mut expected: Vec<String> = files
        .iter()
        .map(|f| Part10::read(f).sop_instance_uid)
        .collect();
    expected.sort();
    assert_eq!(sops, expected);
    let cr = server.get("/dicom-web/series?Modality=CR", &[]).json();
    assert_eq!(cr.as_array().unwrap().len(), 1);
    assert_eq!(first(&cr[0], "0020000D"), study_uid(&cxr).as_str());
    let by_date = server
        .get("/dicom-web/studies?StudyDate=19000101-19000102", &[])
        .json();
    assert_eq!(by_date.as_array().unwrap().len(), 0);

    // unknown keys and bad values
    assert_problem(
        &server.get("/dicom-web/studies?NoSuchAttribute=1", &[]),
        400,
    );
    assert_problem(
        &server.get("/dicom-web/studies?StudyDate=yesterday", &[]),
        400,
    );
    assert_problem(&server.get("/dicom-web/studies?limit=many", &[]), 400);
    assert_problem(
        &server.get("/dicom-web/studies", &[("Accept", "application/dicom+xml")]),
        406,
    );
}

#[test]
fn cors_headers_only_for_configured_origins() {
    let origin = "http://viewer.example";
    let server = Server::start(&[(
        "MIRA__HTTP__CORS__ALLOWED_ORIGINS",
        "[\"http://viewer.example\"]",
    )]);
    let preflight = http(
        server.http_addr(),
        "OPTIONS",
        "/dicom-web/studies",
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "accept"),
        ],
        b"",
    );
    assert!(
        preflight.status == 200 || preflight.status == 204,
        "{preflight:?}"
    );
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some(origin)
    );
    let methods = preflight.header("access-control-allow-methods").unwrap();
    assert!(
        methods.contains("GET") && methods.contains("POST"),
        "{methods}"
    );
    assert!(
        preflight
            .header("access-control-allow-headers")
            .unwrap()
            .contains("accept")
    );
    let get = server.get("/dicom-web/studies", &[("Origin", origin)]);
    assert_eq!(get.status, 200);
    assert_eq!(get.header("access-control-allow-origin"), Some(origin));
    let other = server.get(
        "/dicom-web/studies",
        &[("Origin", "http://elsewhere.example")],
    );
    assert_eq!(other.header("access-control-allow-origin"), None);

    // off by default
    let plain = Server::start(&[]);
    let get = plain.get("/dicom-web/studies", &[("Origin", origin)]);
    assert_eq!(get.status, 200);
    assert_eq!(get.header("access-control-allow-origin"), None);
}

#[test]
fn dicomweb_client_stores_searches_and_retrieves() {
    let files = require!(mr_slices());
    let python = require!(dicomweb_client_python());
    let server = Server::start(&[]);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers/dicomweb_client_peer.py");
    let mut command = Command::new(python);
    command
        .arg(script)
        .arg("--url")
        .arg(format!("http://{}/dicom-web", server.http_addr()))
        .arg("--token")
        .arg(server.token())
        // explicit LE, implicit LE, RLE, JPEG 2000
        .args([&files[0], &files[1], &files[3], &files[8]]);
    let out = run(command, Duration::from_secs(300));
    out.assert_success();
    let lines = json_lines(&out.stdout);
    let checks: Vec<&str> = lines.iter().filter_map(|l| l["check"].as_str()).collect();
    for check in [
        "store_instances",
        "search_for_studies",
        "search_for_series",
        "search_for_instances",
        "retrieve_study",
        "retrieve_instance_metadata",
        "retrieve_instance_frames",
    ] {
        assert!(
            checks.contains(&check),
            "{check} did not run:\n{}",
            out.combined()
        );
    }
    assert!(lines.iter().all(|l| l["ok"] == true), "{}", out.combined());
    assert_eq!(server.assert_consistent().len(), 4);
}
