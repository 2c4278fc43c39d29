//! S_c(H) and dS_c/dH for a batch of maps H entering layer L, one class per item.
//!
//! The layers after L run in full as batched GEMMs, except the final Dense,
//! of which only the row of each item's class is computed. A terminal
//! sigmoid/softmax is left out, so S_c is the pre-activation score.
use super::dense::Dense;
use super::{activation, gemm, Layer, Network, Scratch};
use crate::model::Activation;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy)]
enum Head {
    /// Score = one unit of this Dense layer (its activation left out).
    Dense(usize),
    /// Score = one value of the trunk's flat output.
    Pick,
}

pub struct Scorer<'n> {
    net: &'n Network,
    from: usize,
    trunk_end: usize,
    head: Head,
    capacity: usize,
    n_classes: usize,
    acts: Vec<Vec<f32>>,
    /// K·W entering layers from..=trunk_end, indexed from 0.
    sizes: Vec<usize>,
    args: Vec<Vec<u32>>,
    g: [Vec<f32>; 2],
    scratch: Scratch,
    /// Index of a hidden Dense that feeds the head directly (dropout between
    /// allowed) with an elementwise activation: small batches fuse the two.
    fused: Option<usize>,
    fuse_buf: Vec<f32>,
}

fn is_output_squash(l: &Layer) -> bool {
    matches!(
        l,
        Layer::Identity
            | Layer::Act(
                Activation::Sigmoid | Activation::Softmax | Activation::Linear,
                _
            )
    )
}

