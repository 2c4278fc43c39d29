//! `clusters RESULTS.h5 [--cut H | --k N] [--out clusters.tsv] [--labels Y.h5]`:
//! flat clusters of the classes from `/analysis/linkage`, with SciPy's
//! `fcluster` semantics.
//!
//! * `--cut H` is `fcluster(Z, H, criterion="distance")`: every subtree whose
//!   merges all lie at distance ≤ H (its highest merge, SciPy's `maxdists`) is
//!   one cluster;
//! * `--k N` is `fcluster(Z, N, criterion="maxclust")`: the smallest such H,
//!   among the merge heights, that leaves at most N clusters (exactly N unless
//!   merges tie in height; N ≥ C gives every class alone, numbered 1..C in
//!   file order, as SciPy does).
//!
//! Cluster ids are numbered 1.. exactly as SciPy numbers them (its walk of the
//! tree from the root, see [`fcluster`]), so the TSV's ids are the ids a SciPy
//! user gets. The printed list shows the clusters largest first, members in
//! dendrogram leaf order, with each cluster's mean similarity A_ij over its
//! pairs of classes and, with `--labels`, the mean Pearson correlation of the
//! classes' training labels over the same pairs.
use crate::analysis::cluster::leaves_list;
use crate::channels::notes::ChannelNotes;
use crate::numbers::num;
use crate::results::FinishedRun;
use crate::{Error, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How a tree is cut into flat clusters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cut {
    /// `fcluster(Z, h, "distance")`.
    Distance(f64),
    /// `fcluster(Z, k, "maxclust")`.
    MaxClust(usize),
}

impl Cut {
    /// The cut of `--cut` / `--k` (at most one given); neither is [`DEFAULT_CUT`].
    pub fn from_options(cut: Option<f64>, k: Option<usize>) -> Result<Cut> {
        match (cut, k) {
            (Some(_), Some(_)) => Err(Error::Input("give --cut H or --k N, not both".to_string())),
            (Some(h), None) if !h.is_finite() || h < 0.0 => Err(Error::Input(format!(
                "--cut {h}: the height must be a number ≥ 0 (distances are 1 − A, in 0..2)"
            ))),
            (Some(h), None) => Ok(Cut::Distance(h)),
            (None, Some(0)) => Err(Error::Input("--k 0: at least 1 cluster".to_string())),
            (None, Some(k)) => Ok(Cut::MaxClust(k)),
            (None, None) => Ok(Cut::Distance(DEFAULT_CUT)),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Cut::Distance(h) => format!("cut at height {h} (fcluster criterion \"distance\")"),
            Cut::MaxClust(k) => format!("at most {k} clusters (fcluster criterion \"maxclust\")"),
        }
    }
}

/// The cut used when neither `--cut` nor `--k` is given: merges up to an
/// average distance 1 − A of 0.5, i.e. classes whose OFIVs correlate by ≥ 0.5
/// on average.
pub const DEFAULT_CUT: f64 = 0.5;

/// SciPy's `maxdists(Z)`: for each merge, the largest merge height in its subtree.
pub fn max_dists(z: &[f64], n: usize) -> Vec<f64> {
    let mut md = vec![0.0f64; n.saturating_sub(1)];
    for i in 0..n.saturating_sub(1) {
        let mut m = z[i * 4 + 2];
        for child in [z[i * 4] as usize, z[i * 4 + 1] as usize] {
            if child >= n && md[child - n] > m {
                m = md[child - n];
            }
        }
        md[i] = m;
    }
    md
}

/// Flat cluster ids (1..) of the `n` observations of a SciPy-layout linkage `z`
/// ((n−1)·4 values), as `scipy.cluster.hierarchy.fcluster` returns them.
pub fn fcluster(z: &[f64], n: usize, cut: Cut) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    if n == 1 {
        return vec![1];
    }
    assert_eq!(z.len(), (n - 1) * 4, "linkage must be (n−1)×4");
    if let Cut::MaxClust(k) = cut {
        if k >= n {
            // SciPy answers every class alone, numbered in observation order.
            return (1..=n).collect();
        }
    }
    let md = max_dists(z, n);
    let h = match cut {
        Cut::Distance(h) => h,
        Cut::MaxClust(k) => maxclust_threshold(z, &md, n, k),
    };
    monocrit(z, &md, h, n)
}

