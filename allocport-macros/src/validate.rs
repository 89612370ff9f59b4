//! Checking the function against the attribute: which parameter receives the ports, whether
//! its type fits the number asked for, and whether the test attributes allow the expansion.

use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, FnArg, ItemFn, Lit, Pat, PatType, Type};

use crate::args::Args;
use crate::errors::Errors;

/// How the receiving parameter takes the ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `[u16; n]`.
    Array,
    /// `u16`, for one port.
    Single,
    /// `[SocketAddr; n]`: the loopback address of the family with each port.
    AddrArray,
    /// `SocketAddr`, for one port.
    Addr,
}

/// The parameter that receives the ports: its index in the signature and its shape.
pub(crate) struct Receiver {
    pub(crate) index: usize,
    pub(crate) shape: Shape,
}

/// What a parameter's type looks like to the macro. Types are compared by their tokens: a
/// type alias of `[u16; 2]` is not recognised, but `param = name` still accepts it as long as
/// it is written `[u16; n]` or `u16`.
enum TypeShape<'a> {
    /// `[u16; len]` (or `[SocketAddr; len]` when the flag is set); `len` is `Some` when it is
    /// an integer literal the macro can read.
    Array(Option<u128>, &'a Expr, bool),
    /// `u16`, or `SocketAddr` when the flag is set.
    Single(bool),
    Other,
}

/// What each element of the receiving parameter is: a port number, or (with `listen`) a bound
/// socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Elem {
    Port,
    TcpListener,
    UdpSocket,
}

impl Elem {
    pub(crate) fn of(args: &Args) -> Elem {
        match (args.listen.is_some(), args.udp.is_some()) {
            (false, _) => Elem::Port,
            (true, false) => Elem::TcpListener,
            (true, true) => Elem::UdpSocket,
        }
    }

    /// The element type as the messages write it.
    fn name(self) -> &'static str {
        match self {
            Elem::Port => "u16",
            Elem::TcpListener => "TcpListener",
            Elem::UdpSocket => "UdpSocket",
        }
    }

    /// With port numbers, `SocketAddr` receives them too: loopback addresses of the family.
    fn takes_addr(self, ty: &Type) -> bool {
        self == Elem::Port && is_socket_addr(ty)
    }

    fn matches(self, ty: &Type) -> bool {
        match self {
            Elem::Port => is_u16(ty),
            Elem::TcpListener | Elem::UdpSocket => last_segment_is(ty, self.name()),
        }
    }
}

/// `TcpListener`, `std::net::TcpListener`, `net::TcpListener`...: any path ending in `name`.
fn last_segment_is(ty: &Type, name: &str) -> bool {
    let Type::Path(path) = ty else {
        return false;
    };
    path.qself.is_none()
        && path
            .path
            .segments
            .last()
            .is_some_and(|s| s.arguments.is_empty() && s.ident == name)
}

fn type_shape(ty: &Type, elem: Elem) -> TypeShape<'_> {
    match ty {
        Type::Array(array) if elem.matches(&array.elem) || elem.takes_addr(&array.elem) => {
            let len = match &array.len {
                Expr::Lit(ExprLit {
                    lit: Lit::Int(lit), ..
                }) => lit.base10_digits().parse().ok(),
                _ => None,
            };
            TypeShape::Array(len, &array.len, elem.takes_addr(&array.elem))
        }
        Type::Paren(inner) => type_shape(&inner.elem, elem),
        Type::Group(inner) => type_shape(&inner.elem, elem),
        ty if elem.matches(ty) => TypeShape::Single(false),
        ty if elem.takes_addr(ty) => TypeShape::Single(true),
        _ => TypeShape::Other,
    }
}

/// `SocketAddr`, also spelled `std::net::SocketAddr` or `core::net::SocketAddr`.
fn is_socket_addr(ty: &Type) -> bool {
    let names = path_names(ty);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    matches!(
        names.as_slice(),
        ["SocketAddr"] | ["std" | "core", "net", "SocketAddr"]
    )
}

/// The segments of a plain type path (`[]` for anything else; a segment with generic
/// arguments is empty, so it matches no name).
fn path_names(ty: &Type) -> Vec<String> {
    let Type::Path(path) = ty else {
        return Vec::new();
    };
    if path.qself.is_some() {
        return Vec::new();
    }
    path.path
        .segments
        .iter()
        .map(|s| {
            if s.arguments.is_empty() {
                s.ident.to_string()
            } else {
                String::new()
            }
        })
        .collect()
}

