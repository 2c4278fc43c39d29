//! Keras 3 functional code that calls ops on tensors, which the saved graph
//! records as layers of the op's class (tests/fixtures/keras,
//! make_ops_fixtures.py): arithmetic with numbers (x * 2.0, 1.0 - x, x / 4,
//! x + 0.5), keras.ops.sum and keras.ops.mean over the positions, and a gate
//! of a map by a per-channel vector. From both Keras 3 writers, our scores
//! and dS_c/dH equal jax's (1e-4, 1e-3).
mod common;
use common::against_reference::compare_with_reference;
use common::fixture;

#[test]
fn keras_ops_with_numbers_sums_and_gates_match_jax() {
    for file in ["keras_ops.keras", "keras_ops.h5"] {
        compare_with_reference(
            &fixture(&format!("keras/{file}")),
            &fixture("keras/reference_ops.h5"),
            "keras_ops",
        );
    }
}
