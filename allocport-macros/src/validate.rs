//! Checking the function against the attribute: which parameter receives the ports, and
//! whether the test attributes allow the expansion. The receiving parameter's type is not
//! checked here: the expansion converts to it through `allocport_core::ReceivePorts`, so the
//! compiler, which knows what every spelling and alias means, accepts or refuses it.

use syn::{Attribute, FnArg, ItemFn, Pat, PatType};

use crate::args::{Allocated, Args};
use crate::errors::Errors;

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

/// Checks `func` against `args`, recording every problem in `errors`. Returns the index of
/// the receiving parameter when one could be chosen.
pub(crate) fn validate(func: &ItemFn, args: &Args, errors: &mut Errors) -> Option<usize> {
    let sig = &func.sig;
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
    let chosen = match &args.param {
        Some(name) => named_param(func, &typed, name, errors),
        None => implicit_param(func, args, &typed, errors),
    };
    chosen.map(|(index, _)| index)
}

/// The parameter `param = name` names.
fn named_param<'a>(
    func: &ItemFn,
    typed: &[(usize, &'a PatType)],
    name: &syn::Ident,
    errors: &mut Errors,
) -> Option<(usize, &'a PatType)> {
    let found = typed
        .iter()
        .find(|(_, t)| param_name(t).is_some_and(|p| name == &p));
    if found.is_none() {
        let names: Vec<String> = typed.iter().filter_map(|(_, t)| param_name(t)).collect();
        let ident = &func.sig.ident;
        errors.push(syn::Error::new_spanned(
            name,
            if names.is_empty() {
                format!("`{ident}` has no parameter named `{name}`")
            } else {
                format!(
                    "`{ident}` has no parameter named `{name}` (its parameters: {})",
                    names.join(", ")
                )
            },
        ));
    }
    found.copied()
}

/// Without `param = name`: the only parameter without attributes, or else the one among them
/// named `ports` or `port`. Parameters with attributes (`#[case]`, `#[values(..)]`,
/// `#[future]`) belong to another macro, so they are never taken. Types play no part: the
/// macro sees only their spelling, and the compiler checks them after the expansion.
fn implicit_param<'a>(
    func: &ItemFn,
    args: &Args,
    typed: &[(usize, &'a PatType)],
    errors: &mut Errors,
) -> Option<(usize, &'a PatType)> {
    let sig = &func.sig;
    let free: Vec<(usize, &PatType)> = typed
        .iter()
        .copied()
        .filter(|(_, t)| t.attrs.is_empty())
        .collect();
    let named = named_like_ports(&free);
    let n_text = args
        .count
        .map_or_else(|| "n".to_owned(), |(n, _)| n.to_string());
    if let [only] = free.as_slice() {
        return Some(*only);
    }
    if let [only] = named.as_slice() {
        return Some(*only);
    }
    let msg = if free.is_empty() {
        let example = example_param(args);
        let mut msg = format!(
            "`{}` has no parameter to receive the ports: add one such as `{example}`",
            sig.ident
        );
        if sig.inputs.is_empty() {
            msg.push_str("; ");
            msg.push_str(ORDER_HINT);
        }
        msg
    } else {
        let names: Vec<String> = free.iter().filter_map(|(_, t)| param_name(t)).collect();
        format!(
            "several parameters of `{}` could receive the ports ({}): name one with \
             `#[with_ports({n_text}, param = name)]` or call it `port` or `ports`",
            sig.ident,
            names.join(", ")
        )
    };
    errors.push(syn::Error::new(sig.paren_token.span.join(), msg));
    None
}

/// A parameter that would receive what `args` allocates, for the messages.
fn example_param(args: &Args) -> String {
    let n = args.count.map(|(n, _)| n);
    let n_text = n.map_or_else(|| "n".to_owned(), |n| n.to_string());
    let (one, many, ty) = match args.held() {
        Allocated::TcpPortOwner | Allocated::UdpPortOwner => ("port", "ports", "u16"),
        Allocated::HeldTcpListener => ("listener", "listeners", "TcpListener"),
        Allocated::HeldUdpSocket => ("socket", "sockets", "UdpSocket"),
    };
    if n == Some(1) {
        format!("{one}: {ty}")
    } else {
        format!("{many}: [{ty}; {n_text}]")
    }
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