/// `u16`, also spelled `core::primitive::u16` or `std::primitive::u16`.
fn is_u16(ty: &Type) -> bool {
    let names = path_names(ty);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    matches!(
        names.as_slice(),
        ["u16"] | ["core" | "std", "primitive", "u16"]
    )
}

/// A test attribute: its last path segment is `test` (`#[test]`, `#[tokio::test]`,
/// `#[async_std::test]`, `#[test_log::test]`, ...) or `rstest`.
pub(crate) fn is_test_attr(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|seg| seg.ident == "test" || seg.ident == "rstest")
}

fn param_name(param: &PatType) -> Option<String> {
    match &*param.pat {
        Pat::Ident(ident) => Some(ident.ident.to_string()),
        _ => None,
    }
}

/// The parameters named `ports` or `port`, the tie-breaker when several could receive.
fn named_like_ports<'a>(list: &[(usize, &'a PatType)]) -> Vec<(usize, &'a PatType)> {
    list.iter()
        .copied()
        .filter(|(_, t)| param_name(t).is_some_and(|p| p == "ports" || p == "port"))
        .collect()
}

const ORDER_HINT: &str = "#[with_ports] must be placed above #[test], #[tokio::test] and #[rstest], \
     which must see the function after the macro has taken the parameter away";

/// Checks `func` against `args`, recording every problem in `errors`. Returns the receiving
/// parameter when one could be chosen.
pub(crate) fn validate(func: &ItemFn, args: &Args, errors: &mut Errors) -> Option<Receiver> {
    let sig = &func.sig;
    let n = args.count.map(|(n, _)| n);
    let n_text = n.map_or_else(|| "n".to_owned(), |n| n.to_string());
    let elem = Elem::of(args);
    let ty_name = elem.name();
    let example = match (elem, n == Some(1)) {
        (Elem::Port, true) => "port: u16".to_owned(),
        (Elem::Port, false) => format!("ports: [u16; {n_text}]"),
        (Elem::TcpListener, true) => "listener: TcpListener".to_owned(),
        (Elem::UdpSocket, true) => "socket: UdpSocket".to_owned(),
        (_, false) => format!("sockets: [{ty_name}; {n_text}]"),
    };

    validate_options(args, errors);

    if sig.asyncness.is_some() && !func.attrs.iter().any(is_test_attr) {
        errors.push(syn::Error::new_spanned(
            sig.asyncness,
            "#[with_ports] would add #[test], which cannot run an async fn: \
             put an async test attribute such as #[tokio::test] below #[with_ports]",
        ));
    }

    if let (Some(_), Some(hosts)) = (&args.listen, &args.hosts) {
        if let Some(extra) = hosts.get(1) {
            errors.push(syn::Error::new_spanned(
                extra,
                "with `listen` the sockets are bound on one host: give `hosts` one host",
            ));
        }
    }

    let typed: Vec<(usize, &PatType)> = sig
        .inputs
        .iter()
        .enumerate()
        .filter_map(|(i, arg)| match arg {
            FnArg::Typed(t) => Some((i, t)),
            FnArg::Receiver(_) => None,
        })
        .collect();

    let chosen = if let Some(name) = &args.param {
        let found = typed
            .iter()
            .find(|(_, t)| param_name(t).is_some_and(|p| name == &p));
        if found.is_none() {
            let names: Vec<String> = typed.iter().filter_map(|(_, t)| param_name(t)).collect();
            errors.push(syn::Error::new_spanned(
                name,
                if names.is_empty() {
                    format!("`{}` has no parameter named `{name}`", sig.ident)
                } else {
                    format!(
                        "`{}` has no parameter named `{name}` (its parameters: {})",
                        sig.ident,
                        names.join(", ")
                    )
                },
            ));
        }
        found.copied()
    } else {
        // Parameters with attributes (`#[case]`, `#[values(..)]`, `#[future]`) belong to
        // another macro, so they are never taken implicitly.
        let free: Vec<(usize, &PatType)> = typed
            .iter()
            .copied()
            .filter(|(_, t)| t.attrs.is_empty())
            .collect();
        let shaped: Vec<(usize, &PatType)> = free
            .iter()
            .copied()
            .filter(|(_, t)| !matches!(type_shape(&t.ty, elem), TypeShape::Other))
            .collect();
        let named_shaped = named_like_ports(&shaped);
        let named_free = named_like_ports(&free);
        if shaped.len() == 1 {
            Some(shaped[0])
        } else if named_shaped.len() == 1 {
            Some(named_shaped[0])
        } else if shaped.len() > 1 {
            errors.push(syn::Error::new(
                sig.paren_token.span.join(),
                format!(
                    "several parameters of `{}` could receive the ports: name one with \
                     `#[with_ports({n_text}, param = name)]`",
                    sig.ident
                ),
            ));
            None
        } else if named_free.len() == 1 {
            // Named like the receiver but typed otherwise: the type check below says why.
            Some(named_free[0])
        } else {
            let mut msg = format!(
                "`{}` has no parameter to receive the ports: add one such as `{example}`",
                sig.ident
            );
            if sig.inputs.is_empty() {
                msg.push_str("; ");
                msg.push_str(ORDER_HINT);
            }
            errors.push(syn::Error::new(sig.paren_token.span.join(), msg));
            None
        }
    };

    let (index, param) = chosen?;
    let shape = match type_shape(&param.ty, elem) {
        TypeShape::Array(len, len_expr, addr) => {
            let ty_name = if addr { "SocketAddr" } else { ty_name };
            if let (Some(len), Some(n)) = (len, n) {
                if len != n as u128 {
                    errors.push(syn::Error::new_spanned(
                        len_expr,
                        format!(
                            "the array has length {len} but #[with_ports({n})] allocates {n} port{}: \
                             write `[{ty_name}; {n}]`",
                            if n == 1 { "" } else { "s" }
                        ),
                    ));
                }
            }
            if addr { Shape::AddrArray } else { Shape::Array }
        }
        TypeShape::Single(addr) => {
            let ty_name = if addr { "SocketAddr" } else { ty_name };
            if let Some(n) = n.filter(|&n| n != 1) {
                errors.push(syn::Error::new_spanned(
                    &param.ty,
                    format!("`{ty_name}` receives one port but #[with_ports({n})] allocates {n}: write `[{ty_name}; {n}]`"),
                ));
            }
            if addr { Shape::Addr } else { Shape::Single }
        }
        TypeShape::Other => {
            errors.push(syn::Error::new(
                param.ty.span(),
                format!(
                    "the parameter receiving the ports must be of type `[{ty_name}; {n_text}]`{}{}{}",
                    if elem == Elem::Port { format!(" or `[SocketAddr; {n_text}]`") } else { String::new() },
                    if n == Some(1) { " or `" } else { "" },
                    if n == Some(1) {
                        format!("{ty_name}`{}", if elem == Elem::Port { " or `SocketAddr`" } else { "" })
                    } else {
                        String::new()
                    },
                ),
            ));
            return None;
        }
    };
    Some(Receiver { index, shape })
}

