//! Random starting maps. The start of restart t of class c depends on
//! (seed, c, t) alone: ChaCha8 keyed by the seed, with stream (c << 32) | t,
//! so neither the rank count nor the class selection changes it.
use super::params::Init;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// K·W values drawn from N(0, 1), channel-major (channel k, position p at k·W + p).
pub fn initial_map(seed: u64, class: usize, restart: usize, len: usize) -> Vec<f32> {
    start_map(Init::Normal, seed, class, restart, len)
}

/// K·W values from N(0, 1) or U[0, 1), channel-major, keyed as [`initial_map`].
pub fn start_map(init: Init, seed: u64, class: usize, restart: usize, len: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((class as u64) << 32) | restart as u64);
    match init {
        Init::Normal => (0..len).map(|_| StandardNormal.sample(&mut rng)).collect(),
        Init::Uniform => (0..len).map(|_| rng.random::<f32>()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn same_key_same_map_other_key_other_map() {
        let a = initial_map(0, 3, 7, 100);
        assert_eq!(a, initial_map(0, 3, 7, 100));
        assert_ne!(a, initial_map(0, 3, 8, 100));
        assert_ne!(a, initial_map(0, 4, 7, 100));
        assert_ne!(a, initial_map(1, 3, 7, 100));
        let mean: f32 = a.iter().sum::<f32>() / 100.0;
        let var: f32 = a.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / 100.0;
        assert!(
            mean.abs() < 0.35 && (0.6..1.5).contains(&var),
            "not N(0,1): mean {mean}, var {var}"
        );
    }

    #[test]
    fn uniform_starts_lie_in_zero_one() {
        let a = start_map(Init::Uniform, 0, 3, 7, 1000);
        assert!(a.iter().all(|&v| (0.0..1.0).contains(&v)));
        let mean: f32 = a.iter().sum::<f32>() / 1000.0;
        assert!((mean - 0.5).abs() < 0.05, "mean {mean}");
        assert_ne!(a, start_map(Init::Uniform, 0, 3, 8, 1000));
    }
}
