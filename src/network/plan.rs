//! What to compute for S_c(H): the model edits made once, before any ascent,
//! and tested on their own. From the chosen output, the monotone transforms
//! the score leaves out (a final sigmoid, softmax, softplus or exp, dropout,
//! and a Flatten of a positions × tracks map) are dropped; the head that
//! turns the remaining tensor into one number per class is chosen; and the
//! nodes between H and the head are listed, which also checks that H is a cut
//! (every path from the model input to the head passes through it).
use super::{Layer, Network};
use crate::model::Activation;
use crate::{Error, Result};

/// How a head with positions (a profile or track head) becomes one score per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    Sum,
    Mean,
    Max,
}

impl Reduce {
    pub fn parse(s: &str) -> Option<Reduce> {
        Some(match s {
            "sum" => Reduce::Sum,
            "mean" => Reduce::Mean,
            "max" => Reduce::Max,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Reduce::Sum => "sum",
            Reduce::Mean => "mean",
            Reduce::Max => "max",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// Score = one unit of this Dense node before its activation; it reads `input`.
    Dense { node: usize, input: usize },
    /// Score = value c of a flat tensor.
    Pick { tensor: usize },
    /// Score = the reduction over positions of channel (track) c.
    Reduce { tensor: usize, how: Reduce },
}

impl Head {
    /// The engine tensor the head reads.
    pub fn input(&self) -> usize {
        match *self {
            Head::Dense { input, .. } => input,
            Head::Pick { tensor } | Head::Reduce { tensor, .. } => tensor,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// Engine tensor H.
    pub h: usize,
    /// Engine nodes from H to the head, in order.
    pub nodes: Vec<usize>,
    pub head: Head,
    pub n_classes: usize,
    /// Index into `nodes` from which the fused hidden-Dense tail starts
    /// (that Dense and any dropout after it), for small batches.
    pub fused_from: Option<usize>,
    /// The transforms S_c leaves out, for the log and `inspect` ("sigmoid of dense_2").
    pub left_out: Vec<String>,
    /// The output it scores.
    pub output: usize,
    /// The runs of `nodes` that form residual blocks a scorer may compute
    /// fused (`residual_find.rs`), in order, none inside the fused tail.
    pub residual: Vec<super::residual_find::ResidualBlock>,
    /// Per engine tensor, the positions the score reads (`needed.rs`).
    pub needed: Vec<super::needed::Span>,
}

impl Plan {
    /// The plan for H = the input of layer `layer`, scoring output `output`
    /// (index into the network's outputs; `None`: the only one).
    pub fn new(
        net: &Network,
        layer: usize,
        output: Option<usize>,
        reduce: Option<Reduce>,
    ) -> Result<Plan> {
        if layer >= net.len() {
            return Err(Error::Input(format!(
                "layer index {layer} is past the model's last layer ({})",
                net.len().saturating_sub(1)
            )));
        }
        let ins = net.layer_inputs(layer);
        if ins.len() > 1 {
            let consumers: Vec<String> = (0..net.len())
                .filter(|&j| net.layer_inputs(j).contains(&(layer + 1)))
                .map(|j| format!("{} (index {j})", net.layer_name(j)))
                .collect();
            let inputs: Vec<String> = ins.iter().map(|&t| tensor_label(net, t)).collect();
            return Err(Error::Input(format!(
                "--layer {}: the layer merges {} tensors ({}), so it has no single input to take as H; \
                 choose the layer that makes one of them, or, for the merged tensor, a layer that reads it{}",
                net.layer_name(layer),
                ins.len(),
                inputs.join(", "),
                if consumers.is_empty() {
                    String::from(" (none: it is an output)")
                } else {
                    format!(": {}", consumers.join(", "))
                }
            )));
        }
        Self::at_tensor(net, ins[0], net.layer_name(layer), output, reduce)
    }

    /// The plan for H = spec tensor `tensor` (0 = the model input, i + 1 = the
    /// output of layer i); `label` names it in messages (`--layer` as given).
    pub fn at_tensor(
        net: &Network,
        tensor: usize,
        label: &str,
        output: Option<usize>,
        reduce: Option<Reduce>,
    ) -> Result<Plan> {
        let outs = net.outputs();
        let output = match output {
            Some(o) if o < outs.len() => o,
            Some(o) => {
                return Err(Error::Input(format!(
                    "--output {o} is not an output of the model ({})",
                    output_list(net)
                )))
            }
            None if outs.len() == 1 => 0,
            None => {
                return Err(Error::Input(format!(
                    "the model has {} outputs; choose the one whose units are the classes with --output NAME|INDEX ({})",
                    outs.len(),
                    output_list(net)
                )))
            }
        };
        let h = net.engine_tensor(tensor);
        let mut t = net.engine_tensor(outs[output].tensor);
        let mut left_out = Vec::new();
        let mut positions = false;
        let producer = |t: usize| if t == 0 { None } else { Some(t - 1) };
        // Drop the output transforms, walking back from the output (never past H).
        while t != h {
            let Some(j) = producer(t) else { break };
            let node = &net.nodes[j];
            let name = net.layer_name(node.layer);
            match &node.op {
                Layer::Act { act, .. } if act.is_output_transform() => {
                    if *act != Activation::Linear {
                        left_out.push(format!("{} of {name}", act.name()));
                    }
                }
                Layer::Dropout => {}
                Layer::Flatten { w, .. } if *w > 1 && !positions => {
                    positions = true;
                    left_out.push(format!("flatten of {name} (scored as positions × tracks)"));
                }
                _ => break,
            }
            t = node.inputs[0];
        }
        let (k, w) = net.engine_shape(t);
        let positions = positions || w > 1;
        let oname = &outs[output].name;
        let head = match producer(t).map(|j| (j, &net.nodes[j].op)) {
            Some((j, Layer::Dense(d))) if t != h && !positions && d.act.is_output_transform() => {
                if d.act != Activation::Linear {
                    left_out.push(format!("{} of {}", d.act.name(), net.layer_name(net.nodes[j].layer)));
                }
                Head::Dense {
                    node: j,
                    input: net.nodes[j].inputs[0],
                }
            }
            _ if positions => Head::Reduce {
                tensor: t,
                how: reduce.ok_or_else(|| {
                    Error::Input(format!(
                        "output {oname} has {w} positions × {k} tracks; choose how a track's positions make one score per class with --reduce sum|mean|max"
                    ))
                })?,
            },
            _ => Head::Pick { tensor: t },
        };
        if !positions && reduce.is_some() {
            return Err(Error::Input(format!(
                "--reduce applies to heads with positions; output {oname} is already one score per class ({k} values)"
            )));
        }
        let n_classes = match head {
            Head::Dense { node, .. } => match &net.nodes[node].op {
                Layer::Dense(d) => d.units,
                _ => unreachable!(),
            },
            _ => k,
        };
        if !net.descendants(h)[head.input()] {
            return Err(Error::Input(format!(
                "--layer {label}: output {oname} does not depend on H (no path from H leads to it); choose a tensor on the way to {oname}"
            )));
        }
        let nodes = net.between(h, head.input()).map_err(|j| {
            let node = &net.nodes[j];
            let below = net.descendants(h);
            let bypass = node.inputs.iter().find(|&&x| !below[x]).copied();
            Error::Input(format!(
                "--layer {label}: H is not a cut of the graph — layer {} also reads {}, which does not pass through H (a skip connection bypasses it); choose a tensor every path to the output passes through, such as the output of a merge between blocks",
                net.layer_name(node.layer),
                bypass.map_or("the model input".to_string(), |x| tensor_label_engine(net, x))
            ))
        })?;
        let fused_from = match head {
            Head::Dense { input, .. } => fused_tail_start(net, &nodes, input),
            _ => None,
        };
        let residual = super::residual_find::find(
            net,
            &nodes,
            head.input(),
            fused_from.unwrap_or(nodes.len()),
        );
        let needed = super::needed::needed(net, &nodes, head.input());
        Ok(Plan {
            h,
            needed,
            nodes,
            head,
            n_classes,
            fused_from,
            left_out,
            output,
            residual,
        })
    }
}

fn tensor_label(net: &Network, t: usize) -> String {
    if t == 0 {
        "the model input".into()
    } else {
        format!("the output of {}", net.layer_name(t - 1))
    }
}

fn tensor_label_engine(net: &Network, t: usize) -> String {
    if t == 0 {
        "the model input".into()
    } else {
        format!("the output of {}", net.layer_name(net.nodes[t - 1].layer))
    }
}

fn output_list(net: &Network) -> String {
    net.outputs()
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let (k, w) = net.tensor_shape(o.tensor);
            format!("{i}: {} ({k} × {w})", o.name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where the hidden Dense feeding the head (through dropout only, each read
/// by nothing else) starts in `nodes`: those last nodes are the fused tail.
fn fused_tail_start(net: &Network, nodes: &[usize], head_input: usize) -> Option<usize> {
    let readers = |t: usize| {
        nodes
            .iter()
            .filter(|&&j| net.nodes[j].inputs.contains(&t))
            .count()
    };
    let mut t = head_input;
    // The head reads `head_input`; each dropout on the way reads the tensor before it.
    let mut own_readers = 0;
    let mut pos = nodes.len();
    loop {
        if pos == 0 || nodes[pos - 1] + 1 != t || readers(t) != own_readers {
            return None;
        }
        pos -= 1;
        let j = nodes[pos];
        match &net.nodes[j].op {
            Layer::Dropout => t = net.nodes[j].inputs[0],
            Layer::Dense(d) if d.act != Activation::Softmax => return Some(pos),
            // An activation node after a linear Dense (ONNX's Gemm + Relu)
            // fuses as the Dense's own activation would.
            Layer::Act { act, .. } if *act != Activation::Softmax => {
                let x = net.nodes[j].inputs[0];
                let dense = pos.checked_sub(1).filter(|&p| nodes[p] + 1 == x);
                return dense.filter(|&p| {
                    matches!(&net.nodes[nodes[p]].op, Layer::Dense(d) if d.act == Activation::Linear)
                        && readers(x) == 1
                });
            }
            _ => return None,
        }
        own_readers = 1;
    }
}

/// The activation of the fused tail starting at `nodes[from]`: the hidden
/// Dense's own, or that of the activation node after it.
pub(crate) fn fused_activation(net: &Network, nodes: &[usize], from: usize) -> Activation {
    match (
        &net.nodes[nodes[from]].op,
        nodes.get(from + 1).map(|&j| &net.nodes[j].op),
    ) {
        (Layer::Dense(d), Some(Layer::Act { act, .. })) if d.act == Activation::Linear => *act,
        (Layer::Dense(d), _) => d.act,
        _ => Activation::Linear,
    }
}
