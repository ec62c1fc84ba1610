//! Which functions of a crate can run in a normal build: a call graph by
//! path (petgraph), searched from the roots. A library's roots are its
//! public API: `pub` functions of modules reachable through `pub mod` or
//! `pub use` from the crate root, `pub` inherent methods of its public types,
//! methods of trait impls for its public types (of foreign or public
//! traits), and default methods of its public traits. A binary's root is its
//! `main`.

use super::resolve::{Ctx, Res, Resolver};
use super::tree::{Binding, Crate, Kind};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::Dfs;
use std::collections::BTreeSet;

/// The functions reachable from the roots, given each function's callees.
pub fn reachable(
    krate: &Crate,
    r: &Resolver<'_>,
    bin: bool,
    edges: &[BTreeSet<usize>],
) -> BTreeSet<usize> {
    let mut g: DiGraph<usize, ()> = DiGraph::new();
    let nodes: Vec<NodeIndex> = (0..krate.fns.len()).map(|f| g.add_node(f)).collect();
    for (from, callees) in edges.iter().enumerate() {
        for &to in callees {
            g.add_edge(nodes[from], nodes[to], ());
        }
    }
    let mut out = BTreeSet::new();
    for root in roots(krate, r, bin) {
        let mut dfs = Dfs::new(&g, nodes[root]);
        while let Some(n) = dfs.next(&g) {
            out.insert(g[n]);
        }
    }
    out
}

/// The roots of the crate (functions not compiled as written are none).
fn roots(krate: &Crate, r: &Resolver<'_>, bin: bool) -> Vec<usize> {
    let live = |f: usize| krate.fns[f].off.is_none();
    if bin {
        return (0..krate.fns.len())
            .filter(|&f| {
                let func = &krate.fns[f];
                func.module == 0 && func.kind == Kind::Free && func.name == "main" && live(f)
            })
            .collect();
    }
    let api = Api::of(krate, r);
    (0..krate.fns.len())
        .filter(|&f| live(f))
        .filter(|&f| {
            let func = &krate.fns[f];
            match func.kind {
                Kind::Free => {
                    (func.public && api.mods.contains(&func.module)) || api.fns.contains(&f)
                }
                Kind::Nested(_) => false,
                Kind::Inherent(i) => {
                    func.public && r.impl_types[i].is_some_and(|t| api.types.contains(&t))
                }
                Kind::TraitImpl(i) => {
                    let public_type = r.impl_types[i].is_some_and(|t| api.types.contains(&t));
                    let ctx = Ctx {
                        module: krate.impls[i].module,
                        fns: Vec::new(),
                        self_ty: None,
                    };
                    let public_trait =
                        match krate.impls[i].trait_path.as_ref().map(|p| r.path(&ctx, p)) {
                            Some(Res::Trait(t)) => api.traits.contains(&t),
                            // A trait of another crate (or of the prelude).
                            _ => true,
                        };
                    public_type && public_trait
                }
                Kind::Default(t) => api.traits.contains(&t),
            }
        })
        .collect()
}

/// What the crate exports: modules, functions, types and traits that
/// another crate can name.
struct Api {
    mods: BTreeSet<usize>,
    fns: BTreeSet<usize>,
    types: BTreeSet<usize>,
    traits: BTreeSet<usize>,
}

impl Api {
    fn of(krate: &Crate, r: &Resolver<'_>) -> Api {
        let mut api = Api {
            mods: BTreeSet::from([0]),
            fns: BTreeSet::new(),
            types: BTreeSet::new(),
            traits: BTreeSet::new(),
        };
        loop {
            let before = (
                api.mods.len(),
                api.fns.len(),
                api.types.len(),
                api.traits.len(),
            );
            for &m in &api.mods.clone() {
                let module = &krate.mods[m];
                let ctx = Ctx {
                    module: m,
                    fns: Vec::new(),
                    self_ty: None,
                };
                for bindings in module.scope.names.values() {
                    for b in bindings {
                        match b {
                            Binding::Mod(c)
                                if krate.mods[*c].public && krate.mods[*c].off.is_none() =>
                            {
                                api.mods.insert(*c);
                            }
                            Binding::Type(t) if krate.types[*t].public => {
                                api.types.insert(*t);
                            }
                            Binding::Trait(t) if krate.traits[*t].public => {
                                api.traits.insert(*t);
                            }
                            Binding::Use(p, true) => match r.use_path(&ctx, p) {
                                Res::Mod(c) => {
                                    api.mods.insert(c);
                                }
                                Res::Fn(f) => {
                                    api.fns.insert(f);
                                }
                                Res::Type(t) => {
                                    api.types.insert(t);
                                }
                                Res::Trait(t) => {
                                    api.traits.insert(t);
                                }
                                _ => {}
                            },
                            _ => {}
                        }
                    }
                }
                for (glob, public) in &module.scope.globs {
                    if let (true, Res::Mod(c)) = (*public, r.use_path(&ctx, glob)) {
                        api.mods.insert(c);
                    }
                }
            }
            if before
                == (
                    api.mods.len(),
                    api.fns.len(),
                    api.types.len(),
                    api.traits.len(),
                )
            {
                return api;
            }
        }
    }
}
