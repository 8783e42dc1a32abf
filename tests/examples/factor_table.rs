//! Prints the README's factor table (generated from the code): `cargo run -q -p teep-tests --example factor_table`.
fn main() {
    print!("{}", proto_core::report::factor_table_markdown());
}
