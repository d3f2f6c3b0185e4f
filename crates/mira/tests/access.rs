//! Issue 8, identity and access: the permission matrix. Every role at two sites, a regional
//! reader granted one of them, and DICOM devices of each site, against every HTTP endpoint
//! and the DIMSE query/retrieve services, on a running `mira serve` with real peers.
//!
//! The expected cells are written here, by hand, from the issue's rules (not computed from
//! mira's own tables), so the test fails if any cell grants more, or less, than it should.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Server, http};

const SITE_A: &str = "cc-a";
const SITE_B: &str = "hosp-b";

/// The studies: CT_small sent by site A's modality, MR_small by site B's.
const STUDY_A: &str = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";
const STUDY_B: &str = "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457";

const ROLES: [&str; 6] = [
    "admin",
    "radiologist",
    "technologist",
    "qc-officer",
    "data-steward",
    "researcher",
];

/// What each role may do over HTTP, from the issue: AI and QC results and images for the
/// clinical roles of a site, storing for technologists, accounts and the job queue for the
/// administrator (who reads no images), de-identified datasets only for researchers.
fn allowed(role: &str, endpoint: &str) -> bool {
    let grants: &[&str] = match role {
        "admin" => &["me", "jobs", "admin"],
        "radiologist" => &["me", "qido", "wado", "qc", "indicators", "analysis"],
        "technologist" => &["me", "qido", "wado", "stow", "qc", "indicators", "analysis"],
        "qc-officer" => &["me", "qido", "wado", "qc", "indicators", "analysis"],
        "data-steward" => &["me", "qido", "wado"],
        "researcher" => &["me"],
        _ => unreachable!(),
    };
    grants.contains(&endpoint)
}

fn access_file() -> String {
    let mut file = String::new();
    for (code, kind) in [
        (SITE_A, "community"),
        (SITE_B, "hospital"),
        ("region", "regional"),
    ] {
        file.push_str(&format!(
            "[[site]]\ncode = \"{code}\"\nname = \"{code}\"\nkind = \"{kind}\"\n"
        ));
    }
    for (ae, site, all) in [
        ("A_MODALITY", SITE_A, false),
        ("B_MODALITY", SITE_B, false),
        ("REGION_PACS", "region", true),
    ] {
        file.push_str(&format!(
            "[[ae]]\ntitle = \"{ae}\"\nsite = \"{site}\"\nall_sites = {all}\n"
        ));
    }
    let mut users: Vec<(String, &str, &str, &str)> = Vec::new();
    for role in ROLES {
        for site in [SITE_A, SITE_B] {
            users.push((format!("{role}@{site}"), role, site, ""));
        }
    }
    // a regional radiologist reading for site A, and a regional QC officer over every site
    users.push((
        "radiologist@region".into(),
        "radiologist",
        "region",
        "grants = [\"cc-a\"]\n",
    ));
    users.push((
        "qc-officer@region".into(),
        "qc-officer",
        "region",
        "all_sites = true\n",
    ));
    for (name, role, site, extra) in users {
        file.push_str(&format!(
            "[[user]]\nusername = \"{name}\"\ndisplay_name = \"{name}\"\nroles = [\"{role}\"]\n\
             site = \"{site}\"\npassword = \"correct horse battery\"\n{extra}"
        ));
    }
    file
}

/// The studies each user sees.
fn sees(user: &str) -> BTreeSet<&'static str> {
    match user.split_once('@').map(|(_, s)| s) {
        Some(SITE_A) => [STUDY_A].into(),
        Some(SITE_B) => [STUDY_B].into(),
        Some("region") if user.starts_with("radiologist") => [STUDY_A].into(),
        Some("region") => [STUDY_A, STUDY_B].into(),
        _ => unreachable!(),
    }
}

fn pydicom_file(name: &str) -> Option<PathBuf> {
    common::testdata().map(|d| d.join("dicom/pydicom").join(name))
}

fn storescu(server: &Server, aet: &str, file: &std::path::Path) {
    let out = require!(common::run_dcmtk(
        "storescu",
        [
            "-aet",
            aet,
            "127.0.0.1",
            &server.port_arg(),
            file.to_str().unwrap()
        ]
    ));
    out.assert_success();
}

