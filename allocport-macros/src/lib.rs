//! The `#[with_ports(n)]` attribute. Use it through `allocport_core::with_ports`.

use proc_macro::TokenStream;

/// Placeholder until the attribute is built (issue 4): emits the item unchanged.
#[proc_macro_attribute]
pub fn with_ports(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