impl<'n> Scorer<'n> {
    /// A scorer for maps entering layer `from`, with buffers for `capacity` items.
    pub fn new(net: &'n Network, from: usize, capacity: usize) -> Result<Scorer<'n>> {
        if from >= net.len() {
            return Err(Error::Input(format!(
                "layer index {from} is past the model's last layer ({})",
                net.len().saturating_sub(1)
            )));
        }
        let mut end = net.len();
        while end > from && is_output_squash(&net.layers[end - 1]) {
            end -= 1;
        }
        let (trunk_end, head) = match net.layers.get(end.wrapping_sub(1)) {
            Some(Layer::Dense(d))
                if end > from
                    && matches!(
                        d.act,
                        Activation::Linear | Activation::Sigmoid | Activation::Softmax
                    ) =>
            {
                (end - 1, Head::Dense(end - 1))
            }
            _ => (end, Head::Pick),
        };
        let (kh, wh) = net.input_shape(trunk_end);
        let n_classes = match head {
            Head::Dense(i) => match &net.layers[i] {
                Layer::Dense(d) => d.units,
                _ => unreachable!(),
            },
            Head::Pick => {
                if wh != 1 {
                    return Err(Error::Input(format!(
                        "the model's output is {kh} channels × {wh} positions, not one score per class"
                    )));
                }
                kh
            }
        };
        let fused = match head {
            Head::Dense(_) => {
                let mut i = trunk_end;
                while i > from && matches!(net.layers[i - 1], Layer::Identity) {
                    i -= 1;
                }
                match net.layers.get(i.wrapping_sub(1)) {
                    Some(Layer::Dense(d)) if i > from && d.act != Activation::Softmax => {
                        Some(i - 1)
                    }
                    _ => None,
                }
            }
            Head::Pick => None,
        };
        let acts = (from..trunk_end)
            .map(|i| {
                let (k, w) = net.input_shape(i + 1);
                vec![0.0; capacity * k * w]
            })
            .collect();
        let sizes: Vec<usize> = (from..=trunk_end)
            .map(|i| {
                let (k, w) = net.input_shape(i);
                k * w
            })
            .collect();
        let gmax = *sizes.iter().max().unwrap();
        Ok(Scorer {
            net,
            from,
            trunk_end,
            head,
            capacity,
            n_classes,
            acts,
            sizes,
            args: vec![Vec::new(); trunk_end - from],
            g: [vec![0.0; capacity * gmax], vec![0.0; capacity * gmax]],
            scratch: Scratch::default(),
            fused,
            fuse_buf: Vec::new(),
        })
    }

    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Values per map entering layer L (K·W).
    pub fn map_len(&self) -> usize {
        let (k, w) = self.net.input_shape(self.from);
        k * w
    }

    /// Multiply-adds ×2 of one forward+backward pass of one item.
    pub fn flops_per_item(&self) -> f64 {
        let trunk: f64 = (self.from..self.trunk_end)
            .map(|i| self.net.layers[i].flops_per_item())
            .sum();
        let (k, w) = self.net.input_shape(self.trunk_end);
        2.0 * trunk + 4.0 * (k * w) as f64
    }

    /// Scores and gradients for `classes.len()` maps `h` (position-major, B × W × K).
    pub fn score_grad(
        &mut self,
        h: &[f32],
        classes: &[usize],
        scores: &mut [f32],
        grad: &mut [f32],
    ) {
        let b = classes.len();
        let n = self.map_len();
        assert!(
            b <= self.capacity,
            "batch {b} exceeds the scorer's capacity {}",
            self.capacity
        );
        assert!(h.len() >= b * n && grad.len() >= b * n && scores.len() >= b);
        for &c in classes {
            assert!(c < self.n_classes, "class {c} out of range");
        }
        // Small batches are bound by reading the last hidden Dense's weights:
        // the fused tail reads them once per step instead of twice.
        let fused = self.fused.filter(|_| b <= FUSE_MAX_BATCH);
        let run_end = fused.unwrap_or(self.trunk_end);
        let layers = &self.net.layers;
        for i in self.from..run_end {
            let j = i - self.from;
            let (prev, rest) = self.acts.split_at_mut(j);
            let x: &[f32] = if j == 0 {
                &h[..b * n]
            } else {
                &prev[j - 1][..b * self.sizes[j]]
            };
            let y = &mut rest[0][..b * self.sizes[j + 1]];
            layers[i].forward(x, y, b, &mut self.scratch, &mut self.args[j]);
        }
        let nh = self.sizes[run_end - self.from];
        let xh: &[f32] = if run_end == self.from {
            h
        } else {
            &self.acts[run_end - self.from - 1]
        };
        let [g0, g1] = &mut self.g;
        if let Some(d1) = fused {
            let (Layer::Dense(hidden), Head::Dense(hl)) = (&layers[d1], self.head) else {
                unreachable!()
            };
            let Layer::Dense(head) = &layers[hl] else {
                unreachable!()
            };
            fused_tail(
                hidden,
                head,
                &xh[..b * nh],
                classes,
                scores,
                &mut g0[..b * nh],
                &mut self.fuse_buf,
            );
        } else {
            for (i, &c) in classes.iter().enumerate() {
                let x = &xh[i * nh..(i + 1) * nh];
                let g = &mut g0[i * nh..(i + 1) * nh];
                match self.head {
                    Head::Dense(l) => {
                        let Layer::Dense(d) = &layers[l] else {
                            unreachable!()
                        };
                        let (s, w) = d.unit(x, c);
                        scores[i] = s;
                        g.copy_from_slice(w);
                    }
                    Head::Pick => {
                        scores[i] = x[c];
                        g.fill(0.0);
                        g[c] = 1.0;
                    }
                }
            }
        }
        if run_end == self.from {
            grad[..b * n].copy_from_slice(&g0[..b * n]);
            return;
        }
        let (mut dy, mut dx) = (g0, g1);
        for i in (self.from..run_end).rev() {
            let j = i - self.from;
            let (n_in, n_out) = (b * self.sizes[j], b * self.sizes[j + 1]);
            let out: &mut [f32] = if i == self.from {
                &mut grad[..n_in]
            } else {
                &mut dx[..n_in]
            };
            layers[i].backward(
                &self.acts[j][..n_out],
                &dy[..n_out],
                out,
                b,
                &mut self.scratch,
                &self.args[j],
            );
            std::mem::swap(&mut dy, &mut dx);
        }
    }
}

/// Batches up to this size take the fused hidden-Dense + head path, one
/// sgemv per item on each cached block of the kernel (sgemm would pack the
/// block for every call). Measured with `bench` on the DeepSEA tail (AMD EPYC,
/// one thread, best of 3): 38 vs 14 item-steps/s at a batch of 1, 44 vs 27 at
/// 2, 52 vs 45 at 4; at 8 the two paths tie, above it sgemm wins.
const FUSE_MAX_BATCH: usize = 4;
/// Rows of the hidden Dense's kernel per block: small enough to stay in cache
/// between its forward and backward use (32 × 50,880 floats = 6.5 MB).
const FUSE_ROWS: usize = 64;

/// Score and input gradient through `hidden` (elementwise activation) and one
/// unit of `head` per item, reading the hidden kernel from memory once: each
/// block of its rows gives the block's activations, their share of the score,
/// and their share of dS/dx while still in cache.
fn fused_tail(
    hidden: &Dense,
    head: &Dense,
    x: &[f32],
    classes: &[usize],
    scores: &mut [f32],
    dx: &mut [f32],
    buf: &mut Vec<f32>,
) {
    let b = classes.len();
    let (n_in, units) = (hidden.n_in, hidden.units);
    if buf.len() < 3 * b * FUSE_ROWS {
        buf.resize(3 * b * FUSE_ROWS, 0.0);
    }
    let (y, rest) = buf.split_at_mut(b * FUSE_ROWS);
    let (w2, g) = rest.split_at_mut(b * FUSE_ROWS);
    for (i, &c) in classes.iter().enumerate() {
        scores[i] = head.bias[c];
    }
    dx.fill(0.0);
    let mut r0 = 0;
    while r0 < units {
        let r = FUSE_ROWS.min(units - r0);
        let block = &hidden.kernel[r0 * n_in..(r0 + r) * n_in];
        let (y, w2, g) = (&mut y[..b * r], &mut w2[..b * r], &mut g[..b * r]);
        for i in 0..b {
            let (xi, yi) = (&x[i * n_in..(i + 1) * n_in], &mut y[i * r..(i + 1) * r]);
            gemm::sgemv(false, r, n_in, 1.0, block, n_in, xi, 0.0, yi);
        }
        for (i, &c) in classes.iter().enumerate() {
            let yi = &mut y[i * r..(i + 1) * r];
            for (v, bias) in yi.iter_mut().zip(&hidden.bias[r0..r0 + r]) {
                *v += bias;
            }
            w2[i * r..(i + 1) * r]
                .copy_from_slice(&head.kernel[c * head.n_in + r0..c * head.n_in + r0 + r]);
        }
        activation::forward(hidden.act, y, r);
        for i in 0..b {
            scores[i] += y[i * r..(i + 1) * r]
                .iter()
                .zip(&w2[i * r..(i + 1) * r])
                .map(|(a, w)| a * w)
                .sum::<f32>();
        }
        activation::backward(hidden.act, y, w2, g, r);
        for i in 0..b {
            let (gi, di) = (&g[i * r..(i + 1) * r], &mut dx[i * n_in..(i + 1) * n_in]);
            gemm::sgemv(true, r, n_in, 1.0, block, n_in, gi, 1.0, di);
        }
        r0 += r;
    }
}
