//! PLACEHOLDER: `diff` is being written; this file will be replaced.
pub fn diff(_a: &crate::cli::DiffArgs) -> crate::Result<()> {
    Err(crate::Error::Input("diff is not built yet".into()))
}
