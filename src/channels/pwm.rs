//! From an optimised window to a position weight matrix, and MEME output.
//!
//! The thresholding (the paper's is heuristic and unstated; this is ours):
//! for a window X (A letters × R positions), with m the largest value of X,
//! every value below τ·m is set to 0 (negative values always), each
//! position's remaining values are divided by their sum, and a position with
//! nothing left is uniform (1/A). τ is `--threshold` (default 0.3). So
//! positions the ascent did not raise — the channel ignores them and λ
//! shrinks them towards 0 — carry no information, and the letters that raise
//! the channel's activation most share each informative position.
use std::fmt::Write as _;

/// The PWM of window `x` (channel-major A × R): R rows of A probabilities.
pub fn window_pwm(x: &[f32], a: usize, r: usize, tau: f32) -> Vec<Vec<f32>> {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    (0..r)
        .map(|p| {
            let col: Vec<f32> = (0..a)
                .map(|c| {
                    let v = x[c * r + p];
                    if m > 0.0 && v > 0.0 && v >= tau * m {
                        v
                    } else {
                        0.0
                    }
                })
                .collect();
            let s: f32 = col.iter().sum();
            if s > 0.0 {
                col.iter().map(|v| v / s).collect()
            } else {
                vec![1.0 / a as f32; a]
            }
        })
        .collect()
}

/// A MEME (minimal format) file of named PWMs (rows of A probabilities).
pub fn meme(alphabet: &str, motifs: &[(String, Vec<Vec<f32>>)]) -> String {
    let a = alphabet.len();
    let mut s = String::new();
    let _ = writeln!(s, "MEME version 4\n\nALPHABET= {alphabet}\n");
    if alphabet == "ACGT" {
        s.push_str("strands: + -\n\n");
    }
    let _ = writeln!(s, "Background letter frequencies");
    let bg: Vec<String> = alphabet
        .chars()
        .map(|c| format!("{c} {:.4}", 1.0 / a as f64))
        .collect();
    let _ = writeln!(s, "{}\n", bg.join(" "));
    for (name, m) in motifs {
        let _ = writeln!(s, "MOTIF {name}");
        let _ = writeln!(
            s,
            "letter-probability matrix: alength= {a} w= {} nsites= 20 E= 0",
            m.len()
        );
        for row in m {
            let cells: Vec<String> = row.iter().map(|v| format!("{v:.6}")).collect();
            let _ = writeln!(s, " {}", cells.join(" "));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn small_and_negative_values_drop_out_and_empty_positions_are_uniform() {
        // 2 letters × 3 positions: position 0 strong A, 1 weak both, 2 negative.
        let x = [1.0, 0.1, -0.5, 0.5, 0.2, -1.0];
        let m = window_pwm(&x, 2, 3, 0.3);
        assert_eq!(m[0], [2.0 / 3.0, 1.0 / 3.0]);
        assert_eq!(m[1], [0.5, 0.5]);
        assert_eq!(m[2], [0.5, 0.5]);
        let text = meme("AC", &[("ch0".into(), m)]);
        assert!(text.contains("ALPHABET= AC") && text.contains("MOTIF ch0\n"));
        assert!(text.contains("alength= 2 w= 3"));
    }
}
