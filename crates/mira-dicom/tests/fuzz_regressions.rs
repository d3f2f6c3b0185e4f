//! What the `parse_instance` fuzz target checks, on stable Rust and without libFuzzer: every
//! input saved under `fuzz/regressions/`, every file of the shared DICOM test data, systematic
//! mutations of a few of those files and a generated deep nesting must make
//! `parse_instance_from` return, Ok or Err. A panic, a stack overflow or a request for a huge
//! allocation is a failure. Saved and generated inputs each run in a child process, so that
//! one that aborts (a stack overflow does) fails alone and by name.
//!
//! Huge allocations are caught by the global allocator below: it refuses any single request
//! over [`ALLOCATION_LIMIT`] and records it, so that dicom-rs's fallible reservations fail
//! fast (instead of zeroing 4 GiB) and the input that asked is named.
//!
//! The test data lives outside the repository: `$MIRA_TESTDATA`, or `../shared/testdata`
//! next to it. Without it, the tests that need it print a note and pass, except under `CI=true`,
//! where a missing data set must not pass silently.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// Largest single allocation a parse may ask for. The biggest legitimate ones are a value as
/// long as the file (the largest test file is under 4 MiB) and its decoded text.
const ALLOCATION_LIMIT: usize = 64 * 1024 * 1024;

struct Guard;

thread_local! {
    /// Largest allocation refused on this thread since the last [`take_refused`].
    static REFUSED: Cell<usize> = const { Cell::new(0) };
}

fn refuse(size: usize) {
    // no allocation in here: a const-initialised Cell needs no lazy thread-local setup
    let _ = REFUSED.try_with(|r| r.set(r.get().max(size)));
}

fn take_refused() -> usize {
    REFUSED.with(|r| r.replace(0))
}

unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOCATION_LIMIT {
            refuse(layout.size());
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOCATION_LIMIT {
            refuse(layout.size());
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > ALLOCATION_LIMIT {
            refuse(new_size);
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GUARD: Guard = Guard;

/// Parses `data` and says what went wrong, if anything did.
fn probe(data: &[u8]) -> Option<String> {
    take_refused();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let _ = mira_dicom::parse_instance_from(Cursor::new(data));
    }));
    let refused = take_refused();
    match outcome {
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            Some(format!("panicked: {message}"))
        }
        Ok(()) if refused > 0 => Some(format!("asked for {refused} bytes at once")),
        Ok(()) => None,
    }
}

/// Runs [`probe`] on each input; returns how many there were and what went wrong.
fn probe_all<I: IntoIterator<Item = (String, Vec<u8>)>>(inputs: I) -> (usize, Vec<String>) {
    let mut count = 0;
    let mut failures = Vec::new();
    for (name, data) in inputs {
        count += 1;
        if let Some(what) = probe(&data) {
            failures.push(format!("{name}: {what}"));
        }
    }
    (count, failures)
}

fn assert_none_failed(count: usize, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} of {count} inputs did not simply return:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The shared DICOM test data, or `None` (after saying so) where it is absent outside CI.
fn testdata_dicom() -> Option<PathBuf> {
    let root = std::env::var_os("MIRA_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"));
    let dicom = root.join("dicom");
    if dicom.is_dir() {
        return Some(dicom);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        !ci,
        "test data not found at {} (set MIRA_TESTDATA); CI=true, so this fails rather than skips",
        dicom.display()
    );
    eprintln!(
        "skipped: test data not found at {} (set MIRA_TESTDATA)",
        dicom.display()
    );
    None
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Names the input a child process of this test binary probes (see [`probe_one_input`]).
const PROBE_ENV: &str = "MIRA_FUZZ_PROBE";

/// Probes the file named by `MIRA_FUZZ_PROBE`, in a child process of this test binary: a
/// refused allocation that dicom-rs does not handle (an infallible one aborts) and a stack
/// overflow both abort the process, which then fails this one input, by name, instead of
/// taking every other test down with it. Does nothing when run as an ordinary test.
#[test]
fn probe_one_input() {
    let Some(path) = std::env::var_os(PROBE_ENV) else {
        return;
    };
    if let Some(what) = probe(&read(Path::new(&path))) {
        panic!("{what}");
    }
}

