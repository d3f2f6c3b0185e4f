//! `mira eval` and `mira models` as a user runs them: the real binary on the LUNA16 reference
//! data, on small classification files, on malformed CSV (exit 2 naming file and line).

mod common;
#[path = "../../mira-eval/tests/support/tiny_models.rs"]
mod tiny_models;

use std::path::Path;
use std::process::{Command, Output};

fn mira(args: &[&str], data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mira"))
        .args(args)
        .env("MIRA_DATA_DIR", data_dir)
        .env_remove("MIRA_CONFIG")
        .output()
        .expect("mira runs")
}

#[test]
fn froc_reproduces_the_luna16_scripts_output() {
    let Some(dir) = mira_testdata::file("eval/luna16") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let curve = tmp.path().join("froc.txt");
    let html = tmp.path().join("froc.html");
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let out = mira(
        &[
            "eval",
            "froc",
            "--annotations",
            &p("annotations.csv"),
            "--excluded",
            &p("annotations_excluded.csv"),
            "--series",
            &p("seriesuids.csv"),
            "--pred",
            &p("synthetic_submission.csv"),
            "--format",
            "json",
            "--curve",
            curve.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let counts = &json["counts"];
    assert_eq!(counts["true_positives"], 950);
    assert_eq!(counts["false_positives"], 2664);
    assert_eq!(counts["false_negatives"], 236);
    assert_eq!(counts["candidates"], 3614);
    assert_eq!(counts["nodules"], 1186);

    // every line of the curve file to 4 decimals against the script's
    let ours = std::fs::read_to_string(&curve).unwrap();
    let theirs =
        std::fs::read_to_string(dir.join("expected/froc_synthetic_submission.txt")).unwrap();
    let ours: Vec<&str> = ours.lines().collect();
    let theirs: Vec<&str> = theirs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(ours.len(), theirs.len());
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        let parse = |l: &str| -> Vec<String> {
            l.split(',')
                .map(|f| match f.trim() {
                    "inf" => "inf".to_string(),
                    v => format!("{:.4}", v.parse::<f64>().unwrap()),
                })
                .collect()
        };
        assert_eq!(parse(a), parse(b), "line {}", i + 1);
    }
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("CPM"));
    // self-contained: no script, nothing fetched from elsewhere
    assert!(!page.contains("<script") && !page.contains("src=") && !page.contains("href="));
}

