//! Checks of the Windows drivers that `cargo xtask dist` builds: PE image rules ([`pe`]),
//! INF sanity ([`inf`]) and smoke loads in Wine ([`wine`]). The checks over the built files are
//! the ignored tests in `tests/dist.rs`, which `cargo xtask test` runs after the dist build.
#![forbid(unsafe_code)]

pub mod def;
pub mod inf;
pub mod pe;
pub mod wine;
