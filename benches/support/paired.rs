//! Paired comparisons for the benches. Criterion runs one benchmark after
//! another, and on a shared machine the drift between them can exceed the
//! differences a target is about; alternating two workloads batch by batch
//! exposes both to the same drift.

use std::time::Instant;

/// Alternating batches per paired comparison.
pub const PAIRED_BATCHES: usize = 101;

/// The median over [`PAIRED_BATCHES`] alternating batches of `per_batch`
/// calls of `a`'s time over `b`'s.
pub fn paired_ratio(mut a: impl FnMut(), mut b: impl FnMut(), per_batch: usize) -> f64 {
    let mut ratios: Vec<f64> = (0..PAIRED_BATCHES)
        .map(|_| {
            let start = Instant::now();
            (0..per_batch).for_each(|_| a());
            let a_time = start.elapsed();
            let start = Instant::now();
            (0..per_batch).for_each(|_| b());
            a_time.as_secs_f64() / start.elapsed().as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[PAIRED_BATCHES / 2]
}
