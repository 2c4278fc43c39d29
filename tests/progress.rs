//! What a batch log shows: timestamped progress lines, a closing summary with
//! item-steps, wall time and rate; and nothing at all with --quiet.
mod common;
use common::*;

#[test]
fn batch_log_has_timestamped_progress_and_a_summary_and_quiet_is_silent() {
    let d = tmpdir("progress");
    let m = fixture("pytorch/model.h5");
    let out = d.join("r.h5");
    let mut args = run_base(&m, "7", out.to_str().unwrap());
    args.extend([
        "--restarts",
        "30",
        "--lr",
        "0.01",
        "--patience",
        "50",
        "--max-steps",
        "600",
        "--lane",
        "4",
        "--batch",
        "4",
        "--progress-every",
        "0.01",
    ]);
    let o = run_bin(&args, Some(2), 120);
    let log = stderr_of(&o);
    assert!(o.status.success(), "{log}");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("progress: ")).collect();
    assert!(
        !lines.is_empty(),
        "no progress line in a non-terminal log:\n{log}"
    );
    for l in &lines {
        // "[hh:mm:ssZ] progress: N/90 items (x%), R item-steps/s, elapsed h:mm:ss, ETA h:mm:ss"
        assert!(
            l.starts_with('[') && l[1..10].chars().filter(|c| *c == ':').count() == 2,
            "{l}"
        );
        assert!(
            l.contains("/90 items") && l.contains("item-steps/s") && l.contains("ETA"),
            "{l}"
        );
    }
    let summary = log
        .lines()
        .find(|l| l.starts_with("done: "))
        .unwrap_or_else(|| panic!("no summary:\n{log}"));
    assert!(
        summary.contains("90 items")
            && summary.contains("item-steps in")
            && summary.contains("item-steps/s")
            && summary.contains("idle"),
        "{summary}"
    );
    // the summary's item-steps are the file's passes: Σ (steps + 1)
    let f = hdf5::File::open(&out).unwrap();
    let steps: Vec<i32> = f.dataset("ascent/steps").unwrap().read_raw().unwrap();
    let passes: i64 = steps.iter().map(|&s| s as i64 + 1).sum();
    assert!(
        summary.contains(&format!("{passes} item-steps")),
        "{summary} vs {passes}"
    );
    drop(f);

    let mut quiet = args.clone();
    quiet.extend(["--quiet", "--overwrite"]);
    let o = run_bin(&quiet, Some(2), 120);
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert_eq!(stderr_of(&o).trim(), "", "--quiet printed something");
}
