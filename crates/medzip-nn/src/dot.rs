//! The one inner product of the inference layer: `i16 × i16` products
//! summed in `i32` with wrapping adds. Wrapping addition is associative and
//! commutative, so the AVX2 path (`vpmaddwd` + `vpaddd`, lanes summed at the
//! end) and the scalar reference give the same bits whatever the order.

/// Run-time choice of the SIMD path.
pub mod simd {
    use std::sync::atomic::{AtomicU8, Ordering};

    /// 0: not decided yet, 1: scalar reference, 2: AVX2.
    static MODE: AtomicU8 = AtomicU8::new(0);

    /// Whether the AVX2 path is used: when the CPU has it, unless
    /// `MEDZIP_NO_SIMD` is set or [`force_scalar`] was called.
    pub fn enabled() -> bool {
        match MODE.load(Ordering::Relaxed) {
            0 => {
                let on = detect() && std::env::var_os("MEDZIP_NO_SIMD").is_none();
                MODE.store(if on { 2 } else { 1 }, Ordering::Relaxed);
                on
            }
            m => m == 2,
        }
    }

    /// Whether this CPU has the AVX2 path (whatever [`force_scalar`] or
    /// `MEDZIP_NO_SIMD` chose).
    pub fn available() -> bool {
        detect()
    }

    /// For tests comparing the two paths: selects the best available one and
    /// says on stderr when that is the scalar one too (a CPU without AVX2),
    /// so that a comparison of scalar with scalar is not taken for more.
    pub fn force_fast_for_test(test: &str) {
        force_scalar(false);
        if !detect() {
            eprintln!("{test}: this CPU has no AVX2: the scalar path was compared with itself");
        }
        assert_eq!(enabled(), detect());
    }

    /// Forces the scalar path (`true`) or the best available one (`false`).
    pub fn force_scalar(scalar: bool) {
        MODE.store(if scalar || !detect() { 1 } else { 2 }, Ordering::Relaxed);
    }

    fn detect() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx2")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }
}

/// `Σ a[i]·b[i]` over the shorter length, wrapping in `i32`.
#[inline]
pub fn dot(a: &[i16], b: &[i16]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if simd::enabled() {
        // SAFETY: AVX2 was detected at run time.
        return unsafe { dot_avx2(a, b) };
    }
    dot_scalar(a, b)
}

/// Scalar reference.
pub fn dot_scalar(a: &[i16], b: &[i16]) -> i32 {
    a.iter()
        .zip(b)
        .fold(0i32, |s, (&x, &y)| s.wrapping_add(x as i32 * y as i32))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_avx2(a: &[i16], b: &[i16]) -> i32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n, both slices hold at least n elements.
        let (x, y) = unsafe {
            (
                _mm256_loadu_si256(a.as_ptr().add(i) as *const __m256i),
                _mm256_loadu_si256(b.as_ptr().add(i) as *const __m256i),
            )
        };
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
        i += 16;
    }
    let mut lanes = [0i32; 8];
    // SAFETY: `lanes` is 32 bytes.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, acc) };
    let mut s = lanes.iter().fold(0i32, |s, &v| s.wrapping_add(v));
    while i < n {
        s = s.wrapping_add(a[i] as i32 * b[i] as i32);
        i += 1;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 path itself (called directly, not through the process-wide
    /// switch that other tests flip), against the scalar reference.
    #[test]
    fn avx2_equals_scalar_including_wraparound() {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 was detected.
            let fast = |a: &[i16], b: &[i16]| unsafe { dot_avx2(a, b) };
            let mut seed = 11u64;
            let mut next = || {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 40) as i16
            };
            for n in [0, 1, 15, 16, 17, 33, 100, 1153] {
                let a: Vec<i16> = (0..n).map(|_| next()).collect();
                let b: Vec<i16> = (0..n).map(|_| next()).collect();
                assert_eq!(fast(&a, &b), dot_scalar(&a, &b), "n = {n}");
            }
            // Extremes: every product is 2^30; sums wrap identically.
            let a = vec![i16::MIN; 64];
            assert_eq!(fast(&a, &a), dot_scalar(&a, &a));
        }
        let a = vec![i16::MIN; 64];
        assert_eq!(dot_scalar(&a, &a), (64i64 << 30) as i32);
    }
}
