//! PLACEHOLDER: `plot` is being written; this file will be replaced.
pub fn plot(_a: &crate::cli::PlotArgs) -> crate::Result<()> {
    Err(crate::Error::Input("plot is not built yet".into()))
}
