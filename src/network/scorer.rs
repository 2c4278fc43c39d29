//! S_c(H) and dS_c/dH for a batch of maps H, one class per item, over the
//! [`Plan`]'s nodes. The nodes between H and the head run as batched GEMMs;
//! a Dense head computes only the row of each item's class; the backward pass
//! adds the gradients where one tensor feeds several nodes.
use super::conv1d_spectral::{ConvMode, FastConv, FastScratch};
use super::fused_tail::{fused_tail, FUSE_MAX_BATCH};
use super::plan::{Head, Plan, Reduce};
use super::residual_block::Residual;
use super::residual_find::crop_left;
use super::slot_maps::SlotMaps;
use super::timing::{LayerTime, StepTimes, Timer};
use super::{skinny, Kept, Layer, Network, Scratch};
use crate::Result;

pub struct Scorer<'n> {
    net: &'n Network,
    plan: Plan,
    capacity: usize,
    /// Engine tensor → its slot (H is slot 0), for the tensors the plan touches.
    slot: Vec<usize>,
    /// K·W of each slot's maps.
    sizes: Vec<usize>,
    /// Each slot's activations (slot 0 unused: H is handed in).
    acts: SlotMaps,
    /// Each slot's gradient (slot 0 unused: it is written to the caller's buffer).
    grads: SlotMaps,
    /// Buffers for gradients that are added to a slot already written this pass.
    extra: Vec<Vec<f32>>,
    /// MaxPool argmax per plan node.
    kept: Vec<Kept>,
    scratch: Scratch,
    /// The DFT or Winograd form of each plan node that takes it (`--conv`).
    fast: Vec<Option<FastConv>>,
    spectral: FastScratch,
    fuse_buf: Vec<f32>,
    /// Bytes of activations and gradients a sub-batch may hold.
    budget: usize,
    /// Per-step wall time, when `time_layers` switched it on.
    timer: Timer,
    /// Per plan position, the residual block (index into `plan.residual`)
    /// it is computed in, where the block is taken fused.
    block_of: Vec<Option<usize>>,
    /// Per plan position, its row in the timing table (a fused block is one row).
    step_of: Vec<usize>,
}

const NONE: usize = usize::MAX;

