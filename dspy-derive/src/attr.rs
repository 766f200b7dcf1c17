//! Attribute parsing: `#[input(..)]`, `#[output(..)]`, `#[signature(..)]` and doc comments.

use proc_macro2::Span;
use syn::{Attribute, Expr, ExprLit, Lit, LitStr, Path};

/// Collects every error instead of stopping at the first (serde's `Ctxt`).
#[derive(Default)]
pub struct Errors(Vec<syn::Error>);

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        self.0.push(error);
    }

    pub fn spanned(&mut self, span: Span, message: impl std::fmt::Display) {
        self.0.push(syn::Error::new(span, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_compile_errors(self) -> proc_macro2::TokenStream {
        self.0.into_iter().map(|e| e.to_compile_error()).collect()
    }
}

/// Whether a field is given to or produced by the LM.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Input,
    Output,
}

impl Role {
    pub fn keyword(self) -> &'static str {
        match self {
            Role::Input => "input",
            Role::Output => "output",
        }
    }
}

/// One `#[input]` / `#[output]` attribute on a field.
pub struct RoleAttr {
    pub role: Role,
    pub span: Span,
    pub desc: Option<LitStr>,
}

/// Reads `#[input]`, `#[input(desc = "...")]` and the same for `output`.
pub fn role_attrs(attrs: &[Attribute], errors: &mut Errors) -> Vec<RoleAttr> {
    let mut found = Vec::new();
    for attr in attrs {
        let role = if attr.path().is_ident("input") {
            Role::Input
        } else if attr.path().is_ident("output") {
            Role::Output
        } else {
            continue;
        };
        let mut desc = None;
        if !matches!(attr.meta, syn::Meta::Path(_)) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("desc") {
                    desc = Some(meta.value()?.parse::<LitStr>()?);
                    Ok(())
                } else {
                    Err(meta.error(format!(
                        "unknown `#[{}]` option `{}`; the only option is `desc = \"...\"`",
                        role.keyword(),
                        path_text(&meta.path)
                    )))
                }
            });
            if let Err(e) = result {
                errors.push(e);
            }
        }
        found.push(RoleAttr {
            role,
            span: attr.path().segments[0].ident.span(),
            desc,
        });
    }
    found
}

/// Options of `#[signature(..)]` on the struct.
#[derive(Default)]
pub struct ContainerAttrs {
    /// `crate = path`: where the runtime lives when it is not `::dspy`.
    pub krate: Option<Path>,
    /// `instructions = "..."`: overrides the doc comment.
    pub instructions: Option<LitStr>,
}

pub fn container_attrs(attrs: &[Attribute], errors: &mut Errors) -> ContainerAttrs {
    let mut out = ContainerAttrs::default();
    for attr in attrs {
        if attr.path().is_ident("input") || attr.path().is_ident("output") {
            let word = attr.path().segments[0].ident.to_string();
            errors.spanned(
                attr.path().segments[0].ident.span(),
                format!("`#[{word}]` is not allowed on the struct; put it on a field"),
            );
            continue;
        }
        if !attr.path().is_ident("signature") {
            continue;
        }
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let lit: LitStr = meta.value()?.parse()?;
                out.krate = Some(lit.parse()?);
                Ok(())
            } else if meta.path.is_ident("instructions") {
                out.instructions = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error(format!(
                    "unknown `#[signature]` option `{}`; expected `crate = \"...\"` or `instructions = \"...\"`",
                    path_text(&meta.path)
                )))
            }
        });
        if let Err(e) = result {
            errors.push(e);
        }
    }
    out
}

/// The text of `///` comments (literal `#[doc = "..."]` attributes), cleaned like Python's
/// `inspect.cleandoc`: common indentation removed, blank edges dropped. `None` if empty.
pub fn docs(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .flat_map(|s| s.lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let cleaned: Vec<&str> = lines
        .iter()
        .map(|l| {
            if l.trim().is_empty() {
                ""
            } else {
                l[indent..].trim_end()
            }
        })
        .collect();
    let text = cleaned.join("\n").trim_matches('\n').to_string();
    (!text.trim().is_empty()).then_some(text)
}

fn path_text(path: &Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}
