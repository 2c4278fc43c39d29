//! `plot RESULTS.h5 --out DIR`: the paper's figures as SVG and PNG.
pub mod data;
pub fn plot(_a: &crate::cli::PlotArgs) -> crate::Result<()> {
    Err(crate::Error::Input("plot is not built yet".into()))
}
