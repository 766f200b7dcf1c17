//! `#[derive(Module)]`: parse, validate and expand in one small stage each.
//!
//! The expansion is burn's visitor shape: for each field that is not `#[module(skip)]`,
//! `enter(name)`, visit the field as a module, `exit()`.

use crate::attr::Errors;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, LitStr, Path};

struct Child<'a> {
    /// The path segment: the field's name, or its index in a tuple struct.
    segment: String,
    member: syn::Member,
    ty: &'a syn::Type,
}

pub fn derive(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let krate = container_attrs(input, &mut errors);
    let children = children(input, &mut errors);
    if !errors.is_empty() {
        return errors.into_compile_errors();
    }
    expand(input, &krate, &children)
}

fn container_attrs(input: &DeriveInput, errors: &mut Errors) -> TokenStream {
    let mut krate: Option<Path> = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("module")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let lit: LitStr = meta.value()?.parse()?;
                krate = Some(lit.parse()?);
                Ok(())
            } else if meta.path.is_ident("skip") {
                Err(meta.error("`#[module(skip)]` belongs on a field, not on the struct"))
            } else {
                Err(meta
                    .error("unknown `#[module]` option on the struct; expected `crate = \"...\"`"))
            }
        });
        if let Err(e) = result {
            errors.push(e);
        }
    }
    match krate {
        Some(path) => quote!(#path),
        None => quote!(::dspy),
    }
}

fn children<'a>(input: &'a DeriveInput, errors: &mut Errors) -> Vec<Child<'a>> {
    let fields = match &input.data {
        Data::Struct(data) => &data.fields,
        Data::Enum(data) => {
            errors.spanned(
                data.enum_token.span,
                "`Module` can only be derived for structs: a module is a fixed set of predictors and sub-modules",
            );
            return Vec::new();
        }
        Data::Union(data) => {
            errors.spanned(
                data.union_token.span,
                "`Module` can only be derived for structs",
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    let list: Vec<&syn::Field> = match fields {
        Fields::Named(named) => named.named.iter().collect(),
        Fields::Unnamed(unnamed) => unnamed.unnamed.iter().collect(),
        Fields::Unit => Vec::new(),
    };
    for (index, field) in list.into_iter().enumerate() {
        let mut skip = false;
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("module")) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("skip") {
                    skip = true;
                    Ok(())
                } else {
                    Err(meta
                        .error("unknown `#[module]` option on a field; the only option is `skip`"))
                }
            });
            if let Err(e) = result {
                errors.push(e);
            }
        }
        if skip {
            continue;
        }
        let (segment, member) = match &field.ident {
            Some(ident) => {
                let name = ident.to_string();
                (
                    name.strip_prefix("r#").unwrap_or(&name).to_string(),
                    syn::Member::Named(ident.clone()),
                )
            }
            None => (
                index.to_string(),
                syn::Member::Unnamed(syn::Index::from(index)),
            ),
        };
        out.push(Child {
            segment,
            member,
            ty: &field.ty,
        });
    }
    out
}

/// Whether `ty` names any of the type parameters `params`.
fn mentions(ty: &syn::Type, params: &[String]) -> bool {
    fn walk(tokens: proc_macro2::TokenStream, params: &[String]) -> bool {
        tokens.into_iter().any(|t| match t {
            proc_macro2::TokenTree::Ident(i) => params.contains(&i.to_string()),
            proc_macro2::TokenTree::Group(g) => walk(g.stream(), params),
            _ => false,
        })
    }
    !params.is_empty() && walk(quote!(#ty), params)
}

fn expand(input: &DeriveInput, krate: &TokenStream, children: &[Child]) -> TokenStream {
    let private = quote!(#krate::__private);
    let ident = &input.ident;
    let mut generics = input.generics.clone();
    let params: Vec<String> = input
        .generics
        .type_params()
        .map(|p| p.ident.to_string())
        .collect();
    {
        // Bound only the field types that mention a type parameter; a concrete type that
        // is not a module is reported at the field itself, by the spanned call below.
        let where_clause = generics.make_where_clause();
        for child in children.iter().filter(|c| mentions(c.ty, &params)) {
            let ty = child.ty;
            where_clause
                .predicates
                .push(syn::parse_quote!(#ty: #private::Module));
        }
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let visits = children.iter().map(|c| {
        let (segment, member, ty) = (&c.segment, &c.member, c.ty);
        let call = quote_spanned! {ty.span()=>
            <#ty as #private::Module>::visit_predictors(&self.#member, visitor)
        };
        quote! { visitor.enter(#segment); #call; visitor.exit(); }
    });
    let visits_mut = children.iter().map(|c| {
        let (segment, member, ty) = (&c.segment, &c.member, c.ty);
        let call = quote_spanned! {ty.span()=>
            <#ty as #private::Module>::visit_predictors_mut(&mut self.#member, visitor)
        };
        quote! { visitor.enter(#segment); #call; visitor.exit(); }
    });
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #private::Module for #ident #ty_generics #where_clause {
                fn visit_predictors<'__dspy>(&'__dspy self, visitor: &mut dyn #private::Visitor<'__dspy>) {
                    #(#visits)*
                }
                fn visit_predictors_mut<'__dspy>(&'__dspy mut self, visitor: &mut dyn #private::VisitorMut<'__dspy>) {
                    #(#visits_mut)*
                }
            }
        };
    }
}
