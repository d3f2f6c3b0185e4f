//! Issue 8, transport security: HTTPS and DICOM over TLS with certificates made by openssl
//! for the test, checked with curl and dcmtk (mutual TLS for DICOM, as IHE ATNA asks).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::Server;

/// A CA, a server certificate for 127.0.0.1/localhost and a client certificate, in `dir`.
fn make_certificates(dir: &Path) -> Option<()> {
    let openssl = |args: &[&str]| {
        let mut command = Command::new("openssl");
        command.current_dir(dir).args(args);
        let out = common::run(command, Duration::from_secs(60));
        out.assert_success();
    };
    if Command::new("openssl").arg("version").output().is_err() {
        return common::skip("openssl is not installed");
    }
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage = clientAuth\n").unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=mira test CA",
    ]);
    for (name, cn) in [("server", "localhost"), ("client", "STORESCU")] {
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ]);
    }
    Some(())
}

#[test]
fn https_and_dicom_tls_with_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    if make_certificates(dir.path()).is_none() {
        return;
    }
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let server = Server::start(&[
        ("MIRA__HTTP__TLS__CERT_FILE", &p("server.pem")),
        ("MIRA__HTTP__TLS__KEY_FILE", &p("server.key")),
        ("MIRA__DIMSE__TLS__CERT_FILE", &p("server.pem")),
        ("MIRA__DIMSE__TLS__KEY_FILE", &p("server.key")),
        ("MIRA__DIMSE__TLS__CLIENT_CA_FILE", &p("ca.pem")),
    ]);
    let port = server.port_arg();
    let file = common::testdata()
        .map(|d| d.join("dicom/pydicom/CT_small.dcm"))
        .expect("test data");

    // DICOM: with a client certificate of the CA, C-ECHO and C-STORE work
    let tls_client = [
        "+tls",
        &p("client.key"),
        &p("client.pem"),
        "+cf",
        &p("ca.pem"),
    ];
    let mut args: Vec<&str> = tls_client.to_vec();
    args.extend([
        "-aet",
        "STORESCU",
        "127.0.0.1",
        &port,
        file.to_str().unwrap(),
    ]);
    let Some(out) = common::run_dcmtk("storescu", &args) else {
        return;
    };
    out.assert_success();
    let mut args: Vec<&str> = tls_client.to_vec();
    args.extend(["-aet", "ECHOSCU", "127.0.0.1", &port]);
    common::run_dcmtk("echoscu", &args)
        .unwrap()
        .assert_success();
    // without TLS, or with TLS but no client certificate: refused
    let plain = common::run_dcmtk("echoscu", ["-aet", "ECHOSCU", "127.0.0.1", &port]).unwrap();
    assert!(!plain.status.success(), "plain DICOM on the TLS port");
    let anonymous = common::run_dcmtk(
        "echoscu",
        [
            "+tla",
            "+cf",
            &p("ca.pem"),
            "-aet",
            "ECHOSCU",
            "127.0.0.1",
            &port,
        ],
    )
    .unwrap();
    assert!(
        !anonymous.status.success(),
        "TLS without a client certificate"
    );

    // HTTPS: health without a token, QIDO-RS with one, finding what came over DICOM TLS
    let base = format!("https://localhost:{}", server.http_addr().port());
    let curl = |path: &str, auth: bool| {
        let mut command = Command::new("curl");
        command.args([
            "-sS",
            "--resolve",
            &format!("localhost:{}:127.0.0.1", server.http_addr().port()),
            "--cacert",
            &p("ca.pem"),
            "-w",
            "\n%{http_code}",
        ]);
        if auth {
            command.args(["-H", &format!("Authorization: {}", server.bearer())]);
        }
        command.arg(format!("{base}{path}"));
        common::run(command, Duration::from_secs(60))
    };
    let health = curl("/healthz", false);
    health.assert_success();
    assert!(health.stdout.ends_with("200"), "{}", health.stdout);
    let studies = curl("/dicom-web/studies", true);
    studies.assert_success();
    assert!(studies.stdout.ends_with("200"), "{}", studies.stdout);
    assert!(
        studies
            .stdout
            .contains("1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"),
        "{}",
        studies.stdout
    );
    assert!(curl("/dicom-web/studies", false).stdout.ends_with("401"));
    // plain HTTP on the HTTPS port gets no answer
    let mut command = Command::new("curl");
    command.args([
        "-sS",
        "-m",
        "10",
        &format!("http://127.0.0.1:{}/healthz", server.http_addr().port()),
    ]);
    let plain_http = common::run(command, Duration::from_secs(30));
    assert!(!plain_http.stdout.contains("ok"), "{}", plain_http.stdout);
}
