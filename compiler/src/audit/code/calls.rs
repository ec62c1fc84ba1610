//! What one function body calls: the crate's functions it names (called,
//! or passed as a value), `self.method()` calls of its own type's inherent
//! methods, and the `execute_as` calls of generated crates with the role
//! constructor `As::<Role>(..)` they are given (directly, or through a `let`
//! in the same body). Macros are opaque except a few of the standard
//! library's whose arguments are expressions; calls written inside other
//! macros are reported as such and never count.

use super::resolve::{Ctx, Res, Resolver};
use proc_macro2::{Delimiter, TokenStream, TokenTree};
use std::collections::{BTreeMap, BTreeSet};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Expr, Token};

/// Macros whose arguments are parsed as comma-separated expressions and
/// searched like code: formatting, assertions (not `debug_assert*`, which
/// are off without debug assertions), `vec!`, `dbg!`, `todo!`-like, `join!`.
const PARSED: &[&str] = &[
    "format",
    "format_args",
    "print",
    "println",
    "eprint",
    "eprintln",
    "write",
    "writeln",
    "panic",
    "assert",
    "assert_eq",
    "assert_ne",
    "unreachable",
    "todo",
    "unimplemented",
    "dbg",
    "vec",
    "join",
    "try_join",
];

/// Crates whose macros of those names are the well-known ones.
const MACRO_CRATES: &[&str] = &["std", "core", "alloc", "tokio", "futures"];

/// An `execute_as` call of a generated crate.
#[derive(Clone, Debug)]
pub struct RawSite {
    /// The generated crate's extern name.
    pub krate: String,
    /// The role of `As::<Role>(..)`, or why it is not known.
    pub role: Result<String, String>,
    /// 1-based line of the call.
    pub line: usize,
    /// 1-based column (characters) of the call.
    pub column: usize,
    /// The macro the call is written in, if any.
    pub in_macro: Option<String>,
}

/// What a body calls.
#[derive(Default)]
pub struct Calls {
    /// Functions of the crate it names.
    pub edges: BTreeSet<usize>,
    /// Its `execute_as` calls.
    pub sites: Vec<RawSite>,
}

/// Searches `body`, written in `ctx`; `generated` are the extern names of
/// generated crates.
pub fn of_body(
    r: &Resolver<'_>,
    ctx: &Ctx,
    body: &syn::Block,
    generated: &BTreeSet<String>,
) -> Calls {
    let mut lets = Lets {
        r,
        ctx,
        roles: BTreeMap::new(),
    };
    lets.visit_block(body);
    let roles = lets.roles;
    let mut v = Visitor {
        r,
        ctx,
        generated,
        roles,
        out: Calls::default(),
        in_macro: None,
    };
    v.visit_block(body);
    v.out
}

/// Searches the tokens of a macro outside any function, written in module `ctx`.
pub fn of_macro(
    r: &Resolver<'_>,
    ctx: &Ctx,
    mac: &syn::Macro,
    generated: &BTreeSet<String>,
) -> Vec<RawSite> {
    let mut v = Visitor {
        r,
        ctx,
        generated,
        roles: BTreeMap::new(),
        out: Calls::default(),
        in_macro: None,
    };
    v.opaque(mac);
    v.out.sites
}

/// `let x = As::Role(..)` bindings of a body: name → role (or why not known).
struct Lets<'a, 'r> {
    r: &'a Resolver<'r>,
    ctx: &'a Ctx,
    roles: BTreeMap<String, Option<(String, String)>>,
}

