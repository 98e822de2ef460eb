//! The `custos` command-line tool (being written).
fn main() {}
