//! Writing the function back with its ports: the receiving parameter leaves the signature and
//! becomes a local bound at the start of the body, next to the owners that hold the ports.

use proc_macro2::{Delimiter, Ident, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{FnArg, Item, ItemFn, LitInt, PatType};

use crate::args::{self, Allocated, Family};
use crate::errors::Errors;
use crate::validate;

/// Expands `#[with_ports(args)]` on `item`. On `Err`, the caller emits the error next to
/// [`fallback`]`(item)`.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let args = args::parse(args, &mut errors)?;
    let first = first_item_token(&item);
    let func = match syn::parse2::<Item>(item) {
        Ok(Item::Fn(func)) => func,
        Ok(other) => {
            return Err(errors.and(syn::Error::new(
                first,
                format!(
                    "#[with_ports] applies to a test function, not to {}",
                    item_kind(&other)
                ),
            )));
        }
        Err(err) => return Err(errors.and(err)),
    };
    let receiver = validate::validate(&func, &args, &mut errors);
    errors.finish()?;
    match (receiver, args.count) {
        (Some(receiver), Some((n, n_span))) => Ok(render(func, &args, receiver, n, n_span)),
        // validate() records an error whenever it returns None, and args::parse() whenever
        // the count is missing, so finish() above has already returned.
        _ => internal_error(),
    }
}

/// What to emit next to the errors: the user's function as a plain function, so that its body
/// still type-checks and IDEs keep working, but without the test attributes (which would add
/// errors of their own about the parameters) and without attributes on parameters (which
/// belong to the test attribute). Anything that is not a function is emitted unchanged.
pub(crate) fn fallback(item: TokenStream) -> TokenStream {
    let Ok(mut func) = syn::parse2::<ItemFn>(item.clone()) else {
        return item;
    };
    func.attrs.retain(|attr| {
        let path = attr.path();
        ["doc", "allow", "warn", "deny", "expect", "cfg", "cfg_attr"]
            .iter()
            .any(|keep| path.is_ident(keep))
    });
    for arg in &mut func.sig.inputs {
        if let FnArg::Typed(typed) = arg {
            typed.attrs.clear();
        }
    }
    quote! {
        #[allow(dead_code, unused_variables)]
        #func
    }
}

/// The error for a state the checks above rule out; an error rather than a panic, so that even
/// a bug here shows up as a compile error on the attribute.
fn internal_error<T>() -> syn::Result<T> {
    Err(syn::Error::new(
        Span::call_site(),
        "#[with_ports]: internal error, please report it with this function",
    ))
}

/// The span of the item's first token after its attributes: its `struct`, `fn`, `pub`...
fn first_item_token(item: &TokenStream) -> Span {
    let mut tokens = item.clone().into_iter().peekable();
    while let Some(token) = tokens.next() {
        match token {
            TokenTree::Punct(p) if p.as_char() == '#' => {
                if let Some(TokenTree::Group(g)) = tokens.peek() {
                    if g.delimiter() == Delimiter::Bracket {
                        tokens.next();
                        continue;
                    }
                }
                return p.span();
            }
            other => return other.span(),
        }
    }
    Span::call_site()
}

fn item_kind(item: &Item) -> &'static str {
    match item {
        Item::Const(_) => "a const",
        Item::Enum(_) => "an enum",
        Item::ExternCrate(_) => "an extern crate",
        Item::ForeignMod(_) => "an extern block",
        Item::Impl(_) => "an impl block",
        Item::Macro(_) => "a macro invocation",
        Item::Mod(_) => "a module",
        Item::Static(_) => "a static",
        Item::Struct(_) => "a struct",
        Item::Trait(_) | Item::TraitAlias(_) => "a trait",
        Item::Type(_) => "a type alias",
        Item::Union(_) => "a union",
        Item::Use(_) => "a use declaration",
        _ => "this item",
    }
}

fn render(
    mut func: ItemFn,
    args: &args::Args,
    receiver: usize,
    n: usize,
    n_span: Span,
) -> TokenStream {
    let Some(param) = take_receiver(&mut func, receiver) else {
        return internal_error::<TokenStream>().unwrap_or_else(syn::Error::into_compile_error);
    };
    let (pat, ty) = (&param.pat, &param.ty);

    let n_lit = LitInt::new(&n.to_string(), n_span);
    // Mixed-site hygiene: the user's body cannot name (or shadow) the allocation by accident.
    let handover = Ident::new("__allocport_ports", Span::mixed_site().located_at(n_span));
    let private = private_path(args);
    let allocate = allocation(args, &handover, &n_lit, &func.sig.ident.to_string(), n_span);
    let held = Ident::new(args.held().type_name(), Span::call_site());
    // Spanned on the parameter's type, so that a type that cannot receive the ports is a
    // type error there, naming `ReceivePorts` and what implements it.
    let bind = quote_spanned! {ty.span()=>
        let #pat: #ty = <#ty as #private::ReceivePorts<#private::#held, #n_lit>>::receive(
            &mut #handover,
        );
    };
    with_prologue(&func, &allocate, &bind)
}

