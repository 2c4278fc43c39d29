//! S_c(H) and dS_c/dH for a batch of maps H entering layer L, one class per item.
//!
//! The layers after L run in full as batched GEMMs, except the final Dense,
//! of which only the row of each item's class is computed. A terminal
//! sigmoid/softmax is left out, so S_c is the pre-activation score.
use super::{Layer, Network, Scratch};
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
}

fn is_output_squash(l: &Layer) -> bool {
    matches!(
        l,
        Layer::Identity | Layer::Act(Activation::Sigmoid | Activation::Softmax | Activation::Linear, _)
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
                    && matches!(d.act, Activation::Linear | Activation::Sigmoid | Activation::Softmax) =>
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
    pub fn score_grad(&mut self, h: &[f32], classes: &[usize], scores: &mut [f32], grad: &mut [f32]) {
        let b = classes.len();
        let n = self.map_len();
        assert!(b <= self.capacity, "batch {b} exceeds the scorer's capacity {}", self.capacity);
        assert!(h.len() >= b * n && grad.len() >= b * n && scores.len() >= b);
        let layers = &self.net.layers;
        for i in self.from..self.trunk_end {
            let j = i - self.from;
            let (prev, rest) = self.acts.split_at_mut(j);
            let x: &[f32] = if j == 0 { &h[..b * n] } else { &prev[j - 1][..b * self.sizes[j]] };
            let y = &mut rest[0][..b * self.sizes[j + 1]];
            layers[i].forward(x, y, b, &mut self.scratch, &mut self.args[j]);
        }
        let (kh, wh) = self.net.input_shape(self.trunk_end);
        let nh = kh * wh;
        let xh: &[f32] = match self.acts.last() {
            Some(a) => a,
            None => h,
        };
        let [g0, g1] = &mut self.g;
        for (i, &c) in classes.iter().enumerate() {
            assert!(c < self.n_classes, "class {c} out of range");
            let x = &xh[i * nh..(i + 1) * nh];
            let g = &mut g0[i * nh..(i + 1) * nh];
            match self.head {
                Head::Dense(l) => {
                    let Layer::Dense(d) = &layers[l] else { unreachable!() };
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
        if self.trunk_end == self.from {
            grad[..b * n].copy_from_slice(&g0[..b * n]);
            return;
        }
        let (mut dy, mut dx) = (g0, g1);
        for i in (self.from..self.trunk_end).rev() {
            let j = i - self.from;
            let (n_in, n_out) = (b * self.sizes[j], b * self.sizes[j + 1]);
            let out: &mut [f32] = if i == self.from { &mut grad[..n_in] } else { &mut dx[..n_in] };
            layers[i].backward(&self.acts[j][..n_out], &dy[..n_out], out, b, &mut self.scratch, &self.args[j]);
            std::mem::swap(&mut dy, &mut dx);
        }
    }
}
