//! One crate's module tree, read with `syn` from its root file: `mod`
//! declarations (`foo.rs`, `foo/mod.rs`, `#[path]`) and inline modules,
//! with every function (free, inherent or trait method, nested in another
//! function), type, trait, impl and `use` binding, and what its attributes
//! say about it in a normal build. Bodies are kept for the call pass.

use super::attrs::{self, Verdict};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// The crate, as its files declare it.
#[derive(Default)]
pub struct Crate {
    /// The crate name.
    pub name: String,
    /// Modules; 0 is the root.
    pub mods: Vec<Module>,
    /// Every function with a body.
    pub fns: Vec<Func>,
    /// Structs, enums, unions and type aliases.
    pub types: Vec<Named>,
    /// Traits.
    pub traits: Vec<Named>,
    /// Impl blocks.
    pub impls: Vec<Impl>,
    /// Macros outside functions: module, why off (if so), file, the macro.
    pub macros: Vec<(usize, Option<String>, String, syn::Macro)>,
    /// Files that could not be read or parsed, with why.
    pub unparsed: Vec<(String, String)>,
}

/// A module.
pub struct Module {
    /// The enclosing module.
    pub parent: Option<usize>,
    /// Its path from the crate root (`recovery::guardian_ceremony`).
    pub path: String,
    /// Declared `pub`.
    pub public: bool,
    /// Why it is not (surely) compiled, if so.
    pub off: Option<String>,
    /// Its names.
    pub scope: Scope,
}

/// The names a module (or a function body) declares and imports.
#[derive(Default, Clone)]
pub struct Scope {
    /// Items and `use` bindings by name.
    pub names: BTreeMap<String, Vec<Binding>>,
    /// Glob imports (`use a::b::*`), with whether they are `pub`.
    pub globs: Vec<(UsePath, bool)>,
}

/// What a name stands for.
#[derive(Clone, Debug)]
pub enum Binding {
    /// A module.
    Mod(usize),
    /// A function.
    Fn(usize),
    /// A type.
    Type(usize),
    /// A trait.
    Trait(usize),
    /// A `use` import of a path, with whether it is `pub`.
    Use(UsePath, bool),
    /// `extern crate name as this;` (or `extern crate self as this;`: `None`).
    Extern(Option<String>),
}

/// A path as written in a `use`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsePath {
    /// Starts with `::`.
    pub leading: bool,
    /// The segments.
    pub segs: Vec<String>,
}

/// A type or trait.
pub struct Named {
    /// Declared `pub`.
    pub public: bool,
}

/// An impl block.
pub struct Impl {
    /// The module it is in.
    pub module: usize,
    /// The self type's path, if it is a path (or a reference to one).
    pub self_ty: Option<syn::Path>,
    /// The trait, for a trait impl.
    pub trait_path: Option<syn::Path>,
}

/// What kind of function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A free function of a module.
    Free,
    /// Nested in the body of another function.
    Nested(usize),
    /// In an inherent impl.
    Inherent(usize),
    /// In a trait impl.
    TraitImpl(usize),
    /// A trait's default method.
    Default(usize),
}

/// A function with a body.
pub struct Func {
    /// The module it is in.
    pub module: usize,
    /// Its name.
    pub name: String,
    /// How it is written: `recovery::guardian_ceremony::run_initiator`.
    pub display: String,
    /// What kind.
    pub kind: Kind,
    /// Declared `pub`.
    pub public: bool,
    /// Why it is not (surely) compiled, or not as written.
    pub off: Option<Verdict>,
    /// Functions and `use` bindings declared in its body.
    pub locals: Scope,
    /// The body.
    pub body: syn::Block,
    /// The file it is written in, relative to the workspace root.
    pub file: String,
}

/// Reads the crate rooted at `root_file`.
pub fn load(name: &str, root_file: &Path, ws_root: &Path, features: &BTreeSet<String>) -> Crate {
    let mut l = Loader {
        krate: Crate {
            name: name.to_string(),
            ..Crate::default()
        },
        features,
        ws_root,
        seen: BTreeSet::new(),
    };
    l.krate.mods.push(Module {
        parent: None,
        path: String::new(),
        public: true,
        off: None,
        scope: Scope::default(),
    });
    let dir = root_file.parent().unwrap_or(Path::new(".")).to_path_buf();
    l.file(root_file, 0, &dir, None);
    l.krate
}

struct Loader<'a> {
    krate: Crate,
    features: &'a BTreeSet<String>,
    ws_root: &'a Path,
    seen: BTreeSet<PathBuf>,
}