/// The height at which `cut` cuts the tree: H itself for `Distance(H)`, the
/// chosen merge height for `MaxClust` (−∞ when every class is alone).
pub fn cut_height(z: &[f64], n: usize, cut: Cut) -> f64 {
    match cut {
        Cut::Distance(h) => h,
        Cut::MaxClust(k) if k >= n || n < 2 => f64::NEG_INFINITY,
        Cut::MaxClust(k) => maxclust_threshold(z, &max_dists(z, n), n, k),
    }
}

fn children(z: &[f64], node: usize) -> (usize, usize) {
    (z[node * 4] as usize, z[node * 4 + 1] as usize)
}

/// SciPy's `cluster_monocrit`: walk from the root, left child first; the first
/// node met with `mc ≤ cutoff` leads a cluster and all leaves under it get its
/// id. A node's own leaf children are numbered after its merged children have
/// been walked, as SciPy does.
fn monocrit(z: &[f64], mc: &[f64], cutoff: f64, n: usize) -> Vec<usize> {
    let mut t = vec![0usize; n];
    let mut visited = vec![false; 2 * n - 1];
    let mut stack = vec![2 * n - 2];
    let mut leader: Option<usize> = None;
    let mut nc = 0usize;
    while let Some(&top) = stack.last() {
        let root = top - n;
        let (lc, rc) = children(z, root);
        if leader.is_none() && mc[root] <= cutoff {
            leader = Some(root);
            nc += 1;
        }
        if lc >= n && !visited[lc] {
            visited[lc] = true;
            stack.push(lc);
            continue;
        }
        if rc >= n && !visited[rc] {
            visited[rc] = true;
            stack.push(rc);
            continue;
        }
        for leaf in [lc, rc] {
            if leaf < n {
                if leader.is_none() {
                    nc += 1;
                }
                t[leaf] = nc;
            }
        }
        if leader == Some(root) {
            leader = None;
        }
        stack.pop();
    }
    t
}

/// Number of clusters `monocrit` makes at `thresh`, stopping early past `max_nc`.
fn count_clusters(z: &[f64], mc: &[f64], thresh: f64, n: usize, max_nc: usize) -> usize {
    let mut nc = 0usize;
    let mut stack = vec![2 * n - 2];
    while let Some(node) = stack.pop() {
        let root = node - n;
        if mc[root] <= thresh {
            nc += 1;
        } else {
            let (lc, rc) = children(z, root);
            for ch in [lc, rc] {
                if ch >= n {
                    stack.push(ch);
                } else {
                    nc += 1;
                }
            }
        }
        if nc > max_nc {
            break;
        }
    }
    nc
}