/// Checks the request options against each other and against `n`.
fn validate_options(args: &Args, errors: &mut Errors) {
    let n = args.count.map(|(n, _)| n);
    // The other request options combine with `udp` and `listen`; `strict` is about TCP ports
    // in TIME_WAIT, which neither a UDP port nor a listener allocport binds itself (with
    // `SO_REUSEADDR`, as std does) can be troubled by.
    if args.strict {
        if let Some(other) = args.udp.as_ref().or(args.listen.as_ref()) {
            let why = if args.udp.is_some() {
                "UDP has no TIME_WAIT"
            } else {
                "allocport binds the listeners itself, with SO_REUSEADDR, so TIME_WAIT is no obstacle"
            };
            errors.push(syn::Error::new_spanned(
                other,
                format!(
                    "`strict` keeps TCP ports in TIME_WAIT from a server that binds without \
                     SO_REUSEADDR; with `{other}` it has no effect ({why}): drop `strict`"
                ),
            ));
        }
    }
    if let (Some(consecutive), Some(_)) = (args.consecutive, &args.offsets) {
        errors.push(syn::Error::new(
            consecutive,
            "`consecutive` and `offsets` both say how the ports are related: use one",
        ));
    }
    let group = match (&args.offsets, args.consecutive) {
        (Some((offsets, span)), _) => {
            if let Some(n) = n.filter(|n| n % offsets.len() != 0) {
                errors.push(syn::Error::new(
                    *span,
                    format!(
                        "#[with_ports({n})] with {} offsets: the ports come in groups of {}, \
                         so their number must be a multiple of {}",
                        offsets.len(),
                        offsets.len(),
                        offsets.len()
                    ),
                ));
            }
            Some(offsets.len())
        }
        (None, Some(_)) => n,
        (None, None) => Some(1),
    };
    if let (Some((port, span)), Some(n), Some(group)) = (args.exact, n, group) {
        if n != group {
            errors.push(syn::Error::new(
                span,
                format!(
                    "`exact = {port}` is one group of {group} port{} but #[with_ports({n})] \
                     asks for {n}",
                    if group == 1 { "" } else { "s" }
                ),
            ));
        }
    }
}
