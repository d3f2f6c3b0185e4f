// `sqlx::migrate!` embeds the migrations at compile time: a new or changed migration file must
// rebuild this crate, or the binary would carry the old set.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
