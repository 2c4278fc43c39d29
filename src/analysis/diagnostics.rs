//! Per-class checks a reader needs before trusting a class's OFIV (issue 27):
//! was the class learned at all, and did its restarts explore or all return
//! one map?
//!
//! * **Not learned.** A class whose best maps score far below the other
//!   classes' cannot be raised: the model has no pattern for it, and its
//!   OFIV ranks noise. Its score is the median over restarts of S_c at the
//!   returned map; it is flagged when that score is ≤ 0 or below
//!   [`NOT_LEARNED_RATIO`] of the median of the class scores of the run.
//!   (With one class only the first rule can fire.)
//! * **Restarts collapsed.** When every restart returns the same map, IL is
//!   ~0 for every channel and the GMM calls every channel additive — which
//!   looks exactly like a genuinely additive class. It is flagged when the
//!   largest IL is at most [`COLLAPSED_IL`] of the mean squared FIV (the
//!   restarts differ by less than 0.1% of the maps' size); needs T ≥ 2.
//!   The mean pairwise Pearson correlation of the restarts' FIVs is stored
//!   too, as the spread a reader can judge.

/// A class scoring below this fraction of the median class score is "not learned".
pub const NOT_LEARNED_RATIO: f64 = 0.1;
/// Largest IL / mean φ² at or below which the restarts have collapsed.
pub const COLLAPSED_IL: f64 = 1e-6;

/// The checks of one class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassCheck {
    /// Median over restarts of S_c at the returned map.
    pub score: f32,
    /// `score` / the median over classes of `score` (NaN if that median is ≤ 0).
    pub score_ratio: f32,
    /// Mean pairwise Pearson correlation of the restarts' FIVs (NaN for T < 2).
    pub restart_correlation: f32,
    pub not_learned: bool,
    pub collapsed: bool,
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Pearson correlation; two constant vectors correlate 1 if equal, else 0.
fn pearson(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let ma = a.iter().map(|&x| x as f64).sum::<f64>() / n;
    let mb = b.iter().map(|&x| x as f64).sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa == 0.0 || sbb == 0.0 {
        return if a == b { 1.0 } else { 0.0 };
    }
    sab / (saa * sbb).sqrt()
}