/// The `maxclust` threshold: the smallest height h, among −∞ (every class
/// alone) and the merges' `maxdists`, at which cutting leaves at most `max_nc`
/// clusters. In merge order the `maxdists` of a sorted linkage never
/// decrease, so a bisection over the merges finds it; this is the cut SciPy's
/// `cluster_maxclust_monocrit` makes (checked against SciPy in tests/clusters.rs).
fn maxclust_threshold(z: &[f64], mc: &[f64], n: usize, max_nc: usize) -> f64 {
    // Invariant: nc(mc[hi]) ≤ max_nc; nc(mc[lo]) > max_nc, lo = −1 standing for −∞.
    let (mut lo, mut hi) = (-1isize, (n - 2) as isize);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if count_clusters(z, mc, mc[mid as usize], n, max_nc) > max_nc {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    mc[hi as usize]
}

/// What `clusters` reads and writes.
#[derive(Debug, Clone, PartialEq)]
pub struct ClustersOptions {
    pub results: PathBuf,
    pub cut: Option<f64>,
    pub k: Option<usize>,
    /// TSV: cluster, class_index, class_name (one row per class, file order).
    pub out: Option<PathBuf>,
    /// Training labels (examples × classes) for each cluster's mean label correlation.
    pub labels: Option<PathBuf>,
    /// Dataset inside `labels` (default: the only 2-D numeric dataset, or one
    /// named labels, y, Y, traindata).
    pub labels_dataset: Option<String>,
    /// A `channels` file of the run's model and layer: the motifs of each
    /// cluster's shared channels.
    pub channels_file: Option<PathBuf>,
    /// A MEME database naming those motifs by their best match.
    pub match_db: Option<PathBuf>,
}

/// Channels listed per cluster.
pub const SHARED_CHANNELS: usize = 3;

/// The `n` channels with the highest mean OFIV over `members`, highest first
/// (channels with a mean ≤ 0 are left out): what the cluster's classes have in
/// common. An OFIV that is not a number (masked by results::bad_values) is
/// left out of its channel's mean.
pub fn shared_channels(r: &FinishedRun, members: &[usize], n: usize) -> Vec<(usize, f32)> {
    if members.is_empty() {
        return Vec::new();
    }
    let mut sum = vec![(0.0f64, 0usize); r.k];
    for &p in members {
        for (m, &v) in sum.iter_mut().zip(r.ofiv_row(p)) {
            if v.is_finite() {
                m.0 += v as f64;
                m.1 += 1;
            }
        }
    }
    let mut ch: Vec<(usize, f32)> = sum
        .iter()
        .enumerate()
        .map(|(k, &(s, n))| (k, (s / n.max(1) as f64) as f32))
        .filter(|&(_, m)| m > 0.0 && m.is_finite())
        .collect();
    ch.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ch.truncate(n);
    ch
}

/// The flat clusters of a finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct Clusters {
    pub cut: Cut,
    /// Cluster id (1..) of each class, file order.
    pub id: Vec<usize>,
    /// Clusters as (id, members in dendrogram leaf order), largest first, ties by id.
    pub groups: Vec<(usize, Vec<usize>)>,
}

impl Clusters {
    pub fn of(r: &FinishedRun, cut: Cut) -> Clusters {
        let id = fcluster(&r.linkage, r.c, cut);
        let order = leaves_list(&r.linkage, r.c);
        let n = id.iter().copied().max().unwrap_or(0);
        let mut groups: Vec<(usize, Vec<usize>)> = (1..=n).map(|i| (i, Vec::new())).collect();
        for &p in &order {
            groups[id[p] - 1].1.push(p);
        }
        groups.retain(|g| !g.1.is_empty());
        groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
        Clusters { cut, id, groups }
    }

    pub fn members(&self, id: usize) -> Option<&[usize]> {
        self.groups
            .iter()
            .find(|g| g.0 == id)
            .map(|g| g.1.as_slice())
    }
}

/// Mean of `m(i, j)` over the pairs i < j of `members` (None for fewer than 2
/// members or no finite value).
pub fn mean_pairwise(members: &[usize], m: impl Fn(usize, usize) -> f64) -> Option<f64> {
    let (mut s, mut n) = (0.0f64, 0usize);
    for (a, &i) in members.iter().enumerate() {
        for &j in &members[a + 1..] {
            let v = m(i, j);
            if v.is_finite() {
                s += v;
                n += 1;
            }
        }
    }
    (n > 0).then(|| s / n as f64)
}

/// Training labels of some classes, as Pearson correlations between them.
pub(crate) struct LabelCorr {
    /// Column (position in `cols`) of each class position, if the class has labels.
    col_of: Vec<Option<usize>>,
    corr: Vec<f64>,
    ncols: usize,
}

impl LabelCorr {
    pub(crate) fn get(&self, i: usize, j: usize) -> f64 {
        match (self.col_of[i], self.col_of[j]) {
            (Some(a), Some(b)) => self.corr[a * self.ncols + b],
            _ => f64::NAN,
        }
    }
}

