//! The commands that are the binary's own: `bench` (the comparison harness) and `serve` (the
//! store over HTTP). Every other command is `lazarus-commands`'s.

pub mod bench;
pub mod serve;
