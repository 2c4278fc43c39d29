//! Reading a results file (docs/SPEC.md, "The results file (HDF5)"): `/ascent` as the
//! analysis input ([`read_ensemble`]), and a finished run as the commands that
//! look at it (`plot`, `motifs` and `diff`) need it ([`FinishedRun`]).
use super::layout::*;
use crate::analysis::Ensemble;
use crate::model::h5util::{int_attr, read_string_dataset, str_attr};
use crate::{Error, Result};
use ndarray::{Array1, Array2};
use std::path::{Path, PathBuf};

pub(crate) fn get_str(loc: &hdf5::Location, name: &str) -> Option<String> {
    str_attr(loc, name)
}

/// Read `/ascent` for analysis; every restart must be done.
pub fn read_ensemble(path: &Path) -> Result<Ensemble> {
    let file =
        hdf5::File::open(path).map_err(|e| Error::results(path, format!("cannot open: {e}")))?;
    ensemble_from(&file, path)
}

pub(crate) fn ensemble_from(file: &hdf5::File, path: &Path) -> Result<Ensemble> {
    let fivd = file.dataset(ASCENT_FIV).map_err(|_| {
        Error::results(
            path,
            format!("no /{ASCENT_FIV}: not a deepresolve-mpi results file"),
        )
    })?;
    let shape = fivd.shape();
    if shape.len() != 3 {
        return Err(Error::results(
            path,
            format!("/{ASCENT_FIV} has shape {shape:?}, expected (C, T, K)"),
        ));
    }
    let (c, t, k) = (shape[0], shape[1], shape[2]);
    let fiv = crate::model::h5util::read_checked::<f32>(&fivd)
        .map_err(|m| Error::results(path, format!("cannot read /{ASCENT_FIV}: {m}")))?;
    let fiv =
        Array2::from_shape_vec((c * t, k), fiv).map_err(|m| Error::results(path, m.to_string()))?;
    let score = Array1::from(dataset::<f32>(file, path, ASCENT_SCORE, &[c, t])?);
    let done: Vec<u8> = dataset(file, path, ASCENT_DONE, &[c, t])?;
    // A NaN in one FIV would make every OFIV and IL of its class NaN.
    let bad = (0..c * t).find(|&i| {
        done[i] != 0 && (!score[i].is_finite() || fiv.row(i).iter().any(|v| !v.is_finite()))
    });
    if let Some(i) = bad {
        return Err(Error::results(
            path,
            format!(
                "/ascent row {} (class {} of /classes/index), restart {}: a NaN or infinite score or FIV; the file is damaged, run it again",
                i / t,
                i / t,
                i % t
            ),
        ));
    }
    let missing = done.iter().filter(|&&d| d == 0).count();
    if missing > 0 {
        return Err(Error::results(
            path,
            format!(
                "{missing} of {} restarts are not done; finish the run with --resume first",
                c * t
            ),
        ));
    }
    Ok(Ensemble {
        c,
        t,
        k,
        fiv,
        score,
    })
}

/// A finished run as `plot`, `motifs` and `diff` read it: provenance, classes,
/// the FIVs and scores of `/ascent` and all of `/analysis`. Arrays are
/// row-major, as in the file.
#[derive(Debug, Clone)]
pub struct FinishedRun {
    pub path: PathBuf,
    pub model: String,
    pub layer: String,
    pub layer_index: Option<i64>,
    /// Classes (C), restarts (T), channels (K).
    pub c: usize,
    pub t: usize,
    pub k: usize,
    /// Output unit of each analysed class (C).
    pub index: Vec<i64>,
    pub names: Vec<String>,
    /// (C, T, K)
    pub fiv: Vec<f32>,
    /// (C, T)
    pub score: Vec<f32>,
    /// (C, T)
    pub weight: Vec<f32>,
    /// (C, K)
    pub il: Vec<f32>,
    /// (C, K)
    pub nonadditive: Vec<u8>,
    /// (C, K)
    pub ofiv: Vec<f32>,
    /// (C, K): channel indices by OFIV, highest first.
    pub rank: Vec<i32>,
    /// (C, C)
    pub similarity: Vec<f32>,
    /// (C − 1, 4), SciPy's layout.
    pub linkage: Vec<f64>,
    /// (C)
    pub cluster_order: Vec<i32>,
    /// (C) 1 = flagged by the per-class checks (0 for a file written before them).
    pub not_learned: Vec<u8>,
    pub restarts_collapsed: Vec<u8>,
}

