//! The `#[with_ports(n)]` attribute. Use it through `allocport_core::with_ports`, whose
//! documentation describes it; this crate only turns the attribute into code.
//!
//! The work is split the way it is checked: `args` parses what is inside the parentheses,
//! `validate` checks the function against it, `expand` writes the wrapper. Every misuse
//! becomes a spanned [`syn::Error`], emitted next to the user's function (as a plain function)
//! so IDEs and later type checks keep working; nothing here panics.

mod args;
mod errors;
mod expand;
mod validate;

use proc_macro::TokenStream;

/// Injects held ports into a test function; documented on `allocport_core::with_ports`.
#[proc_macro_attribute]
pub fn with_ports(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    expand::expand(args.into(), item.clone())
        .unwrap_or_else(|err| {
            let mut out = err.into_compile_error();
            out.extend(expand::fallback(item));
            out
        })
        .into()
}

#[cfg(test)]
mod tests;
