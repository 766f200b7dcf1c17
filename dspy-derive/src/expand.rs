//! Code generation for `#[derive(Signature)]`.

use crate::ast::{Container, Field};
use crate::attr::{Errors, Role};
use crate::valid;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

pub fn signature(input: &syn::DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let container = Container::from_ast(input, &mut errors);
    valid::check(&container, &mut errors);
    if !errors.is_empty() {
        let mut out = errors.into_compile_errors();
        out.extend(fallback(&container));
        return out;
    }
    expand(&container)
}

fn krate(container: &Container) -> TokenStream {
    match &container.attrs.krate {
        Some(path) => quote!(#path),
        None => quote!(::dspy),
    }
}

fn expand(container: &Container) -> TokenStream {
    let krate = krate(container);
    let private = quote!(#krate::__private);
    let ident = container.ident;
    let vis = container.vis;
    let input_ident = format_ident!("{}Input", ident);
    let output_ident = format_ident!("{}Output", ident);
    let private_text = quote!(#private).to_string().replace(' ', "");
    let serde_path = format!("{private_text}::serde");
    let schemars_path = format!("{private_text}::schemars");

    let half = |role: Role, name: &syn::Ident| {
        let fields = container.fields_with(role).map(|f| {
            let field_ident = f.ident;
            let ty = f.ty;
            let doc = f.docs.as_deref().map(|d| quote!(#[doc = #d]));
            quote!(#doc #vis #field_ident: #ty,)
        });
        let doc = format!(
            "The {} fields of [`{}`], written by `#[derive(Signature)]`.",
            role.keyword(),
            ident
        );
        quote! {
            #[doc = #doc]
            #[derive(
                #private::Debug,
                #private::Clone,
                #private::serde::Serialize,
                #private::serde::Deserialize,
                #private::schemars::JsonSchema
            )]
            #[serde(crate = #serde_path)]
            #[schemars(crate = #schemars_path)]
            #vis struct #name {
                #(#fields)*
            }
        }
    };
    let input_struct = half(Role::Input, &input_ident);
    let output_struct = half(Role::Output, &output_ident);

    let specs = |role: Role| -> Vec<TokenStream> {
        container
            .fields_with(role)
            .map(|f| field_spec(&private, f, role))
            .collect()
    };
    let inputs = specs(Role::Input);
    let outputs = specs(Role::Output);
    let names: Vec<String> = container.fields.iter().map(|f| unraw(f.ident)).collect();
    let input_fields: Vec<&syn::Ident> = container
        .fields_with(Role::Input)
        .map(|f| f.ident)
        .collect();
    let output_fields: Vec<&syn::Ident> = container
        .fields_with(Role::Output)
        .map(|f| f.ident)
        .collect();
    let name = ident.to_string();
    let instructions = match (&container.attrs.instructions, &container.docs) {
        (Some(lit), _) => quote!(#private::Option::Some(#private::String::from(#lit))),
        (None, Some(doc)) => quote!(#private::Option::Some(#private::String::from(#doc))),
        (None, None) => quote!(#private::Option::None),
    };

    quote! {
        #input_struct
        #output_struct

        const _: () = {
            #[automatically_derived]
            impl #private::Signature for #ident {
                type Input = #input_ident;
                type Output = #output_ident;
            }

            #[automatically_derived]
            impl #private::TypedSignature for #ident {
                const FIELD_NAMES: &'static [&'static str] = &[#(#names),*];

                fn spec() -> #private::SignatureSpec {
                    #private::derived_spec(
                        #name,
                        #instructions,
                        #private::Vec::from([#(#inputs),*]),
                        #private::Vec::from([#(#outputs),*]),
                    )
                }
            }

            /// A whole example (inputs and outputs) split into its typed halves, e.g. to
            /// give it to a predictor as a demo.
            #[automatically_derived]
            impl ::core::convert::From<#ident> for (#input_ident, #output_ident) {
                fn from(example: #ident) -> Self {
                    (
                        #input_ident { #(#input_fields: example.#input_fields),* },
                        #output_ident { #(#output_fields: example.#output_fields),* },
                    )
                }
            }
        };
    }
}

/// `FieldSpec::typed::<T>(..)`, spanned at the field's type so that a type without
/// `JsonSchema` is reported there.
fn field_spec(private: &TokenStream, field: &Field, role: Role) -> TokenStream {
    let ty = field.ty;
    let name = unraw(field.ident);
    let type_name = type_text(ty);
    let role = match role {
        Role::Input => quote!(#private::FieldRole::Input),
        Role::Output => quote!(#private::FieldRole::Output),
    };
    let spec = quote_spanned! {ty.span()=>
        #private::FieldSpec::typed::<#ty>(#name, #role, #type_name)
    };
    match field.description() {
        Some(desc) => quote!(#spec.with_desc(#desc)),
        None => spec,
    }
}

/// The type as written, without the token spacing `quote` adds (`Vec<i64>`, `Option<String>`).
fn type_text(ty: &syn::Type) -> String {
    quote!(#ty).to_string().replace(' ', "").replace(',', ", ")
}

fn unraw(ident: &syn::Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_string).unwrap_or(s)
}

/// Emitted beside the errors so that the user's other code does not fill with follow-on
/// "trait not implemented" errors.
fn fallback(container: &Container) -> TokenStream {
    if !container.input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let private = {
        let krate = krate(container);
        quote!(#krate::__private)
    };
    let ident = container.ident;
    quote! {
        const _: () = {
            impl #private::Signature for #ident {
                type Input = #private::serde_json::Map<#private::String, #private::serde_json::Value>;
                type Output = #private::serde_json::Map<#private::String, #private::serde_json::Value>;
            }
        };
    }
}
