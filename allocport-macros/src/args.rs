//! Parsing what is inside `#[with_ports(...)]`: the number of ports, then `name = value` options.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprAssign, ExprLit, Ident, Lit, LitInt, LitStr, Path, Token, UnOp};

use crate::errors::Errors;

/// The most ports one test can ask for: every port from 1 to 65535, the largest set
/// `PYSYS_PORTS` can name. It is the only bound known at compile time; whether the pool in use
/// holds that many is checked when the test runs (`Error::TooManyPorts`).
pub(crate) const MAX_PORTS: u64 = 65535;

/// The parsed attribute. A part that was missing or invalid is `None`, its error already
/// recorded, so validation can still check everything else.
pub(crate) struct Args {
    /// How many ports, and the literal that said so (allocation errors point at it).
    pub(crate) count: Option<(usize, Span)>,
    /// `param = name`: the parameter that receives the ports.
    pub(crate) param: Option<Ident>,
    /// `hosts = ["localhost", "::1"]`.
    pub(crate) hosts: Option<Vec<LitStr>>,
    /// `family = ipv4 | ipv6`.
    pub(crate) family: Option<Family>,
    /// `udp`: UDP ports (with `listen`, bound UDP sockets).
    pub(crate) udp: Option<Ident>,
    /// `listen`: the ports come as bound sockets, `TcpListener`s (or `UdpSocket`s with `udp`).
    pub(crate) listen: Option<Ident>,
    /// `offsets = [0, 10000]`: each group is `p + o` for these offsets.
    pub(crate) offsets: Option<(Vec<u16>, Span)>,
    /// `consecutive`: the `n` ports are one block of consecutive ports.
    pub(crate) consecutive: Option<Span>,
    /// `exact = 6379`: that port (the first of its group), waiting while it is held.
    pub(crate) exact: Option<(u16, Span)>,
    /// `strict`: fully free ports only, none in TIME_WAIT.
    pub(crate) strict: bool,
    /// `crate = path`: where `allocport-core` is, for a dependency renamed in Cargo.toml.
    pub(crate) krate: Option<Path>,
}

impl Args {
    /// Whether an option beyond `param`, `hosts` and `family` was given: only then does the
    /// expansion go through a full port request.
    pub(crate) fn has_request_options(&self) -> bool {
        self.offsets.is_some() || self.consecutive.is_some() || self.exact.is_some() || self.strict
    }

    /// What the attribute allocates, one per port.
    pub(crate) fn held(&self) -> Allocated {
        match (self.listen.is_some(), self.udp.is_some()) {
            (false, false) => Allocated::TcpPortOwner,
            (false, true) => Allocated::UdpPortOwner,
            (true, false) => Allocated::HeldTcpListener,
            (true, true) => Allocated::HeldUdpSocket,
        }
    }
}

/// What the attribute allocates, one per port: named as the type in `allocport-core`, which
/// the receiving parameter's type converts from (`ReceivePorts<Allocated, n>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Allocated {
    TcpPortOwner,
    UdpPortOwner,
    HeldTcpListener,
    HeldUdpSocket,
}

impl Allocated {
    /// The type's name in `allocport_core::__private`.
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            Allocated::TcpPortOwner => "TcpPortOwner",
            Allocated::UdpPortOwner => "UdpPortOwner",
            Allocated::HeldTcpListener => "HeldTcpListener",
            Allocated::HeldUdpSocket => "HeldUdpSocket",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    Ipv4,
    Ipv6,
}

const OPTIONS: &str = "`param = name`, `hosts = [\"localhost\", ...]`, `family = ipv4 | ipv6`, \
     `udp`, `listen`, `offsets = [0, 10000]`, `consecutive`, `exact = 6379`, `strict` or `crate = path`";

/// Parses the attribute's arguments, recording every error in `errors`. Only tokens that are
/// not a comma-separated list of expressions at all fail outright.
pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> syn::Result<Args> {
    let span = first_span(&tokens);
    let list = Punctuated::<Expr, Token![,]>::parse_terminated.parse2(tokens)?;
    let mut args = Args {
        count: None,
        param: None,
        hosts: None,
        family: None,
        udp: None,
        listen: None,
        offsets: None,
        consecutive: None,
        exact: None,
        strict: false,
        krate: None,
    };
    let mut items = list.into_iter();
    match items.next() {
        None => errors.push(syn::Error::new(
            span,
            "#[with_ports] needs the number of ports, as in `#[with_ports(2)]`",
        )),
        Some(first @ Expr::Assign(_)) => {
            errors.push(syn::Error::new(
                span,
                "#[with_ports] needs the number of ports first, as in `#[with_ports(2, ...)]`",
            ));
            if let Err(err) = parse_option(first, &mut args) {
                errors.push(err);
            }
        }
        Some(first) => match parse_count(&first) {
            Ok(count) => args.count = Some(count),
            Err(err) => errors.push(err),
        },
    }
    for item in items {
        if let Err(err) = parse_option(item, &mut args) {
            errors.push(err);
        }
    }
    Ok(args)
}

