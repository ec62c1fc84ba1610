//! Paths to what they name, within one crate: items and `use` bindings of
//! modules and function bodies (renames, groups, `self`, globs, `pub use`
//! re-exports), `crate::`, `self::`, `super::`, `Self::`, extern crates (the
//! package's dependencies, `std`, `core`, `alloc`), and associated
//! functions of the crate's own types. Anything else is unknown.

use super::tree::{Binding, Crate, Kind, Scope, UsePath};
use std::collections::{BTreeMap, BTreeSet};

/// How deep `use` bindings are followed (they may form cycles).
const DEPTH: usize = 10;

/// What a path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Res {
    /// A module of the crate.
    Mod(usize),
    /// An item of another crate: its extern name and the path inside it.
    Extern(String, Vec<String>),
    /// A function of the crate.
    Fn(usize),
    /// A type of the crate.
    Type(usize),
    /// A trait of the crate.
    Trait(usize),
    /// Something the analysis cannot name.
    Unknown,
}

/// Where a path is written.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// The module.
    pub module: usize,
    /// The functions around the path, innermost last (their local items).
    pub fns: Vec<usize>,
    /// The type `Self` stands for, if known.
    pub self_ty: Option<usize>,
}

/// Resolves paths of one crate.
pub struct Resolver<'a> {
    krate: &'a Crate,
    externs: &'a BTreeSet<String>,
    generated: &'a BTreeSet<String>,
    /// Inherent methods: type → name → functions.
    pub methods: BTreeMap<usize, BTreeMap<String, Vec<usize>>>,
    /// The type of each impl block, when its path names one of the crate's.
    pub impl_types: Vec<Option<usize>>,
}

impl<'a> Resolver<'a> {
    /// A resolver for `krate`, whose extern crates are `externs`, of which
    /// `generated` are generated crates.
    pub fn new(
        krate: &'a Crate,
        externs: &'a BTreeSet<String>,
        generated: &'a BTreeSet<String>,
    ) -> Self {
        let mut r = Resolver {
            krate,
            externs,
            generated,
            methods: BTreeMap::new(),
            impl_types: Vec::new(),
        };
        r.impl_types = krate
            .impls
            .iter()
            .map(|i| {
                let path = i.self_ty.as_ref()?;
                let ctx = Ctx {
                    module: i.module,
                    fns: Vec::new(),
                    self_ty: None,
                };
                match r.path(&ctx, path) {
                    Res::Type(t) => Some(t),
                    _ => None,
                }
            })
            .collect();
        for (id, f) in krate.fns.iter().enumerate() {
            if let Kind::Inherent(i) = f.kind {
                if let Some(t) = r.impl_types[i] {
                    r.methods
                        .entry(t)
                        .or_default()
                        .entry(f.name.clone())
                        .or_default()
                        .push(id);
                }
            }
        }
        r
    }

    /// The type `Self` stands for in function `f`.
    pub fn self_type(&self, f: usize) -> Option<usize> {
        let mut f = f;
        loop {
            match self.krate.fns[f].kind {
                Kind::Inherent(i) | Kind::TraitImpl(i) => return self.impl_types[i],
                Kind::Nested(parent) => f = parent,
                Kind::Free | Kind::Default(_) => return None,
            }
        }
    }

    /// What a `syn` path names.
    pub fn path(&self, ctx: &Ctx, path: &syn::Path) -> Res {
        let segs: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.segments(ctx, path.leading_colon.is_some(), &segs, 0)
    }

    /// What a `use` path, written in `ctx`, names.
    pub fn use_path(&self, ctx: &Ctx, p: &UsePath) -> Res {
        self.segments(ctx, p.leading, &p.segs, 0)
    }

    fn segments(&self, ctx: &Ctx, leading: bool, segs: &[String], depth: usize) -> Res {
        let Some((first, rest)) = segs.split_first() else {
            return Res::Unknown;
        };
        if depth > DEPTH {
            return Res::Unknown;
        }
        let mut at = if leading {
            self.external(first)
        } else {
            match first.as_str() {
                "crate" => Res::Mod(0),
                "self" => Res::Mod(ctx.module),
                "super" => self.krate.mods[ctx.module]
                    .parent
                    .map_or(Res::Unknown, Res::Mod),
                "Self" => ctx.self_ty.map_or(Res::Unknown, Res::Type),
                name => self.first(ctx, name, depth),
            }
        };
        for seg in rest {
            at = match at {
                Res::Mod(m) if seg == "super" => {
                    self.krate.mods[m].parent.map_or(Res::Unknown, Res::Mod)
                }
                Res::Mod(m) => self.in_module(m, seg, depth + 1),
                Res::Extern(c, mut inner) => {
                    inner.push(seg.clone());
                    Res::Extern(c, inner)
                }
                Res::Type(t) => match self.methods.get(&t).and_then(|m| m.get(seg)) {
                    Some(fns) if fns.len() == 1 => Res::Fn(fns[0]),
                    _ => Res::Unknown,
                },
                _ => Res::Unknown,
            };
        }
        at
    }

