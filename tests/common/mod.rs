//! Builders of small random models for the engine tests.
#![allow(dead_code)]
use deepresolve_mpi::model::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub struct Builder {
    pub rng: ChaCha8Rng,
    pub shape: (usize, usize),
    pub spec: ModelSpec,
}

impl Builder {
    pub fn new(seed: u64, k: usize, w: usize) -> Self {
        Builder {
            rng: ChaCha8Rng::seed_from_u64(seed),
            shape: (k, w),
            spec: ModelSpec {
                input_channels: k,
                input_width: w,
                layers: vec![],
                class_names: None,
                source: "test".into(),
            },
        }
    }
    pub fn rand(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| (self.rng.random::<f32>() * 2.0 - 1.0) * scale).collect()
    }
    pub fn push(&mut self, kind: LayerKind) -> &mut Self {
        let name = format!("l{}", self.spec.layers.len());
        self.shape = kind.output_shape(self.shape).expect("test model shape");
        self.spec.layers.push(LayerSpec { name, kind });
        self
    }
    #[allow(clippy::too_many_arguments)]
    pub fn conv(&mut self, f: usize, ks: usize, stride: usize, dil: usize, pad: Padding, act: Activation) -> &mut Self {
        let k = self.shape.0;
        let scale = 1.0 / ((k * ks) as f32).sqrt() * 1.5;
        let kernel = self.rand(f * k * ks, scale);
        let bias = Some(self.rand(f, 0.3));
        self.push(LayerKind::Conv1D {
            filters: f,
            in_channels: k,
            kernel_size: ks,
            stride,
            dilation: dil,
            padding: pad,
            activation: act,
            kernel,
            bias,
        })
    }
    pub fn dense(&mut self, units: usize, act: Activation) -> &mut Self {
        let n = self.shape.0;
        let kernel = self.rand(units * n, 1.5 / (n as f32).sqrt());
        let bias = Some(self.rand(units, 0.3));
        self.push(LayerKind::Dense { units, in_features: n, activation: act, kernel, bias })
    }
    pub fn pool(&mut self, pool: usize, stride: usize, pad: Padding) -> &mut Self {
        self.push(LayerKind::MaxPool1D { pool, stride, padding: pad })
    }
    pub fn flatten(&mut self, order: FlattenOrder) -> &mut Self {
        self.push(LayerKind::Flatten { order })
    }
    pub fn act(&mut self, a: Activation) -> &mut Self {
        self.push(LayerKind::Activation(a))
    }
    pub fn batchnorm(&mut self) -> &mut Self {
        let k = self.shape.0;
        let gamma = self.rand(k, 1.0).iter().map(|v| v + 1.5).collect();
        let beta = self.rand(k, 0.5);
        let mean = self.rand(k, 0.5);
        let var = self.rand(k, 0.5).iter().map(|v| v + 1.0).collect();
        self.push(LayerKind::BatchNorm { gamma, beta, mean, var, eps: 1e-3 })
    }
    pub fn build(&self) -> ModelSpec {
        self.spec.clone()
    }
}

/// The DeepSEA shape at toy size: conv → pool → conv → pool → conv → flatten → dense → dense → sigmoid.
pub fn deepsea_like(seed: u64) -> ModelSpec {
    let mut b = Builder::new(seed, 4, 60);
    b.conv(8, 5, 1, 1, Padding::Valid, Activation::Relu)
        .pool(4, 4, Padding::Valid)
        .conv(12, 3, 1, 1, Padding::Valid, Activation::Relu)
        .pool(2, 2, Padding::Valid)
        .conv(10, 2, 1, 1, Padding::Valid, Activation::Relu)
        .act(Activation::Linear)
        .push(LayerKind::Dropout)
        .flatten(FlattenOrder::ChannelMajor)
        .dense(16, Activation::Relu)
        .dense(5, Activation::Linear)
        .act(Activation::Sigmoid);
    b.build()
}
