//! The one place that calls BLAS. Row-major, single precision.
use cblas_sys::{cblas_sdot, cblas_sgemm, CBLAS_LAYOUT, CBLAS_TRANSPOSE};

fn tr(t: bool) -> CBLAS_TRANSPOSE {
    if t {
        CBLAS_TRANSPOSE::CblasTrans
    } else {
        CBLAS_TRANSPOSE::CblasNoTrans
    }
}

/// C[m×n] = alpha · op(A) · op(B) + beta · C, all row-major.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    ta: bool,
    tb: bool,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    // Bounds are checked here so the unsafe call below cannot read or write out of range.
    let (ar, ac) = if ta { (k, m) } else { (m, k) };
    let (br, bc) = if tb { (n, k) } else { (k, n) };
    assert!(
        lda >= ac.max(1) && a.len() >= (ar - 1) * lda + ac,
        "sgemm: A too small"
    );
    assert!(
        ldb >= bc.max(1) && b.len() >= (br - 1) * ldb + bc,
        "sgemm: B too small"
    );
    assert!(
        ldc >= n && c.len() >= (m - 1) * ldc + n,
        "sgemm: C too small"
    );
    unsafe {
        cblas_sgemm(
            CBLAS_LAYOUT::CblasRowMajor,
            tr(ta),
            tr(tb),
            m as i32,
            n as i32,
            k as i32,
            alpha,
            a.as_ptr(),
            lda as i32,
            b.as_ptr(),
            ldb as i32,
            beta,
            c.as_mut_ptr(),
            ldc as i32,
        )
    }
}

pub fn sdot(x: &[f32], y: &[f32]) -> f32 {
    assert_eq!(x.len(), y.len());
    unsafe { cblas_sdot(x.len() as i32, x.as_ptr(), 1, y.as_ptr(), 1) }
}

/// y = alpha · op(A) · x + beta · y with A (m × n) row-major: a matrix-vector
/// product streams A once without packing it, which is what a batch of one needs.
#[allow(clippy::too_many_arguments)]
pub fn sgemv(
    ta: bool,
    m: usize,
    n: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    x: &[f32],
    beta: f32,
    y: &mut [f32],
) {
    if m == 0 || n == 0 {
        return;
    }
    let (xl, yl) = if ta { (m, n) } else { (n, m) };
    assert!(
        lda >= n && a.len() >= (m - 1) * lda + n,
        "sgemv: A too small"
    );
    assert!(x.len() >= xl && y.len() >= yl, "sgemv: x or y too small");
    unsafe {
        cblas_sys::cblas_sgemv(
            CBLAS_LAYOUT::CblasRowMajor,
            tr(ta),
            m as i32,
            n as i32,
            alpha,
            a.as_ptr(),
            lda as i32,
            x.as_ptr(),
            1,
            beta,
            y.as_mut_ptr(),
            1,
        )
    }
}
