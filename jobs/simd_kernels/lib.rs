//! The small-batch kernels as a no_std shared library (see build.sh): fwd/bwd
//! take the path (512: AVX-512, else AVX2) and raw pointers, for ctypes.
#![no_std]
extern crate alloc;
use core::alloc::{GlobalAlloc, Layout};
extern "C" { fn malloc(n: usize) -> *mut u8; fn free(p: *mut u8); fn abort() -> !; }
struct A;
unsafe impl GlobalAlloc for A {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 { malloc(l.size().max(l.align())) }
    unsafe fn dealloc(&self, p: *mut u8, _l: Layout) { free(p) }
}
#[global_allocator]
static G: A = A;
#[panic_handler]
fn ph(_: &core::panic::PanicInfo) -> ! { unsafe { abort() } }
#[path = "simd_stub.rs"] mod simd;
#[allow(dead_code)] #[path = "skinny.rs"] mod skinny;
use simd::SimdPath;
fn p(path: i32) -> SimdPath { if path == 512 { SimdPath::Avx512 } else { SimdPath::Avx2 } }
static mut BUF: alloc::vec::Vec<f32> = alloc::vec::Vec::new();
#[no_mangle] pub unsafe extern "C" fn fwd(path: i32, w: *const f32, units: usize, n_in: usize, x: *const f32, b: usize, y: *mut f32) {
    let w = core::slice::from_raw_parts(w, units * n_in); let x = core::slice::from_raw_parts(x, b * n_in); let y = core::slice::from_raw_parts_mut(y, b * units);
    skinny::forward_on(p(path), w, units, n_in, x, b, y, &mut *core::ptr::addr_of_mut!(BUF));
}
#[no_mangle] pub unsafe extern "C" fn bwd(path: i32, w: *const f32, units: usize, n_in: usize, g: *const f32, b: usize, dx: *mut f32) {
    let w = core::slice::from_raw_parts(w, units * n_in); let g = core::slice::from_raw_parts(g, b * units); let dx = core::slice::from_raw_parts_mut(dx, b * n_in);
    skinny::backward_on(p(path), w, units, n_in, g, b, dx);
}
