//! The lane runner against the method itself (docs/SPEC.md, method step 1),
//! without MPI or files: on a linear head S = w·H + b the ascent has a closed
//! form, and a refilled batch must not change any item's map.
mod common;
use common::Builder;
use deepresolve_mpi::ascent::{initial_map, items, run_lane, AscentParams, ItemResult};
use deepresolve_mpi::model::{Activation, LayerKind, ModelSpec};
use deepresolve_mpi::network::{Network, Scorer};

/// One Dense layer without activation on an N-value input: H is its input and
/// S_c(H) = w_c·H + b_c.
fn linear_head(n: usize, classes: usize) -> ModelSpec {
    let mut b = Builder::new(11, n, 1);
    b.dense(classes, Activation::Linear);
    b.spec
}

fn row(spec: &ModelSpec, c: usize) -> Vec<f32> {
    let LayerKind::Dense {
        kernel,
        in_features,
        ..
    } = &spec.layers[0].kind
    else {
        unreachable!()
    };
    kernel[c * in_features..(c + 1) * in_features].to_vec()
}

fn run(
    net: &Network,
    capacity: usize,
    lane: &[deepresolve_mpi::ascent::Item],
    p: &AscentParams,
) -> Vec<ItemResult> {
    let mut scorer = Scorer::new(net, 0, capacity).unwrap();
    let k = net.input_shape(0).0;
    run_lane(&mut scorer, lane, &p.check().unwrap(), (k, 1), &mut |_| {
        Ok(())
    })
    .unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .fold(0.0, f64::max)
}

#[test]
fn a_linear_head_reaches_w_over_2_lambda_at_the_closed_form_rate() {
    // ∂/∂H (w·H + b − λ‖H‖²) = w − 2λH, so H* = w / (2λ), and a fixed-lr step
    // H ← H + lr·(w − 2λH) shrinks H − H* by exactly (1 − 2λ·lr).
    let (n, lambda, lr) = (6usize, 0.5f32, 0.2f32);
    let spec = linear_head(n, 2);
    let w = row(&spec, 1);
    let net = Network::from_spec(spec).unwrap();
    let target: Vec<f32> = w.iter().map(|v| v / (2.0 * lambda)).collect();
    let lane = &items(&[1], 1)[..];
    let h0 = initial_map(0, 1, 0, n);
    let e0 = max_abs_diff(&h0, &target);
    let rate = 1.0 - 2.0 * lambda as f64 * lr as f64;
    let tol = 1e-3;
    let predicted = ((tol / e0).ln() / rate.ln()).ceil() as usize;
    // No decay, no patience stop: exactly `steps` updates, and the objective
    // rises at every one of them, so the best map is the last.
    let fixed = |steps: usize| {
        AscentParams::new()
            .lambda(lambda)
            .lr(lr)
            .decay_start(100_000)
            .patience(100_000)
            .max_steps(steps)
    };

    let r = &run(&net, 1, lane, &fixed(predicted))[0];
    assert_eq!(r.steps as usize, predicted);
    let err = max_abs_diff(&r.fim, &target);
    assert!(
        err <= tol,
        "after the predicted {predicted} steps |H − H*| = {err}"
    );
    // Every element follows the closed form H* + (1 − 2λ·lr)^n (H0 − H*).
    let closed: Vec<f32> = h0
        .iter()
        .zip(&target)
        .map(|(&a, &t)| (t as f64 + rate.powi(predicted as i32) * (a - t) as f64) as f32)
        .collect();
    let dev = max_abs_diff(&r.fim, &closed);
    assert!(dev < 1e-5, "off the closed form by {dev}");

    // Not faster than predicted: half the steps leave the error well above tol.
    let half = &run(&net, 1, lane, &fixed(predicted / 2))[0];
    assert!(max_abs_diff(&half.fim, &target) > 10.0 * tol);

    // With the default stopping rule it converges at H* and stops by patience,
    // not by the step cap.
    let p = AscentParams::new().lambda(lambda).lr(lr);
    let r = &run(&net, 1, lane, &p)[0];
    eprintln!(
        "e0 {e0:.3}, predicted {predicted} steps; default rule: {} steps, |H − H*| = {:.2e}",
        r.steps,
        max_abs_diff(&r.fim, &target)
    );
    assert!(r.converged, "stopped after {} steps unconverged", r.steps);
    assert!(max_abs_diff(&r.fim, &target) <= 10.0 * tol);
    assert!((r.steps as usize) >= predicted, "{} < {predicted}", r.steps);
}

