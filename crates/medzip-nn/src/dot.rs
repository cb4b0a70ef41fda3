//! The one inner product of the inference layer: `i16 × i16` products
//! summed in `i32` with wrapping adds. Wrapping addition is associative and
//! commutative, so the AVX2 path (`vpmaddwd` + `vpaddd`, lanes summed at the
//! end) and the scalar reference give the same bits whatever the order.

/// Which instructions the integer kernels run. The bits are the same on
/// either path (integer sums are exact in any order; tests compare them),
/// so this is a speed choice, made per call, never a process-wide switch.
pub mod simd {
    use std::sync::OnceLock;

    /// The instruction set the integer kernels use.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub enum Simd {
        /// AVX2 where the CPU has it, unless the environment variable
        /// `MEDZIP_NO_SIMD` is set (read once per process).
        #[default]
        Auto,
        /// The scalar reference only.
        Scalar,
    }

    impl Simd {
        /// Whether the AVX2 path runs.
        pub fn avx2(self) -> bool {
            self == Simd::Auto && auto()
        }

        /// For tests comparing the two paths: says on stderr when `Auto`
        /// is the scalar path too (a CPU without AVX2, or `MEDZIP_NO_SIMD`),
        /// so that a comparison of scalar with scalar is not taken for
        /// more.
        pub fn note_if_scalar_only(test: &str) {
            if !Simd::Auto.avx2() {
                eprintln!("{test}: no AVX2 path here: the scalar path was compared with itself");
            }
        }
    }

    /// The `Auto` choice: the CPU's features and the environment, looked
    /// up once (an immutable cache, not a switch).
    fn auto() -> bool {
        static AUTO: OnceLock<bool> = OnceLock::new();
        *AUTO.get_or_init(|| available() && std::env::var_os("MEDZIP_NO_SIMD").is_none())
    }

    /// Whether `Simd::Auto` uses the AVX2 path.
    pub fn enabled() -> bool {
        Simd::Auto.avx2()
    }

    /// Whether this CPU has the AVX2 path (whatever `MEDZIP_NO_SIMD` says).
    pub fn available() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("bmi1")
                && std::arch::is_x86_feature_detected!("bmi2")
                && std::arch::is_x86_feature_detected!("lzcnt")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }
}

/// `Σ a[i]·b[i]` over the shorter length, wrapping in `i32` (the AVX2 path
/// when `avx2`, which must come from [`simd::Simd::avx2`]).
#[inline]
pub fn dot(avx2: bool, a: &[i16], b: &[i16]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if avx2 && simd::available() {
        // SAFETY: AVX2 was detected at run time.
        return unsafe { dot_avx2(a, b) };
    }
    let _ = avx2;
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

    /// The AVX2 path itself (called directly), against the scalar
    /// reference.
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
