//! The README and the manual in docs/ stay true to the binary: the README is
//! short and lists every command, every relative link points at a file, and
//! every `--option` that a shown command line passes exists in that
//! command's `--help`.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pages() -> Vec<PathBuf> {
    let mut v = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    v.extend(docs);
    v
}

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_deepresolve-mpi"))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

fn commands() -> Vec<String> {
    let top = help(&[]);
    let list = &top[top.find("Commands:").unwrap()..top.find("Options:").unwrap()];
    list.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn readme_is_short_and_lists_every_command() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 400,
        "README.md has {lines} lines; the manual belongs in docs/"
    );
    let table = &readme[readme.find("## Commands").expect("a Commands section")..];
    for c in commands() {
        assert!(
            table.contains(&format!("| `{c}")),
            "README's command table lacks `{c}`"
        );
    }
    for step in ["inspect", "calibrate", "run", "channels", "report"] {
        assert!(
            readme.contains(&format!("deepresolve-mpi {step} ")),
            "the recipe lacks {step}"
        );
    }
}

#[test]
fn relative_links_point_at_files() {
    let link = regex::Regex::new(r"\]\(([^)#\s]+)(#[^)]*)?\)").unwrap();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = page.parent().unwrap();
        for cap in link.captures_iter(&text) {
            let target = &cap[1];
            if target.starts_with("http") || target.starts_with("mailto:") {
                continue;
            }
            assert!(
                dir.join(target).exists(),
                "{}: link to {target} points at no file",
                page.display()
            );
        }
    }
}

/// Command lines shown in code (indented blocks and `inline code`), joined
/// across trailing backslashes.
fn shown_command_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let code = line.starts_with("    ") || line.starts_with('\t');
        if !code {
            for piece in line.split('`').skip(1).step_by(2) {
                if piece.contains("deepresolve-mpi ") {
                    out.push(piece.to_string());
                }
            }
            continue;
        }
        let l = line.trim();
        let l = l.strip_prefix("$ ").unwrap_or(l);
        if let Some(body) = l.strip_suffix('\\') {
            cur.push_str(body);
            cur.push(' ');
            continue;
        }
        cur.push_str(l);
        if cur.contains("deepresolve-mpi ") {
            out.push(std::mem::take(&mut cur));
        }
        cur.clear();
    }
    out
}

#[test]
fn shown_options_exist_in_the_commands_help() {
    let cmds = commands();
    let mut helps: BTreeMap<String, String> = BTreeMap::new();
    let flag = regex::Regex::new(r"(?:^|[\s\[|(])(--[a-z][a-z0-9-]*)").unwrap();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for line in shown_command_lines(&text) {
            // The command is the word after the binary's name; a comment ends the line.
            let line = line.split(" # ").next().unwrap();
            let after = &line[line.find("deepresolve-mpi ").unwrap() + 16..];
            let Some(cmd) = after.split_whitespace().next() else {
                continue;
            };
            if !cmds.iter().any(|c| c == cmd) {
                continue;
            }
            // Options of another program on the same line (mpirun's) come before the binary.
            let h = helps.entry(cmd.to_string()).or_insert_with(|| help(&[cmd]));
            for cap in flag.captures_iter(after) {
                let f = &cap[1];
                assert!(
                    h.contains(&format!("{f} "))
                        || h.contains(&format!("{f}\n"))
                        || h.contains(&format!("{f}="))
                        || h.contains(&format!("{f},")),
                    "{}: `{}` shows {f}, which `deepresolve-mpi {cmd} --help` does not list",
                    Path::new(&page).display(),
                    line.trim()
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} options were checked: the parser missed the command lines"
    );
}
