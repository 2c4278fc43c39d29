//! Which positions of each tensor the score reads. A profile model's count
//! head averages a crop of its tower (BPNet: 1,074 of 2,114 positions), so
//! the last dilated convolutions' outputs outside the crop, and the inputs
//! only they read, never reach the score: the last block of bpnet-lite's
//! tower needs half its outputs, the eight blocks together seven eighths.
//! The Winograd path computes only these (`conv1d_winograd.rs`); the other
//! paths compute whole maps and ignore them.
//!
//! Walking the plan back from the head: a node's output positions
//! [lo, hi) ask its inputs for the positions they come from: the taps of
//! a convolution, the window of a crop or pad, the same positions for an
//! element-wise node; every other node (pools over all positions, dense
//! layers, recurrent and attention layers, anything that mixes positions)
//! asks for its whole input. A tensor read by several nodes needs the hull
//! of what they ask.
use super::{Layer, Network};

/// Positions [lo, hi) of a tensor (lo == hi: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub lo: usize,
    pub hi: usize,
}

impl Span {
    pub fn all(w: usize) -> Span {
        Span { lo: 0, hi: w }
    }

    pub fn is_all(&self, w: usize) -> bool {
        self.lo == 0 && self.hi >= w
    }

    fn is_empty(&self) -> bool {
        self.lo >= self.hi
    }

    fn hull(self, o: Span) -> Span {
        if self.is_empty() {
            o
        } else if o.is_empty() {
            self
        } else {
            Span {
                lo: self.lo.min(o.lo),
                hi: self.hi.max(o.hi),
            }
        }
    }

    /// `self` moved by `by` positions and clipped to [0, w).
    fn shifted(self, by: isize, w: usize) -> Span {
        let at = |p: usize| (p as isize + by).clamp(0, w as isize) as usize;
        Span {
            lo: at(self.lo),
            hi: at(self.hi),
        }
    }
}

/// Per engine tensor, the positions the plan's score reads; tensors off
/// the plan get their whole width (no one asks).
pub fn needed(net: &Network, nodes: &[usize], head_input: usize) -> Vec<Span> {
    let n = net.nodes.len() + 1;
    let width = |t: usize| net.engine_shape(t).1;
    let mut asked: Vec<Option<Span>> = vec![None; n];
    asked[head_input] = Some(Span::all(width(head_input)));
    for &j in nodes.iter().rev() {
        let node = &net.nodes[j];
        // A node nothing on the plan reads (it cannot happen: the plan
        // holds the nodes between H and the head) asks for everything.
        let out = asked[j + 1].unwrap_or(Span::all(width(j + 1)));
        for &x in &node.inputs {
            let want = asks(net, &node.op, x, j + 1, out);
            asked[x] = Some(match asked[x] {
                Some(s) => s.hull(want),
                None => want,
            });
        }
    }
    (0..n)
        .map(|t| asked[t].unwrap_or(Span::all(width(t))))
        .collect()
}

/// The positions of input `x` that outputs `out` of tensor `y` read through `op`.
fn asks(net: &Network, op: &Layer, x: usize, y: usize, out: Span) -> Span {
    let (kx, wx) = net.engine_shape(x);
    let (ky, wy) = net.engine_shape(y);
    let whole = Span::all(wx);
    if out.is_empty() {
        return Span { lo: 0, hi: 0 };
    }
    match op {
        Layer::Conv(c) => c.reads(out.lo, out.hi),
        Layer::Window(win) if win.pad => out.shifted(-(win.left as isize), wx),
        Layer::Window(win) => out.shifted(win.left as isize, wx),
        _ if (kx, wx) != (ky, wy) => whole,
        Layer::Act { act, channels } => {
            if *act != crate::model::Activation::Softmax || *channels == kx {
                out
            } else {
                whole
            }
        }
        Layer::Dropout
        | Layer::Affine { .. }
        | Layer::Relu(_)
        | Layer::PRelu(_)
        | Layer::Pointwise(_)
        | Layer::Merge(_) => out,
        _ => whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hull_and_shift() {
        let a = Span { lo: 3, hi: 5 };
        let b = Span { lo: 8, hi: 9 };
        assert_eq!(a.hull(b), Span { lo: 3, hi: 9 });
        assert_eq!(Span { lo: 0, hi: 0 }.hull(b), b);
        assert_eq!(a.shifted(-4, 10), Span { lo: 0, hi: 1 });
        assert_eq!(b.shifted(4, 10), Span { lo: 10, hi: 10 });
    }
}
