//! Constant evaluation of the ops that build relative positional features
//! (grelu, Enformer): comparisons, Sign, Exp, Log and MatMul. These features
//! depend only on the sequence length, which a model read here fixes, so they
//! fold into constants before the attention that reads them.
use super::tensor::{broadcast_index, broadcast_shape, numel, Const};

/// The most values a folded positional constant may hold (a file could
/// otherwise ask for a broadcast of any size).
const MAX_VALUES: usize = 1 << 26;

fn bounded(dims: &[usize]) -> Result<(), String> {
    let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    match n {
        Some(n) if n <= MAX_VALUES => Ok(()),
        _ => Err(format!(
            "a constant of shape {dims:?} is too large to evaluate"
        )),
    }
}

pub fn fold(op: &str, xs: &[&Const]) -> Result<Const, String> {
    match (op, xs) {
        ("Greater" | "Less", [a, b]) => {
            let out = broadcast_shape(&a.dims, &b.dims)?;
            let (ia, ib) = (
                broadcast_index(&out, &a.dims),
                broadcast_index(&out, &b.dims),
            );
            let (x, y) = (a.to_f32(), b.to_f32());
            let v = ia
                .iter()
                .zip(&ib)
                .map(|(&i, &j)| {
                    let (p, q) = (x[i], y[j]);
                    (if op == "Greater" { p > q } else { p < q }) as i64
                })
                .collect();
            Ok(Const::ints(out, v))
        }
        ("Sign", [a]) => {
            let sign = |v: f32| {
                if v > 0.0 {
                    1.0
                } else if v < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            };
            if a.is_float() {
                Ok(Const::floats(
                    a.dims.clone(),
                    a.to_f32().into_iter().map(sign).collect(),
                ))
            } else {
                Ok(Const::ints(
                    a.dims.clone(),
                    a.to_i64()?.iter().map(|v| v.signum()).collect(),
                ))
            }
        }
        ("Exp" | "Log", [a]) => {
            let f = if op == "Exp" { f32::exp } else { f32::ln };
            Ok(Const::floats(
                a.dims.clone(),
                a.to_f32().into_iter().map(f).collect(),
            ))
        }
        ("MatMul", [a, b]) => matmul(a, b),
        _ => Err(format!(
            "{op} with {} inputs cannot be evaluated on constants",
            xs.len()
        )),
    }
}

/// numpy.matmul on float constants of rank 2 or more (batch axes broadcast).
fn matmul(a: &Const, b: &Const) -> Result<Const, String> {
    let (ra, rb) = (a.dims.len(), b.dims.len());
    if ra < 2 || rb < 2 {
        return Err("MatMul of a vector constant is not supported".into());
    }
    let (n, k) = (a.dims[ra - 2], a.dims[ra - 1]);
    let (k2, m) = (b.dims[rb - 2], b.dims[rb - 1]);
    if k != k2 {
        return Err(format!("MatMul of shapes {:?} and {:?}", a.dims, b.dims));
    }
    let batch = broadcast_shape(&a.dims[..ra - 2], &b.dims[..rb - 2])?;
    let mut dims = batch.clone();
    dims.extend([n, m]);
    bounded(&dims)?;
    let (ia, ib) = (
        broadcast_index(&batch, &a.dims[..ra - 2]),
        broadcast_index(&batch, &b.dims[..rb - 2]),
    );
    let (x, y) = (a.to_f32(), b.to_f32());
    let mut out = vec![0.0f32; numel(&batch) * n * m];
    for (p, (&pa, &pb)) in ia.iter().zip(&ib).enumerate() {
        let (xa, yb) = (
            &x[pa * n * k..(pa + 1) * n * k],
            &y[pb * k * m..(pb + 1) * k * m],
        );
        for i in 0..n {
            for j in 0..m {
                out[(p * n + i) * m + j] = (0..k).map(|t| xa[i * k + t] * yb[t * m + j]).sum();
            }
        }
    }
    Ok(Const::floats(dims, out))
}
