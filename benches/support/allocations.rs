//! Counts heap allocations per thread, so a bench or a test can say how many
//! a piece of work makes: a figure this machine's noise cannot move, unlike
//! times. Shared by `benches/request_path.rs` and `tests/allocations.rs`,
//! each of which installs [`Counting`] as its global allocator.
//!
//! The count is per thread, so parallel tests and runtime threads do not
//! disturb each other's figures, and counting costs a thread-local add, not
//! an atomic one.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: a thread being torn down still allocates, and is not counted.
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

/// The system allocator, counting each thread's allocations.
pub struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator, which
// upholds the `GlobalAlloc` contract; the count lives in a const-initialised
// thread-local, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller's guarantees for `layout` are passed on as they are.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: `ptr` and `layout` come from this allocator, which is `System`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// What `f` returns, and how many allocations (reallocations included) this
/// thread made running it.
pub fn counted<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (out, ALLOCATIONS.with(Cell::get) - before)
}

/// Allocations per call of `f`, over `calls` calls after a first one, so
/// one-time work (a cache fill, a lazy buffer) is not counted.
pub fn per_call(calls: u32, mut f: impl FnMut()) -> f64 {
    f();
    let ((), allocations) = counted(|| (0..calls).for_each(|_| f()));
    allocations as f64 / f64::from(calls)
}