/// The checks of every class: `fiv` (C, T, K), `score` (C, T), `il` (C, K).
pub fn check_classes(
    fiv: &[f32],
    score: &[f32],
    il: &[f32],
    c: usize,
    t: usize,
    k: usize,
) -> Vec<ClassCheck> {
    let scores: Vec<f64> = (0..c)
        .map(|ci| {
            median(
                &mut score[ci * t..(ci + 1) * t]
                    .iter()
                    .map(|&s| s as f64)
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let reference = median(&mut scores.clone());
    (0..c)
        .map(|ci| {
            let s = scores[ci];
            let ratio = if reference > 0.0 {
                s / reference
            } else {
                f64::NAN
            };
            let maps: Vec<&[f32]> = (0..t)
                .map(|ti| &fiv[(ci * t + ti) * k..(ci * t + ti + 1) * k])
                .collect();
            let mut sum = 0.0;
            let mut pairs = 0usize;
            for i in 0..t {
                for j in i + 1..t {
                    sum += pearson(maps[i], maps[j]);
                    pairs += 1;
                }
            }
            let corr = if pairs > 0 {
                sum / pairs as f64
            } else {
                f64::NAN
            };
            let phi2 = super::variance::mean_square(&fiv[ci * t * k..(ci + 1) * t * k]);
            let max_il = il[ci * k..(ci + 1) * k]
                .iter()
                .fold(0.0f64, |m, &v| m.max(v as f64));
            ClassCheck {
                score: s as f32,
                score_ratio: ratio as f32,
                restart_correlation: corr as f32,
                not_learned: s.is_nan() || s <= 0.0 || ratio < NOT_LEARNED_RATIO,
                collapsed: t >= 2 && max_il <= COLLAPSED_IL * phi2,
            }
        })
        .collect()
}

/// Why a class is "not learned", in words. The ratio to the median class
/// score is NaN when that median is ≤ 0 — always so in a one-class run whose
/// class scores ≤ 0, as the class is its own median — and a bare "NaN" would
/// say nothing about what happened.
fn not_learned_line(name: &str, ch: &ClassCheck, classes: usize) -> String {
    let s = ch.score;
    let head = format!("class {name}: not learned: its median ascent score is {s}");
    const NOT_ABOVE_0: &str =
        " — not above 0: no restart found a map the model scores positively for this class";
    let why = if classes == 1 {
        format!(
            "{NOT_ABOVE_0}. With one class in the run there is no other class to compare it with \
             (that needs at least two), so only a score ≤ 0 can flag it"
        )
    } else if s.is_nan() || s <= 0.0 {
        if ch.score_ratio.is_nan() {
            format!(
                "{NOT_ABOVE_0} (the run's median class score is not above 0 either, \
                 so there is no ratio to it)"
            )
        } else {
            NOT_ABOVE_0.to_string()
        }
    } else {
        format!(
            ", only {:.3} × the median class score of the run (below {NOT_LEARNED_RATIO}): the ascent cannot raise it as it raises the others",
            ch.score_ratio
        )
    };
    format!("{head}{why}; its OFIV ranks noise")
}

/// One line per flagged class for the log (empty if none is flagged).
pub fn describe(checks: &[ClassCheck], names: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for (ci, ch) in checks.iter().enumerate() {
        let name = names.get(ci).map_or_else(|| ci.to_string(), |n| n.clone());
        if ch.not_learned {
            out.push(not_learned_line(&name, ch, checks.len()));
        }
        if ch.collapsed {
            out.push(format!(
                "class {name}: restarts collapsed (every restart returned the same map; restart correlation {:.4}); \"all additive\" means nothing here",
                ch.restart_correlation
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_low_classes_and_identical_restarts() {
        // 3 classes, T = 3, K = 4. Class 0 varies, class 1 is the same map
        // every time, class 2 scores 1/100 of the others.
        let (c, t, k) = (3, 3, 4);
        #[rustfmt::skip]
        let fiv = [
            1.0f32, -2.0, 0.5, 3.0,   -1.0, 2.0, 0.4, 2.0,   0.0, 1.0, 3.0, -1.0,
            1.0, 2.0, 3.0, 4.0,       1.0, 2.0, 3.0, 4.0,     1.0, 2.0, 3.0, 4.0,
            0.1, 0.2, 0.0, 0.1,       0.2, 0.1, 0.1, 0.0,     0.0, 0.0, 0.2, 0.1,
        ];
        let score = [50.0f32, 60.0, 55.0, 40.0, 40.0, 40.0, 0.5, 0.4, 0.6];
        let il = [
            1.0f32, 2.0, 1.5, 3.0, 0.0, 0.0, 0.0, 0.0, 0.01, 0.01, 0.01, 0.01,
        ];
        let ch = check_classes(&fiv, &score, &il, c, t, k);
        assert_eq!(ch[0].score, 55.0);
        assert_eq!(ch[2].score, 0.5);
        assert!((ch[2].score_ratio - 0.5 / 40.0).abs() < 1e-6);
        assert_eq!(
            ch.iter()
                .map(|x| (x.not_learned, x.collapsed))
                .collect::<Vec<_>>(),
            [(false, false), (false, true), (true, false)]
        );
        assert_eq!(ch[1].restart_correlation, 1.0);
        assert!(ch[0].restart_correlation < 0.9);
        assert_eq!(describe(&ch, &[]).len(), 2);
        // one restart: no spread to judge; one class: only a score ≤ 0 flags
        let one = check_classes(&fiv[..4], &score[..1], &il[..4], 1, 1, 4);
        assert!(!one[0].collapsed && !one[0].not_learned);
        assert!(one[0].restart_correlation.is_nan());
        let neg = check_classes(&fiv[..4], &[-3.0], &il[..4], 1, 1, 4);
        assert!(neg[0].not_learned);
        // the one-class line says what happened in words, not "NaN ×"
        let line = &describe(&neg, &["solo".into()])[0];
        assert!(!line.contains("NaN"), "{line}");
        assert_eq!(
            line,
            "class solo: not learned: its median ascent score is -3 — not above 0: no restart found \
             a map the model scores positively for this class. With one class in the run there is no \
             other class to compare it with (that needs at least two), so only a score ≤ 0 can flag \
             it; its OFIV ranks noise"
        );
        let low = &describe(&ch, &[])[1];
        assert!(
            low.starts_with("class 2: not learned: its median ascent score is 0.5, only 0.013 × the median class score of the run (below 0.1)"),
            "{low}"
        );
        // several classes, all ≤ 0: no ratio, said in words
        let all_neg = check_classes(&fiv[..8], &[-1.0, -2.0], &il[..8], 2, 1, 4);
        let lines = describe(&all_neg, &[]);
        assert_eq!(lines.len(), 2);
        assert!(
            lines.iter().all(|l| !l.contains("NaN")
                && l.contains("the run's median class score is not above 0 either")),
            "{lines:?}"
        );
    }
}
