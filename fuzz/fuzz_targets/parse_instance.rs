//! Feeds arbitrary bytes to the ingest parser. Any outcome is fine as long as it is a return
//! (Ok or Err): a panic, a stack overflow, a timeout or an allocation past the fuzzer's
//! malloc limit is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mira_dicom::parse_instance_from(std::io::Cursor::new(data));
});