/// FROC by subgroup: the scans split into two sites; site B's candidate probabilities are
/// reversed among themselves (anti-correlated with the truth), so B must be flagged and A not;
/// and each subgroup's figures must equal a plain evaluation of its scans alone.
#[test]
fn froc_subgroups_flag_the_weaker_site_and_match_a_run_on_its_scans_alone() {
    let Some(dir) = mira_testdata::file("eval/luna16") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let scans: Vec<String> = std::fs::read_to_string(dir.join("seriesuids.csv"))
        .unwrap()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let site_b = |uid: &str| scans.iter().position(|s| s == uid).unwrap() % 2 == 1;
    let mut attributes = String::from("seriesuid,site,sex\n");
    for (i, uid) in scans.iter().enumerate() {
        let site = if i % 2 == 1 { "B" } else { "A" };
        let sex = if i % 3 == 0 { "F" } else { "M" };
        attributes.push_str(&format!("{uid},{site},{sex}\n"));
    }
    let attributes_path = tmp.path().join("scans.csv");
    std::fs::write(&attributes_path, attributes).unwrap();
    // site B's probabilities reversed among B's candidates
    let submission = std::fs::read_to_string(dir.join("synthetic_submission.csv")).unwrap();
    let mut lines: Vec<Vec<String>> = submission
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let b_rows: Vec<usize> = (0..lines.len()).filter(|&i| site_b(&lines[i][0])).collect();
    let mut b_probs: Vec<String> = b_rows.iter().map(|&i| lines[i][4].clone()).collect();
    b_probs.sort_by(|a, b| {
        a.parse::<f64>()
            .unwrap()
            .total_cmp(&b.parse::<f64>().unwrap())
    });
    let mut b_by_rank: Vec<usize> = b_rows.clone();
    b_by_rank.sort_by(|&a, &b| {
        lines[b][4]
            .parse::<f64>()
            .unwrap()
            .total_cmp(&lines[a][4].parse::<f64>().unwrap())
    });
    // the highest-scored candidate gets the lowest probability, and so on
    for (rank, &row) in b_by_rank.iter().enumerate() {
        lines[row][4] = b_probs[rank].clone();
    }
    let degraded = tmp.path().join("degraded.csv");
    let mut text = String::from("seriesuid,coordX,coordY,coordZ,probability\n");
    for l in &lines {
        text.push_str(&l.join(","));
        text.push('\n');
    }
    std::fs::write(&degraded, text).unwrap();
    let run = |series: &str, extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "eval",
            "froc",
            "--annotations",
            &p("annotations.csv"),
            "--excluded",
            &p("annotations_excluded.csv"),
            "--series",
            series,
            "--pred",
            degraded.to_str().unwrap(),
            "--format",
            "json",
            "--bootstrap",
            "200",
        ]
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = mira(&args, tmp.path());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let whole = run(
        &p("seriesuids.csv"),
        &["--scan-attributes", attributes_path.to_str().unwrap()],
    );
    let groups = whole["subgroups"]["groups"].as_array().unwrap();
    let group = |attribute: &str, value: &str| {
        groups
            .iter()
            .find(|g| g["attribute"] == attribute && g["value"] == value)
            .unwrap_or_else(|| panic!("no {attribute}={value} in {groups:?}"))
            .clone()
    };
    let (a, b) = (group("site", "A"), group("site", "B"));
    assert_eq!(a["flagged"], false, "{a}");
    assert_eq!(b["flagged"], true, "{b}");
    assert!(
        b["shortfalls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["metric"] == "cpm")
    );
    assert_eq!(
        a["nodules"].as_u64().unwrap() + b["nodules"].as_u64().unwrap(),
        whole["counts"]["nodules"].as_u64().unwrap()
    );
    assert_eq!(
        a["scans"].as_u64().unwrap() + b["scans"].as_u64().unwrap(),
        scans.len() as u64
    );
    // sex splits the scans differently: both groups present
    assert!(group("sex", "F")["scans"].as_u64().unwrap() > 0);
    // a subgroup is exactly an evaluation of its scans alone
    let a_series = tmp.path().join("a.csv");
    let a_list: Vec<&str> = scans
        .iter()
        .filter(|s| !site_b(s))
        .map(String::as_str)
        .collect();
    std::fs::write(&a_series, a_list.join("\n") + "\n").unwrap();
    let alone = run(a_series.to_str().unwrap(), &[]);
    assert_eq!(alone["cpm"], a["cpm"], "CPM of site A alone");
    assert_eq!(alone["counts"]["sensitivity"], a["sensitivity"]);
}

