//! Where a layer's weights live.
//!
//! - `model.save("x.h5")` (Keras 1, 2 and 3's legacy writer): `model_weights/<layer>/`
//!   holds a `weight_names` attribute listing dataset paths relative to that group
//!   (`dense_53_W` in Keras 1, `dense_1/kernel:0` in Keras 2,
//!   `<model>/<layer>/kernel` in Keras 3). Weights-only files have the layer
//!   groups at the root.
//! - `.keras` archives (`model.weights.h5`): `layers/<key>/vars/0, 1, ...` where
//!   `<key>` is the snake-cased class name with a counter (`conv1d`, `conv1d_1`),
//!   not the layer name; recent Keras 3 writes the layer name as the `name`
//!   attribute of the `vars` group. Keras 2.13–2.15 archives of Sequential models
//!   use `_layer_checkpoint_dependencies/<layer name>/vars/...`.
//! - A model used as a layer of another: in `.h5` files its weights are all in
//!   the group of that layer (`model_weights/<inner model>/`), `weight_names`
//!   naming `<layer>/kernel` (Keras 3) or `<layer>/kernel:0` (Keras 2); in
//!   `.keras` archives under `layers/<key>/layers/<inner key>/vars`.
//! - `save_weights` files: Keras 1/2 and Keras 3's legacy writer as the layer
//!   groups at the root (attribute `layer_names`); Keras 3 `.weights.h5` as
//!   `model.weights.h5` of an archive.
use crate::model::h5util::{read_tensor, string_attr, strings_attr, Tensor};
use std::cell::RefCell;
use std::collections::HashMap;

pub enum WeightStore {
    Legacy {
        root: hdf5::Group,
    },
    V3 {
        file: hdf5::File,
        /// Per nesting prefix: layer name → its `vars` group.
        by_name: RefCell<HashMap<String, HashMap<String, String>>>,
    },
}

/// The models (as layers) a layer sits in, outermost first: (layer name, `.keras` key).
pub type Scope = [(String, String)];

fn v3_prefix(scope: &Scope) -> String {
    scope.iter().map(|(_, k)| format!("layers/{k}/")).collect()
}

/// Keras' `to_snake_case` of a class name.
pub fn snake_case(class: &str) -> String {
    let s: String = class
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    let c: Vec<char> = s.chars().collect();
    // (.)([A-Z][a-z]+) -> \1_\2
    let mut a = String::new();
    for i in 0..c.len() {
        if i > 0 && c[i].is_ascii_uppercase() && i + 1 < c.len() && c[i + 1].is_ascii_lowercase() {
            a.push('_');
        }
        a.push(c[i]);
    }
    // ([a-z])([A-Z]) -> \1_\2
    let c: Vec<char> = a.chars().collect();
    let mut b = String::new();
    for i in 0..c.len() {
        if i > 0 && c[i].is_ascii_uppercase() && c[i - 1].is_ascii_lowercase() {
            b.push('_');
        }
        b.push(c[i]);
    }
    b.to_lowercase()
}

fn find_vars_groups(file: &hdf5::File, prefix: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let tops = if prefix.is_empty() {
        vec![
            "layers".to_string(),
            "_layer_checkpoint_dependencies".to_string(),
        ]
    } else {
        vec![format!("{prefix}layers")]
    };
    for top in tops {
        let Ok(g) = file.group(&top) else { continue };
        let Ok(keys) = g.member_names() else { continue };
        for k in keys {
            let path = format!("{top}/{k}/vars");
            if let Ok(v) = file.group(&path) {
                if let Ok(Some(name)) = string_attr(&v, "name") {
                    map.entry(name).or_insert(path);
                }
            }
        }
    }
    map
}

/// The groups where Keras 3 keeps the weights of a layer's inner layers,
/// in the order `layer.weights` lists them: an LSTM/GRU's `cell`, a
/// Bidirectional's forward then backward layer, a TimeDistributed's `layer`,
/// CREsted's MultiheadAttention's projections, Keras' MultiHeadAttention's.
const INNER_LAYERS: [&str; 13] = [
    "cell",
    "forward_layer",
    "backward_layer",
    "layer",
    "_q_layer",
    "_k_layer",
    "_v_layer",
    "_embedding_layer",
    "_r_k_layer",
    "query_dense",
    "key_dense",
    "value_dense",
    "output_dense",
];

/// The datasets `0, 1, …` of a `vars` group, in order.
fn read_vars(file: &hdf5::File, path: &str, out: &mut Vec<Tensor>) -> Result<(), String> {
    let g = file.group(path).map_err(|e| e.to_string())?;
    let mut idx: Vec<usize> = g
        .member_names()
        .map_err(|e| e.to_string())?
        .iter()
        .filter_map(|m| m.parse().ok())
        .collect();
    idx.sort_unstable();
    for (want, i) in idx.iter().enumerate() {
        if *i != want {
            return Err(format!("weight {path}/{want} is missing from the file"));
        }
        let ds = g
            .dataset(&i.to_string())
            .map_err(|e| format!("weight {path}/{i}: {e}"))?;
        out.push(read_tensor(&ds).map_err(|e| format!("weight {path}/{i}: {e}"))?);
    }
    Ok(())
}

/// Inner layers nest this deep at most (a Bidirectional's LSTM's cell is 2);
/// a file whose groups link back to their parents must not recurse forever.
const MAX_NESTING: usize = 8;