/// Runs [`probe_one_input`] on each file in a process of its own; fails with every input
/// whose process did not exit cleanly, and what it said on the way out.
fn check_each_isolated(files: &[PathBuf]) {
    let exe = std::env::current_exe().expect("path of this test binary");
    let mut failures = Vec::new();
    for path in files {
        let out = std::process::Command::new(&exe)
            .args([
                "--exact",
                "probe_one_input",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(PROBE_ENV, path)
            .output()
            .expect("run this test binary");
        let ran = String::from_utf8_lossy(&out.stdout).contains("1 passed");
        if out.status.success() && !ran {
            failures.push(format!("{}: the probe did not run", path.display()));
        } else if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let said: Vec<&str> = stderr
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with("note:"))
                .take(3)
                .collect();
            failures.push(format!(
                "{} ({}): {}",
                path.display(),
                out.status,
                said.join(" / ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} inputs did not simply return:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn saved_fuzz_inputs_return() {
    let dir = repo_root().join("fuzz/regressions");
    if !dir.is_dir() {
        eprintln!("no saved fuzz inputs at {}", dir.display());
        return;
    }
    let files = files_under(&dir);
    check_each_isolated(&files);
    eprintln!("{} saved fuzz inputs returned", files.len());
}

#[test]
fn every_shared_dicom_file_returns() {
    let Some(dicom) = testdata_dicom() else {
        return;
    };
    let inputs = files_under(&dicom)
        .into_iter()
        .map(|p| (p.display().to_string(), read(&p)));
    let (count, failures) = probe_all(inputs);
    assert_none_failed(count, &failures);
    assert!(count > 100, "only {count} files under {}", dicom.display());
}

/// Real files in each encoding the structural pass distinguishes: explicit and implicit little
/// endian, big endian, deflated, encapsulated (JPEG 2000, RLE, an encapsulated PDF), nested
/// and private sequences, a UN sequence.
const MUTATED: &[&str] = &[
    "pydicom/CT_small.dcm",
    "pydicom/MR_small_implicit.dcm",
    "pydicom/MR_small_bigendian.dcm",
    "pydicom/image_dfl.dcm",
    "pydicom/JPEG2000.dcm",
    "pydicom/SC_rgb_rle.dcm",
    "pydicom/nested_priv_SQ.dcm",
    "pydicom/UN_sequence.dcm",
    "pydicom/rtplan.dcm",
    "orthanc/sample-pdf.dcm",
];

/// How far past the start of the data set header bytes are flipped and length fields forged.
const HEADER_WINDOW: usize = 2048;

/// The variants of `data`, made one at a time (a few thousand copies of a file at once would
/// be a lot of memory).
fn mutations<'a>(name: &'a str, data: &'a [u8]) -> impl Iterator<Item = (String, Vec<u8>)> + 'a {
    let dataset_offset = mira_dicom::part10::read_head(&mut &data[..])
        .map(|head| head.dataset_offset as usize)
        .unwrap_or_else(|e| panic!("{name} should have a readable head: {e}"));
    let header_end = data.len().min(dataset_offset + HEADER_WINDOW);

    // truncated at every 97th offset: a length now runs past the end, or a header is cut
    let cut = (0..data.len())
        .step_by(97)
        .map(move |at| (format!("{name} cut at {at}"), data[..at].to_vec()));
    // each byte of the prefix, the meta group and the first data set headers inverted: tags,
    // VRs and lengths turn into ones no encoder writes
    let inverted = (128..header_end).map(move |at| {
        let mut bytes = data.to_vec();
        bytes[at] ^= 0xFF;
        (format!("{name} byte {at} inverted"), bytes)
    });
    // a 32-bit length of almost 4 GiB (or undefined) written at every even offset of the
    // same span: whichever of these lands on a length field declares a value far past the end,
    // or opens a sequence that never closes
    let forged = (128..header_end.saturating_sub(4))
        .step_by(2)
        .flat_map(|at| [(at, 0xFFFF_FFF0_u32), (at, 0xFFFF_FFFF)])
        .map(move |(at, forged)| {
            let mut bytes = data.to_vec();
            bytes[at..at + 4].copy_from_slice(&forged.to_le_bytes());
            (format!("{name} {forged:#X} at {at}"), bytes)
        });
    cut.chain(inverted).chain(forged)
}

#[test]
fn mutated_shared_files_return() {
    let Some(dicom) = testdata_dicom() else {
        return;
    };
    let (mut count, mut failures) = (0, Vec::new());
    for name in MUTATED {
        let data = read(&dicom.join(name));
        let (n, failed) = probe_all(mutations(name, &data));
        count += n;
        failures.extend(failed);
    }
    assert_none_failed(count, &failures);
    eprintln!("{count} mutated inputs returned");
}

/// A Part 10 head (preamble, prefix, File Meta Information) for an Explicit VR Little Endian
/// Secondary Capture instance, ahead of a hand-written data set.
fn part10(dataset: &[u8]) -> Vec<u8> {
    fn element(out: &mut Vec<u8>, element: u16, vr: &[u8; 2], value: &[u8]) {
        out.extend_from_slice(&0x0002_u16.to_le_bytes());
        out.extend_from_slice(&element.to_le_bytes());
        out.extend_from_slice(vr);
        if vr == b"OB" {
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        } else {
            out.extend_from_slice(&(value.len() as u16).to_le_bytes());
        }
        out.extend_from_slice(value);
    }
    let mut meta = Vec::new();
    element(&mut meta, 0x0001, b"OB", &[0, 1]);
    element(&mut meta, 0x0002, b"UI", b"1.2.840.10008.5.1.4.1.1.7\0");
    element(&mut meta, 0x0003, b"UI", b"1.2.3.4\0");
    element(&mut meta, 0x0010, b"UI", b"1.2.840.10008.1.2.1\0");
    let mut out = vec![0u8; 128];
    out.extend_from_slice(b"DICM");
    element(&mut out, 0x0000, b"UL", &(meta.len() as u32).to_le_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(dataset);
    out
}

/// Nesting built from item tags of undefined length among elements, which dicom-parser reads
/// as sequences: 50 000 levels, far past what a 2 MiB thread stack survives in dicom-object,
/// and too large (800 KB) for a saved input. Starts inside an ordinary sequence, where
/// dicom-object does not stop at Pixel Data.
#[test]
fn deep_nesting_through_item_tags_returns() {
    let mut dataset = Vec::new();
    dataset.extend_from_slice(b"\x40\x00\x30\xA7SQ\0\0\xFF\xFF\xFF\xFF"); // (0040,A730) SQ
    dataset.extend_from_slice(b"\xFE\xFF\x00\xE0\xFF\xFF\xFF\xFF"); // item
    for _ in 0..100_000 {
        dataset.extend_from_slice(b"\xFE\xFF\x00\xE0\xFF\xFF\xFF\xFF");
    }
    let path = std::env::temp_dir().join(format!("mira-fuzz-item-tags-{}.dcm", std::process::id()));
    std::fs::write(&path, part10(&dataset)).expect("write the generated input");
    let result = catch_unwind(|| check_each_isolated(std::slice::from_ref(&path)));
    let _ = std::fs::remove_file(&path);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
