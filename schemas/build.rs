//! Rebuilds the crate when a migration is added or changed: `sqlx::migrate!` embeds them at
//! compile time, and cargo would not notice a new file otherwise.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
