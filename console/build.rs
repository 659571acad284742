//! `sqlx::migrate!` embeds `migrations/` at compile time; this makes a new or edited migration
//! rebuild the console instead of shipping the old set.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