fn pick_labels_dataset(file: &hdf5::File, path: &Path, want: Option<&str>) -> Result<String> {
    if let Some(w) = want {
        return Ok(w.to_string());
    }
    let mut two_d = Vec::new();
    let mut stack = vec![String::from("/")];
    while let Some(g) = stack.pop() {
        let Ok(group) = file.group(&g) else { continue };
        for name in group.member_names().unwrap_or_default() {
            let full = if g == "/" {
                format!("/{name}")
            } else {
                format!("{g}/{name}")
            };
            if let Ok(ds) = file.dataset(&full) {
                if ds.ndim() == 2 {
                    two_d.push(full);
                }
            } else if file.group(&full).is_ok() {
                stack.push(full);
            }
        }
    }
    for pref in ["/labels", "/y", "/Y", "/traindata"] {
        if two_d.iter().any(|d| d == pref) {
            return Ok(pref.to_string());
        }
    }
    match two_d.len() {
        1 => Ok(two_d.remove(0)),
        0 => Err(Error::Input(format!(
            "--labels {}: no 2-D dataset (examples × classes) in the file",
            path.display()
        ))),
        _ => Err(Error::Input(format!(
            "--labels {}: several 2-D datasets ({}); choose one with --labels-dataset",
            path.display(),
            two_d.join(", ")
        ))),
    }
}

