//! An output path must name a regular file (or nothing yet) that is none of
//! the job's inputs: `--overwrite` replaces what the path names, and a run
//! that renamed its file over `/dev/null`, a FIFO or its own model would
//! destroy it. Inputs are compared by inode, so another spelling of the same
//! path (`./m.h5`, a hard link, a symlink) is caught too.
use crate::{Error, Result};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Refuse `out` (given as option `flag`) when it exists and is not a regular
/// file, or is the same file as one of `inputs` (option name, path).
pub fn check_output(flag: &str, out: &Path, inputs: &[(&str, &Path)]) -> Result<()> {
    let Ok(meta) = std::fs::metadata(out) else {
        return Ok(());
    };
    if !meta.is_file() {
        return Err(Error::Input(format!(
            "{flag} {}: exists and is not a regular file (a directory, device or FIFO); give the path of a file",
            out.display()
        )));
    }
    for (name, input) in inputs {
        let Ok(m) = std::fs::metadata(input) else {
            continue;
        };
        if m.dev() == meta.dev() && m.ino() == meta.ino() {
            return Err(Error::Input(format!(
                "{flag} {} is the same file as {name} {}, an input of this job; write the results elsewhere",
                out.display(),
                input.display()
            )));
        }
    }
    Ok(())
}

/// `check_output` for an optional output and optional inputs, as most
/// commands hold them.
pub fn check_optional(
    flag: &str,
    out: Option<&Path>,
    inputs: &[(&str, Option<&Path>)],
) -> Result<()> {
    let Some(out) = out else {
        return Ok(());
    };
    let inputs: Vec<(&str, &Path)> = inputs
        .iter()
        .filter_map(|(f, p)| p.map(|p| (*f, p)))
        .collect();
    check_output(flag, out, &inputs)
}

/// A directory the command fills with files ending in `exts` (`plot`):
/// refuse a path that exists and is not a directory, and an input lying in
/// it with one of those endings, which a figure could be drawn over.
pub fn check_output_dir(
    flag: &str,
    dir: &Path,
    inputs: &[(&str, Option<&Path>)],
    exts: &[&str],
) -> Result<()> {
    let Ok(meta) = std::fs::metadata(dir) else {
        return Ok(());
    };
    if !meta.is_dir() {
        return Err(Error::Input(format!(
            "{flag} {}: exists and is not a directory; give a directory for the figures",
            dir.display()
        )));
    }
    for (name, input) in inputs {
        let Some(input) = input else { continue };
        let ext = input.extension().and_then(|e| e.to_str()).unwrap_or("");
        let parent = match input.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let same_dir =
            std::fs::metadata(parent).is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino());
        if same_dir && exts.iter().any(|e| e.eq_ignore_ascii_case(ext)) {
            return Err(Error::Input(format!(
                "{flag} {} holds {name} {}, an input of this job that a figure could be written over; draw into another directory",
                dir.display(),
                input.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_directories_and_inputs_are_refused() {
        let d = std::env::temp_dir().join(format!("drmpi-outguard-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let m = d.join("m.h5");
        std::fs::write(&m, b"model").unwrap();
        let link = d.join("link.h5");
        let _ = std::fs::remove_file(&link);
        std::fs::hard_link(&m, &link).unwrap();
        assert!(check_output("--out", Path::new("/dev/null"), &[]).is_err());
        assert!(check_output("--out", &d, &[]).is_err());
        let e = check_output("--out", &link, &[("--model", &m)]).unwrap_err();
        assert!(e.to_string().contains("--model"), "{e}");
        assert!(check_output("--out", &d.join("new.h5"), &[("--model", &m)]).is_ok());
        assert!(check_output("--out", &m, &[("--fasta", &d.join("x.fa"))]).is_ok());
        let _ = std::fs::remove_dir_all(&d);
    }
}
