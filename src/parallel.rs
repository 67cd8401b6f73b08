//! Work split over the trainer's compute threads.
//!
//! A step runs on the calling thread alone, or inside a rayon pool of two threads
//! ([`ComputePool`]); the helpers here split work only inside such a pool and
//! otherwise run it in order on the calling thread (outside a pool, `rayon::join`
//! would hand the work to rayon's global pool and wait for it). Every split is of
//! independent pieces (a product's halves of rows, one layer's probe, one
//! parameter's update), so the numbers are the same however many threads there are.

use std::sync::Arc;

/// True on a thread of a rayon pool with more than one thread.
pub fn splitting() -> bool {
    rayon::current_thread_index().is_some() && rayon::current_num_threads() > 1
}

/// `(a(), b())`, side by side inside a pool of two.
pub fn both<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if splitting() {
        rayon::join(a, b)
    } else {
        (a(), b())
    }
}

/// `f` of every item, in order, spread over the pool's threads inside a pool.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    use rayon::prelude::*;
    if splitting() {
        items.par_iter().map(f).collect()
    } else {
        items.iter().map(f).collect()
    }
}

/// `f(0..len)`, computed inside a pool as `f(0..len/2)` and `f(len/2..len)` side by
/// side and joined, when `len` is at least `min_len`; `f` must give one value per
/// index of its range, each depending on its own index only.
pub fn by_halves<T: Send>(
    len: usize,
    min_len: usize,
    f: impl Fn(std::ops::Range<usize>) -> Vec<T> + Sync + Send,
) -> Vec<T> {
    if !splitting() || len < min_len.max(2) {
        return f(0..len);
    }
    let mid = len / 2;
    let (mut first, second) = rayon::join(|| f(0..mid), || f(mid..len));
    first.extend(second);
    first
}

/// The threads a trainer steps on: its own, or a pool of two.
#[derive(Clone, Debug, Default)]
pub struct ComputePool {
    pool: Option<Arc<rayon::ThreadPool>>,
}

impl ComputePool {
    /// The calling thread alone.
    pub fn single() -> Self {
        Self::default()
    }

    /// The process's pool of two threads, started on first use, on a machine with two
    /// or more cores; the calling thread alone on one with a single core.
    pub fn shared() -> Self {
        static SHARED: std::sync::OnceLock<ComputePool> = std::sync::OnceLock::new();
        SHARED
            .get_or_init(|| {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                Self::with_threads(cores.min(2))
            })
            .clone()
    }

    /// A pool of `threads` (two or more), or the calling thread alone when fewer are
    /// asked for or the threads cannot be started.
    pub fn with_threads(threads: usize) -> Self {
        if threads < 2 {
            return Self::single();
        }
        match rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("gradlab-compute-{i}"))
            .build()
        {
            Ok(pool) => Self {
                pool: Some(Arc::new(pool)),
            },
            Err(err) => {
                log::warn!("training on one thread: {err}");
                Self::single()
            }
        }
    }

    /// How many threads a step runs on.
    pub fn threads(&self) -> usize {
        self.pool.as_ref().map_or(1, |p| p.current_num_threads())
    }

    /// Runs `f` on the pool (the calling thread waits), or here.
    pub fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(pool) => pool.install(f),
            None => f(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_only_inside_a_pool_and_keeps_order() {
        let items: Vec<u64> = (0..1000).collect();
        let square = |x: &u64| (x * x, rayon::current_thread_index());
        // Here: in order, on this thread.
        let here = map(&items, square);
        assert!(here.iter().all(|(_, thread)| thread.is_none()));
        let pool = ComputePool::with_threads(2);
        assert_eq!(pool.threads(), 2);
        let pooled = pool.run(|| map(&items, square));
        assert!(pooled.iter().all(|(_, thread)| thread.is_some()));
        let values = |v: &[(u64, Option<usize>)]| v.iter().map(|p| p.0).collect::<Vec<_>>();
        assert_eq!(values(&here), values(&pooled));
        assert_eq!(values(&here)[999], 999 * 999);
        let (a, b) = pool.run(|| both(|| 2 + 2, || "four"));
        assert_eq!((a, b), (4, "four"));
        let squares = |r: std::ops::Range<usize>| r.map(|i| i * i).collect::<Vec<_>>();
        let whole = squares(0..1001);
        assert_eq!(pool.run(|| by_halves(1001, 10, squares)), whole);
        assert_eq!(by_halves(1001, 10, squares), whole);
        assert_eq!(ComputePool::with_threads(1).threads(), 1);
    }
}