/// Removes the receiving parameter (the `receiver`-th) from the signature and returns it.
fn take_receiver(func: &mut ItemFn, receiver: usize) -> Option<PatType> {
    let inputs = std::mem::take(&mut func.sig.inputs);
    let mut kept = Punctuated::new();
    let mut param = None;
    for (i, arg) in inputs.into_iter().enumerate() {
        match arg {
            FnArg::Typed(typed) if i == receiver => param = Some(typed),
            other => kept.push(other),
        }
    }
    func.sig.inputs = kept;
    param
}

/// The function with `allocate` and `bind` run first in its body, and a `#[test]` when it has
/// no test attribute of its own.
fn with_prologue(func: &ItemFn, allocate: &TokenStream, bind: &TokenStream) -> TokenStream {
    let test_attr = if func.attrs.iter().any(validate::is_test_attr) {
        quote!()
    } else {
        quote!(#[::core::prelude::v1::test])
    };
    let body = &func.block;
    // The handover, which keeps the owners of what the parameter received as bare numbers or
    // sockets, is the body's first local, so it is dropped last: after everything the body
    // created (servers included), whether it returns, returns `Err` or unwinds. In an async fn
    // this code runs inside the future, so it lives across every await.
    let new_body = quote! {
        {
            #allocate
            #bind
            #body
        }
    };
    let attrs = &func.attrs;
    let vis = &func.vis;
    let sig = &func.sig;
    quote! {
        #test_attr
        #(#attrs)*
        #vis #sig #new_body
    }
}

/// `::allocport_core::__private`, or under the path of `crate = path`.
fn private_path(args: &args::Args) -> TokenStream {
    match &args.krate {
        Some(krate) => quote!(#krate::__private),
        None => quote!(::allocport_core::__private),
    }
}

/// The statement that allocates the ports into `handover`. Spanned on the count, so that
/// `#[track_caller]` reports a failed allocation at the user's `#[with_ports(n)]`.
fn allocation(
    args: &args::Args,
    handover: &Ident,
    n_lit: &LitInt,
    test_name: &str,
    n_span: Span,
) -> TokenStream {
    let private = private_path(args);
    let held = args.held();
    let hosts = match &args.hosts {
        Some(hosts) => quote!(&[#(#hosts),*]),
        // Sockets are bound on loopback unless told otherwise, never on every interface.
        None if matches!(held, Allocated::HeldTcpListener | Allocated::HeldUdpSocket) => {
            quote!(&["localhost"])
        }
        None => quote!(&#private::DEFAULT_HOSTS),
    };
    let family = match args.family {
        Some(Family::Ipv6) => quote!(#private::AddressFamily::Ipv6),
        Some(Family::Ipv4) | None => quote!(#private::AddressFamily::Ipv4),
    };
    let (allocator, options) = if args.has_request_options() {
        let allocator = match held {
            Allocated::TcpPortOwner => quote!(allocate_request_for_test),
            Allocated::UdpPortOwner => quote!(allocate_udp_request_for_test),
            Allocated::HeldTcpListener => quote!(listen_request_for_test),
            Allocated::HeldUdpSocket => quote!(bind_udp_request_for_test),
        };
        (allocator, Some(request_options(args, &private)))
    } else {
        let allocator = match held {
            Allocated::TcpPortOwner => quote!(allocate_for_test),
            Allocated::UdpPortOwner => quote!(allocate_udp_for_test),
            Allocated::HeldTcpListener => quote!(listen_for_test),
            Allocated::HeldUdpSocket => quote!(bind_udp_for_test),
        };
        (allocator, None)
    };
    let options = options.into_iter();
    quote_spanned! {n_span=>
        let mut #handover = #private::#allocator(
            ::core::concat!(::core::module_path!(), "::", #test_name),
            #n_lit,
            #hosts,
            #family,
            #(#options,)*
        );
    }
}

/// The request options of a test whose attribute has them, as `TestOptions`.
fn request_options(args: &args::Args, private: &TokenStream) -> TokenStream {
    let offsets = args.offsets.iter().flat_map(|(offsets, _)| offsets);
    let consecutive = args.consecutive.is_some();
    let exact = match args.exact {
        Some((port, _)) => quote!(::core::option::Option::Some(#port)),
        None => quote!(::core::option::Option::None),
    };
    let strict = args.strict;
    quote! {
        #private::TestOptions {
            offsets: &[#(#offsets),*],
            consecutive: #consecutive,
            exact: #exact,
            strict: #strict,
        }
    }
}