impl<'n> Scorer<'n> {
    /// A scorer for maps entering layer `from`, scoring the model's only
    /// output, with buffers for `capacity` items.
    pub fn new(net: &'n Network, from: usize, capacity: usize) -> Result<Scorer<'n>> {
        Ok(Self::with_plan(
            net,
            Plan::new(net, from, None, None)?,
            capacity,
        ))
    }

    /// A scorer whose convolutions take the path [`ConvMode::Auto`] chooses.
    pub fn with_plan(net: &'n Network, plan: Plan, capacity: usize) -> Scorer<'n> {
        Self::with_conv(net, plan, capacity, ConvMode::Auto)
    }

    /// A scorer whose convolutions after H are computed as `conv` says.
    pub fn with_conv(net: &'n Network, plan: Plan, capacity: usize, conv: ConvMode) -> Scorer<'n> {
        let mut slot = vec![NONE; net.nodes.len() + 1];
        let mut sizes = Vec::new();
        let mut add = |t: usize, slot: &mut Vec<usize>| {
            if slot[t] == NONE {
                slot[t] = sizes.len();
                let (k, w) = net.engine_shape(t);
                sizes.push(k * w);
            }
        };
        add(plan.h, &mut slot);
        for &j in &plan.nodes {
            add(j + 1, &mut slot);
        }
        add(plan.head.input(), &mut slot);
        let kept = vec![Kept::default(); plan.nodes.len()];
        let fast = plan
            .nodes
            .iter()
            .map(|&j| match &net.nodes[j].op {
                Layer::Conv(c) => {
                    let x = net.nodes[j].inputs[0];
                    c.fast_path(conv, capacity, (plan.needed[j + 1], plan.needed[x]))
                }
                _ => None,
            })
            .collect();
        Scorer {
            net,
            plan,
            capacity,
            slot,
            sizes,
            acts: SlotMaps::default(),
            grads: SlotMaps::default(),
            extra: Vec::new(),
            kept,
            scratch: Scratch::default(),
            fast,
            spectral: FastScratch::default(),
            fuse_buf: Vec::new(),
            budget: ACTIVATION_BUDGET,
            timer: Timer::default(),
            block_of: Vec::new(),
            step_of: Vec::new(),
        }
        .fusing(true)
    }

    /// Take the plan's residual blocks fused (the default) or node by node
    /// (for tests comparing the two). A block whose convolution goes
    /// spectral stays unfused; one on the Winograd path fuses the ReLU and
    /// the skip into its transforms (`Residual::forward_winograd`).
    pub fn fusing(mut self, on: bool) -> Self {
        let n = self.plan.nodes.len();
        self.block_of = vec![None; n];
        if on {
            for (i, r) in self.plan.residual.iter().enumerate() {
                if !matches!(self.fast[r.conv], Some(FastConv::Dft(_))) {
                    self.block_of[r.first..=r.add].fill(Some(i));
                }
            }
        }
        self.step_of = Vec::with_capacity(n);
        let mut row = 0;
        for p in 0..n {
            if p > 0 && (self.block_of[p].is_none() || self.block_of[p] != self.block_of[p - 1]) {
                row += 1;
            }
            self.step_of.push(row);
        }
        self.share_tower_maps();
        self
    }

    /// The output of fused block i shares the buffers of block i − 2's
    /// output (activations and gradients). Forward, that map was last read
    /// by block i − 1 (`residual_find` leaves a block's input to the block
    /// alone), and no fused block reads its input or output in backward,
    /// only its ReLU's output (direct) or mask (Winograd); backward, block i
    /// reads its output's gradient before block i − 1 writes its input's.
    /// So a tower runs on two maps and two gradients per item, which stay
    /// in L2, instead of a fresh one per layer from L3 or memory
    /// (bpnet-lite's BPNet on the Winograd path: +12%; the long tower on the
    /// direct path: 33 MB less). The arithmetic is the same, so are the
    /// bits, and the sub-batch budget still counts every slot's maps, so the
    /// batching does not change either.
    fn share_tower_maps(&mut self) {
        let mut owner: Vec<usize> = (0..self.sizes.len()).collect();
        let blocks = &self.plan.residual;
        let out_of = |i: usize| self.slot[self.plan.nodes[blocks[i].add] + 1];
        let input_of = |i: usize| self.slot[blocks[i].x];
        let fused = |i: usize| self.block_of[blocks[i].first] == Some(i);
        for i in 2..blocks.len() {
            let chained = input_of(i - 1) == out_of(i - 2) && input_of(i) == out_of(i - 1);
            if chained && fused(i - 2) && fused(i - 1) && fused(i) {
                owner[out_of(i)] = owner[out_of(i - 2)];
            }
        }
        self.acts.lay_out(&owner, &self.sizes, self.capacity);
        self.grads.lay_out(&owner, &self.sizes, self.capacity);
    }

    /// Bytes of the activation and gradient maps this scorer holds.
    pub fn map_bytes(&self) -> usize {
        (self.acts.floats() + self.grads.floats()) * std::mem::size_of::<f32>()
    }

    /// How many residual blocks run fused.
    pub fn fused_blocks(&self) -> usize {
        let mut ids: Vec<usize> = self.block_of.iter().flatten().copied().collect();
        ids.dedup();
        ids.len()
    }

    /// The fused computation of residual block `i`.
    fn residual(&self, i: usize) -> Residual<'n> {
        let net: &'n Network = self.net;
        let r = &self.plan.residual[i];
        let Layer::Conv(conv) = &net.nodes[self.plan.nodes[r.conv]].op else {
            unreachable!("a residual block starts with a convolution")
        };
        Residual {
            conv,
            relu: r.relu.is_some() || conv.act == crate::model::Activation::Relu,
            left: crop_left(net, &self.plan.nodes, r),
        }
    }

    /// Slots of block `i`'s kept activation (after its ReLU; on the
    /// Winograd path, its ReLU's mask), its output and its input.
    fn residual_slots(&self, i: usize) -> (usize, usize, usize) {
        let r = &self.plan.residual[i];
        let t = |p: usize| self.plan.nodes[p] + 1;
        (
            self.slot[t(r.relu.unwrap_or(r.conv))],
            self.slot[t(r.add)],
            self.slot[r.x],
        )
    }

    /// Change the sub-batch budget (bytes of maps per sub-batch; see `score_grad`).
    pub fn set_sub_batch_budget(&mut self, bytes: usize) {
        self.budget = bytes;
    }

    /// Start (or stop) timing each node's forward and backward pass; the
    /// seconds add up from zero over the calls that follow.
    pub fn time_layers(&mut self, on: bool) {
        self.timer
            .switch(on, self.step_of.last().map_or(0, |r| r + 1));
    }

    /// Where the time of the calls since `time_layers(true)` went; `None`
    /// when timing is off.
    pub fn step_times(&self) -> Option<StepTimes> {
        if !self.timer.is_on() {
            return None;
        }
        let (steps, head_s, total_s) = self.timer.read();
        let mut layers: Vec<LayerTime> = Vec::with_capacity(steps.len());
        for (p, &j) in self.plan.nodes.iter().enumerate() {
            let name = self.net.layer_name(self.net.nodes[j].layer);
            let (forward_s, backward_s) = steps[self.step_of[p]];
            match layers.get_mut(self.step_of[p]) {
                // A fused block's row names its layers (a split-off
                // activation shares its layer's name).
                Some(row) => {
                    if !row.name.split('+').any(|n| n == name) {
                        row.name = format!("{}+{name}", row.name);
                    }
                }
                None => layers.push(LayerTime {
                    name: name.to_string(),
                    op: match self.block_of[p] {
                        Some(_) => "residual".into(),
                        None => self.net.nodes[j].op.op_name(),
                    },
                    forward_s,
                    backward_s,
                }),
            }
        }
        Some(StepTimes {
            layers,
            head_s,
            total_s,
        })
    }

    /// The fused hidden-Dense + head path, where it is taken: by capacity,
    /// or where items are big enough to run in sub-batches that small (Sei:
    /// one item, whose 1.35 GB hidden kernel was then read twice per
    /// item-step), never by the batch of the moment, so an item's
    /// arithmetic never depends on how many items share its batch.
    fn fused(&self) -> Option<usize> {
        self.plan
            .fused_from
            .filter(|_| self.capacity.min(self.sub_batch()) <= FUSE_MAX_BATCH)
    }

    /// True when an item's score and gradient are bitwise the same whatever
    /// items share its batch and whichever slot it has (any batch up to the
    /// capacity): every product on the path sums in an order of its own.
    /// The small-batch kernels, the spectral path and the Winograd path
    /// (each item alone through calls of its own shapes) do; OpenBLAS's sgemm
    /// does not promise it, so a direct convolution or a Dense layer on
    /// sgemm makes the scorer depend on its batch-mates. The recurrent layers
    /// and LayerNorm run each item on its own in a fixed order, so they keep it.
    ///
    /// A scorer whose items are too big to share a sub-batch (a long tower:
    /// see `score_grad`) runs every item alone, through the same calls with
    /// the same shapes whatever its batch, so it keeps the property on any
    /// product, sgemm included.
    pub fn batch_invariant(&self) -> bool {
        if self.sub_batch() == 1 {
            return true;
        }
        if !skinny::available() {
            return false;
        }
        let run = self.fused().unwrap_or(self.plan.nodes.len());
        self.plan.nodes[..run]
            .iter()
            .zip(&self.fast)
            .all(|(&j, fast)| match (&self.net.nodes[j].op, fast) {
                (_, Some(_)) => true,
                (Layer::Conv(c), None) => c.by_taps() || c.is_depthwise(),
                (Layer::Dense(d), None) => d.skinny(self.capacity),
                _ => true,
            })
    }

    /// The convolutions after H on the spectral path: (layer name, DFT
    /// length, outputs per block, bytes of spectra).
    pub fn spectral_layers(&self) -> Vec<(String, usize, usize, usize)> {
        self.plan
            .nodes
            .iter()
            .zip(&self.fast)
            .filter_map(|(&j, f)| {
                let f = f.as_ref()?.dft()?;
                let (n, l) = f.blocks();
                let name = self.net.layer_name(self.net.nodes[j].layer).to_string();
                Some((name, n, l, f.spectra_bytes()))
            })
            .collect()
    }

    /// The convolutions after H on the Winograd path, by layer name.
    pub fn winograd_layers(&self) -> Vec<String> {
        self.plan
            .nodes
            .iter()
            .zip(&self.fast)
            .filter(|(_, f)| matches!(f, Some(FastConv::Winograd(_))))
            .map(|(&j, _)| self.net.layer_name(self.net.nodes[j].layer).to_string())
            .collect()
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn n_classes(&self) -> usize {
        self.plan.n_classes
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Values per map H (K·W).
    pub fn map_len(&self) -> usize {
        self.sizes[0]
    }

    /// Multiply-adds ×2 of one forward+backward pass of one item.
    pub fn flops_per_item(&self) -> f64 {
        let trunk: f64 = self
            .plan
            .nodes
            .iter()
            .map(|&j| self.net.nodes[j].op.flops_per_item())
            .sum();
        let head = self.sizes[self.slot[self.plan.head.input()]];
        2.0 * trunk + 4.0 * head as f64
    }

    /// Scores and gradients for `classes.len()` maps `h` (position-major, B × W × K).
    ///
    /// A batch whose activations would not stay in cache (long sequences:
    /// a ChromBPNet tower holds ~30 maps of 64 × 2,000 per item) runs in
    /// sub-batches that do; where the weights dominate (DeepSEA's dense
    /// layers) the whole batch shares each read of them. The split depends
    /// only on the batch, so results stay the same for any rank count.
    pub fn score_grad(
        &mut self,
        h: &[f32],
        classes: &[usize],
        scores: &mut [f32],
        grad: &mut [f32],
    ) {
        let since = self.timer.mark();
        self.score_grad_split(h, classes, scores, grad);
        self.timer.total(since);
    }

    fn score_grad_split(
        &mut self,
        h: &[f32],
        classes: &[usize],
        scores: &mut [f32],
        grad: &mut [f32],
    ) {
        let b = classes.len();
        let n = self.map_len();
        let chunk = self.sub_batch().min(b.max(1));
        if chunk < b {
            for c0 in (0..b).step_by(chunk) {
                let c1 = (c0 + chunk).min(b);
                self.score_grad_batch(
                    &h[c0 * n..c1 * n],
                    &classes[c0..c1],
                    &mut scores[c0..c1],
                    &mut grad[c0 * n..c1 * n],
                );
            }
            return;
        }
        self.score_grad_batch(h, classes, scores, grad)
    }

    /// Items per sub-batch: as many as keep their maps and gradients within
    /// the budget, at least one. It depends on the shapes alone.
    fn sub_batch(&self) -> usize {
        let per_item = self.sizes.iter().sum::<usize>() * 2 * std::mem::size_of::<f32>();
        if per_item > ALONE_BYTES && self.budget >= ALONE_BYTES {
            return 1;
        }
        (self.budget / per_item.max(1)).max(1)
    }

    fn score_grad_batch(
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
            assert!(c < self.plan.n_classes, "class {c} out of range");
        }
        // Small batches are bound by reading the last hidden Dense's weights:
        // the fused tail reads them once per step instead of twice.
        let fused = self.fused();
        let run = fused.unwrap_or(self.plan.nodes.len());
        let nodes = &self.net.nodes;
        for (p, &j) in self.plan.nodes[..run].iter().enumerate() {
            if let Some(i) = self.block_of[p] {
                if p == self.plan.residual[i].first {
                    let since = self.timer.mark();
                    let (sa, so, sx) = self.residual_slots(i);
                    let (mut act, mut out) = (
                        std::mem::take(&mut self.acts[sa]),
                        std::mem::take(&mut self.acts[so]),
                    );
                    let x = input_slice(
                        &self.slot,
                        &self.sizes,
                        &self.acts,
                        h,
                        self.plan.residual[i].x,
                        b,
                    );
                    debug_assert_eq!(self.slot[self.plan.residual[i].x], sx);
                    let (act_b, out_b) = (
                        &mut act[..b * self.sizes[sa]],
                        &mut out[..b * self.sizes[so]],
                    );
                    match &self.fast[self.plan.residual[i].conv] {
                        Some(FastConv::Winograd(w)) => self.residual(i).forward_winograd(
                            w,
                            x,
                            act_b,
                            out_b,
                            b,
                            &mut self.spectral.winograd,
                        ),
                        _ => self
                            .residual(i)
                            .forward(x, act_b, out_b, b, &mut self.scratch.cols),
                    }
                    (self.acts[sa], self.acts[so]) = (act, out);
                    self.timer.forward(self.step_of[p], since);
                }
                continue;
            }
            let since = self.timer.mark();
            let out = self.slot[j + 1];
            let mut y = std::mem::take(&mut self.acts[out]);
            {
                let xs: Vec<&[f32]> = nodes[j]
                    .inputs
                    .iter()
                    .map(|&t| input_slice(&self.slot, &self.sizes, &self.acts, h, t, b))
                    .collect();
                let y = &mut y[..b * self.sizes[out]];
                match &self.fast[p] {
                    Some(f) => f.forward(xs[0], y, b, &mut self.spectral),
                    None => nodes[j]
                        .op
                        .forward(&xs, y, b, &mut self.scratch, &mut self.kept[p]),
                }
            }
            self.acts[out] = y;
            self.timer.forward(self.step_of[p], since);
        }
        let since = self.timer.mark();
        let mut written = vec![false; self.sizes.len()];
        // The head: scores, and the gradient of the tensor it reads.
        let hslot = match fused {
            Some(p) => {
                let j = self.plan.nodes[p];
                self.slot[nodes[j].inputs[0]]
            }
            None => self.slot[self.plan.head.input()],
        };
        let nh = self.sizes[hslot];
        {
            let xh: &[f32] = if hslot == 0 {
                &h[..b * n]
            } else {
                &self.acts[hslot][..b * nh]
            };
            let g: &mut [f32] = if hslot == 0 {
                &mut grad[..b * n]
            } else {
                &mut self.grads[hslot][..b * nh]
            };
            match (fused, self.plan.head) {
                (Some(p), Head::Dense { node, .. }) => {
                    let (Layer::Dense(hidden), Layer::Dense(head)) =
                        (&nodes[self.plan.nodes[p]].op, &nodes[node].op)
                    else {
                        unreachable!()
                    };
                    let act = super::plan::fused_activation(self.net, &self.plan.nodes, p);
                    fused_tail(
                        hidden,
                        act,
                        head,
                        xh,
                        classes,
                        scores,
                        g,
                        &mut self.fuse_buf,
                    );
                }
                (_, Head::Dense { node, .. }) => {
                    let Layer::Dense(d) = &nodes[node].op else {
                        unreachable!()
                    };
                    for (i, &c) in classes.iter().enumerate() {
                        let (s, w) = d.unit(&xh[i * nh..(i + 1) * nh], c);
                        scores[i] = s;
                        g[i * nh..(i + 1) * nh].copy_from_slice(w);
                    }
                }
                (_, Head::Pick { .. }) => {
                    for (i, &c) in classes.iter().enumerate() {
                        scores[i] = xh[i * nh + c];
                        let gi = &mut g[i * nh..(i + 1) * nh];
                        gi.fill(0.0);
                        gi[c] = 1.0;
                    }
                }
                (_, Head::Reduce { tensor, how }) => {
                    let (k, w) = self.net.engine_shape(tensor);
                    for (i, &c) in classes.iter().enumerate() {
                        let (s, gi) = (&xh[i * nh..(i + 1) * nh], &mut g[i * nh..(i + 1) * nh]);
                        scores[i] = reduce_grad(how, s, gi, k, w, c);
                    }
                }
            }
        }
        written[hslot] = true;
        self.timer.head(since);
        // Backward over the nodes that ran, adding where a tensor feeds several.
        for p in (0..run).rev() {
            if let Some(i) = self.block_of[p] {
                if p == self.plan.residual[i].add {
                    let since = self.timer.mark();
                    let (sa, so, sx) = self.residual_slots(i);
                    debug_assert!(
                        written[so] && !written[sx],
                        "the block's input is read by it alone"
                    );
                    let fused = self.residual(i);
                    let dy = std::mem::take(&mut self.grads[so]);
                    let (act, dy_b) = (
                        &self.acts[sa][..b * self.sizes[sa]],
                        &dy[..b * self.sizes[so]],
                    );
                    let (dz, cols) = (&mut self.scratch.dz, &mut self.scratch.cols);
                    let dx = if sx == 0 {
                        &mut grad[..b * n]
                    } else {
                        &mut self.grads[sx][..b * self.sizes[sx]]
                    };
                    match &self.fast[self.plan.residual[i].conv] {
                        Some(FastConv::Winograd(w)) => fused.backward_winograd(
                            w,
                            act,
                            dy_b,
                            dx,
                            b,
                            &mut self.spectral.winograd,
                        ),
                        _ => fused.backward(act, dy_b, dx, b, dz, cols),
                    }
                    self.grads[so] = dy;
                    written[sx] = true;
                    self.timer.backward(self.step_of[p], since);
                }
                continue;
            }
            let since = self.timer.mark();
            let j = self.plan.nodes[p];
            let out = self.slot[j + 1];
            debug_assert!(written[out], "every node's output reaches the head");
            let dy = std::mem::take(&mut self.grads[out]);
            let node = &nodes[j];
            let k = node.inputs.len();
            // Where each input's gradient goes: straight into its slot the
            // first time, else into an extra buffer that is added afterwards.
            let mut direct = vec![false; k];
            let mut taken: Vec<Vec<f32>> = Vec::with_capacity(k);
            for (i, &t) in node.inputs.iter().enumerate() {
                let s = self.slot[t];
                direct[i] = !written[s] && !node.inputs[..i].contains(&t);
                taken.push(if direct[i] && s != 0 {
                    std::mem::take(&mut self.grads[s])
                } else {
                    Vec::new()
                });
            }
            let mut extra = std::mem::take(&mut self.extra);
            if extra.len() < k {
                extra.resize(k, Vec::new());
            }
            {
                let xs: Vec<&[f32]> = node
                    .inputs
                    .iter()
                    .map(|&t| input_slice(&self.slot, &self.sizes, &self.acts, h, t, b))
                    .collect();
                let mut grad_left = Some(&mut grad[..b * n]);
                let mut dxs: Vec<&mut [f32]> = Vec::with_capacity(k);
                for (i, (tk, ex)) in taken.iter_mut().zip(extra.iter_mut()).enumerate() {
                    let s = self.slot[node.inputs[i]];
                    let len = b * self.sizes[s];
                    if direct[i] && s == 0 {
                        dxs.push(grad_left.take().expect("H is written once directly"));
                    } else if direct[i] {
                        dxs.push(&mut tk[..len]);
                    } else {
                        if ex.len() < len {
                            ex.resize(len, 0.0);
                        }
                        dxs.push(&mut ex[..len]);
                    }
                }
                let y = &self.acts[out][..b * self.sizes[out]];
                let dy = &dy[..b * self.sizes[out]];
                match &self.fast[p] {
                    Some(f) => {
                        super::grow(&mut self.scratch.dz, dy.len());
                        f.backward(y, dy, dxs[0], b, &mut self.scratch.dz, &mut self.spectral)
                    }
                    None => {
                        node.op
                            .backward(&xs, y, dy, &mut dxs, b, &mut self.scratch, &self.kept[p])
                    }
                }
            }
            self.grads[out] = dy;
            for (i, tk) in taken.into_iter().enumerate() {
                let s = self.slot[node.inputs[i]];
                let len = b * self.sizes[s];
                if direct[i] {
                    if s != 0 {
                        self.grads[s] = tk;
                    }
                } else {
                    let dst: &mut [f32] = if s == 0 {
                        &mut grad[..len]
                    } else {
                        &mut self.grads[s][..len]
                    };
                    dst.iter_mut()
                        .zip(&extra[i][..len])
                        .for_each(|(a, e)| *a += e);
                }
                written[s] = true;
            }
            self.extra = extra;
            self.timer.backward(self.step_of[p], since);
        }
        if !written[0] {
            // The head reads H itself, or nothing between H and the head ran.
            grad[..b * n].fill(0.0);
        }
    }
}

/// The maps of engine tensor `t` (H itself for slot 0).
fn input_slice<'a>(
    slot: &[usize],
    sizes: &[usize],
    acts: &'a SlotMaps,
    h: &'a [f32],
    t: usize,
    b: usize,
) -> &'a [f32] {
    let s = slot[t];
    if s == 0 {
        &h[..b * sizes[0]]
    } else {
        &acts[s][..b * sizes[s]]
    }
}

/// One item's score from a positions × tracks map (position-major, W × K) and
/// its gradient: sum, mean, or the first maximum of track c over positions.
fn reduce_grad(how: Reduce, x: &[f32], g: &mut [f32], k: usize, w: usize, c: usize) -> f32 {
    g.fill(0.0);
    match how {
        Reduce::Sum | Reduce::Mean => {
            let scale = if how == Reduce::Mean {
                1.0 / w as f32
            } else {
                1.0
            };
            let mut s = 0f64;
            for p in 0..w {
                s += x[p * k + c] as f64;
                g[p * k + c] = scale;
            }
            (s * scale as f64) as f32
        }
        Reduce::Max => {
            let (mut best, mut at) = (x[c], 0);
            for p in 1..w {
                if x[p * k + c] > best {
                    best = x[p * k + c];
                    at = p;
                }
            }
            g[at * k + c] = 1.0;
            best
        }
    }
}

/// Bytes of activations and gradients a sub-batch may hold (see `score_grad`).
const ACTIVATION_BUDGET: usize = 48 << 20;
/// An item whose maps and gradients pass this runs alone in its sub-batch,
/// which makes the scorer batch-invariant (`batch_invariant`), so `run`
/// refills batches instead of draining lanes. A ChromBPNet tower item (~22
/// MB) went two to a sub-batch under the budget alone; alone, `bench --shape
/// chrombpnet --conv direct` gave the same rate (AMD EPYC Zen 4, one core,
/// two interleaved runs of each: 88–96 against 85–94 item-steps/s at batches
/// 1, 8 and 32), since one such item already fills the cache.
const ALONE_BYTES: usize = 16 << 20;