/// Read the label matrix and correlate the columns of the run's classes,
/// streaming over examples so that a DeepSEA-sized file (4.4 M examples)
/// need not fit in memory. Says on stderr which dataset and orientation it read.
pub(crate) fn label_correlations(
    r: &FinishedRun,
    path: &Path,
    want: Option<&str>,
) -> Result<LabelCorr> {
    let file = hdf5::File::open(path)
        .map_err(|e| Error::Input(format!("--labels {}: cannot open: {e}", path.display())))?;
    let name = pick_labels_dataset(&file, path, want)?;
    let ds = file.dataset(&name).map_err(|_| {
        Error::Input(format!(
            "--labels {}: has no dataset {name}",
            path.display()
        ))
    })?;
    let shape = ds.shape();
    if shape.len() != 2 {
        return Err(Error::Input(format!(
            "--labels {}:{name} has shape {shape:?}, expected (examples, classes)",
            path.display()
        )));
    }
    let need = r.index.iter().copied().max().unwrap_or(0).max(0) as usize + 1;
    // Examples × classes as documented; a classes × examples matrix (DeepSEA's
    // traindata as h5py shows it) is read transposed, and said so.
    let transposed = shape[1] < need && shape[0] >= need;
    let (examples, nclass) = if transposed {
        (shape[1], shape[0])
    } else {
        (shape[0], shape[1])
    };
    if nclass < need {
        return Err(Error::Input(format!(
            "--labels {}:{name} has shape {shape:?}: {nclass} label columns, but the run's classes go up to output {}",
            path.display(),
            need - 1
        )));
    }
    eprintln!(
        "deepresolve-mpi: labels from {}:{name}, {examples} examples × {nclass} classes{}; class i of the run is label column /classes/index[i]",
        path.display(),
        if transposed {
            " (stored classes × examples, read transposed)"
        } else {
            ""
        }
    );
    let cols: Vec<usize> = {
        let mut v: Vec<usize> = r.index.iter().map(|&i| i as usize).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let m = cols.len();
    let col_of: Vec<Option<usize>> = r
        .index
        .iter()
        .map(|&i| cols.binary_search(&(i as usize)).ok())
        .collect();
    let mut sum = vec![0.0f64; m];
    let mut cross = vec![0.0f64; m * m];
    let chunk = (1usize << 22) / nclass.max(1) + 1;
    let err = |e: hdf5::Error| Error::Input(format!("--labels {}:{name}: {e}", path.display()));
    let mut x = vec![0.0f64; m];
    let mut start = 0usize;
    while start < examples {
        let end = (start + chunk).min(examples);
        let block: ndarray::Array2<f32> = if transposed {
            ds.read_slice_2d::<f32, _>(ndarray::s![.., start..end])
                .map_err(err)?
                .reversed_axes()
        } else {
            ds.read_slice_2d::<f32, _>(ndarray::s![start..end, ..])
                .map_err(err)?
        };
        for row in block.rows() {
            for (a, &c) in cols.iter().enumerate() {
                x[a] = row[c] as f64;
            }
            for a in 0..m {
                sum[a] += x[a];
                let xa = x[a];
                if xa != 0.0 {
                    let cr = &mut cross[a * m..(a + 1) * m];
                    for b in a..m {
                        cr[b] += xa * x[b];
                    }
                }
            }
        }
        start = end;
    }
    let e = examples as f64;
    let mut corr = vec![f64::NAN; m * m];
    for a in 0..m {
        for b in a..m {
            let cov = cross[a * m + b] / e - sum[a] * sum[b] / (e * e);
            let va = cross[a * m + a] / e - sum[a] * sum[a] / (e * e);
            let vb = cross[b * m + b] / e - sum[b] * sum[b] / (e * e);
            let c = if va > 0.0 && vb > 0.0 {
                cov / (va * vb).sqrt()
            } else {
                f64::NAN
            };
            corr[a * m + b] = c;
            corr[b * m + a] = c;
        }
    }
    Ok(LabelCorr {
        col_of,
        corr,
        ncols: m,
    })
}

fn fmt_mean(v: Option<f64>) -> String {
    v.map_or("—".to_string(), |x| format!("{x:.3}"))
}

/// The readable list `clusters` prints.
pub fn report(
    r: &FinishedRun,
    cl: &Clusters,
    labels: Option<&dyn Fn(usize, usize) -> f64>,
    notes: Option<&ChannelNotes>,
) -> String {
    let mut s = String::new();
    let sim = |i: usize, j: usize| r.similarity[i * r.c + j] as f64;
    let _ = writeln!(
        s,
        "# {} clusters of {} classes, {} · {} · similarity A = Pearson correlation of positive OFIVs",
        cl.groups.len(),
        r.c,
        cl.cut.describe(),
        r.path.display()
    );
    for (id, members) in &cl.groups {
        let mut line = format!(
            "cluster {id} ({} class{}, mean similarity {}",
            members.len(),
            if members.len() == 1 { "" } else { "es" },
            fmt_mean(mean_pairwise(members, sim))
        );
        if let Some(l) = labels {
            let _ = write!(
                line,
                ", mean label correlation {}",
                fmt_mean(mean_pairwise(members, l))
            );
        }
        line.push_str("):");
        let names: Vec<String> = members.iter().map(|&p| display_name(r, p)).collect();
        let _ = writeln!(s, "{line} {}", names.join(", "));
        let shared: Vec<String> = shared_channels(r, members, SHARED_CHANNELS)
            .iter()
            .map(|&(k, m)| match notes {
                Some(n) => format!("{k} {} (OFIV {})", n.describe(k), num(m as f64)),
                None => format!("{k} (OFIV {})", num(m as f64)),
            })
            .collect();
        if !shared.is_empty() {
            let _ = writeln!(s, "  shared channels: {}", shared.join("; "));
        }
    }
    s
}

/// The class's name, with its flags (not learned, restarts collapsed) in brackets.
fn display_name(r: &FinishedRun, p: usize) -> String {
    let (i, n) = (r.index[p], &r.names[p]);
    let name = if *n == i.to_string() {
        n.clone()
    } else {
        format!("{n} ({i})")
    };
    match r.flag_words(p) {
        f if f.is_empty() => name,
        f => format!("{name} [{f}]"),
    }
}

/// The TSV: a header, then one row per class in file order.
pub fn tsv(r: &FinishedRun, cl: &Clusters) -> String {
    let mut s = String::from("cluster\tclass_index\tclass_name\tflags\n");
    for p in 0..r.c {
        let name: String = r.names[p]
            .chars()
            .map(|c| if c == '\t' || c == '\n' { ' ' } else { c })
            .collect();
        let flags = match r.flag_words(p) {
            f if f.is_empty() => "-".to_string(),
            f => f,
        };
        let _ = writeln!(s, "{}\t{}\t{}\t{flags}", cl.id[p], r.index[p], name);
    }
    s
}

pub fn clusters(o: &ClustersOptions) -> Result<()> {
    crate::results::out_guard::check_optional(
        "--out",
        o.out.as_deref(),
        &[
            ("the results file", Some(&o.results)),
            ("--labels", o.labels.as_deref()),
        ],
    )?;
    let cut = Cut::from_options(o.cut, o.k)?;
    let mut r = FinishedRun::read(&o.results)?;
    use crate::results::layout::{ANALYSIS_LINKAGE, ANALYSIS_OFIV, ANALYSIS_SIMILARITY};
    crate::results::bad_values::warn_and_mask_of(
        &mut r,
        &[ANALYSIS_OFIV, ANALYSIS_SIMILARITY, ANALYSIS_LINKAGE],
        "the clusters",
    );
    let cl = Clusters::of(&r, cut);
    let lc = match &o.labels {
        Some(p) => Some(label_correlations(&r, p, o.labels_dataset.as_deref())?),
        None => None,
    };
    let lf = lc.as_ref().map(|l| move |i: usize, j: usize| l.get(i, j));
    let notes = ChannelNotes::for_run(o.channels_file.as_deref(), o.match_db.as_deref(), &r)?;
    let text = report(
        &r,
        &cl,
        lf.as_ref().map(|f| f as &dyn Fn(usize, usize) -> f64),
        notes.as_ref(),
    );
    print!("{text}");
    if let Some(out) = &o.out {
        std::fs::write(out, tsv(&r, &cl))
            .map_err(|e| Error::Input(format!("cannot write {}: {e}", out.display())))?;
        eprintln!(
            "deepresolve-mpi: wrote {} rows ({} clusters) to {}",
            r.c,
            cl.groups.len(),
            out.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain: {0,1}@1, {2,{0,1}}@2.5, {3,…}@5, {4,…}@11.
    fn line() -> (Vec<f64>, usize) {
        #[rustfmt::skip]
        let z = vec![
            0.0, 1.0, 1.0, 2.0,
            2.0, 5.0, 2.5, 3.0,
            3.0, 6.0, 5.0, 4.0,
            4.0, 7.0, 11.0, 5.0,
        ];
        (z, 5)
    }

    #[test]
    fn distance_cut_numbers_as_scipy() {
        let (z, n) = line();
        // SciPy walks into merged children before numbering a node's own
        // leaves, so leaf 4 (a child of the root) is numbered last.
        let t = fcluster(&z, n, Cut::Distance(2.0));
        assert_eq!(t, vec![1, 1, 2, 3, 4]);
        assert_eq!(fcluster(&z, n, Cut::Distance(100.0)), vec![1; 5]);
        assert_eq!(fcluster(&z, n, Cut::Distance(0.0)), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn maxclust_gives_at_most_k() {
        let (z, n) = line();
        for k in 1..=6 {
            let t = fcluster(&z, n, Cut::MaxClust(k));
            let nc = *t.iter().max().unwrap();
            assert_eq!(nc, k.min(5), "k={k}: {t:?}");
        }
        assert_eq!(fcluster(&z, n, Cut::MaxClust(2)), vec![1, 1, 1, 1, 2]);
    }

    #[test]
    fn tiny_inputs() {
        assert_eq!(fcluster(&[], 1, Cut::MaxClust(3)), vec![1]);
        let z = [0.0, 1.0, 0.4, 2.0];
        assert_eq!(fcluster(&z, 2, Cut::MaxClust(1)), vec![1, 1]);
        assert_eq!(fcluster(&z, 2, Cut::Distance(0.3)), vec![1, 2]);
        assert_eq!(fcluster(&z, 2, Cut::Distance(0.4)), vec![1, 1]);
    }

    #[test]
    fn options() {
        assert!(Cut::from_options(Some(0.3), Some(2)).is_err());
        assert!(Cut::from_options(None, Some(0)).is_err());
        assert!(Cut::from_options(Some(-1.0), None).is_err());
        assert_eq!(
            Cut::from_options(None, None).unwrap(),
            Cut::Distance(DEFAULT_CUT)
        );
    }
}
