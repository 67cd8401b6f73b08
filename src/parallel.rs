//! Work split over the trainer's compute threads.
//!
//! A step runs on the calling thread alone, or inside a rayon pool of two threads
//! ([`ComputePool`]); the helpers here split work only inside such a pool and
//! otherwise run it in order on the calling thread (outside a pool, `rayon::join`
//! would hand the work to rayon's global pool and wait for it). Every split is of
//! independent pieces (a product's halves of rows, one layer's probe, one
//! parameter's update), so the numbers are the same however many threads there are.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Element-wise passes over fewer values than this stay on one thread.
pub const ELEMENTWISE_SPLIT: usize = 1 << 14;

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
        join_polling(a, b)
    } else {
        (a(), b())
    }
}

/// `rayon::join`, except that the calling thread waits for `b` by polling instead of
/// sleeping. A step hands work over about 150 times; a rayon thread that falls asleep
/// between hand-overs must be woken by the kernel, and on a virtual machine waking an
/// idle virtual CPU took as long as the piece of work itself.
fn join_polling<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    let second = Mutex::new(None);
    let done = AtomicBool::new(false);
    let first = rayon::scope(|scope| {
        scope.spawn(|_| {
            // Set also when `b` panics; the scope then ends with that panic.
            let _done = Done(&done);
            let value = b();
            if let Ok(mut slot) = second.lock() {
                *slot = Some(value);
            }
        });
        let first = a();
        // `b` runs here if no other thread has taken it.
        poll_until(|| done.load(Ordering::Acquire));
        first
    });
    match second.into_inner() {
        Ok(Some(second)) => (first, second),
        // The job ran to its end before the scope returned, and only it locks.
        _ => unreachable!("a finished scope's job left no value"),
    }
}

/// Sets its flag when dropped: when the work it guards returns or panics.
struct Done<'a>(&'a AtomicBool);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs waiting pieces of the pool's work, or spins, until `done`; lets other
/// processes have the core now and then while there is nothing to run.
fn poll_until(done: impl Fn() -> bool) {
    let mut idle = 0u32;
    while !done() {
        if rayon::yield_now() == Some(rayon::Yield::Executed) {
            idle = 0;
        } else {
            idle += 1;
            if idle.is_multiple_of(64) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
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
    let (mut first, second) = join_polling(|| f(0..mid), || f(mid..len));
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
            Some(pool) => pool.install(|| keeping_threads_awake(f)),
            None => f(),
        }
    }
}

/// Runs `f` on this pool thread while another thread of the pool polls for the pieces
/// it hands over (see [`join_polling`]), until `f` returns or panics.
fn keeping_threads_awake<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let done = AtomicBool::new(false);
    let stepping = rayon::current_thread_index();
    let (result, ()) = rayon::join(
        || {
            let _done = Done(&done);
            f()
        },
        || {
            // This thread runs the job itself when it finds it queued while it waits
            // inside `f` (for another pool, say): polling here for `f` to finish would
            // wait for ever, so the job ends at once.
            if rayon::current_thread_index() != stepping {
                poll_until(|| done.load(Ordering::Acquire));
            }
        },
    );
    result
}

/// Steps taken after a switch before timing starts (the first warms the caches), steps
/// timed to judge a setting, and steps on the faster setting before the other is
/// timed again.
const SETTLE_STEPS: u32 = 1;
const TIMED_STEPS: u32 = 3;
const KEEP_STEPS: u32 = 60;

/// Steps in one turn of the [`Tuner`] once both settings are timed: the faster's turn
/// and the other's timing. Any run of this many steps holds one timing of the slower
/// setting, so runs of this length measure the same mix.
pub const TUNER_TURN_STEPS: u64 = (2 * (SETTLE_STEPS + TIMED_STEPS) + KEEP_STEPS) as u64;

