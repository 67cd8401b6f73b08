//! One recorded series whose newest steps are kept exactly and whose older steps are
//! folded into summary buckets, so that a run of any length fits in a fixed amount of
//! memory without losing an extreme or a NaN.
//!
//! Every series of a run folds in step with the others; where the buckets end and how
//! many steps each holds is kept once, by the run's history ([`Folding`]).

use super::CellSummary;

/// Where a run's summarised steps end: `full_buckets` buckets of `bucket_steps` steps
/// each, then an open bucket of `open_steps` (< `bucket_steps`) still being filled,
/// then the exact steps. `bucket_steps` is a power of two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Folding {
    pub bucket_steps: usize,
    pub full_buckets: usize,
    pub open_steps: usize,
}

impl Default for Folding {
    fn default() -> Self {
        Self {
            bucket_steps: 1,
            full_buckets: 0,
            open_steps: 0,
        }
    }
}

impl Folding {
    /// Steps held in buckets; the first exact step's column.
    pub fn summarised_steps(&self) -> usize {
        self.full_buckets * self.bucket_steps + self.open_steps
    }

    /// The bucket `index` (the open one after the full ones): its first column and its
    /// number of steps.
    pub fn bucket(&self, index: usize) -> (usize, usize) {
        let start = index * self.bucket_steps;
        let steps = if index < self.full_buckets {
            self.bucket_steps
        } else {
            self.open_steps
        };
        (start, steps)
    }

    /// Buckets with at least one step, the open one included.
    pub fn num_buckets(&self) -> usize {
        self.full_buckets + usize::from(self.open_steps > 0)
    }
}

/// One row's summary over a full bucket, compact: the step count is the bucket's, the
/// extremes and the mean stay f64 (an f32 would turn 1e-50 into 0 and 1e40 into
/// infinity), and only the mean of log10 is an f32, whose 24 bits hold a decade count
/// to about 1e-5 of a decade, far below a colour step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct BucketCell {
    pub min: f64,
    pub max: f64,
    pub min_magnitude: f64,
    pub mean: f64,
    pub mean_log10: f32,
    pub nan_count: u32,
    pub inf_count: u32,
    pub zero_count: u32,
}

impl BucketCell {
    /// The compact form of `summary`. Counts beyond u32 (a bucket of more than four
    /// billion steps) saturate.
    pub fn compact(summary: &CellSummary) -> Self {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Self {
            min: summary.min,
            max: summary.max,
            min_magnitude: summary.min_magnitude,
            mean: summary.mean,
            mean_log10: summary.mean_log10 as f32,
            nan_count: count(summary.nan_count),
            inf_count: count(summary.inf_count),
            zero_count: count(summary.zero_count),
        }
    }

    /// The full summary of a bucket of `steps` steps.
    pub fn expand(&self, steps: usize) -> CellSummary {
        CellSummary {
            count: steps,
            nan_count: self.nan_count as usize,
            inf_count: self.inf_count as usize,
            zero_count: self.zero_count as usize,
            min: self.min,
            max: self.max,
            min_magnitude: self.min_magnitude,
            mean: self.mean,
            mean_log10: f64::from(self.mean_log10),
        }
    }
}

/// A series of `rows` values a step: full buckets, the open bucket, exact steps.
#[derive(Clone, Debug, Default)]
pub(super) struct FoldedSeries {
    pub rows: usize,
    /// Full buckets, bucket-major: bucket b's row r at `b·rows + r`.
    pub buckets: Vec<BucketCell>,
    /// The open bucket, one summary a row in full precision (it is still growing);
    /// empty while no step is in it.
    pub open: Vec<CellSummary>,
    /// The exact steps, step-major.
    pub exact: Vec<f64>,
}

impl PartialEq for FoldedSeries {
    /// Bit for bit, so that a NaN, or a summary without a finite value (NaN extremes),
    /// equals itself.
    fn eq(&self, other: &Self) -> bool {
        let cell_bits = |c: &BucketCell| {
            (
                [c.min, c.max, c.min_magnitude, c.mean].map(f64::to_bits),
                c.mean_log10.to_bits(),
                [c.nan_count, c.inf_count, c.zero_count],
            )
        };
        let open_bits = |s: &CellSummary| {
            (
                [s.count, s.nan_count, s.inf_count, s.zero_count],
                [s.min, s.max, s.min_magnitude, s.mean, s.mean_log10].map(f64::to_bits),
            )
        };
        self.rows == other.rows
            && self
                .exact
                .iter()
                .map(|v| v.to_bits())
                .eq(other.exact.iter().map(|v| v.to_bits()))
            && self
                .buckets
                .iter()
                .map(cell_bits)
                .eq(other.buckets.iter().map(cell_bits))
            && self
                .open
                .iter()
                .map(open_bits)
                .eq(other.open.iter().map(open_bits))
    }
}

