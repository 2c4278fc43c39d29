//! `--classes` and `--class-names`.
use crate::{Error, Result};
use std::path::Path;

/// Parse `all` or a list such as `0,3,7-9` into output indices (in the order given).
pub fn parse_classes(arg: &str, n_outputs: usize) -> Result<Vec<usize>> {
    let arg = arg.trim();
    if arg == "all" {
        return Ok((0..n_outputs).collect());
    }
    let bad = |part: &str, why: &str| Error::Input(format!("--classes {arg:?}: {part:?} {why}"));
    let mut out = Vec::new();
    for part in arg.split(',').map(str::trim) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let a: usize = a
            .parse()
            .map_err(|_| bad(part, "is not an index or a range a-b"))?;
        let b: usize = b
            .parse()
            .map_err(|_| bad(part, "is not an index or a range a-b"))?;
        if a > b {
            return Err(bad(part, "is a range that runs backwards"));
        }
        if b >= n_outputs {
            return Err(bad(
                part,
                &format!(
                    "is past the model's last output (it has {n_outputs}: 0-{})",
                    n_outputs.saturating_sub(1)
                ),
            ));
        }
        for c in a..=b {
            if out.contains(&c) {
                return Err(bad(part, &format!("repeats class {c}")));
            }
            out.push(c);
        }
    }
    if out.is_empty() {
        return Err(Error::Input("--classes selects no class".into()));
    }
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn lists_ranges_and_errors() {
        assert_eq!(parse_classes("all", 3).unwrap(), vec![0, 1, 2]);
        assert_eq!(parse_classes("0,3,7-9", 10).unwrap(), vec![0, 3, 7, 8, 9]);
        for bad in ["10", "3-1", "x", "1,1", "0-10", ""] {
            let e = parse_classes(bad, 10).unwrap_err().to_string();
            assert!(e.contains("--classes"), "{bad}: {e}");
        }
    }
}
