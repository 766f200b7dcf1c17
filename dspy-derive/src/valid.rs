//! Every check on a signature struct, each a spanned error; all are reported together.

use crate::ast::Container;
use crate::attr::{Errors, Role};
use syn::spanned::Spanned;
use syn::{Data, Fields};

/// Names the adapters use for themselves: `[[ ## completed ## ]]` ends every answer.
const RESERVED: &[&str] = &["completed"];

pub fn check(container: &Container, errors: &mut Errors) {
    if !check_shape(container, errors) {
        return;
    }
    for field in &container.fields {
        check_roles(field, errors);
        let name = field.ident.to_string();
        let name = name.strip_prefix("r#").unwrap_or(&name);
        if RESERVED.contains(&name) {
            errors.spanned(
                field.ident.span(),
                format!("`{name}` is reserved: the chat adapter ends every answer with `[[ ## {name} ## ]]`; rename the field"),
            );
        }
    }
    for role in [Role::Input, Role::Output] {
        let has = container
            .fields
            .iter()
            .any(|f| f.roles.iter().any(|r| r.role == role));
        if !has {
            errors.spanned(
                container.ident.span(),
                format!(
                    "a signature needs at least one `#[{}]` field",
                    role.keyword()
                ),
            );
        }
    }
}

/// A struct with named fields and no generics; `false` when fields cannot be checked.
fn check_shape(container: &Container, errors: &mut Errors) -> bool {
    let input = container.input;
    if !input.generics.params.is_empty() {
        errors.spanned(
            input.generics.params.span(),
            "a signature cannot be generic: its fields and their types must be known to describe it to the LM",
        );
    }
    match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(_) => true,
            Fields::Unnamed(fields) => {
                errors.spanned(
                    fields.span(),
                    "a signature needs named fields; tuple structs have no field names to show the LM",
                );
                false
            }
            Fields::Unit => {
                errors.spanned(
                    container.ident.span(),
                    "a signature needs named `#[input]` and `#[output]` fields; this is a unit struct",
                );
                false
            }
        },
        Data::Enum(data) => {
            errors.spanned(
                data.enum_token.span,
                "`Signature` can only be derived for structs with named fields",
            );
            false
        }
        Data::Union(data) => {
            errors.spanned(
                data.union_token.span,
                "`Signature` can only be derived for structs with named fields",
            );
            false
        }
    }
}

fn check_roles(field: &crate::ast::Field, errors: &mut Errors) {
    match field.roles.as_slice() {
        [] => errors.spanned(
            field.ident.span(),
            format!("field `{}` needs `#[input]` or `#[output]`", field.ident),
        ),
        [_] => {}
        [first, rest @ ..] => {
            for extra in rest {
                let message = if extra.role == first.role {
                    format!(
                        "duplicate `#[{}]` on field `{}`",
                        extra.role.keyword(),
                        field.ident
                    )
                } else {
                    format!(
                        "field `{}` is marked both `#[input]` and `#[output]`; a field is one or the other",
                        field.ident
                    )
                };
                errors.spanned(extra.span, message);
            }
        }
    }
}
