//! Derive macros of dspy-rs. Use them through the `dspy` crate (`use dspy::prelude::*;`),
//! which documents them; the expansions name the runtime through `::dspy::__private`.
//!
//! The crate parses (`ast`, `attr`), validates (`valid`), then expands (`expand`); every
//! problem with the input is a spanned compile error, all reported at once.

mod ast;
mod attr;
mod expand;
mod module;
mod valid;

use proc_macro::TokenStream;

/// Implements `dspy::Signature` for a struct whose fields are marked `#[input]` or
/// `#[output]`, and writes its typed halves `<Name>Input` and `<Name>Output`.
///
/// The struct's doc comment is the instruction; a field's doc comment (or
/// `desc = "…"`) is its description. See the `dspy` crate for the full reference.
#[proc_macro_derive(Signature, attributes(input, output, signature))]
pub fn derive_signature(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::signature(&input).into()
}

/// Implements `dspy::Module` for a struct of predictors and sub-modules: a visitor that
/// finds every predictor by its dotted path. Fields holding no predictors take
/// `#[module(skip)]`. See the `dspy` crate for the full reference.
#[proc_macro_derive(Module, attributes(module))]
pub fn derive_module(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    module::derive(&input).into()
}