/// Where a module's items are: the directory its child modules live in, the
/// directory of the file (for `#[path]`), and whether we are in an inline
/// module.
#[derive(Clone)]
struct Place {
    dir: PathBuf,
    file_dir: PathBuf,
    inline: bool,
    file: String,
}

impl Loader<'_> {
    fn rel(&self, path: &Path) -> String {
        path.strip_prefix(self.ws_root)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/")
    }

    /// Reads `path` as module `m`, whose children live in `dir`.
    fn file(&mut self, path: &Path, m: usize, dir: &Path, off: Option<Verdict>) {
        let rel = self.rel(path);
        if !self.seen.insert(path.to_path_buf()) {
            return;
        }
        let parsed = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                syn::parse_file(&t).map_err(|e| format!("{} (line {})", e, e.span().start().line))
            });
        let file = match parsed {
            Ok(f) => f,
            Err(e) => {
                self.krate.unparsed.push((rel, e));
                return;
            }
        };
        let off = merge(off, attrs::verdict(&file.attrs, self.features));
        if let Some(Verdict::Off(why)) = &off {
            self.krate.mods[m].off.get_or_insert(why.clone());
        }
        let place = Place {
            dir: dir.to_path_buf(),
            file_dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            inline: false,
            file: rel,
        };
        self.items(&file.items, m, &place, off);
    }

    fn items(&mut self, items: &[syn::Item], m: usize, place: &Place, off: Option<Verdict>) {
        for item in items {
            self.item(item, m, place, off.clone());
        }
    }

    fn item(&mut self, item: &syn::Item, m: usize, place: &Place, off: Option<Verdict>) {
        let attrs: &[syn::Attribute] = match item {
            syn::Item::Fn(i) => &i.attrs,
            syn::Item::Mod(i) => &i.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Trait(i) => &i.attrs,
            syn::Item::Use(i) => &i.attrs,
            syn::Item::Struct(i) => &i.attrs,
            syn::Item::Enum(i) => &i.attrs,
            syn::Item::Union(i) => &i.attrs,
            syn::Item::Type(i) => &i.attrs,
            syn::Item::ExternCrate(i) => &i.attrs,
            syn::Item::Macro(i) => &i.attrs,
            _ => return,
        };
        let off = merge(off, attrs::verdict(attrs, self.features));
        // Items that are not compiled do not bind names in compiled code.
        let binds = off.is_none() || self.krate.mods[m].off.is_some();
        match item {
            syn::Item::Fn(f) => {
                let id = self.func(m, place, &f.sig, &f.block, &f.vis, Kind::Free, off, "");
                if binds {
                    bind(
                        &mut self.krate.mods[m].scope,
                        f.sig.ident.to_string(),
                        Binding::Fn(id),
                    );
                }
            }
            syn::Item::Mod(md) => self.module(md, m, place, off, binds),
            syn::Item::Struct(s) => self.named(m, &s.ident, &s.vis, binds),
            syn::Item::Enum(s) => self.named(m, &s.ident, &s.vis, binds),
            syn::Item::Union(s) => self.named(m, &s.ident, &s.vis, binds),
            syn::Item::Type(s) => self.named(m, &s.ident, &s.vis, binds),
            syn::Item::Trait(t) => {
                let id = self.krate.traits.len();
                self.krate.traits.push(Named {
                    public: is_pub(&t.vis),
                });
                if binds {
                    bind(
                        &mut self.krate.mods[m].scope,
                        t.ident.to_string(),
                        Binding::Trait(id),
                    );
                }
                for ti in &t.items {
                    if let syn::TraitItem::Fn(f) = ti {
                        if let Some(body) = &f.default {
                            let off = merge(off.clone(), attrs::verdict(&f.attrs, self.features));
                            let prefix = format!("{}::", t.ident);
                            self.func(
                                m,
                                place,
                                &f.sig,
                                body,
                                &syn::Visibility::Inherited,
                                Kind::Default(id),
                                off,
                                &prefix,
                            );
                        }
                    }
                }
            }
            syn::Item::Impl(i) => self.implementation(i, m, place, off),
            syn::Item::Use(u) if binds => {
                let public = is_pub(&u.vis);
                let scope = &mut self.krate.mods[m].scope;
                use_tree(
                    &u.tree,
                    u.leading_colon.is_some(),
                    Vec::new(),
                    public,
                    scope,
                );
            }
            syn::Item::ExternCrate(e) if binds => {
                let target = e.ident.to_string();
                let name = e
                    .rename
                    .as_ref()
                    .map_or(target.clone(), |(_, r)| r.to_string());
                let b = Binding::Extern((target != "self").then_some(target));
                bind(&mut self.krate.mods[m].scope, name, b);
            }
            syn::Item::Macro(mac) => {
                let why = off.map(|v| match v {
                    Verdict::Off(w) | Verdict::Opaque(w) => w,
                    Verdict::On => String::new(),
                });
                self.krate
                    .macros
                    .push((m, why, place.file.clone(), mac.mac.clone()));
            }
            _ => {}
        }
    }

    fn named(&mut self, m: usize, ident: &syn::Ident, vis: &syn::Visibility, binds: bool) {
        let id = self.krate.types.len();
        self.krate.types.push(Named {
            public: is_pub(vis),
        });
        if binds {
            bind(
                &mut self.krate.mods[m].scope,
                ident.to_string(),
                Binding::Type(id),
            );
        }
    }

    fn module(
        &mut self,
        md: &syn::ItemMod,
        m: usize,
        place: &Place,
        off: Option<Verdict>,
        binds: bool,
    ) {
        let name = md.ident.to_string();
        let id = self.krate.mods.len();
        let parent_path = &self.krate.mods[m].path;
        let path = if parent_path.is_empty() {
            name.clone()
        } else {
            format!("{parent_path}::{name}")
        };
        let mod_off = match &off {
            Some(Verdict::Off(w)) => Some(w.clone()),
            _ => self.krate.mods[m].off.clone(),
        };
        self.krate.mods.push(Module {
            parent: Some(m),
            path,
            public: is_pub(&md.vis),
            off: mod_off,
            scope: Scope::default(),
        });
        if binds {
            bind(
                &mut self.krate.mods[m].scope,
                name.clone(),
                Binding::Mod(id),
            );
        }
        let explicit = md.attrs.iter().find_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        });
        match &md.content {
            Some((_, items)) => {
                let inner = Place {
                    dir: match &explicit {
                        Some(p) => place.dir.join(p),
                        None => place.dir.join(&name),
                    },
                    file_dir: place.file_dir.clone(),
                    inline: true,
                    file: place.file.clone(),
                };
                self.items(items, id, &inner, off);
            }
            None => {
                let (file, dir) = match explicit {
                    // A file named by `#[path]` holds its children beside it.
                    Some(p) => {
                        let base = if place.inline {
                            &place.dir
                        } else {
                            &place.file_dir
                        };
                        let f = base.join(p);
                        let d = f.parent().unwrap_or(Path::new(".")).to_path_buf();
                        (f, d)
                    }
                    None => {
                        let flat = place.dir.join(format!("{name}.rs"));
                        if flat.is_file() {
                            (flat, place.dir.join(&name))
                        } else {
                            (place.dir.join(&name).join("mod.rs"), place.dir.join(&name))
                        }
                    }
                };
                if file.is_file() {
                    self.file(&file, id, &dir, off);
                } else {
                    let rel = self.rel(&file);
                    self.krate.unparsed.push((rel, "no such file".into()));
                }
            }
        }
    }

    fn implementation(&mut self, i: &syn::ItemImpl, m: usize, place: &Place, off: Option<Verdict>) {
        let id = self.krate.impls.len();
        let self_ty = type_path(&i.self_ty);
        let ty_name = self_ty
            .as_ref()
            .and_then(|p| p.segments.last())
            .map_or_else(|| "_".to_string(), |s| s.ident.to_string());
        self.krate.impls.push(Impl {
            module: m,
            self_ty,
            trait_path: i.trait_.as_ref().map(|(_, p, _)| p.clone()),
        });
        let kind = if i.trait_.is_some() {
            Kind::TraitImpl(id)
        } else {
            Kind::Inherent(id)
        };
        for ii in &i.items {
            if let syn::ImplItem::Fn(f) = ii {
                let off = merge(off.clone(), attrs::verdict(&f.attrs, self.features));
                let prefix = format!("{ty_name}::");
                self.func(m, place, &f.sig, &f.block, &f.vis, kind, off, &prefix);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn func(
        &mut self,
        m: usize,
        place: &Place,
        sig: &syn::Signature,
        body: &syn::Block,
        vis: &syn::Visibility,
        kind: Kind,
        off: Option<Verdict>,
        prefix: &str,
    ) -> usize {
        let id = self.krate.fns.len();
        let module_path = &self.krate.mods[m].path;
        let outer = match kind {
            Kind::Nested(parent) => format!("{}::", self.krate.fns[parent].display),
            _ if module_path.is_empty() => format!("{}::{prefix}", self.krate.name),
            _ => format!("{}::{module_path}::{prefix}", self.krate.name),
        };
        let off = match (&self.krate.mods[m].off, off) {
            (Some(w), _) => Some(Verdict::Off(w.clone())),
            (None, o) => o,
        };
        self.krate.fns.push(Func {
            module: m,
            name: sig.ident.to_string(),
            display: format!("{outer}{}", sig.ident),
            kind,
            public: is_pub(vis),
            off: off.clone(),
            locals: Scope::default(),
            body: body.clone(),
            file: place.file.clone(),
        });
        // Functions and imports declared inside the body.
        let mut inner = Inner::default();
        inner.visit_block(body);
        let mut locals = Scope::default();
        for item in inner.items {
            let item_off = merge(
                off.clone(),
                attrs::verdict(item_attrs(&item), self.features),
            );
            if item_off
                .as_ref()
                .is_some_and(|v| matches!(v, Verdict::Off(_)))
            {
                continue;
            }
            match &item {
                syn::Item::Fn(f) => {
                    let nested = self.func(
                        m,
                        place,
                        &f.sig,
                        &f.block,
                        &f.vis,
                        Kind::Nested(id),
                        item_off,
                        "",
                    );
                    bind(&mut locals, f.sig.ident.to_string(), Binding::Fn(nested));
                }
                syn::Item::Use(u) => {
                    use_tree(
                        &u.tree,
                        u.leading_colon.is_some(),
                        Vec::new(),
                        false,
                        &mut locals,
                    );
                }
                _ => {}
            }
        }
        self.krate.fns[id].locals = locals;
        id
    }
}

/// The items written directly in a function body (not in nested functions).
#[derive(Default)]
struct Inner {
    items: Vec<syn::Item>,
}

impl<'ast> Visit<'ast> for Inner {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        self.items.push(item.clone());
    }
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// The more restrictive of two verdicts.
fn merge(a: Option<Verdict>, b: Verdict) -> Option<Verdict> {
    match (a, b) {
        (Some(Verdict::Off(w)), _) => Some(Verdict::Off(w)),
        (_, Verdict::Off(w)) => Some(Verdict::Off(w)),
        (Some(Verdict::Opaque(w)), _) => Some(Verdict::Opaque(w)),
        (_, Verdict::Opaque(w)) => Some(Verdict::Opaque(w)),
        _ => None,
    }
}

fn is_pub(vis: &syn::Visibility) -> bool {
    matches!(vis, syn::Visibility::Public(_))
}

fn bind(scope: &mut Scope, name: String, b: Binding) {
    scope.names.entry(name).or_default().push(b);
}

/// The path of a type written as a path, or a reference to one.
fn type_path(ty: &syn::Type) -> Option<syn::Path> {
    match ty {
        syn::Type::Path(p) if p.qself.is_none() => Some(p.path.clone()),
        syn::Type::Reference(r) => type_path(&r.elem),
        syn::Type::Paren(p) => type_path(&p.elem),
        syn::Type::Group(g) => type_path(&g.elem),
        _ => None,
    }
}

/// Adds the bindings of one `use` tree under `prefix`.
fn use_tree(
    tree: &syn::UseTree,
    leading: bool,
    prefix: Vec<String>,
    public: bool,
    scope: &mut Scope,
) {
    let path = |last: Option<&syn::Ident>| {
        let mut segs = prefix.clone();
        segs.extend(last.map(|i| i.to_string()));
        UsePath { leading, segs }
    };
    match tree {
        syn::UseTree::Path(p) => {
            let mut next = prefix.clone();
            next.push(p.ident.to_string());
            use_tree(&p.tree, leading, next, public, scope);
        }
        syn::UseTree::Name(n) if n.ident == "self" => {
            if let Some(last) = prefix.last().cloned() {
                bind(scope, last, Binding::Use(path(None), public));
            }
        }
        syn::UseTree::Name(n) => bind(
            scope,
            n.ident.to_string(),
            Binding::Use(path(Some(&n.ident)), public),
        ),
        syn::UseTree::Rename(r) if r.rename == "_" => {}
        syn::UseTree::Rename(r) if r.ident == "self" => {
            bind(
                scope,
                r.rename.to_string(),
                Binding::Use(path(None), public),
            );
        }
        syn::UseTree::Rename(r) => {
            bind(
                scope,
                r.rename.to_string(),
                Binding::Use(path(Some(&r.ident)), public),
            );
        }
        syn::UseTree::Glob(_) => scope.globs.push((path(None), public)),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                use_tree(t, leading, prefix.clone(), public, scope);
            }
        }
    }
}