impl<'ast> Visit<'ast> for Lets<'_, '_> {
    fn visit_local(&mut self, local: &'ast syn::Local) {
        if let (syn::Pat::Ident(p), Some(init)) = (&local.pat, &local.init) {
            let role = constructor(self.r, self.ctx, &init.expr);
            let name = p.ident.to_string();
            // Bound twice to different things: not known.
            let entry = self.roles.entry(name).or_insert_with(|| role.clone());
            if *entry != role {
                *entry = None;
            }
        }
        syn::visit::visit_local(self, local);
    }

    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

/// `krate::As::Role(..)`: the crate's extern name and the role.
fn constructor(r: &Resolver<'_>, ctx: &Ctx, e: &Expr) -> Option<(String, String)> {
    match e {
        Expr::Paren(p) => constructor(r, ctx, &p.expr),
        Expr::Group(g) => constructor(r, ctx, &g.expr),
        Expr::Call(c) => {
            let Expr::Path(p) = &*c.func else { return None };
            match r.path(ctx, &p.path) {
                Res::Extern(k, inner) if inner.len() == 2 && inner[0] == "As" => {
                    Some((k, inner[1].clone()))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

struct Visitor<'a, 'r> {
    r: &'a Resolver<'r>,
    ctx: &'a Ctx,
    generated: &'a BTreeSet<String>,
    roles: BTreeMap<String, Option<(String, String)>>,
    out: Calls,
    in_macro: Option<String>,
}

impl Visitor<'_, '_> {
    fn role(&self, krate: &str, arg: Option<&Expr>) -> Result<String, String> {
        let Some(arg) = arg else {
            return Err("`execute_as` is given no role".into());
        };
        let found = match arg {
            Expr::Path(p) if p.path.get_ident().is_some() => {
                let name = p.path.segments[0].ident.to_string();
                self.roles.get(&name).cloned().flatten()
            }
            e => constructor(self.r, self.ctx, e),
        };
        match found {
            Some((k, role)) if k == krate => Ok(role),
            Some((k, role)) => Err(format!("the role `{k}::As::{role}` is of another crate")),
            None => Err("the role is not written as `As::<Role>(..)`".into()),
        }
    }

    fn site(&mut self, krate: String, role: Result<String, String>, at: proc_macro2::Span) {
        let start = at.start();
        self.out.sites.push(RawSite {
            krate,
            role,
            line: start.line,
            column: start.column + 1,
            in_macro: self.in_macro.clone(),
        });
    }

    fn edge(&mut self, res: Res) {
        if let (Res::Fn(f), None) = (res, &self.in_macro) {
            self.out.edges.insert(f);
        }
    }

    /// A macro the analysis does not expand: `execute_as(..)` calls in its
    /// tokens are reported, never counted, and it calls nothing.
    fn opaque(&mut self, mac: &syn::Macro) {
        let name = format!("{}!", super::attrs::path_text(&mac.path));
        let saved = self.in_macro.replace(name);
        self.tokens(mac.tokens.clone());
        self.in_macro = saved;
    }

    /// Finds `path::execute_as(args)` in a token stream.
    fn tokens(&mut self, tokens: TokenStream) {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        for (i, t) in trees.iter().enumerate() {
            match t {
                TokenTree::Group(g) => self.tokens(g.stream()),
                TokenTree::Ident(id) if id == "execute_as" => {
                    let Some(TokenTree::Group(args)) = trees.get(i + 1) else {
                        continue;
                    };
                    if args.delimiter() != Delimiter::Parenthesis {
                        continue;
                    }
                    let (path, start) = path_before(&trees, i);
                    let p = super::tree::UsePath {
                        leading: false,
                        segs: path,
                    };
                    if let Res::Extern(k, inner) = self.r.use_path(self.ctx, &p) {
                        if self.generated.contains(&k) && inner == ["execute_as"] {
                            let parsed = syn::parse::Parser::parse2(
                                Punctuated::<Expr, Token![,]>::parse_terminated,
                                args.stream(),
                            );
                            let role = match parsed {
                                Ok(list) => self.role(&k, list.first()),
                                Err(_) => Err("the role is not written as `As::<Role>(..)`".into()),
                            };
                            self.site(k, role, start);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// The path `a::b::` written before token `i` (with `i` itself last), and
/// where it starts.
fn path_before(trees: &[TokenTree], i: usize) -> (Vec<String>, proc_macro2::Span) {
    let mut segs = vec![trees[i].to_string()];
    let mut start = trees[i].span();
    let mut j = i;
    while j >= 3 {
        let (TokenTree::Punct(a), TokenTree::Punct(b), TokenTree::Ident(id)) =
            (&trees[j - 2], &trees[j - 1], &trees[j - 3])
        else {
            break;
        };
        if a.as_char() != ':' || b.as_char() != ':' {
            break;
        }
        segs.insert(0, id.to_string());
        start = id.span();
        j -= 3;
    }
    (segs, start)
}

impl<'ast> Visit<'ast> for Visitor<'_, '_> {
    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if let Expr::Path(p) = &*call.func {
            match self.r.path(self.ctx, &p.path) {
                Res::Extern(k, inner) if self.generated.contains(&k) && inner == ["execute_as"] => {
                    let role = self.role(&k, call.args.first());
                    self.site(k, role, call.func.span());
                }
                other => self.edge(other),
            }
        }
        syn::visit::visit_expr_call(self, call);
    }

    fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
        let res = self.r.path(self.ctx, &p.path);
        self.edge(res);
        syn::visit::visit_expr_path(self, p);
    }

    fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
        let on_self = matches!(&*m.receiver, Expr::Path(p) if p.path.is_ident("self"));
        if let (true, Some(t)) = (on_self, self.ctx.self_ty) {
            if let Some(fns) = self
                .r
                .methods
                .get(&t)
                .and_then(|ms| ms.get(&m.method.to_string()))
            {
                for f in fns.clone() {
                    self.edge(Res::Fn(f));
                }
            }
        }
        syn::visit::visit_expr_method_call(self, m);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let segs: Vec<String> = mac
            .path
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect();
        let known = match segs.as_slice() {
            [name] => PARSED.contains(&name.as_str()),
            [krate, name] => {
                MACRO_CRATES.contains(&krate.as_str()) && PARSED.contains(&name.as_str())
            }
            _ => false,
        };
        if known {
            let args = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated);
            let repeat = || {
                mac.parse_body_with(|input: syn::parse::ParseStream<'_>| {
                    let a: Expr = input.parse()?;
                    let _: Token![;] = input.parse()?;
                    let b: Expr = input.parse()?;
                    Ok(vec![a, b])
                })
            };
            match (args, repeat()) {
                (Ok(list), _) => {
                    for e in &list {
                        self.visit_expr(e);
                    }
                    return;
                }
                (Err(_), Ok(list)) => {
                    for e in &list {
                        self.visit_expr(e);
                    }
                    return;
                }
                _ => {}
            }
        }
        self.opaque(mac);
    }

    fn visit_item(&mut self, _: &'ast syn::Item) {}
}