fn first_span(tokens: &TokenStream) -> Span {
    tokens
        .clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span())
}

fn parse_count(expr: &Expr) -> syn::Result<(usize, Span)> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) => count_from(lit),
        Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) => Err(syn::Error::new_spanned(
            expr,
            format!(
                "the number of ports must be a positive integer, not `{}`",
                quote::ToTokens::to_token_stream(expr)
                    .to_string()
                    .replace(' ', "")
            ),
        )),
        Expr::Path(path) => Err(syn::Error::new_spanned(
            expr,
            format!(
                "the number of ports must be an integer literal such as `2`; the macro cannot read the value of `{}`",
                quote::ToTokens::to_token_stream(path)
                    .to_string()
                    .replace(' ', "")
            ),
        )),
        _ => Err(syn::Error::new_spanned(
            expr,
            "the number of ports must be an integer literal such as `2`",
        )),
    }
}

fn count_from(lit: &LitInt) -> syn::Result<(usize, Span)> {
    let too_large = || {
        syn::Error::new_spanned(
            lit,
            format!(
                "#[with_ports({lit})] asks for more ports than any pool can hold: at most {MAX_PORTS} (ports 1-65535)"
            ),
        )
    };
    // Digits only: a suffix such as `2usize` changes nothing, and parsing as u128 tells an
    // absurdly large literal ("too large") from a malformed one.
    let value: u128 = lit.base10_digits().parse().map_err(|_| too_large())?;
    if value == 0 {
        return Err(syn::Error::new_spanned(
            lit,
            "#[with_ports(0)] allocates nothing: the number of ports must be at least 1",
        ));
    }
    if value > u128::from(MAX_PORTS) {
        return Err(too_large());
    }
    let value = usize::try_from(value).map_err(|_| too_large())?;
    Ok((value, lit.span()))
}

fn parse_option(expr: Expr, args: &mut Args) -> syn::Result<()> {
    if let Some(flag) = single_ident(&expr) {
        return parse_flag(flag, args);
    }
    let Expr::Assign(assign) = expr else {
        return Err(syn::Error::new_spanned(
            &expr,
            format!("expected an option after the number of ports: {OPTIONS}"),
        ));
    };
    let name = single_ident(&assign.left).ok_or_else(|| {
        syn::Error::new_spanned(&assign.left, format!("unknown option: expected {OPTIONS}"))
    })?;
    if parse_valued(&name, &assign, args)? {
        Ok(())
    } else {
        Err(syn::Error::new_spanned(
            &name,
            format!("option `{name}` is given more than once"),
        ))
    }
}

/// The options written `name = value`: records the value and says whether it is the first
/// for `name` (the value is checked before the duplicate, so its own error comes first).
fn parse_valued(name: &Ident, assign: &ExprAssign, args: &mut Args) -> syn::Result<bool> {
    let value = &*assign.right;
    let first = match name.to_string().as_str() {
        "param" => set_once(&mut args.param, parse_param(value)?),
        "hosts" => set_once(&mut args.hosts, parse_hosts(value)?),
        "family" => set_once(&mut args.family, parse_family(value)?),
        "offsets" => set_once(&mut args.offsets, (parse_offsets(value)?, value.span())),
        "exact" => set_once(&mut args.exact, (parse_port(value)?, value.span())),
        "crate" => set_once(&mut args.krate, parse_crate(value)?),
        "consecutive" | "strict" => {
            return Err(syn::Error::new_spanned(
                assign,
                format!("`{name}` takes no value: write `{name}` alone"),
            ));
        }
        other => {
            return Err(syn::Error::new_spanned(
                name,
                format!("unknown option `{other}`: expected {OPTIONS}"),
            ));
        }
    };
    Ok(first)
}

/// Fills `slot` with `value`; false when it already held one.
fn set_once<T>(slot: &mut Option<T>, value: T) -> bool {
    slot.replace(value).is_none()
}

fn parse_param(value: &Expr) -> syn::Result<Ident> {
    single_ident(value).ok_or_else(|| {
        wrong_value(
            value,
            "`param` takes a parameter name, as in `param = ports`",
        )
    })
}

