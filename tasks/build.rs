//! Rebuilds the crate when a warehouse migration is added: `sqlx::migrate!` embeds the files it
//! finds at compile time, and cargo does not watch a directory for new files on its own.

fn main() {
    println!("cargo:rerun-if-changed=../sql/warehouse");
}