/// An optional (C) flag dataset: zeros when absent (older files).
fn flags(file: &hdf5::File, path: &Path, name: &str, c: usize) -> Result<Vec<u8>> {
    if file.link_exists(name) {
        dataset(file, path, name, &[c])
    } else {
        Ok(vec![0; c])
    }
}

fn dataset<T: hdf5::H5Type>(
    file: &hdf5::File,
    path: &Path,
    name: &str,
    shape: &[usize],
) -> Result<Vec<T>> {
    let ds = file.dataset(name).map_err(|_| {
        Error::results(
            path,
            format!(
                "has no {name} (is it a deepresolve-mpi results file, and was the run finished?)"
            ),
        )
    })?;
    if ds.shape() != shape {
        return Err(Error::results(
            path,
            format!("{name} has shape {:?}, expected {:?}", ds.shape(), shape),
        ));
    }
    crate::model::h5util::read_checked::<T>(&ds)
        .map_err(|e| Error::results(path, format!("cannot read {name}: {e}")))
}

/// Merge m of a linkage (SciPy's layout) joins two nodes made before it —
/// classes 0..c, merges c..c+m — each joined once: the tree the clusters and
/// the dendrogram walk. A damaged index would send them out of the tree.
fn check_merges(linkage: &[f64], c: usize) -> std::result::Result<(), String> {
    let mut used = vec![false; (2 * c).saturating_sub(1)];
    for (m, row) in linkage.chunks(4).enumerate() {
        for &x in row.iter().take(2) {
            let node = x as usize;
            // NaN and infinities fail `fract() == 0.0`.
            if !(x.fract() == 0.0 && x >= 0.0 && x < (c + m) as f64) || used[node] {
                return Err(format!(
                    "/{ANALYSIS_LINKAGE} row {m} joins {x}, which is not a class or an earlier merge (0..{}) joined once (damaged or edited file?)",
                    c + m
                ));
            }
            used[node] = true;
        }
    }
    Ok(())
}

impl FinishedRun {
    pub fn read(path: &Path) -> Result<FinishedRun> {
        let file = hdf5::File::open(path)
            .map_err(|e| Error::results(path, format!("cannot open: {e}")))?;
        let fiv_ds = file.dataset(ASCENT_FIV).map_err(|_| {
            Error::results(
                path,
                format!("has no /{ASCENT_FIV} (is it a deepresolve-mpi results file?)"),
            )
        })?;
        let s = fiv_ds.shape();
        if s.len() != 3 {
            return Err(Error::results(
                path,
                format!("/{ASCENT_FIV} has shape {s:?}, expected (C, T, K)"),
            ));
        }
        let (c, t, k) = (s[0], s[1], s[2]);
        if c == 0 || t == 0 || k == 0 {
            return Err(Error::results(
                path,
                format!("/{ASCENT_FIV} is empty (shape {s:?})"),
            ));
        }
        let names_ds = file
            .dataset(CLASSES_NAMES)
            .map_err(|_| Error::results(path, format!("has no /{CLASSES_NAMES}")))?;
        let names = read_string_dataset(&names_ds).map_err(|e| {
            Error::results(
                path,
                format!("/{CLASSES_NAMES} cannot be read as strings: {e}"),
            )
        })?;
        if names.len() != c {
            return Err(Error::results(
                path,
                format!("/{CLASSES_NAMES} has {} names for {c} classes", names.len()),
            ));
        }
        let status = str_attr(&file, ATTR_STATUS);
        let r = FinishedRun {
            path: path.to_path_buf(),
            model: str_attr(&file, ATTR_MODEL).unwrap_or_default(),
            layer: str_attr(&file, ATTR_LAYER).unwrap_or_default(),
            layer_index: int_attr(&file, ATTR_LAYER_INDEX),
            c,
            t,
            k,
            index: dataset(&file, path, CLASSES_INDEX, &[c])?,
            names,
            fiv: crate::model::h5util::read_checked::<f32>(&fiv_ds)
                .map_err(|e| Error::results(path, format!("cannot read /{ASCENT_FIV}: {e}")))?,
            score: dataset(&file, path, ASCENT_SCORE, &[c, t])?,
            weight: dataset(&file, path, ANALYSIS_WEIGHT, &[c, t])?,
            il: dataset(&file, path, ANALYSIS_IL, &[c, k])?,
            nonadditive: dataset(&file, path, ANALYSIS_NONADDITIVE, &[c, k])?,
            ofiv: dataset(&file, path, ANALYSIS_OFIV, &[c, k])?,
            rank: dataset(&file, path, ANALYSIS_RANK, &[c, k])?,
            similarity: dataset(&file, path, ANALYSIS_SIMILARITY, &[c, c])?,
            linkage: dataset(&file, path, ANALYSIS_LINKAGE, &[c - 1, 4])?,
            cluster_order: dataset(&file, path, ANALYSIS_CLUSTER_ORDER, &[c])?,
            not_learned: flags(&file, path, ANALYSIS_NOT_LEARNED, c)?,
            restarts_collapsed: flags(&file, path, ANALYSIS_RESTARTS_COLLAPSED, c)?,
        };
        if let Some(s) = status {
            if s != STATUS_COMPLETE {
                eprintln!(
                    "deepresolve-mpi: warning: {} has status {s:?}; /analysis may be incomplete",
                    path.display()
                );
            }
        }
        for (ci, row) in r.rank.chunks(k).enumerate() {
            if row.iter().any(|&x| x < 0 || x as usize >= k) {
                return Err(Error::results(
                    path,
                    format!("/{ANALYSIS_RANK} row {ci} has a channel outside 0..{k}"),
                ));
            }
        }
        if r.cluster_order.iter().any(|&x| x < 0 || x as usize >= c) {
            return Err(Error::results(
                path,
                format!("/{ANALYSIS_CLUSTER_ORDER} has a class outside 0..{c}"),
            ));
        }
        check_merges(&r.linkage, c).map_err(|why| Error::results(path, why))?;
        Ok(r)
    }

