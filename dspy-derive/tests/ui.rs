//! Compile-time behaviour of `#[derive(Signature)]`, `#[derive(Module)]` and `ChainOfThought`: misuse is a
//! spanned compile error (the expected messages are the committed `.stderr` files, pinned
//! to the toolchain CI runs), and correct use compiles.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/signature/*.rs");
    t.compile_fail("tests/ui/chain_of_thought/*.rs");
    t.compile_fail("tests/ui/module/*.rs");
}
