//! The receptive field of one position of a tensor, from the graph: kernel
//! sizes, dilations, strides, padding, pools, crops and pads. Position p of a
//! tensor reads the model-input positions `p·stride + offset ..
//! p·stride + offset + size` (offset < 0 where "same" padding reaches before
//! the input). And the model cut down to what one position of H needs: the
//! layers that H depends on, on an input exactly one receptive field long,
//! with that position of H as the only output.
use crate::model::{same_pad_left, LayerKind, LayerSpec, ModelSpec, OutputSpec, Padding, TensorId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rf {
    pub stride: i64,
    pub offset: i64,
    pub size: i64,
}

impl Rf {
    /// Positions (in the model input) read by position `p`.
    pub fn start(&self, p: usize) -> i64 {
        p as i64 * self.stride + self.offset
    }
    /// A window of `span` positions of this tensor, `s` apart, `pad` of them
    /// before the first one read.
    fn window(self, span: usize, s: usize, pad: usize) -> Rf {
        Rf {
            stride: self.stride * s as i64,
            offset: self.offset - pad as i64 * self.stride,
            size: self.size + (span as i64 - 1) * self.stride,
        }
    }
    /// Every one of `w` positions made into one.
    fn collapse(self, w: usize) -> Rf {
        let size = self.size + (w as i64 - 1) * self.stride;
        Rf {
            stride: size,
            offset: self.offset,
            size,
        }
    }
}

/// The receptive field of every tensor (index = spec tensor id); an entry is
/// an error where a layer has no window per position (upsampling, joined
/// positions), which matters only for the tensors that depend on it.
pub fn receptive_fields(spec: &ModelSpec) -> Result<Vec<Result<Rf, String>>, String> {
    let shapes = spec
        .shapes()
        .map_err(|(i, m)| format!("layer {}: {m}", spec.layers[i].name))?;
    let mut rf: Vec<Result<Rf, String>> = vec![Ok(Rf {
        stride: 1,
        offset: 0,
        size: 1,
    })];
    for (i, l) in spec.layers.iter().enumerate() {
        let ins: Vec<Result<Rf, String>> = l.inputs.iter().map(|&t| rf[t].clone()).collect();
        let next = match ins.iter().find_map(|r| r.as_ref().err()) {
            Some(e) => Err(e.clone()),
            None => {
                let ins: Vec<Rf> = ins.into_iter().map(|r| r.expect("checked")).collect();
                let (_, w) = shapes[l.inputs[0]];
                layer_rf(l, &ins, w, shapes[i + 1])
            }
        };
        rf.push(next);
    }
    Ok(rf)
}

fn layer_rf(l: &LayerSpec, ins: &[Rf], w: usize, (_, wo): (usize, usize)) -> Result<Rf, String> {
    let r = ins[0];
    let pad = |padding: Padding, span: usize, s: usize| match padding {
        Padding::Valid => 0,
        Padding::Same => same_pad_left(w, span, s),
    };
    Ok(match &l.kind {
        LayerKind::Conv1D {
            kernel_size,
            stride,
            dilation,
            padding,
            ..
        } => {
            let span = dilation * (kernel_size - 1) + 1;
            r.window(span, *stride, pad(*padding, span, *stride))
        }
        LayerKind::MaxPool1D {
            pool,
            stride,
            padding,
        }
        | LayerKind::AvgPool1D {
            pool,
            stride,
            padding,
        } => r.window(*pool, *stride, pad(*padding, *pool, *stride)),
        LayerKind::GlobalMaxPool1D
        | LayerKind::GlobalAvgPool1D
        | LayerKind::Flatten { .. }
        | LayerKind::Dense { .. }
        | LayerKind::PositionMix { .. } => r.collapse(w),
        LayerKind::Reshape { .. } if wo == w => r,
        LayerKind::Reshape { .. } if wo == 1 => r.collapse(w),
        LayerKind::Crop { left, .. } => Rf {
            offset: r.offset + *left as i64 * r.stride,
            ..r
        },
        LayerKind::ZeroPad { left, .. } => Rf {
            offset: r.offset - *left as i64 * r.stride,
            ..r
        },
        LayerKind::Merge(_)
        | LayerKind::Concatenate {
            axis: crate::model::ConcatAxis::Channels,
        } => {
            if ins.iter().any(|x| x.stride != r.stride) {
                return Err(format!(
                    "layer {} joins tensors whose positions step through the input differently",
                    l.name
                ));
            }
            let lo = ins.iter().map(|x| x.offset).min().expect("inputs");
            let hi = ins.iter().map(|x| x.offset + x.size).max().expect("inputs");
            Rf {
                stride: r.stride,
                offset: lo,
                size: hi - lo,
            }
        }
        LayerKind::Activation(_)
        | LayerKind::Dropout
        | LayerKind::BatchNorm { .. }
        | LayerKind::Relu { .. }
        | LayerKind::PRelu { .. }
        | LayerKind::Affine { .. }
        | LayerKind::Pointwise(_)
        | LayerKind::LayerNorm { .. } => r,
        other => {
            return Err(format!(
                "layer {} ({}) has no window of the input per position",
                l.name,
                other.kind_name()
            ));
        }
    })
}

/// The model cut to one position of tensor `h`: its ancestors only, on an
/// input of `width` = `start + rf.size` positions, where the receptive field
/// of position `position` of H starts at input position `start` (≥ 0, the
/// positions before it read by nothing), with an output that is that
/// position of H (a Crop), so its K values are the channels' activations.
#[derive(Debug, Clone)]
pub struct Cut {
    pub spec: ModelSpec,
    pub rf: Rf,
    /// Where the window lies in the cut model's input.
    pub start: usize,
    pub width: usize,
    /// Channels of H.
    pub k: usize,
}

pub fn cut_at(spec: &ModelSpec, h: TensorId) -> Result<Cut, String> {
    let rf = receptive_fields(spec)?[h].clone()?;
    // The ancestors of H, renumbered.
    let mut need = vec![false; h + 1];
    need[h] = true;
    for t in (1..=h).rev() {
        if need[t] {
            for &i in &spec.layers[t - 1].inputs {
                need[i] = true;
            }
        }
    }
    let mut id = vec![usize::MAX; h + 1];
    id[0] = 0;
    let mut layers = Vec::new();
    for t in 1..=h {
        if need[t] {
            let l = &spec.layers[t - 1];
            layers.push(LayerSpec {
                name: l.name.clone(),
                kind: l.kind.clone(),
                inputs: l.inputs.iter().map(|&i| id[i]).collect(),
            });
            id[t] = layers.len();
        }
    }
    let hc = id[h];
    let size = rf.size as usize;
    // "Same" padding depends on a tensor's length, so the cut's own receptive
    // fields decide which of its positions reads a whole window; the input
    // grows until one does.
    let mut why = String::new();
    for width in size..=size + 2 * rf.stride as usize {
        let mut cut = ModelSpec {
            input_channels: spec.input_channels,
            input_width: width,
            layers: layers.clone(),
            outputs: vec![],
            unscorable: Vec::new(),
            tensor_names: vec![],
            class_names: None,
            source: spec.source.clone(),
        };
        let shapes = match cut.shapes() {
            Ok(s) => s,
            Err((i, m)) => {
                why = format!("layer {}: {m}", cut.layers[i].name);
                continue;
            }
        };
        let crf = receptive_fields(&cut)?[hc].clone()?;
        let (k, wh) = shapes[hc];
        let p0 = if crf.offset >= 0 {
            0
        } else {
            (-crf.offset + crf.stride - 1) / crf.stride
        } as usize;
        let start = crf.start(p0);
        if p0 >= wh || start < 0 || start as usize + size > width || crf.size != rf.size {
            why = format!("no position of H reads a whole window of {size}");
            continue;
        }
        cut.layers.push(LayerSpec::new(
            "channels_position",
            LayerKind::Crop {
                left: p0,
                right: wh - p0 - 1,
            },
            vec![hc],
        ));
        cut.outputs = vec![OutputSpec {
            name: "channels_position".into(),
            tensor: cut.layers.len(),
        }];
        return Ok(Cut {
            spec: cut,
            rf,
            start: start as usize,
            width,
            k,
        });
    }
    Err(format!(
        "the model cannot be cut to one receptive field of {size} positions ({why})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Activation, FlattenOrder};

    fn conv(k: usize, f: usize, ks: usize, stride: usize, dil: usize, pad: Padding) -> LayerKind {
        LayerKind::Conv1D {
            filters: f,
            in_channels: k,
            kernel_size: ks,
            stride,
            dilation: dil,
            padding: pad,
            activation: Activation::Relu,
            kernel: vec![0.1; f * k * ks],
            bias: None,
        }
    }

    fn chain(w: usize, kinds: Vec<LayerKind>) -> ModelSpec {
        ModelSpec {
            input_channels: 4,
            input_width: w,
            layers: kinds
                .into_iter()
                .enumerate()
                .map(|(i, k)| LayerSpec::chained(format!("l{i}"), k, i))
                .collect(),
            outputs: vec![],
            unscorable: Vec::new(),
            tensor_names: vec![],
            class_names: None,
            source: "test".into(),
        }
    }

    #[test]
    fn convs_pools_and_dilations_add_up() {
        // DeepSEA's first block: conv 8, pool 4 stride 4, conv 8 → input of the 2nd pool.
        let s = chain(
            100,
            vec![
                conv(4, 3, 8, 1, 1, Padding::Valid),
                LayerKind::MaxPool1D {
                    pool: 4,
                    stride: 4,
                    padding: Padding::Valid,
                },
                conv(3, 2, 8, 1, 2, Padding::Valid),
            ],
        );
        let rf = receptive_fields(&s).unwrap();
        assert_eq!(
            rf[1].clone().unwrap(),
            Rf {
                stride: 1,
                offset: 0,
                size: 8
            }
        );
        assert_eq!(
            rf[2].clone().unwrap(),
            Rf {
                stride: 4,
                offset: 0,
                size: 11
            }
        );
        // Dilation 2, kernel 8: span 15 pooled positions = 14 × 4 more input positions.
        assert_eq!(
            rf[3].clone().unwrap(),
            Rf {
                stride: 4,
                offset: 0,
                size: 11 + 56
            }
        );
        let cut = cut_at(&s, 3).unwrap();
        assert_eq!((cut.start, cut.width, cut.k), (0, 67, 2));
    }

    /// LayerNorm works per position (its window is the input's); a recurrent
    /// layer reads every position before it, so it has no window.
    #[test]
    fn layer_norm_keeps_the_window_and_a_recurrent_layer_has_none() {
        let ln = LayerKind::LayerNorm {
            gamma: vec![1.0; 3],
            beta: vec![0.0; 3],
            eps: 1e-3,
        };
        let lstm = LayerKind::Lstm {
            units: 2,
            in_channels: 3,
            reverse: false,
            return_sequences: true,
            kernel: vec![0.1; 8 * 3],
            recurrent: vec![0.1; 8 * 2],
            bias: vec![0.0; 8],
        };
        let s = chain(20, vec![conv(4, 3, 5, 1, 1, Padding::Valid), ln, lstm]);
        let rf = receptive_fields(&s).unwrap();
        assert_eq!(rf[2], rf[1]);
        assert!(rf[3].clone().unwrap_err().contains("lstm"));
    }

    #[test]
    fn same_padding_starts_before_the_input_and_the_cut_keeps_one_position() {
        let s = chain(
            50,
            vec![
                conv(4, 3, 5, 1, 1, Padding::Same),
                conv(3, 2, 3, 2, 1, Padding::Same),
                LayerKind::Flatten {
                    order: FlattenOrder::ChannelMajor,
                },
            ],
        );
        let rf = receptive_fields(&s).unwrap();
        assert_eq!(
            rf[1].clone().unwrap(),
            Rf {
                stride: 1,
                offset: -2,
                size: 5
            }
        );
        // Stride 2 "same" on 50: out 25, total pad (24·2 + 3 − 50) = 1, left 0.
        assert_eq!(
            rf[2].clone().unwrap(),
            Rf {
                stride: 2,
                offset: -2,
                size: 7
            }
        );
        let cut = cut_at(&s, 2).unwrap();
        // Position 1 starts at 0.
        // On 7 positions the stride-2 conv pads 1 on the left and no position fits; on 8 it pads 0.
        assert_eq!((cut.start, cut.width), (0, 8));
        assert_eq!(cut.spec.shapes().unwrap().last().copied(), Some((2, 1)));
        // Flatten collapses all 25 positions.
        assert_eq!(rf[3].clone().unwrap().size, 7 + 24 * 2);
        let up = chain(10, vec![LayerKind::UpSample { size: 2 }]);
        assert!(cut_at(&up, 1).is_err());
    }
}
