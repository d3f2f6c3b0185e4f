//! A full disk: C-STOREs that cannot be stored are refused with 0xA700 (out of resources),
//! everything acknowledged before stays intact, the server keeps serving, and once space is
//! back it stores again without a restart.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const PIXEL_DATA: dicom_object::Tag = dicom_object::Tag(0x7FE0, 0x0010);

/// A small tmpfs, unmounted on drop.
struct SmallFilesystem(PathBuf);

impl SmallFilesystem {
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status();
        match status {
            Ok(s) if s.success() => Some(SmallFilesystem(dir.to_path_buf())),
            _ => skip("cannot mount a tmpfs (needs root) to fill a disk"),
        }
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_refuses_with_out_of_resources_and_loses_nothing() {
    let testdata = require!(testdata());
    let scratch = tempfile::tempdir().unwrap();
    let files = many_ct_instances(&testdata, &scratch.path().join("sent"), 80);
    let sent_bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    // room for the catalogue and a handful of slices, far less than what is sent
    let mount = require!(SmallFilesystem::mount(&scratch.path().join("small"), "4m"));
    assert!(
        sent_bytes > 2 * 4 * 1024 * 1024,
        "the corpus must overflow the filesystem"
    );
    let data_dir = mount.0.join("data");
    let mut server = Server::start_in(Some(&data_dir), &[]);

    let mut args = vec![
        "-v".to_string(),
        // propose JPEG 2000 lossless, the slices' own transfer syntax
        "-xv".into(),
        // go on after a refusal
        "-nh".into(),
        "-aec".into(),
        "MIRA".into(),
        "127.0.0.1".into(),
        server.port_arg(),
    ];
    args.extend(files.iter().map(|f| f.to_string_lossy().to_string()));
    let output = require!(run_dcmtk("storescu", &args));
    let responses = storescu_responses(&output.combined());
    assert_eq!(responses.len(), files.len(), "{}", output.combined());
    let succeeded: Vec<&String> = responses
        .iter()
        .filter(|(_, r)| r.as_deref().is_some_and(|r| r.contains("Success")))
        .map(|(f, _)| f)
        .collect();
    let refused: Vec<&String> = responses
        .iter()
        .filter(|(_, r)| r.as_deref().is_some_and(|r| r.contains("OutOfResources")))
        .map(|(f, _)| f)
        .collect();
    assert!(succeeded.len() >= 2, "some instances fit: {responses:?}");
    assert!(
        refused.len() >= files.len() / 2,
        "most are refused as out of resources: {responses:?}"
    );
    assert_eq!(
        succeeded.len() + refused.len(),
        files.len(),
        "no other status: {responses:?}"
    );
    assert!(
        server.log().contains("C-STORE failed"),
        "refusals are logged"
    );

    // the server still answers, and holds exactly what it acknowledged
    run_dcmtk("echoscu", ["-aec", "MIRA", "127.0.0.1", &server.port_arg()])
        .unwrap()
        .assert_success();
    let check = |server: &Server| {
        let rows = server.assert_consistent();
        assert_eq!(rows.len(), succeeded.len());
        for file in &succeeded {
            let uid = open(Path::new(file.as_str()))
                .element(SOP_INSTANCE_UID)
                .unwrap()
                .to_str()
                .unwrap()
                .trim_end_matches('\0')
                .to_string();
            let row = rows
                .iter()
                .find(|r| r.sop_instance_uid == uid)
                .expect("acknowledged instance indexed");
            // storescu re-encodes sequence lengths of files dicom-object wrote, so compare
            // what matters here: the stored object parses and carries the sent pixel data
            let stored = open(&server.blob_path(&row.blob_key));
            let sent = open(Path::new(file.as_str()));
            let pixels = |o: &dicom_object::DefaultDicomObject| {
                let value = o.element(PIXEL_DATA).unwrap().value();
                let fragments = value.fragments().expect("encapsulated pixel data");
                fragments.to_vec()
            };
            assert!(
                pixels(&stored) == pixels(&sent),
                "pixel data of {file} differs"
            );
        }
    };
    check(&server);

    // space comes back (the tmpfs grows): a refused instance is stored, without a restart.
    // A COMMIT that failed on the full disk must not leave a database connection unusable.
    let grown = Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&mount.0)
        .status()
        .expect("remount");
    assert!(grown.success(), "remount the tmpfs larger");
    let retry = refused[0].to_string();
    let output = run_dcmtk(
        "storescu",
        [
            "-v",
            "-xv",
            "-aec",
            "MIRA",
            "127.0.0.1",
            &server.port_arg(),
            &retry,
        ],
    )
    .unwrap();
    let responses = storescu_responses(&output.combined());
    assert!(
        responses[0]
            .1
            .as_deref()
            .is_some_and(|r| r.contains("Success")),
        "stored once space is back: {responses:?}\n{}",
        server.log()
    );
    let stored_now = server.assert_consistent().len();
    assert_eq!(stored_now, succeeded.len() + 1);

    server.restart();
    assert_eq!(server.assert_consistent().len(), succeeded.len() + 1);
    server.stop();
    drop(server);
    drop(mount);
}
