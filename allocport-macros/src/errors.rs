//! Collecting several errors so that one build reports every misuse at once.

/// Errors found so far, combined into one [`syn::Error`] (each keeps its own span).
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, err: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(err),
            None => self.0 = Some(err),
        }
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }

    /// All errors so far and then `err`, as one error.
    pub(crate) fn and(self, err: syn::Error) -> syn::Error {
        match self.0 {
            Some(mut all) => {
                all.combine(err);
                all
            }
            None => err,
        }
    }
}