#[test]
fn a_refilled_batch_gives_every_item_the_map_it_gets_alone() {
    let n = 5;
    let spec = linear_head(n, 4);
    let net = Network::from_spec(spec).unwrap();
    // Items of different classes stop at different steps, so slots empty out
    // and are refilled from the lane in the middle of the batch.
    let lane = items(&[0, 1, 2, 3], 3);
    let p = AscentParams::new().lr(0.05).patience(3).seed(9);
    let batched = run(&net, 4, &lane, &p);
    assert_eq!(batched.len(), lane.len());
    let steps: std::collections::BTreeSet<u32> = batched.iter().map(|r| r.steps).collect();
    eprintln!("steps of the batched items: {steps:?}");
    assert!(
        steps.len() > 1,
        "every item stopped at the same step: no refill tested"
    );
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for item in &lane {
        let alone = &run(&net, 1, std::slice::from_ref(item), &p)[0];
        let b = batched.iter().find(|r| r.item == *item).unwrap();
        assert_eq!(bits(&b.fim), bits(&alone.fim), "{item:?}");
        assert_eq!(bits(&b.fiv), bits(&alone.fiv), "{item:?}");
        assert_eq!(
            (b.steps, b.converged),
            (alone.steps, alone.converged),
            "{item:?}"
        );
        assert!((b.score - alone.score).abs() <= 1e-6 * alone.score.abs().max(1.0));
    }
}

#[test]
fn keep_final_returns_the_last_iterate_and_uniform_starts_lie_in_0_1() {
    use deepresolve_mpi::ascent::{start_map, Init, Keep};
    // lr so large that each step overshoots: H_t − H* = (1 − 2λ·lr)^t (H_0 − H*)
    // with |1 − 2λ·lr| = 1.5, so the objective falls at every step and the
    // best map is the start, the final one H_3.
    let (n, lambda, lr, steps) = (5usize, 0.5f32, 2.5f32, 3usize);
    let spec = linear_head(n, 2);
    let w = row(&spec, 0);
    let LayerKind::Dense { bias, .. } = &spec.layers[0].kind else {
        unreachable!()
    };
    let b0 = bias.as_ref().unwrap()[0];
    let net = Network::from_spec(spec.clone()).unwrap();
    let lane = &items(&[0], 1)[..];
    let p = |init, keep| {
        AscentParams::new()
            .lambda(lambda)
            .lr(lr)
            .decay_start(100_000)
            .patience(100_000)
            .max_steps(steps)
            .init(init)
            .keep(keep)
    };
    for init in [Init::Normal, Init::Uniform] {
        let h0 = start_map(init, 0, 0, 0, n);
        let best = &run(&net, 1, lane, &p(init, Keep::Best))[0];
        assert_eq!(best.fim, h0, "{init:?}: the best map is the start");
        if init == Init::Uniform {
            assert!(h0.iter().all(|v| (0.0..1.0).contains(v)), "{h0:?}");
        }
        let fin = &run(&net, 1, lane, &p(init, Keep::Final))[0];
        let rate = 1.0 - 2.0 * lambda as f64 * lr as f64;
        let want: Vec<f32> = h0
            .iter()
            .zip(&w)
            .map(|(&h, &wk)| {
                let star = wk as f64 / (2.0 * lambda as f64);
                (star + rate.powi(steps as i32) * (h as f64 - star)) as f32
            })
            .collect();
        assert!(
            max_abs_diff(&fin.fim, &want) < 1e-4,
            "{init:?}: {:?} vs {want:?}",
            fin.fim
        );
        let score: f32 = want.iter().zip(&w).map(|(a, b)| a * b).sum::<f32>() + b0;
        assert!(
            (fin.score - score).abs() < 1e-3 * score.abs().max(1.0),
            "{} vs {score}",
            fin.score
        );
        assert_ne!(fin.fim, best.fim);
    }
}