/// Chooses between the calling thread alone and a pool by timing steps on each: a
/// second thread pays on an idle machine and costs when another process keeps a core
/// busy (the window's own thread, another program). The numbers do not depend on the
/// choice, only the speed.
///
/// It times [`TIMED_STEPS`] steps on each setting (after [`SETTLE_STEPS`]), then runs
/// the faster: its first steps time it again (and hand over at once if it is now the
/// slower), and after [`KEEP_STEPS`] more the other setting is timed again.
#[derive(Clone, Debug)]
pub struct Tuner {
    settings: [ComputePool; 2],
    /// Mean seconds per step of each setting's last timing.
    seconds: [Option<f64>; 2],
    current: usize,
    /// Steps on the current setting since the last switch.
    steps: u32,
    /// Sum of the timed steps' seconds since the last switch.
    timed: f64,
    /// Steps still to run on `pool` before any is timed.
    untimed: u32,
}

impl Tuner {
    /// Starts on `pool`, runs `untimed` steps on it without timing them (a new
    /// trainer's first steps fill fresh memory and run slower on any setting), then
    /// times it and `single` next.
    pub fn new(single: ComputePool, pool: ComputePool, untimed: u32) -> Self {
        Self {
            settings: [single, pool],
            seconds: [None, None],
            current: 1,
            steps: 0,
            timed: 0.0,
            untimed,
        }
    }

    /// The setting the next step runs on.
    pub fn current(&self) -> &ComputePool {
        &self.settings[self.current]
    }