#[test]
fn every_role_site_and_endpoint_gets_exactly_what_it_should() {
    let ct = require!(pydicom_file("CT_small.dcm"));
    let mr = require!(pydicom_file("MR_small.dcm"));
    let stow_file = require!(common::testdata().map(|d| d.join("dicom/dcm_qa_ts/In/1.dcm")));
    let python = require!(common::pynetdicom_python());
    let server = Server::start(&[("MIRA__QC__SETTLE_SECS", "1")]);
    let access = server.scratch("access").join("matrix.toml");
    std::fs::write(&access, access_file()).unwrap();
    common::mira_cli(
        server.data_dir(),
        &["access", "apply", access.to_str().unwrap()],
    );

    storescu(&server, "A_MODALITY", &ct);
    storescu(&server, "B_MODALITY", &mr);
    // both studies settle and get their QC results
    let deadline = Instant::now() + Duration::from_secs(60);
    for study in [STUDY_A, STUDY_B] {
        while server.get(&format!("/api/qc/studies/{study}"), &[]).status != 200 {
            assert!(Instant::now() < deadline, "QC did not run on {study}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    // no token, or a bad one: 401 everywhere but the health checks
    for path in [
        "/dicom-web/studies".to_string(),
        format!("/dicom-web/studies/{STUDY_A}/metadata"),
        format!("/api/qc/studies/{STUDY_A}"),
        "/api/qc/indicators?from=2000-01-01&to=2100-01-01".into(),
        "/api/analysis/jobs".into(),
        "/api/auth/me".into(),
        "/metrics".into(),
        "/no/such/path".into(),
    ] {
        for auth in [None, Some("Bearer mira_forged"), Some("Basic dGVzdDp0ZXN0")] {
            let headers: Vec<(&str, &str)> =
                auth.map(|a| ("Authorization", a)).into_iter().collect();
            let r = http(server.http_addr(), "GET", &path, &headers, b"");
            assert_eq!(r.status, 401, "{path} with {auth:?}: {}", r.text());
            assert!(r.header("www-authenticate").is_some());
        }
    }
    for path in ["/healthz", "/readyz"] {
        assert_eq!(http(server.http_addr(), "GET", path, &[], b"").status, 200);
    }

    let mut users: Vec<String> = ROLES
        .iter()
        .flat_map(|r| [format!("{r}@{SITE_A}"), format!("{r}@{SITE_B}")])
        .collect();
    users.push("radiologist@region".into());
    users.push("qc-officer@region".into());
    let mut cells = 0;
    for user in &users {
        let role = user.split('@').next().unwrap();
        let token = common::create_token(server.data_dir(), user);
        let bearer = format!("Bearer {token}");
        let auth = [("Authorization", bearer.as_str())];
        let get = |path: &str| http(server.http_addr(), "GET", path, &auth, b"");
        let visible = sees(user);
        let denied = |r: &common::HttpResponse, what: &str| {
            assert_eq!(r.status, 403, "{user} {what}: {}", r.text());
            assert_eq!(r.json()["title"], "Forbidden");
        };

        let me = get("/api/auth/me");
        assert_eq!(me.status, 200, "{user}");
        assert_eq!(me.json()["identity"]["username"], user.as_str());

        // QIDO-RS: exactly the visible studies
        let r = get("/dicom-web/studies");
        if allowed(role, "qido") {
            assert_eq!(r.status, 200, "{user}: {}", r.text());
            let found: BTreeSet<String> = r
                .json()
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["0020000D"]["Value"][0].as_str().unwrap().to_string())
                .collect();
            let expected: BTreeSet<String> = visible.iter().map(|s| s.to_string()).collect();
            assert_eq!(found, expected, "{user} QIDO-RS");
        } else {
            denied(&r, "QIDO-RS");
        }

        for study in [STUDY_A, STUDY_B] {
            let own = visible.contains(study);
            // WADO-RS metadata and the instance itself
            for path in [
                format!("/dicom-web/studies/{study}/metadata"),
                format!("/dicom-web/studies/{study}"),
            ] {
                let r = get(&path);
                match (allowed(role, "wado"), own) {
                    (true, true) => assert_eq!(r.status, 200, "{user} {path}"),
                    // another site's study is as absent as an unknown one
                    (true, false) => assert_eq!(r.status, 404, "{user} {path}"),
                    (false, _) => denied(&r, &path),
                }
            }
            let r = get(&format!("/api/qc/studies/{study}"));
            match (allowed(role, "qc"), own) {
                (true, true) => assert_eq!(r.status, 200, "{user} QC {study}"),
                (true, false) => assert_eq!(r.status, 404, "{user} QC {study}"),
                (false, _) => denied(&r, "QC study"),
            }
            let r = get(&format!("/api/analysis/studies/{study}"));
            match (allowed(role, "analysis"), own) {
                // nothing routed for these studies: the study is known, its analysis is not
                (true, true) => assert!(
                    r.status == 200 || (r.status == 404 && r.json()["title"] == "No analysis"),
                    "{user} analysis {study}: {}",
                    r.text()
                ),
                (true, false) => {
                    assert_eq!(r.status, 404, "{user} analysis {study}");
                    assert_eq!(r.json()["title"], "Not found");
                }
                (false, _) => denied(&r, "analysis study"),
            }
            cells += 4;
        }

        // QC indicators cover the caller's studies only
        let r = get("/api/qc/indicators?from=1900-01-01&to=2100-12-31&group-by=site");
        if allowed(role, "indicators") {
            assert_eq!(r.status, 200, "{user}");
            let studies: i64 = r.json()["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["studies"].as_i64().unwrap())
                .sum();
            assert_eq!(studies as usize, visible.len(), "{user} indicators");
        } else {
            denied(&r, "indicators");
        }

        let r = get("/api/analysis/jobs");
        if allowed(role, "jobs") {
            assert_eq!(r.status, 200, "{user}");
        } else {
            denied(&r, "jobs");
        }
        let r = get("/api/admin/users");
        if allowed(role, "admin") {
            assert_eq!(r.status, 200, "{user}");
            // never a password hash
            assert!(!r.text().contains("argon2"), "{}", r.text());
        } else {
            denied(&r, "admin");
        }
        cells += 5;
    }

    // STOW-RS last (it adds a study): only technologists store, and a stored study belongs
    // to the storer's site
    for user in &users {
        let role = user.split('@').next().unwrap();
        let token = common::create_token(server.data_dir(), user);
        let (content_type, body) =
            common::multipart_body(&[("application/dicom", std::fs::read(&stow_file).unwrap())]);
        let bearer = format!("Bearer {token}");
        let r = http(
            server.http_addr(),
            "POST",
            "/dicom-web/studies",
            &[
                ("Content-Type", &content_type),
                ("Accept", "application/dicom+json"),
                ("Authorization", &bearer),
            ],
            &body,
        );
        if allowed(role, "stow") {
            assert_eq!(r.status, 200, "{user}: {}", r.text());
        } else {
            assert_eq!(r.status, 403, "{user}: {}", r.text());
        }
        cells += 1;
    }
    let stored_by: String = {
        let token = common::create_token(server.data_dir(), "technologist@hosp-b");
        let r = http(
            server.http_addr(),
            "GET",
            "/dicom-web/studies?StudyInstanceUID=1.3.12.2.1107.5.2.32.35131.30000014022817282751500000052",
            &[("Authorization", &format!("Bearer {token}"))],
            b"",
        );
        r.text()
    };
    // the first technologist to store it (of site A) owns it: site B does not see it
    assert_eq!(stored_by.trim(), "[]", "{stored_by}");

    // DIMSE: C-FIND and C-GET by each site's device see their site's study only; a regional
    // PACS sees both; an unregistered AE title cannot associate
    let queries = server.scratch("queries").join("queries.json");
    std::fs::write(
        &queries,
        r#"[{"model": "study", "level": "STUDY", "keys": {"StudyInstanceUID": ""}}]"#,
    )
    .unwrap();
    let port = server.port_arg();
    for (aet, expected) in [
        (
            "A_MODALITY",
            vec![
                STUDY_A,
                "1.3.12.2.1107.5.2.32.35131.30000014022817282751500000052",
            ],
        ),
        ("B_MODALITY", vec![STUDY_B]),
        (
            "REGION_PACS",
            vec![
                STUDY_A,
                STUDY_B,
                "1.3.12.2.1107.5.2.32.35131.30000014022817282751500000052",
            ],
        ),
    ] {
        let found = common::qr_peer_with_env(
            &python,
            &[
                "find",
                "127.0.0.1",
                &port,
                "MIRA",
                queries.to_str().unwrap(),
            ],
            &[("QR_PEER_AET", aet)],
        );
        let matches: BTreeSet<String> = found[0]["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m[0].as_str().unwrap().to_string())
            .collect();
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(matches, expected, "C-FIND by {aet}");
        for study in [STUDY_A, STUDY_B] {
            let out = server.scratch(&format!("get-{aet}-{study}"));
            let got = common::qr_peer_with_env(
                &python,
                &[
                    "get",
                    "127.0.0.1",
                    &port,
                    "MIRA",
                    out.to_str().unwrap(),
                    "STUDY",
                    study,
                ],
                &[("QR_PEER_AET", aet)],
            );
            let visible = expected.contains(study);
            assert_eq!(
                got[0]["received"].as_i64().unwrap(),
                i64::from(visible),
                "C-GET of {study} by {aet}: {}",
                got[0]
            );
            cells += 1;
        }
        cells += 1;
    }
    let out = require!(common::run_dcmtk(
        "echoscu",
        ["-aet", "STRANGER", "127.0.0.1", &port]
    ));
    assert!(!out.status.success(), "an unregistered AE title associated");
    assert!(
        server
            .log()
            .contains("calling AE title not registered to a site")
    );
    eprintln!("{cells} cells of the permission matrix checked");
}

#[test]
fn login_sessions_logout_and_account_administration() {
    let server = Server::start(&[]);
    let access = server.scratch("access").join("people.toml");
    std::fs::write(&access, access_file()).unwrap();
    common::mira_cli(
        server.data_dir(),
        &["access", "apply", access.to_str().unwrap()],
    );
    let post = |path: &str, body: &str, auth: Option<&str>| {
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        http(server.http_addr(), "POST", path, &headers, body.as_bytes())
    };

    // wrong password and unknown user: the same 401
    for body in [
        r#"{"username": "radiologist@cc-a", "password": "wrong password!"}"#,
        r#"{"username": "nobody", "password": "correct horse battery"}"#,
    ] {
        let r = post("/api/auth/login", body, None);
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(r.json()["detail"], "invalid username or password");
    }
    let r = post(
        "/api/auth/login",
        r#"{"username": "radiologist@cc-a", "password": "correct horse battery"}"#,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let cookie = r.header("set-cookie").unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let token = r.json()["token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {token}");
    let session_cookie = cookie.split(';').next().unwrap().to_string();
    // the bearer token and the cookie both work
    let me = http(
        server.http_addr(),
        "GET",
        "/api/auth/me",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(me.json()["identity"]["username"], "radiologist@cc-a");
    let me = http(
        server.http_addr(),
        "GET",
        "/api/auth/me",
        &[("Cookie", &session_cookie)],
        b"",
    );
    assert_eq!(me.status, 200);
    // logout revokes it
    assert_eq!(post("/api/auth/logout", "", Some(&bearer)).status, 204);
    let me = http(
        server.http_addr(),
        "GET",
        "/api/auth/me",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(me.status, 401);

    // an administrator creates an account; the new user logs in; deactivation revokes
    let admin = format!(
        "Bearer {}",
        common::create_token(server.data_dir(), "admin@cc-a")
    );
    let put = |path: &str, body: &str, auth: &str| {
        http(
            server.http_addr(),
            "PUT",
            path,
            &[
                ("Content-Type", "application/json"),
                ("Authorization", auth),
            ],
            body.as_bytes(),
        )
    };
    let new_user = r#"{"display_name": "李明", "password": "a long passphrase", "roles": ["technologist"], "site": "cc-a"}"#;
    assert_eq!(put("/api/admin/users/liming", new_user, &admin).status, 204);
    // a radiologist cannot
    let radiologist = format!(
        "Bearer {}",
        common::create_token(server.data_dir(), "radiologist@cc-a")
    );
    assert_eq!(
        put("/api/admin/users/liming", new_user, &radiologist).status,
        403
    );
    // bad input is a clear 400 or 404
    let short =
        r#"{"display_name": "x", "password": "short", "roles": ["technologist"], "site": "cc-a"}"#;
    let r = put("/api/admin/users/x", short, &admin);
    assert_eq!(r.status, 400, "{}", r.text());
    let nowhere = r#"{"display_name": "x", "password": "a long passphrase", "roles": ["technologist"], "site": "mars"}"#;
    assert_eq!(put("/api/admin/users/x", nowhere, &admin).status, 404);
    let r = post(
        "/api/auth/login",
        r#"{"username": "liming", "password": "a long passphrase"}"#,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let liming = format!("Bearer {}", r.json()["token"].as_str().unwrap());
    let users = http(
        server.http_addr(),
        "GET",
        "/api/admin/users",
        &[("Authorization", &admin)],
        b"",
    );
    let listed = users.json();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "liming")
        .unwrap();
    assert_eq!(entry["roles"], serde_json::json!(["technologist"]));
    assert_eq!(entry["site"], "cc-a");
    let r = http(
        server.http_addr(),
        "DELETE",
        "/api/admin/users/liming",
        &[("Authorization", &admin)],
        b"",
    );
    assert_eq!(r.status, 204);
    let me = http(
        server.http_addr(),
        "GET",
        "/api/auth/me",
        &[("Authorization", &liming)],
        b"",
    );
    assert_eq!(me.status, 401, "a deactivated user's session ends");
}

#[test]
fn accesses_over_http_and_dicom_are_in_an_intact_audit_chain_without_patient_data() {
    let ct = require!(pydicom_file("CT_small.dcm"));
    let mut server = Server::start(&[]);
    let access = server.scratch("access").join("people.toml");
    std::fs::write(&access, access_file()).unwrap();
    common::mira_cli(
        server.data_dir(),
        &["access", "apply", access.to_str().unwrap()],
    );
    storescu(&server, "A_MODALITY", &ct);
    let findscu = require!(common::run_dcmtk(
        "findscu",
        [
            "-S",
            "-aet",
            "A_MODALITY",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            "PatientName=Compressed*",
            "127.0.0.1",
            &server.port_arg()
        ]
    ));
    findscu.assert_success();
    // HTTP: a failed login, a login, a search, a metadata read, a refusal
    let login = |password: &str| {
        http(
            server.http_addr(),
            "POST",
            "/api/auth/login",
            &[("Content-Type", "application/json")],
            format!(r#"{{"username": "radiologist@cc-a", "password": "{password}"}}"#).as_bytes(),
        )
    };
    assert_eq!(login("not the password").status, 401);
    let r = login("correct horse battery");
    let server_token = format!("Bearer {}", r.json()["token"].as_str().unwrap());
    let auth = [("Authorization", server_token.as_str())];
    assert_eq!(
        http(
            server.http_addr(),
            "GET",
            "/dicom-web/studies?PatientName=Compressed*",
            &auth,
            b""
        )
        .status,
        200
    );
    assert_eq!(
        http(
            server.http_addr(),
            "GET",
            &format!("/dicom-web/studies/{STUDY_A}/metadata"),
            &auth,
            b""
        )
        .status,
        200
    );
    assert_eq!(
        http(server.http_addr(), "GET", "/api/analysis/jobs", &auth, b"").status,
        403
    );
    // the writer drains on a clean shutdown
    assert!(server.stop().success());

    let verify = common::mira_cli(server.data_dir(), &["audit", "verify"]);
    assert!(verify.contains("chain intact"), "{verify}");
    let export = common::mira_cli(server.data_dir(), &["audit", "export", "--format", "json"]);
    let records: Vec<serde_json::Value> = common::json_lines(&export);
    let has = |action: &str, actor: &str, outcome: &str| {
        records
            .iter()
            .any(|r| r["action"] == action && r["actor"]["id"] == actor && r["outcome"] == outcome)
    };
    for (action, actor, outcome) in [
        ("store", "A_MODALITY", "success"),
        ("query", "A_MODALITY", "success"),
        ("failed-login", "radiologist@cc-a", "failure"),
        ("login", "radiologist@cc-a", "success"),
        ("query", "radiologist@cc-a", "success"),
        ("retrieve", "radiologist@cc-a", "success"),
    ] {
        assert!(
            has(action, actor, outcome),
            "no {action} by {actor} ({outcome}) in\n{export}"
        );
    }
    let store = records.iter().find(|r| r["action"] == "store").unwrap();
    assert_eq!(store["object"]["id"], STUDY_A);
    assert_eq!(store["site"], SITE_A);
    assert!(
        records
            .iter()
            .all(|r| !r["source_address"].as_str().unwrap_or("").is_empty()
                || r["actor"]["kind"] == "system")
    );
    // the patient's name and ID, used as query keys above, are nowhere in the log
    let syslog = common::mira_cli(
        server.data_dir(),
        &["audit", "export", "--format", "syslog"],
    );
    for secret in ["CompressedSamples", "Compressed*", "1CT1"] {
        assert!(!export.contains(secret), "{secret} in the audit log");
        assert!(!syslog.contains(secret), "{secret} in the syslog export");
    }
}