impl FoldedSeries {
    pub fn new(rows: usize) -> Self {
        Self {
            rows,
            ..Self::default()
        }
    }

    /// An unfolded series of exact values.
    pub fn exact(rows: usize, values: Vec<f64>) -> Self {
        Self {
            rows,
            exact: values,
            ..Self::default()
        }
    }

    /// Appends one step's values, letting the exact part grow to at most
    /// `limit_steps` steps of capacity (more only if the caller has not folded).
    pub fn push(&mut self, values: &[f64], limit_steps: usize) {
        let limit = limit_steps.saturating_mul(self.rows);
        reserve_within(&mut self.exact, values.len(), limit);
        self.exact.extend_from_slice(values);
    }

    /// Folds exact step `step` (counted in the exact part as it is now) into the open
    /// bucket. A series without values (PReLU slopes of another activation) has none.
    pub fn fold_step(&mut self, step: usize) {
        let rows = self.rows;
        let Some(values) = self.exact.get(step * rows..(step + 1) * rows) else {
            return;
        };
        if self.open.is_empty() {
            self.open = vec![CellSummary::empty(); rows];
        }
        for (cell, &value) in self.open.iter_mut().zip(values) {
            cell.add(value);
        }
    }

    /// Closes the open bucket: it joins the full ones, compacted. `max_buckets` bounds
    /// the buckets' capacity.
    pub fn close_bucket(&mut self, max_buckets: usize) {
        if self.open.is_empty() {
            return;
        }
        let limit = max_buckets.saturating_mul(self.rows);
        reserve_within(&mut self.buckets, self.rows, limit);
        self.buckets
            .extend(self.open.iter().map(BucketCell::compact));
        self.open.clear();
    }

    /// Merges the full buckets pairwise (their count is even): each new bucket holds
    /// the steps of two, `bucket_steps` each.
    pub fn merge_pairs(&mut self, bucket_steps: usize) {
        let rows = self.rows;
        let pairs = self.buckets.len() / (2 * rows.max(1));
        for pair in 0..pairs {
            for row in 0..rows {
                let first = self.buckets[2 * pair * rows + row].expand(bucket_steps);
                let second = self.buckets[(2 * pair + 1) * rows + row].expand(bucket_steps);
                self.buckets[pair * rows + row] = BucketCell::compact(&first.merge(second));
            }
        }
        self.buckets.truncate(pairs * rows);
    }

    /// Drops the oldest `steps` exact steps (already folded), giving back memory above
    /// `limit_steps` steps.
    pub fn drain_exact(&mut self, steps: usize, limit_steps: usize) {
        let end = (steps * self.rows).min(self.exact.len());
        self.exact.drain(..end);
        self.exact.shrink_to(limit_steps.saturating_mul(self.rows));
    }

    /// The summary of row `row` in bucket `index` of `folding`.
    pub fn bucket_summary(&self, folding: &Folding, index: usize, row: usize) -> CellSummary {
        if index < folding.full_buckets {
            self.buckets
                .get(index * self.rows + row)
                .map_or_else(CellSummary::empty, |cell| cell.expand(folding.bucket_steps))
        } else {
            self.open
                .get(row)
                .copied()
                .unwrap_or_else(CellSummary::empty)
        }
    }

    /// Exact values of the step `index` counted in the exact part (empty if there is
    /// no such step).
    pub fn exact_step(&self, index: usize) -> &[f64] {
        let start = index * self.rows;
        self.exact.get(start..start + self.rows).unwrap_or(&[])
    }

    /// Bytes on the heap, counted from capacities.
    pub fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * size_of::<BucketCell>()
            + self.open.capacity() * size_of::<CellSummary>()
            + self.exact.capacity() * size_of::<f64>()
    }
}

/// Makes room for `additional` more elements, growing the capacity by doubling as a
/// `Vec` would but never past `limit` (unless the elements need more).
pub(super) fn reserve_within<T>(values: &mut Vec<T>, additional: usize, limit: usize) {
    let needed = values.len() + additional;
    if needed > values.capacity() {
        let target = (values.capacity() * 2).max(8).min(limit).max(needed);
        values.reserve_exact(target - values.len());
    }
}