    /// The class's flags as words ("not learned", "restarts collapsed"), comma-separated; "" if none.
    pub fn flag_words(&self, ci: usize) -> String {
        let mut w = Vec::new();
        if self.not_learned[ci] == 1 {
            w.push("not learned");
        }
        if self.restarts_collapsed[ci] == 1 {
            w.push("restarts collapsed");
        }
        w.join("; ")
    }

    pub fn fiv(&self, ci: usize, t: usize) -> &[f32] {
        let o = (ci * self.t + t) * self.k;
        &self.fiv[o..o + self.k]
    }
    pub fn row<'a, T>(&self, a: &'a [T], ci: usize) -> &'a [T] {
        &a[ci * self.k..(ci + 1) * self.k]
    }
    pub fn ofiv_row(&self, ci: usize) -> &[f32] {
        self.row(&self.ofiv, ci)
    }
    pub fn il_row(&self, ci: usize) -> &[f32] {
        self.row(&self.il, ci)
    }
    pub fn nonadditive_row(&self, ci: usize) -> &[u8] {
        self.row(&self.nonadditive, ci)
    }
    /// The class's `n` best channels by `/analysis/rank` as (place in the
    /// ranking, channel), leaving out those whose OFIV is not a number
    /// (masked by [`super::bad_values`]).
    pub fn top_channels(&self, ci: usize, n: usize) -> Vec<(usize, usize)> {
        let ofiv = self.ofiv_row(ci);
        self.rank_row(ci)
            .into_iter()
            .enumerate()
            .filter(|&(_, ch)| ofiv.get(ch).is_some_and(|v| v.is_finite()))
            .take(n)
            .collect()
    }
    pub fn rank_row(&self, ci: usize) -> Vec<usize> {
        self.row(&self.rank, ci)
            .iter()
            .map(|&x| x as usize)
            .collect()
    }

    /// Position (0..C) of one class given by output index or name (the
    /// `--classes` parser, for one class).
    pub fn find_class(&self, key: &str) -> Result<usize> {
        let key = key.trim();
        match self.select_classes(key)?.as_slice() {
            [p] => Ok(*p),
            _ => Err(Error::Input(format!(
                "{key:?} names more than one class of {}: give one output index or name",
                self.path.display()
            ))),
        }
    }

    /// Classes selected by a list such as `0,3,7-9,classA` (output indices, ranges
    /// of output indices, or names), as positions 0..C in the order of the list.
    pub fn select_classes(&self, list: &str) -> Result<Vec<usize>> {
        crate::classes::select(
            list,
            &self.index,
            &self.names,
            None,
            &self.path.display().to_string(),
        )
    }
}