#[test]
fn classify_reports_json_and_html() {
    let tmp = tempfile::tempdir().unwrap();
    let truth = tmp.path().join("truth.csv");
    let pred = tmp.path().join("pred.csv");
    std::fs::write(
        &truth,
        "id,label,sex,site\na,0,F,A\nb,0,M,A\nc,1,F,B\nd,1,M,B\ne,1,F,A\nf,0,M,B\n",
    )
    .unwrap();
    std::fs::write(
        &pred,
        "id,score\na,0.1\nb,0.6\nc,0.8\nd,0.4\ne,0.9\nf,0.2\n",
    )
    .unwrap();
    let html = tmp.path().join("report.html");
    let out = mira(
        &[
            "eval",
            "classify",
            "--truth",
            truth.to_str().unwrap(),
            "--pred",
            pred.to_str().unwrap(),
            "--format",
            "json",
            "--html",
            html.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // positives 0.8, 0.4, 0.9 against negatives 0.1, 0.6, 0.2: 8 of 9 pairs ordered
    let auc = json["overall"]["auc"]["value"].as_f64().unwrap();
    assert!((auc - 8.0 / 9.0).abs() < 1e-12);
    assert_eq!(
        json["overall"]["confusion"],
        serde_json::json!([[2, 1], [1, 2]])
    );
    assert!(json["subgroups"]["groups"].as_array().unwrap().len() >= 4);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("ROC") && page.contains("Calibration") && page.contains("forest plot"));

    let out = mira(
        &[
            "eval",
            "classify",
            "--truth",
            truth.to_str().unwrap(),
            "--pred",
            pred.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("auc"));
}

#[test]
fn malformed_csv_names_the_file_and_line_and_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let truth = tmp.path().join("truth.csv");
    let pred = tmp.path().join("pred.csv");
    std::fs::write(&truth, "id,label\na,0\nb,1\n").unwrap();
    let cases = [
        (
            "id,score\na,0.1\nb,abc\n",
            "pred.csv, line 3: score 'abc' is not a finite number",
        ),
        (
            "id,score\na,0.1\nb\n",
            "pred.csv, line 3: 1 fields, the header has 2 columns",
        ),
        ("id,prob\na,0.1\n", "pred.csv: expected columns p0..p{K-1}"),
        (
            "id,score\na,0.1\n",
            "truth.csv: id 'b' (line 3) has no prediction",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(&pred, text).unwrap();
        let out = mira(
            &[
                "eval",
                "classify",
                "--truth",
                truth.to_str().unwrap(),
                "--pred",
                pred.to_str().unwrap(),
            ],
            tmp.path(),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(want), "want '{want}' in: {stderr}");
    }
    std::fs::write(&truth, "id,label\na,0\nb,7\n").unwrap();
    std::fs::write(&pred, "id,p0,p1\na,0.9,0.1\nb,0.2,0.8\n").unwrap();
    let out = mira(
        &[
            "eval",
            "classify",
            "--truth",
            truth.to_str().unwrap(),
            "--pred",
            pred.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("truth.csv, line 3: label 7 is outside 0..1")
    );
}

#[test]
fn deploy_without_an_evaluation_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let gates = tmp.path().join("gates.toml");
    std::fs::write(
        &gates,
        "[[gate]]\nintended_use = \"x\"\ndataset = \"d\"\n[gate.minimum]\nauc = 0.9\n",
    )
    .unwrap();
    let out = mira(
        &[
            "models",
            "deploy",
            "nope",
            "1.0",
            "--gates",
            gates.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no model nope version 1.0"));
    let out = mira(&["models", "list", "--format", "json"], tmp.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        serde_json::json!([])
    );
}

/// The model catalogue over HTTP: two versions evaluated with `mira eval run`, the better one
/// deployed through its gate and the worse refused; `/api/models` and `/models` on the running
/// server show both with their state and evaluation cards, and only to a signed-in caller.
#[test]
fn the_served_catalogue_shows_each_version_its_state_and_its_evaluation() {
    if !tiny_models::have_onnx() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("python3")
        .args(["-c", tiny_models::MAKE_MODELS])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let good = tiny_models::manifest(dir.path(), "good.onnx", "2.0.0");
    let poor = tiny_models::manifest(dir.path(), "poor.onnx", "1.0.0");
    let data = tiny_models::dataset(dir.path());
    let server = common::Server::start(&[]);
    for model in [&good, &poor] {
        common::mira_cli(
            server.data_dir(),
            &[
                "eval",
                "run",
                "--model",
                model.to_str().unwrap(),
                "--dataset",
                data.to_str().unwrap(),
                "--format",
                "json",
            ],
        );
    }
    let gates = dir.path().join("gates.toml");
    std::fs::write(
        &gates,
        format!(
            "[[gate]]\nintended_use = \"{}\"\ndataset = \"tiny-colour\"\n[gate.minimum]\nauc = 0.9\n",
            tiny_models::INTENDED_USE
        ),
    )
    .unwrap();
    common::mira_cli(
        server.data_dir(),
        &[
            "models",
            "deploy",
            "red-vs-blue",
            "2.0.0",
            "--gates",
            gates.to_str().unwrap(),
        ],
    );
    let refused = mira(
        &[
            "models",
            "deploy",
            "red-vs-blue",
            "1.0.0",
            "--gates",
            gates.to_str().unwrap(),
        ],
        server.data_dir(),
    );
    assert!(!refused.status.success());

    let api = server.get("/api/models", &[]);
    assert_eq!(api.status, 200, "{}", api.text());
    let entries = api.json();
    let state = |version: &str| {
        entries
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["model_id"] == "red-vs-blue" && e["version"] == version)
            .unwrap_or_else(|| panic!("{version} not served: {entries}"))
            .clone()
    };
    let (deployed, candidate) = (state("2.0.0"), state("1.0.0"));
    assert_eq!(deployed["state"], "deployed");
    assert_eq!(candidate["state"], "candidate");
    assert_eq!(deployed["runs"][0]["dataset"], "tiny-colour");
    assert_eq!(deployed["runs"][0]["metrics"]["auc"]["value"], 1.0);
    assert!(
        candidate["runs"][0]["metrics"]["auc"]["value"]
            .as_f64()
            .unwrap()
            < 0.9
    );
    let page = server.get("/models", &[]);
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        html.contains("red-vs-blue 2.0.0") && html.contains("red-vs-blue 1.0.0"),
        "{html}"
    );
    assert!(
        html.contains("deployed") && html.contains("on tiny-colour"),
        "{html}"
    );
    // a signed-in caller only
    let anonymous = common::http(server.http_addr(), "GET", "/api/models", &[], b"");
    assert_eq!(anonymous.status, 401);
}

/// Bland–Altman from the command line: bias and limits of agreement per measurement column,
/// checked against hand-computed values; a missing id is refused with exit 2 naming the file.
#[test]
fn measure_gives_bias_and_limits_of_agreement_per_column() {
    let tmp = tempfile::tempdir().unwrap();
    let truth = tmp.path().join("truth.csv");
    let pred = tmp.path().join("pred.csv");
    std::fs::write(
        &truth,
        "id,diameter_mm,volume_mm3\na,4,30\nb,6,110\nc,8,270\nd,10,520\n",
    )
    .unwrap();
    std::fs::write(
        &pred,
        "id,diameter_mm,volume_mm3\nd,10.5,560\nc,8.7,250\nb,6.3,\na,4.5,35\n",
    )
    .unwrap();
    let out = mira(
        &[
            "eval",
            "measure",
            "--truth",
            truth.to_str().unwrap(),
            "--pred",
            pred.to_str().unwrap(),
            "--format",
            "json",
        ],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // differences 0.5, 0.3, 0.7, 0.5: bias 0.5, sd sqrt(0.08/3)
    let d = &json["diameter_mm"];
    let sd = (0.08f64 / 3.0).sqrt();
    assert_eq!(d["pairs"], 4);
    assert!((d["bias"]["value"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    assert!((d["sd"].as_f64().unwrap() - sd).abs() < 1e-12);
    assert!((d["lower_limit"]["value"].as_f64().unwrap() - (0.5 - 1.96 * sd)).abs() < 1e-12);
    assert!((d["upper_limit"]["value"].as_f64().unwrap() - (0.5 + 1.96 * sd)).abs() < 1e-12);
    // the empty volume of b leaves it out: 5, -20, 40 → bias 25/3
    let v = &json["volume_mm3"];
    assert_eq!(v["pairs"], 3);
    assert!((v["bias"]["value"].as_f64().unwrap() - 25.0 / 3.0).abs() < 1e-9);

    std::fs::write(&pred, "id,diameter_mm\na,4.5\nb,6.3\nc,8.7\n").unwrap();
    let out = mira(
        &[
            "eval",
            "measure",
            "--truth",
            truth.to_str().unwrap(),
            "--pred",
            pred.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("truth.csv") && stderr.contains("'d'"),
        "{stderr}"
    );
}