    /// Records that a step on [`Tuner::current`] took `seconds`, and switches when its
    /// turn is over.
    pub fn record(&mut self, seconds: f64) {
        if let Some(left) = self.untimed.checked_sub(1) {
            self.untimed = left;
            return;
        }
        self.steps += 1;
        if self.steps > SETTLE_STEPS {
            self.timed += seconds;
        }
        let other = 1 - self.current;
        let timing_done = self.steps >= SETTLE_STEPS + TIMED_STEPS;
        let just_timed = self.steps == SETTLE_STEPS + TIMED_STEPS;
        if just_timed {
            self.seconds[self.current] = Some(self.timed / f64::from(TIMED_STEPS));
        }
        let faster = match self.seconds {
            [Some(a), Some(b)] => Some(if b < a { 1 } else { 0 }),
            _ => None,
        };
        let switch = match faster {
            // The other setting has not been timed yet.
            None => timing_done,
            // Timing the slower setting: back to the faster one once it is timed.
            Some(best) if best != self.current => timing_done,
            // On the faster setting: keep it for its turn, then time the other again.
            Some(_) => self.steps >= SETTLE_STEPS + TIMED_STEPS + KEEP_STEPS,
        };
        let next = if switch {
            match faster {
                Some(best) if best != self.current => best,
                _ => other,
            }
        } else {
            self.current
        };
        if just_timed || switch {
            let action = match faster {
                Some(best) if best == next => "the faster",
                _ => "to be timed",
            };
            log::debug!(
                "compute threads: {} next, {action} (seconds a step: 1 thread {:?}, {} threads {:?})",
                self.settings[next].threads(),
                self.seconds[0],
                self.settings[1].threads(),
                self.seconds[1]
            );
        }
        if switch {
            self.current = next;
            self.steps = 0;
            self.timed = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic in either half of a split, or in the step itself, reaches the caller
    /// instead of leaving a thread polling for it; the pool still works afterwards.
    #[test]
    fn a_panic_in_a_piece_reaches_the_caller() {
        let pool = ComputePool::with_threads(2);
        for panicking in 0..3 {
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                pool.run(|| {
                    both(
                        || assert_ne!(panicking, 0, "first half"),
                        || assert_ne!(panicking, 1, "second half"),
                    );
                    assert_ne!(panicking, 2, "the step");
                })
            }));
            assert!(caught.is_err(), "case {panicking}");
        }
        assert_eq!(pool.run(|| both(|| 1, || 2)), (1, 2));
    }

    /// A step that waits on another pool may run queued work of its own pool while it
    /// waits, the job that keeps the other thread polling among it: that job must not
    /// poll on the step's own thread, where the step it waits for can never finish.
    #[test]
    fn a_step_waiting_on_another_pool_finishes() {
        fn tree(depth: u32) -> u64 {
            if depth == 0 {
                return 1;
            }
            let (a, b) = both(|| tree(depth - 1), || tree(depth - 1));
            a + b
        }
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (outer, inner) = (ComputePool::with_threads(2), ComputePool::with_threads(2));
            let total: u64 = (0..50).map(|_| outer.run(|| inner.run(|| tree(8)))).sum();
            let _ = sender.send(total);
        });
        // Milliseconds of work; a minute means the step waits for itself.
        let total = receiver.recv_timeout(std::time::Duration::from_secs(60));
        assert_eq!(total, Ok(50 * 256));
    }

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

    /// Feeds the tuner steps whose time depends on the setting and returns the setting
    /// (1 or 2 threads) of each step.
    fn drive(tuner: &mut Tuner, steps: usize, seconds: impl Fn(usize) -> f64) -> Vec<usize> {
        (0..steps)
            .map(|_| {
                let threads = tuner.current().threads();
                tuner.record(seconds(threads));
                threads
            })
            .collect()
    }

    #[test]
    fn the_tuner_keeps_the_faster_setting_and_looks_again() {
        let single = ComputePool::single();
        let pool = ComputePool::with_threads(2);
        // Two threads faster: 4 steps timed on each, then 64 on two threads (the
        // first 4 timing it again), then 4 on one, then two again.
        let mut tuner = Tuner::new(single.clone(), pool.clone(), 0);
        let taken = drive(
            &mut tuner,
            8 + 64 + 4 + 1,
            |t| if t == 2 { 0.04 } else { 0.06 },
        );
        assert_eq!(&taken[..4], &[2; 4]);
        assert_eq!(&taken[4..8], &[1; 4]);
        assert!(taken[8..72].iter().all(|&t| t == 2), "{taken:?}");
        assert_eq!(&taken[72..76], &[1; 4]);
        assert_eq!(taken[76], 2);
        // From then on, every run of a turn's steps holds one timing of one thread.
        let turn = TUNER_TURN_STEPS as usize;
        let longer = drive(&mut tuner, 5 * turn, |t| if t == 2 { 0.04 } else { 0.06 });
        for window in longer.windows(turn) {
            let single = window.iter().filter(|&&t| t == 1).count() as u32;
            assert_eq!(single, SETTLE_STEPS + TIMED_STEPS, "{window:?}");
        }

        // One thread faster (a core busy elsewhere): after the first timing of both,
        // two threads run only while they are timed again, 4 steps in 68.
        let mut tuner = Tuner::new(single.clone(), pool.clone(), 0);
        let taken = drive(&mut tuner, 8 + 68 * 2, |t| if t == 2 { 0.08 } else { 0.06 });
        let on_two = taken.iter().filter(|&&t| t == 2).count();
        assert_eq!(on_two, 4 + 2 * 4, "{taken:?}");

        // The load changes while two threads are kept: they run out their turn (34
        // more steps), one thread is timed (4; two threads' old figure still wins),
        // two threads are timed again (4), found slower, and one thread is kept.
        let mut tuner = Tuner::new(single.clone(), pool.clone(), 0);
        drive(&mut tuner, 8 + 30, |t| if t == 2 { 0.04 } else { 0.06 });
        let taken = drive(&mut tuner, 34 + 4 + 4 + 30, |t| {
            if t == 2 { 0.09 } else { 0.06 }
        });
        assert!(taken[..34].iter().all(|&t| t == 2), "{taken:?}");
        assert_eq!(&taken[34..38], &[1; 4]);
        assert_eq!(&taken[38..42], &[2; 4]);
        assert!(taken[42..].iter().all(|&t| t == 1), "{taken:?}");

        // Untimed first steps run on two threads and do not count, however slow.
        let mut tuner = Tuner::new(single, pool, 3);
        let steps = std::cell::Cell::new(0);
        let taken = drive(&mut tuner, 3 + 8, |t| {
            steps.set(steps.get() + 1);
            if steps.get() <= 3 {
                10.0
            } else if t == 2 {
                0.04
            } else {
                0.06
            }
        });
        assert_eq!(&taken[..7], &[2; 7]);
        assert_eq!(&taken[7..11], &[1; 4]);
        assert_eq!(tuner.current().threads(), 2);
    }
}
