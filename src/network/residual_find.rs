//! Plan-level fusion: the runs of plan nodes that form a residual block of
//! a dilated tower — a stride-1 convolution (its ReLU fused, or a ReLU node
//! after it), the block's input as the skip (cropped to the convolution's
//! width, or as it is), and their sum. The scorer computes such a run in row
//! blocks that stay in cache (`residual_block.rs`) instead of a full-map pass
//! per node. Found once per plan, tested on its own; the scorer decides per
//! block whether to take it (not where the convolution goes spectral).
use super::{Layer, Network};
use crate::model::{Activation, MergeOp};

/// One fusable run of `Plan::nodes`: positions `first..=add`, all of them
/// the block's own nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidualBlock {
    pub first: usize,
    /// Positions in `Plan::nodes` of the convolution, a ReLU node after it,
    /// the crop of the skip, and the sum (always the run's last).
    pub conv: usize,
    pub relu: Option<usize>,
    pub crop: Option<usize>,
    pub add: usize,
    /// The engine tensor the block reads (the convolution's input and the skip).
    pub x: usize,
}

/// The residual blocks among `nodes` (a plan's, in order) that end before
/// `end` (where a fused Dense tail starts). Every tensor inside a block is
/// read by the block alone and is not `head_input`, and the block's input is
/// read by nothing else on the plan: its gradient is then the block's alone,
/// summed in the order the unfused nodes sum it.
pub(crate) fn find(
    net: &Network,
    nodes: &[usize],
    head_input: usize,
    end: usize,
) -> Vec<ResidualBlock> {
    let pos = |j: usize| nodes.iter().position(|&n| n == j);
    let readers = |t: usize| {
        nodes
            .iter()
            .filter(|&&j| net.nodes[j].inputs.contains(&t))
            .count()
    };
    // The node making engine tensor t, with its plan position.
    let maker = |t: usize| t.checked_sub(1).and_then(|j| Some((j, pos(j)?)));
    let mut out = Vec::new();
    for (a, &j) in nodes.iter().enumerate().take(end) {
        let node = &net.nodes[j];
        if !matches!(&node.op, Layer::Merge(m) if m.op == MergeOp::Add)
            || node.inputs.len() != 2
            || node.inputs[0] == node.inputs[1]
        {
            continue;
        }
        let found = [(0, 1), (1, 0)]
            .into_iter()
            .find_map(|(bi, si)| block_at(net, &maker, node.inputs[bi], node.inputs[si], a));
        let Some(block) = found else { continue };
        let mut at = vec![block.conv, block.add];
        at.extend(block.relu);
        at.extend(block.crop);
        at.sort_unstable();
        let contiguous = at.windows(2).all(|w| w[1] == w[0] + 1) && at[at.len() - 1] == a;
        // Tensors inside the block: each read once (by the block's next node).
        let inner: Vec<usize> = at[..at.len() - 1].iter().map(|&p| nodes[p] + 1).collect();
        let sealed = inner.iter().all(|&t| readers(t) == 1 && t != head_input);
        let x_readers = 1 + usize::from(block.crop.is_some() || node.inputs.contains(&block.x));
        if contiguous && sealed && readers(block.x) == x_readers && block.x != head_input {
            out.push(ResidualBlock {
                first: at[0],
                ..block
            });
        }
    }
    out
}

/// The block whose sum (at plan position `add`) reads `branch` (the
/// convolution, or its ReLU) and `skip`, if the shapes fit.
fn block_at(
    net: &Network,
    maker: &impl Fn(usize) -> Option<(usize, usize)>,
    branch: usize,
    skip: usize,
    add: usize,
) -> Option<ResidualBlock> {
    let (mut j, mut p) = maker(branch)?;
    let mut relu = None;
    if let Layer::Act {
        act: Activation::Relu,
        ..
    } = net.nodes[j].op
    {
        relu = Some(p);
        (j, p) = maker(net.nodes[j].inputs[0])?;
    }
    let Layer::Conv(c) = &net.nodes[j].op else {
        return None;
    };
    let act_ok = match relu {
        Some(_) => c.act == Activation::Linear,
        None => matches!(c.act, Activation::Linear | Activation::Relu),
    };
    if !act_ok || c.stride() != 1 || !c.never_skinny() || c.filters != c.k_in || c.is_depthwise() {
        return None;
    }
    let x = net.nodes[j].inputs[0];
    let crop = if skip == x {
        if c.w_out != c.w_in {
            return None;
        }
        None
    } else {
        let (w, q) = maker(skip)?;
        match &net.nodes[w].op {
            Layer::Window(win)
                if !win.pad
                    && net.nodes[w].inputs[0] == x
                    && win.w_out == c.w_out
                    && win.k == c.filters =>
            {
                Some(q)
            }
            _ => return None,
        }
    };
    Some(ResidualBlock {
        first: 0,
        conv: p,
        relu,
        crop,
        add,
        x,
    })
}

/// The crop's left offset of a block (0 without a crop).
pub(crate) fn crop_left(net: &Network, nodes: &[usize], b: &ResidualBlock) -> usize {
    match b.crop.map(|q| &net.nodes[nodes[q]].op) {
        Some(Layer::Window(w)) => w.left,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Plan;

    /// The bench towers are chains of blocks: each of ChromBPNet's 8 is
    /// found (conv with its ReLU, crop, add), in the order they run.
    #[test]
    fn finds_every_block_of_the_chrombpnet_tower() {
        let net = Network::from_spec(crate::bench::chrombpnet_tower()).expect("builds");
        let plan = Plan::new(&net, 1, Some(1), None).expect("a plan");
        assert_eq!(plan.residual.len(), 8);
        for (i, b) in plan.residual.iter().enumerate() {
            assert_eq!(
                (b.first, b.conv, b.crop, b.add),
                (3 * i, 3 * i, Some(3 * i + 1), 3 * i + 2)
            );
            assert_eq!(b.relu, None);
        }
    }

    /// The long tower's 6 blocks, the first reading H itself.
    #[test]
    fn finds_every_block_of_the_long_tower_from_h() {
        let net = Network::from_spec(crate::bench::long_tower()).expect("builds");
        let plan = Plan::new(&net, 1, None, None).expect("a plan");
        assert_eq!(plan.residual.len(), 6);
        assert_eq!(plan.residual[0].x, plan.h);
    }
}
