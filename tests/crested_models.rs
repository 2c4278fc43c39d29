//! CREsted's model zoo (Keras 3 `.keras` archives made by CREsted's own
//! builders, tests/fixtures/crested/make_crested_fixtures.py): our scorer at
//! Keras's H maps gives Keras's scores before the final activation (rel.
//! err < 1e-4) and its autograd dS_c/dH (1e-3); one model `run`s under MPI,
//! its stored scores equal to the scorer's at the stored maps, and the same
//! bits on 1, 2 and 3 ranks.
mod common;
use common::against_reference::{compare_with_reference, network_at_layer, short_run};
use common::fixture;
use deepresolve_mpi::network::{layout, Scorer};

fn compare(name: &str) {
    compare_with_reference(
        &fixture(&format!("crested/{name}.keras")),
        &fixture("crested/reference.h5"),
        name,
    );
}

#[test]
fn deeptopic_cnn_matches_keras() {
    compare("deeptopic_cnn");
}

/// TimeDistributed(Dense) and a bidirectional LSTM in nested archive groups.
#[test]
fn deeptopic_lstm_matches_keras() {
    compare("deeptopic_lstm");
}

/// BPNet-style dilated residual tower with crops and batch norm.
#[test]
fn dilated_cnn_matches_keras() {
    compare("dilated_cnn");
}

/// One Dense(1, softplus) head per class joined by a Concatenate: scored
/// before each head's softplus, as a single head would be.
#[test]
fn dilated_cnn_decoupled_scores_before_its_heads_softplus() {
    compare("dilated_cnn_decoupled");
}

#[test]
fn simple_convnet_matches_keras() {
    compare("simple_convnet");
}

/// LegNet: depthwise convolutions (Keras `groups`) and squeeze-and-excitation
/// gates (`keras.ops.mean`, Multiply of a map by a per-channel vector).
#[test]
fn legnet_matches_keras() {
    compare("legnet");
}

/// Enformer: CREsted's MultiheadAttention with Enformer's relative
/// positions (exponential, central-mask and gamma features), attention
/// pooling, the sigmoid GELU; a track head summed over its positions.
#[test]
fn enformer_matches_keras() {
    compare("enformer");
    // The legacy .h5 writer: class names "crested>…", weights in weight_names order.
    compare_with_reference(
        &fixture("crested/enformer.h5"),
        &fixture("crested/reference.h5"),
        "enformer",
    );
}

/// Borzoi: Borzoi's central-mask positions, separable convolutions, the
/// U-net's upsampling and skips.
#[test]
fn borzoi_matches_keras() {
    compare("borzoi");
}

/// Basenji's pre-activation residual blocks (batch norm → GELU → conv).
#[test]
fn basenji_matches_keras() {
    compare("basenji");
}

/// CREsted's registered activations (`crested>gelu_enf`: x·σ(1.702x);
/// `crested>gelu_approx`: the tanh GELU).
#[test]
fn basenji_with_crested_gelus_matches_keras() {
    compare("basenji_gelus");
}

#[test]
fn a_crested_model_runs_with_the_same_bits_on_any_rank_count() {
    let (model, layer) = (fixture("crested/dilated_cnn.keras"), "bpnet_1conv");
    let (fim, score, shape) = short_run(&model, layer, &[], 2);
    let (t_n, k, w) = (shape[1], shape[2], shape[3]);
    let items = shape[0] * t_n;
    let (net, plan) = network_at_layer(&model, layer, None);
    let mut sc = Scorer::with_plan(&net, plan, 1);
    let maps = layout::to_position_major(&fim, items, k, w);
    for i in 0..items {
        let (mut s, mut g) = (vec![0.0], vec![0.0; k * w]);
        sc.score_grad(&maps[i * k * w..][..k * w], &[i / t_n], &mut s, &mut g);
        assert!(
            (score[i] - s[0]).abs() <= 1e-4 * s[0].abs().max(1e-2),
            "item {i}: stored {} vs scorer {}",
            score[i],
            s[0]
        );
    }
    for ranks in [1, 3] {
        let (f, s, _) = short_run(&model, layer, &[], ranks);
        assert!(f == fim && s == score, "{ranks} and 2 ranks differ");
    }
}
