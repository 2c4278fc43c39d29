//! `--classes` and `--class-names`.
use crate::{Error, Result};
use std::path::Path;

/// Classes selected by a list such as `all`, `0,3,7-9` or `CTCF,AP1,12`: output
/// indices, ranges a-b of output indices, or names (a name wins over a range
/// reading, since names may contain '-'). `index[p]` and `names[p]` are the
/// output index and name of position p; `last` is the model's last output
/// index where every output is selectable (for `run`), `None` for a results
/// file that holds some of them. Returns positions, in the order given; the one
/// parser behind every `--classes` and class argument.
pub fn select(
    list: &str,
    index: &[i64],
    names: &[String],
    last: Option<i64>,
    source: &str,
) -> Result<Vec<usize>> {
    let list = list.trim();
    if list == "all" {
        return Ok((0..index.len()).collect());
    }
    let bad = |part: &str, why: &str| Error::Input(format!("--classes {list:?}: {part:?} {why}"));
    let past = |part: &str, last: i64| {
        bad(
            part,
            &format!(
                "is past the model's last output (it has {}: 0-{last})",
                last + 1
            ),
        )
    };
    let mut out: Vec<usize> = Vec::new();
    for part in list.split(',').map(str::trim) {
        let hits: Vec<usize> = if let Some(p) = names.iter().position(|n| n == part) {
            vec![p]
        } else if let Ok(i) = part.parse::<i64>() {
            match index.iter().position(|&x| x == i) {
                Some(p) => vec![p],
                None if last.is_some_and(|l| i > l) => return Err(past(part, last.unwrap())),
                None => return Err(not_a_class(list, part, index, names, source)),
            }
        } else if let Some((a, b)) = part
            .split_once('-')
            .and_then(|(a, b)| Some((a.trim().parse::<i64>().ok()?, b.trim().parse::<i64>().ok()?)))
        {
            if a > b {
                return Err(bad(part, "is a range that runs backwards"));
            }
            if let Some(l) = last.filter(|&l| b > l) {
                return Err(past(part, l));
            }
            let hits: Vec<usize> = (0..index.len())
                .filter(|&p| index[p] >= a && index[p] <= b)
                .collect();
            if hits.is_empty() {
                return Err(bad(part, &format!("selects no class of {source}")));
            }
            hits
        } else {
            return Err(not_a_class(list, part, index, names, source));
        };
        for p in hits {
            if out.contains(&p) {
                return Err(bad(part, &format!("repeats class {}", index[p])));
            }
            out.push(p);
        }
    }
    if out.is_empty() {
        return Err(Error::Input("--classes selects no class".into()));
    }
    Ok(out)
}

/// Output indices 0..n of a model with n outputs, for [`select`].
pub fn dense_index(n: usize) -> Vec<i64> {
    (0..n as i64).collect()
}

fn not_a_class(list: &str, part: &str, index: &[i64], names: &[String], source: &str) -> Error {
    let shown: Vec<String> = index
        .iter()
        .zip(names)
        .take(12)
        .map(|(i, n)| {
            if *n == i.to_string() {
                n.clone()
            } else {
                format!("{i} ({n})")
            }
        })
        .collect();
    Error::Input(format!(
        "--classes {list:?}: {part:?} is not an output index, a range a-b or a class name of {source} ({} classes: {}{})",
        index.len(),
        shown.join(", "),
        if index.len() > 12 { ", …" } else { "" }
    ))
}

/// Names of all outputs: from `--class-names FILE`, else the model, else the index.
pub fn class_names(
    file: Option<&Path>,
    from_model: Option<&[String]>,
    n_outputs: usize,
) -> Result<Vec<String>> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Input(format!("--class-names {}: {e}", path.display())))?;
        let names: Vec<String> = text
            .lines()
            .map(|l| l.trim_end_matches('\r').to_string())
            .filter(|l| !l.is_empty())
            .collect();
        if let Some(i) = names.iter().position(|n| n.contains('\0')) {
            return Err(Error::Input(format!(
                "--class-names {}: name {} holds a NUL byte",
                path.display(),
                i + 1
            )));
        }
        if names.len() != n_outputs {
            return Err(Error::Input(format!(
                "--class-names {}: {} names for a model with {n_outputs} outputs",
                path.display(),
                names.len()
            )));
        }
        return Ok(names);
    }
    if let Some(n) = from_model {
        if n.len() == n_outputs {
            return Ok(n.to_vec());
        }
    }
    Ok((0..n_outputs).map(|i| i.to_string()).collect())
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

#[cfg(test)]
mod tests {
    use super::*;
    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }
    #[test]
    fn lists_ranges_and_errors() {
        let idx = dense_index(10);
        let nm: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        let sel = |l: &str| select(l, &idx[..3], &nm[..3], Some(2), "m");
        assert_eq!(sel("all").unwrap(), vec![0, 1, 2]);
        let sel = |l: &str| select(l, &idx, &nm, Some(9), "m");
        assert_eq!(sel("0,3,7-9").unwrap(), vec![0, 3, 7, 8, 9]);
        for bad in ["10", "3-1", "x", "1,1", "0-10", ""] {
            let e = sel(bad).unwrap_err().to_string();
            assert!(e.contains("--classes"), "{bad}: {e}");
        }
    }
    #[test]
    fn names_indices_and_ranges_mix() {
        let nm = names(&["CTCF", "AP1", "REST", "SP-1", "5"]);
        let sel = |l: &str| select(l, &dense_index(5), &nm, Some(4), "m");
        assert_eq!(sel("CTCF,AP1").unwrap(), vec![0, 1]);
        assert_eq!(sel("REST, 0").unwrap(), vec![2, 0]);
        // A name that reads as a range or an index is the name.
        assert_eq!(sel("SP-1,1-2").unwrap(), vec![3, 1, 2]);
        assert_eq!(sel("5").unwrap(), vec![4]);
        let e = sel("CTCF,NRSF").unwrap_err().to_string();
        assert!(e.contains("\"NRSF\"") && e.contains("REST"), "{e}");
        let e = sel("AP1,1").unwrap_err().to_string();
        assert!(e.contains("repeats class 1"), "{e}");
        // A results file with some of the outputs: ranges select those present.
        let sub = select("2-8", &[0, 3, 7], &names(&["a", "b", "c"]), None, "f").unwrap();
        assert_eq!(sub, vec![1, 2]);
        assert!(select("4-6", &[0, 3, 7], &names(&["a", "b", "c"]), None, "f").is_err());
    }
}