/// An inner layer's own `vars`, then its inner layers', depth first.
fn collect_nested(
    file: &hdf5::File,
    group: &str,
    depth: usize,
    out: &mut Vec<Tensor>,
) -> Result<(), String> {
    if depth > MAX_NESTING {
        return Err(format!(
            "{group}: inner layers nested more than {MAX_NESTING} deep (a damaged file?)"
        ));
    }
    let vars = format!("{group}/vars");
    if file.group(&vars).is_ok() {
        read_vars(file, &vars, out)?;
    }
    for inner in INNER_LAYERS {
        let sub = format!("{group}/{inner}");
        if file.group(&sub).is_ok() {
            collect_nested(file, &sub, depth + 1, out)?;
        }
    }
    Ok(())
}

impl WeightStore {
    /// The layer groups under `model_weights/` (a saved model) or at the
    /// root (a weights file); an error where neither opens (a damaged file).
    pub fn legacy(file: &hdf5::File) -> Result<WeightStore, String> {
        let root = match file.group("model_weights") {
            Ok(g) => g,
            Err(_) => file
                .group("/")
                .map_err(|e| format!("its root group cannot be read ({e}): the file is damaged"))?,
        };
        Ok(WeightStore::Legacy { root })
    }

    pub fn v3(file: hdf5::File) -> WeightStore {
        WeightStore::V3 {
            file,
            by_name: RefCell::new(HashMap::new()),
        }
    }

    /// The `.keras` weights layout (`layers/<key>/vars`), as opposed to layer groups.
    pub fn is_v3_file(file: &hdf5::File) -> bool {
        file.group("layers").is_ok() || file.group("_layer_checkpoint_dependencies").is_ok()
    }

    /// The weights of one layer in Keras order. `v3_key` is the generated
    /// `.keras` key (`conv1d_1`), used when the archive does not name its groups.
    /// `Ok(None)` when the file has no entry for the layer at all.
    /// `scope`: the models used as layers that hold it (empty at the top level).
    pub fn layer(
        &self,
        scope: &Scope,
        name: &str,
        v3_key: &str,
    ) -> Result<Option<Vec<Tensor>>, String> {
        match self {
            WeightStore::Legacy { root } => {
                let group = scope.first().map_or(name, |(n, _)| n.as_str());
                let Ok(g) = root.group(group) else {
                    return Ok(None);
                };
                let mut names = strings_attr(&g, "weight_names")?.unwrap_or_default();
                if !scope.is_empty() {
                    // The inner model's group lists the weights of all its layers.
                    names.retain(|n| {
                        let parts: Vec<&str> = n.split('/').collect();
                        parts[..parts.len() - 1].contains(&name)
                    });
                }
                let mut out = Vec::new();
                for n in names {
                    let ds = g.dataset(&n).map_err(|_| {
                        format!("weight {n:?} listed in weight_names is missing from the file")
                    })?;
                    out.push(read_tensor(&ds).map_err(|e| format!("weight {n:?}: {e}"))?);
                }
                Ok(Some(out))
            }
            WeightStore::V3 { file, by_name } => {
                let prefix = v3_prefix(scope);
                let found = by_name
                    .borrow_mut()
                    .entry(prefix.clone())
                    .or_insert_with(|| find_vars_groups(file, &prefix))
                    .get(name)
                    .cloned();
                let path = match found {
                    Some(p) => p,
                    None => {
                        let mut cands = vec![
                            format!("{prefix}layers/{v3_key}/vars"),
                            format!("{prefix}layers/{name}/vars"),
                        ];
                        if prefix.is_empty() {
                            cands.insert(1, format!("_layer_checkpoint_dependencies/{name}/vars"));
                        }
                        match cands.into_iter().find(|p| file.group(p).is_ok()) {
                            Some(p) => p,
                            None => return Ok(None),
                        }
                    }
                };
                let mut out = Vec::new();
                read_vars(file, &path, &mut out)?;
                // A wrapper or recurrent layer keeps its weights in its inner
                // layers' groups (`cell`, `forward_layer`, …), in Keras' order.
                let owner = path.trim_end_matches("/vars");
                for inner in INNER_LAYERS {
                    let sub = format!("{owner}/{inner}");
                    if file.group(&sub).is_ok() {
                        collect_nested(file, &sub, 1, &mut out)?;
                    }
                }
                Ok(Some(out))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.keras` weights file whose inner-layer group links back to its
    /// parent (a hard-link cycle) is an error, not an endless recursion.
    #[test]
    fn nested_groups_that_loop_are_an_error() {
        let d = std::env::temp_dir().join(format!("drmpi-weights-loop-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let path = d.join("model.weights.h5");
        {
            let f = hdf5::File::create(&path).unwrap();
            let vars = f.create_group("layers/lstm/vars").unwrap();
            vars.new_attr::<hdf5::types::VarLenUnicode>()
                .create("name")
                .unwrap()
                .write_scalar(&"rnn".parse::<hdf5::types::VarLenUnicode>().unwrap())
                .unwrap();
            f.group("layers/lstm")
                .unwrap()
                .link_hard("/layers/lstm", "cell")
                .unwrap();
        }
        let store = WeightStore::v3(hdf5::File::open(&path).unwrap());
        let e = store.layer(&[], "rnn", "lstm").err().unwrap();
        assert!(e.contains("nested more than"), "{e}");
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn snake() {
        assert_eq!(super::snake_case("Conv1D"), "conv1d");
        assert_eq!(super::snake_case("MaxPooling1D"), "max_pooling1d");
        assert_eq!(
            super::snake_case("GlobalMaxPooling1D"),
            "global_max_pooling1d"
        );
        assert_eq!(
            super::snake_case("BatchNormalization"),
            "batch_normalization"
        );
        assert_eq!(super::snake_case("InputLayer"), "input_layer");
    }
}
