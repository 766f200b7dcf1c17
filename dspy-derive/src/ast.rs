//! The derive's model of the user's struct.

use crate::attr::{self, ContainerAttrs, Errors, Role, RoleAttr};
use syn::{Data, DeriveInput, Fields, Ident, Type, Visibility};

pub struct Container<'a> {
    pub input: &'a DeriveInput,
    pub ident: &'a Ident,
    pub vis: &'a Visibility,
    pub attrs: ContainerAttrs,
    pub docs: Option<String>,
    pub fields: Vec<Field<'a>>,
}

pub struct Field<'a> {
    pub ident: &'a Ident,
    pub ty: &'a Type,
    pub roles: Vec<RoleAttr>,
    pub docs: Option<String>,
}

impl Field<'_> {
    /// The field's role when it has exactly one.
    pub fn role(&self) -> Option<Role> {
        match self.roles.as_slice() {
            [one] => Some(one.role),
            _ => None,
        }
    }

    /// The description: `desc = "..."` wins over the doc comment.
    pub fn description(&self) -> Option<String> {
        self.roles
            .iter()
            .find_map(|r| r.desc.as_ref().map(|d| d.value()))
            .or_else(|| self.docs.clone())
    }
}

impl<'a> Container<'a> {
    /// Reads the struct. Non-struct shapes yield no fields; `valid` reports them.
    pub fn from_ast(input: &'a DeriveInput, errors: &mut Errors) -> Self {
        let fields = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named
                    .named
                    .iter()
                    .filter_map(|f| {
                        Some(Field {
                            ident: f.ident.as_ref()?,
                            ty: &f.ty,
                            roles: attr::role_attrs(&f.attrs, errors),
                            docs: attr::docs(&f.attrs),
                        })
                    })
                    .collect(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        Container {
            input,
            ident: &input.ident,
            vis: &input.vis,
            attrs: attr::container_attrs(&input.attrs, errors),
            docs: attr::docs(&input.attrs),
            fields,
        }
    }

    pub fn fields_with(&self, role: Role) -> impl Iterator<Item = &Field<'a>> {
        self.fields.iter().filter(move |f| f.role() == Some(role))
    }
}