fn parse_family(value: &Expr) -> syn::Result<Family> {
    single_ident(value)
        .and_then(|ident| match ident.to_string().as_str() {
            "ipv4" | "Ipv4" => Some(Family::Ipv4),
            "ipv6" | "Ipv6" => Some(Family::Ipv6),
            _ => None,
        })
        .ok_or_else(|| {
            wrong_value(
                value,
                "`family` takes `ipv4` or `ipv6`, as in `family = ipv6`",
            )
        })
}

/// `consecutive` and `strict`, the options without a value.
fn parse_flag(flag: Ident, args: &mut Args) -> syn::Result<()> {
    let duplicate =
        || syn::Error::new_spanned(&flag, format!("option `{flag}` is given more than once"));
    match flag.to_string().as_str() {
        "udp" => {
            if args.udp.replace(flag.clone()).is_some() {
                return Err(duplicate());
            }
        }
        "listen" => {
            if args.listen.replace(flag.clone()).is_some() {
                return Err(duplicate());
            }
        }
        "consecutive" => {
            if args.consecutive.replace(flag.span()).is_some() {
                return Err(duplicate());
            }
        }
        "strict" => {
            if std::mem::replace(&mut args.strict, true) {
                return Err(duplicate());
            }
        }
        other => {
            return Err(syn::Error::new_spanned(
                &flag,
                format!("unknown option `{other}`: expected {OPTIONS}"),
            ));
        }
    }
    Ok(())
}

/// A port number literal, 1-65535.
fn parse_port(value: &Expr) -> syn::Result<u16> {
    const HELP: &str = "`exact` takes a port number from 1 to 65535, as in `exact = 6379`";
    let Expr::Lit(ExprLit {
        lit: Lit::Int(lit), ..
    }) = value
    else {
        return Err(wrong_value(value, HELP));
    };
    match lit.base10_digits().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(syn::Error::new_spanned(
            lit,
            format!("`exact = {lit}` is not a port: {HELP}"),
        )),
    }
}

/// `[0, 10000]`: distinct offsets, each a `u16`.
fn parse_offsets(value: &Expr) -> syn::Result<Vec<u16>> {
    const HELP: &str =
        "`offsets` takes an array of distinct port offsets (0-65534), as in `offsets = [0, 10000]`";
    let Expr::Array(array) = value else {
        return Err(wrong_value(value, HELP));
    };
    let mut offsets = Vec::new();
    for elem in &array.elems {
        let offset = match elem {
            Expr::Lit(ExprLit {
                lit: Lit::Int(lit), ..
            }) => lit.base10_digits().parse::<u16>().ok(),
            _ => None,
        };
        match offset {
            Some(offset) if offsets.contains(&offset) => {
                return Err(syn::Error::new_spanned(
                    elem,
                    format!("offset {offset} is given twice: {HELP}"),
                ));
            }
            Some(offset) => offsets.push(offset),
            None => return Err(wrong_value(elem, HELP)),
        }
    }
    if offsets.is_empty() {
        return Err(syn::Error::new(array.span(), HELP));
    }
    Ok(offsets)
}

fn parse_hosts(value: &Expr) -> syn::Result<Vec<LitStr>> {
    const HELP: &str =
        "`hosts` takes an array of string literals, as in `hosts = [\"localhost\", \"::1\"]`";
    let Expr::Array(array) = value else {
        return Err(wrong_value(value, HELP));
    };
    let mut hosts = Vec::new();
    for elem in &array.elems {
        match elem {
            Expr::Lit(ExprLit {
                lit: Lit::Str(host),
                ..
            }) => hosts.push(host.clone()),
            _ => return Err(wrong_value(elem, HELP)),
        }
    }
    if hosts.is_empty() {
        return Err(syn::Error::new(
            array.span(),
            "`hosts` needs at least one host; `\"\"` stands for every interface, `\"localhost\"` for loopback",
        ));
    }
    Ok(hosts)
}

/// `crate = path` or, as tokio writes it, `crate = "path"`.
fn parse_crate(value: &Expr) -> syn::Result<Path> {
    const HELP: &str = "`crate` takes the path of allocport-core, as in `crate = my_allocport` or `crate = \"my_allocport\"`";
    match value {
        Expr::Path(path) if path.attrs.is_empty() && path.qself.is_none() => Ok(path.path.clone()),
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) => text.parse::<Path>().map_err(|_| {
            syn::Error::new_spanned(text, format!("{:?} is not a path: {HELP}", text.value()))
        }),
        _ => Err(wrong_value(value, HELP)),
    }
}

fn wrong_value(value: &Expr, help: &str) -> syn::Error {
    syn::Error::new_spanned(value, help)
}

fn single_ident(expr: &Expr) -> Option<Ident> {
    match expr {
        Expr::Path(path) if path.attrs.is_empty() && path.qself.is_none() => {
            path.path.get_ident().cloned()
        }
        _ => None,
    }
}
