//! Reading a finished results file (SPEC.md, "The results file") for the
//! commands that look at it: `plot`, `motifs` and `diff`.
use crate::model::h5util::{int_attr, str_attr, string_dataset};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Everything `plot`, `motifs` and `diff` read from a results file. Arrays are
/// row-major, as in the file.
#[derive(Debug, Clone)]
pub struct Results {
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
    ds.read_raw::<T>()
        .map_err(|e| Error::results(path, format!("cannot read {name}: {e}")))
}

impl Results {
    pub fn read(path: &Path) -> Result<Results> {
        let file = hdf5::File::open(path)
            .map_err(|e| Error::results(path, format!("cannot open: {e}")))?;
        let fiv_ds = file.dataset("ascent/fiv").map_err(|_| {
            Error::results(
                path,
                "has no /ascent/fiv (is it a deepresolve-mpi results file?)",
            )
        })?;
        let s = fiv_ds.shape();
        if s.len() != 3 {
            return Err(Error::results(
                path,
                format!("/ascent/fiv has shape {s:?}, expected (C, T, K)"),
            ));
        }
        let (c, t, k) = (s[0], s[1], s[2]);
        if c == 0 || t == 0 || k == 0 {
            return Err(Error::results(
                path,
                format!("/ascent/fiv is empty (shape {s:?})"),
            ));
        }
        let names_ds = file
            .dataset("classes/names")
            .map_err(|_| Error::results(path, "has no /classes/names"))?;
        let names = string_dataset(&names_ds)
            .ok_or_else(|| Error::results(path, "/classes/names is not a string dataset"))?;
        if names.len() != c {
            return Err(Error::results(
                path,
                format!("/classes/names has {} names for {c} classes", names.len()),
            ));
        }
        let status = str_attr(&file, "status");
        let r = Results {
            path: path.to_path_buf(),
            model: str_attr(&file, "model").unwrap_or_default(),
            layer: str_attr(&file, "layer").unwrap_or_default(),
            layer_index: int_attr(&file, "layer_index"),
            c,
            t,
            k,
            index: dataset(&file, path, "classes/index", &[c])?,
            names,
            fiv: fiv_ds
                .read_raw::<f32>()
                .map_err(|e| Error::results(path, format!("cannot read /ascent/fiv: {e}")))?,
            score: dataset(&file, path, "ascent/score", &[c, t])?,
            weight: dataset(&file, path, "analysis/weight", &[c, t])?,
            il: dataset(&file, path, "analysis/il", &[c, k])?,
            nonadditive: dataset(&file, path, "analysis/nonadditive", &[c, k])?,
            ofiv: dataset(&file, path, "analysis/ofiv", &[c, k])?,
            rank: dataset(&file, path, "analysis/rank", &[c, k])?,
            similarity: dataset(&file, path, "analysis/similarity", &[c, c])?,
            linkage: dataset(&file, path, "analysis/linkage", &[c - 1, 4])?,
            cluster_order: dataset(&file, path, "analysis/cluster_order", &[c])?,
        };
        if let Some(s) = status {
            if s != "complete" {
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
                    format!("/analysis/rank row {ci} has a channel outside 0..{k}"),
                ));
            }
        }
        if r.cluster_order.iter().any(|&x| x < 0 || x as usize >= c) {
            return Err(Error::results(
                path,
                format!("/analysis/cluster_order has a class outside 0..{c}"),
            ));
        }
        Ok(r)
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
    pub fn rank_row(&self, ci: usize) -> Vec<usize> {
        self.row(&self.rank, ci)
            .iter()
            .map(|&x| x as usize)
            .collect()
    }

    /// Position (0..C) of a class given by output index (as in /classes/index) or by name.
    pub fn find_class(&self, key: &str) -> Result<usize> {
        let key = key.trim();
        if let Ok(i) = key.parse::<i64>() {
            if let Some(p) = self.index.iter().position(|&x| x == i) {
                return Ok(p);
            }
        }
        if let Some(p) = self.names.iter().position(|n| n == key) {
            return Ok(p);
        }
        let shown: Vec<String> = self
            .index
            .iter()
            .zip(&self.names)
            .take(12)
            .map(|(i, n)| {
                if n == &i.to_string() {
                    n.clone()
                } else {
                    format!("{i} ({n})")
                }
            })
            .collect();
        Err(Error::Input(format!(
            "class {key:?} is not in {}: it has {} classes, by output index or name: {}{}",
            self.path.display(),
            self.c,
            shown.join(", "),
            if self.c > 12 { ", …" } else { "" }
        )))
    }

    /// Classes selected by a list such as `0,3,7-9,classA` (output indices, ranges
    /// of output indices, or names), as positions 0..C in file order of the list.
    pub fn select_classes(&self, list: &str) -> Result<Vec<usize>> {
        let list = list.trim();
        if list == "all" {
            return Ok((0..self.c).collect());
        }
        let mut out: Vec<usize> = Vec::new();
        let push = |p: usize, out: &mut Vec<usize>| {
            if !out.contains(&p) {
                out.push(p);
            }
        };
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            // A name wins over a range reading (names may contain '-').
            if let Some(p) = self.names.iter().position(|n| n == part) {
                push(p, &mut out);
                continue;
            }
            if let Some((a, b)) = part.split_once('-') {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<i64>(), b.trim().parse::<i64>()) {
                    if a > b {
                        return Err(Error::Input(format!(
                            "--classes {list:?}: {part:?} is a range that runs backwards"
                        )));
                    }
                    let hits: Vec<usize> = (0..self.c)
                        .filter(|&p| self.index[p] >= a && self.index[p] <= b)
                        .collect();
                    if hits.is_empty() {
                        return Err(Error::Input(format!(
                            "--classes {list:?}: no class of {} has an output index in {part}",
                            self.path.display()
                        )));
                    }
                    for p in hits {
                        push(p, &mut out);
                    }
                    continue;
                }
            }
            let p = self
                .find_class(part)
                .map_err(|e| Error::Input(format!("--classes {list:?}: {e}")))?;
            push(p, &mut out);
        }
        if out.is_empty() {
            return Err(Error::Input(format!("--classes {list:?} selects no class")));
        }
        Ok(out)
    }
}

/// A class name made safe for file names and MEME identifiers: whitespace → `_`,
/// anything but letters, digits, `-`, `_`, `.` → `_`.
pub fn sanitise(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|ch| {
            if ch.is_alphanumeric() || ch == '-' || ch == '_' || ch == '.' {
                ch
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}
