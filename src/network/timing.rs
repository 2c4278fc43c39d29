//! Wall time per step of a scorer's passes, for `bench --per-layer`: a
//! tower's step is spread over tens of layers, and which of them deserve
//! work (a fused block, another convolution path) is only seen per layer.
//! Off by default; when on, it costs two clock reads per node and pass.
use std::time::Instant;

/// One row of the table: a plan step (a node, or a fused group of nodes).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerTime {
    /// The layer name(s) the step computes, `+`-joined for a fused group.
    pub name: String,
    /// The engine operation (`conv1d+relu`, `add`, `residual`, …).
    pub op: String,
    pub forward_s: f64,
    pub backward_s: f64,
}

/// Seconds accumulated since timing was switched on.
#[derive(Debug, Clone, Default)]
pub(crate) struct Timer {
    on: bool,
    forward: Vec<f64>,
    backward: Vec<f64>,
    head: f64,
    total: f64,
}

impl Timer {
    pub fn switch(&mut self, on: bool, steps: usize) {
        *self = Timer {
            on,
            forward: vec![0.0; steps],
            backward: vec![0.0; steps],
            head: 0.0,
            total: 0.0,
        };
    }

    /// A start mark, or nothing when timing is off (no clock read).
    pub fn mark(&self) -> Option<Instant> {
        self.on.then(Instant::now)
    }

    pub fn forward(&mut self, step: usize, since: Option<Instant>) {
        if let Some(t) = since {
            self.forward[step] += t.elapsed().as_secs_f64();
        }
    }

    pub fn backward(&mut self, step: usize, since: Option<Instant>) {
        if let Some(t) = since {
            self.backward[step] += t.elapsed().as_secs_f64();
        }
    }

    pub fn head(&mut self, since: Option<Instant>) {
        if let Some(t) = since {
            self.head += t.elapsed().as_secs_f64();
        }
    }

    pub fn total(&mut self, since: Option<Instant>) {
        if let Some(t) = since {
            self.total += t.elapsed().as_secs_f64();
        }
    }

    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Per step (forward, backward), the head's seconds, and the whole calls' seconds.
    pub fn read(&self) -> (Vec<(f64, f64)>, f64, f64) {
        (
            self.forward
                .iter()
                .zip(&self.backward)
                .map(|(&f, &b)| (f, b))
                .collect(),
            self.head,
            self.total,
        )
    }
}

/// Where the time of the timed calls went, as `bench --per-layer` prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTimes {
    /// The plan's steps in the order they run forward.
    pub layers: Vec<LayerTime>,
    /// The head: scores and the gradient of the tensor it reads.
    pub head_s: f64,
    /// The whole `score_grad` calls; what the rows and the head leave is the
    /// scorer's own bookkeeping (sub-batch slicing, adding gradients where a
    /// tensor feeds several nodes is counted with the node).
    pub total_s: f64,
}

impl StepTimes {
    /// Seconds of the calls not inside a row or the head.
    pub fn other_s(&self) -> f64 {
        let rows: f64 = self.layers.iter().map(|l| l.forward_s + l.backward_s).sum();
        (self.total_s - rows - self.head_s).max(0.0)
    }
}
