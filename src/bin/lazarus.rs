//! The `lazarus` command-line tool.
fn main() {}