    /// The first segment of a path: local items of the enclosing functions,
    /// then the module, then extern crates.
    fn first(&self, ctx: &Ctx, name: &str, depth: usize) -> Res {
        for &f in ctx.fns.iter().rev() {
            let scope = &self.krate.fns[f].locals;
            let outer = Ctx {
                module: ctx.module,
                fns: ctx.fns[..ctx.fns.iter().position(|x| *x == f).unwrap_or(0)].to_vec(),
                self_ty: ctx.self_ty,
            };
            let found = self.in_scope(scope, &outer, name, depth);
            if found != Res::Unknown {
                return found;
            }
        }
        let module = Ctx {
            module: ctx.module,
            fns: Vec::new(),
            self_ty: ctx.self_ty,
        };
        let found = self.in_scope(&self.krate.mods[ctx.module].scope, &module, name, depth);
        if found != Res::Unknown {
            return found;
        }
        self.external(name)
    }

    /// `name` through `use c::inner::*`: only globs of generated crates are
    /// known (their root holds `As` and `execute_as`, `As` holds the roles);
    /// what other crates export is not.
    fn extern_glob(&self, c: String, mut inner: Vec<String>, name: &str) -> Res {
        let known = self.generated.contains(&c)
            && match inner.as_slice() {
                [] => name == "As" || name == "execute_as",
                [m] => m == "As",
                _ => false,
            };
        if !known {
            return Res::Unknown;
        }
        inner.push(name.to_string());
        Res::Extern(c, inner)
    }

    fn external(&self, name: &str) -> Res {
        if self.externs.contains(name) || matches!(name, "std" | "core" | "alloc") {
            Res::Extern(name.to_string(), Vec::new())
        } else {
            Res::Unknown
        }
    }

    /// A name looked up in module `m` (after `m::`): its items, imports and globs.
    fn in_module(&self, m: usize, name: &str, depth: usize) -> Res {
        let ctx = Ctx {
            module: m,
            fns: Vec::new(),
            self_ty: None,
        };
        self.in_scope(&self.krate.mods[m].scope, &ctx, name, depth)
    }

    /// A name in `scope`, whose `use` paths are written in `ctx`.
    fn in_scope(&self, scope: &Scope, ctx: &Ctx, name: &str, depth: usize) -> Res {
        if depth > DEPTH {
            return Res::Unknown;
        }
        if let Some(bindings) = scope.names.get(name) {
            for b in bindings {
                let r = match b {
                    Binding::Mod(m) => Res::Mod(*m),
                    Binding::Fn(f) => Res::Fn(*f),
                    Binding::Type(t) => Res::Type(*t),
                    Binding::Trait(t) => Res::Trait(*t),
                    Binding::Extern(None) => Res::Mod(0),
                    Binding::Extern(Some(c)) => Res::Extern(c.clone(), Vec::new()),
                    Binding::Use(p, _) if !p.leading && p.segs.len() == 1 && p.segs[0] == name => {
                        // `use name;` imports an extern crate (or an item of the
                        // parent scope) under its own name.
                        self.external(name)
                    }
                    Binding::Use(p, _) => self.segments(ctx, p.leading, &p.segs, depth + 1),
                };
                if r != Res::Unknown {
                    return r;
                }
            }
        }
        let mut found = Res::Unknown;
        for (glob, _) in &scope.globs {
            let r = match self.segments(ctx, glob.leading, &glob.segs, depth + 1) {
                Res::Mod(g) => self.in_module(g, name, depth + 1),
                Res::Extern(c, inner) => self.extern_glob(c, inner, name),
                _ => Res::Unknown,
            };
            match (&found, r) {
                (_, Res::Unknown) => {}
                (Res::Unknown, r) => found = r,
                (f, r) if *f == r => {}
                // Two globs that bring in different things: ambiguous.
                _ => return Res::Unknown,
            }
        }
        found
    }
}
