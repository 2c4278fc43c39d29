//! PLACEHOLDER: `motifs` is being written; this file will be replaced.
pub fn motifs(_a: &crate::cli::MotifsArgs) -> crate::Result<()> {
    Err(crate::Error::Input("motifs is not built yet".into()))
}
