//! Hyper-rectangular slices of a tensor, and how shards divide a tensor among ranks.
//!
//! A [`Region`] is an offset and an extent per dimension. Its elements, in row-major order,
//! are a sequence of contiguous *runs* of the full tensor ([`Region::runs`]); filling those
//! runs gives the slice bit for bit as it appears in the full tensor, since every element
//! depends only on its index in the full tensor.

use crate::error::{Error, Result};
use crate::spec::elem_count;

/// A box inside a tensor: `offsets[d] .. offsets[d] + extents[d]` along each dimension `d`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// First index along each dimension.
    pub offsets: Vec<u64>,
    /// Length along each dimension.
    pub extents: Vec<u64>,
}

impl Region {
    /// The whole tensor of `shape`.
    pub fn full(shape: &[u64]) -> Self {
        Self {
            offsets: vec![0; shape.len()],
            extents: shape.to_vec(),
        }
    }

    /// Checks that the region has one entry per dimension and lies inside `shape`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming the dimension, the range and the size.
    pub fn check(&self, shape: &[u64]) -> Result<()> {
        if self.offsets.len() != shape.len() || self.extents.len() != shape.len() {
            return Err(Error::invalid(
                "slice",
                format!(
                    "{} offsets and {} extents for a tensor of {} dimensions",
                    self.offsets.len(),
                    self.extents.len(),
                    shape.len()
                ),
            ));
        }
        for (d, ((&o, &e), &n)) in self
            .offsets
            .iter()
            .zip(&self.extents)
            .zip(shape)
            .enumerate()
        {
            if o.checked_add(e).is_none_or(|end| end > n) {
                return Err(Error::invalid(
                    "slice",
                    format!("[{o}, {o} + {e}) along dimension {d} is outside its size {n}"),
                ));
            }
        }
        Ok(())
    }

    /// Elements in the region.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] if the count overflows `u64`.
    pub fn len_elems(&self) -> Result<u64> {
        elem_count(&self.extents)
    }

    /// The region's elements as runs `(first_elem, len_elems)` of the full tensor of `shape`,
    /// in row-major order of the region. Trailing dimensions that the region covers whole are
    /// merged, so the full region is a single run. The region must be [`Region::check`]ed.
    pub fn runs(&self, shape: &[u64]) -> Runs {
        // Merge trailing dimensions while the region spans them completely.
        let mut inner = shape.len();
        let mut run_len = 1u64;
        while inner > 0 {
            let d = inner - 1;
            run_len *= self.extents[d];
            inner -= 1;
            if self.offsets[d] != 0 || self.extents[d] != shape[d] {
                break;
            }
        }
        // Row-major strides of the full tensor.
        let mut strides = vec![1u64; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            strides[d] = strides[d + 1] * shape[d + 1];
        }
        let empty = self.extents.contains(&0);
        Runs {
            outer_extents: self.extents[..inner].to_vec(),
            outer_offsets: self.offsets[..inner].to_vec(),
            strides,
            inner_start: self.offsets.get(inner).copied().unwrap_or(0),
            inner,
            run_len,
            index: vec![0; inner],
            done: empty,
        }
    }
}

/// Iterator over the runs of a [`Region`]; see [`Region::runs`].
#[derive(Debug, Clone)]
pub struct Runs {
    outer_extents: Vec<u64>,
    outer_offsets: Vec<u64>,
    strides: Vec<u64>,
    inner_start: u64,
    inner: usize,
    run_len: u64,
    index: Vec<u64>,
    done: bool,
}

impl Iterator for Runs {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        if self.done {
            return None;
        }
        // The run starts at the current outer index plus the first inner dimension's offset;
        // the dimensions below it are covered whole, so their offsets are 0.
        let mut first = self
            .strides
            .get(self.inner)
            .map_or(0, |s| self.inner_start * s);
        for d in 0..self.inner {
            first += (self.outer_offsets[d] + self.index[d]) * self.strides[d];
        }
        // Advance the outer index like an odometer.
        self.done = true;
        for d in (0..self.inner).rev() {
            self.index[d] += 1;
            if self.index[d] < self.outer_extents[d] {
                self.done = false;
                break;
            }
            self.index[d] = 0;
        }
        Some((first, self.run_len))
    }
}

/// The part `[start, end)` of a dimension of size `len` that rank `rank` of `world` gets:
/// the first `len % world` ranks get one element more, as NumPy's `array_split` does.
///
/// # Errors
///
/// [`Error::InvalidArgument`] if `world` is 0 or `rank >= world`.
pub fn shard_range(len: u64, rank: u64, world: u64) -> Result<(u64, u64)> {
    if world == 0 || rank >= world {
        return Err(Error::invalid(
            "shard",
            format!("rank {rank} of world size {world}: need 0 <= rank < world"),
        ));
    }
    let (base, extra) = (len / world, len % world);
    let start = rank * base + rank.min(extra);
    let size = base + u64::from(rank < extra);
    Ok((start, start + size))
}

/// The region of a tensor of `shape` that rank `rank` of `world` holds when split along
/// `dim`; tensors with no dimension `dim` are held whole by every rank (replicated).
///
/// # Errors
///
/// Those of [`shard_range`].
pub fn shard_region(shape: &[u64], dim: usize, rank: u64, world: u64) -> Result<Region> {
    let mut region = Region::full(shape);
    if dim < shape.len() {
        let (start, end) = shard_range(shape[dim], rank, world)?;
        region.offsets[dim] = start;
        region.extents[dim] = end - start;
    } else {
        shard_range(1, rank, world)?;
    }
    Ok(region)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every element index of the region, by brute force over the full tensor.
    fn indices_by_brute_force(shape: &[u64], region: &Region) -> Vec<u64> {
        let total = elem_count(shape).unwrap();
        let mut out = Vec::new();
        for i in 0..total {
            let mut rest = i;
            let mut coords = vec![0; shape.len()];
            for d in (0..shape.len()).rev() {
                coords[d] = rest % shape[d];
                rest /= shape[d];
            }
            let inside = coords
                .iter()
                .enumerate()
                .all(|(d, &c)| c >= region.offsets[d] && c < region.offsets[d] + region.extents[d]);
            if inside {
                out.push(i);
            }
        }
        out
    }

    #[test]
    fn runs_enumerate_exactly_the_region_in_row_major_order() {
        let shape = [4u64, 5, 6];
        let regions = [
            Region::full(&shape),
            Region {
                offsets: vec![1, 0, 0],
                extents: vec![2, 5, 6],
            },
            Region {
                offsets: vec![0, 2, 0],
                extents: vec![4, 3, 6],
            },
            Region {
                offsets: vec![0, 0, 1],
                extents: vec![4, 5, 4],
            },
            Region {
                offsets: vec![3, 4, 5],
                extents: vec![1, 1, 1],
            },
            Region {
                offsets: vec![1, 1, 1],
                extents: vec![2, 0, 3],
            },
        ];
        for region in regions {
            region.check(&shape).unwrap();
            let from_runs: Vec<u64> = region
                .runs(&shape)
                .flat_map(|(first, len)| first..first + len)
                .collect();
            assert_eq!(
                from_runs,
                indices_by_brute_force(&shape, &region),
                "{region:?}"
            );
        }
        assert_eq!(Region::full(&shape).runs(&shape).count(), 1);
    }

    #[test]
    fn zero_dimensional_tensors_are_one_run_of_one_element() {
        let runs: Vec<_> = Region::full(&[]).runs(&[]).collect();
        assert_eq!(runs, [(0, 1)]);
    }

    #[test]
    fn shards_cover_a_dimension_without_gaps_like_array_split() {
        assert_eq!(shard_range(10, 0, 3).unwrap(), (0, 4));
        assert_eq!(shard_range(10, 1, 3).unwrap(), (4, 7));
        assert_eq!(shard_range(10, 2, 3).unwrap(), (7, 10));
        assert_eq!(shard_range(2, 3, 4).unwrap(), (2, 2));
        assert!(shard_range(10, 3, 3).is_err());
        assert!(shard_range(10, 0, 0).is_err());
    }

    #[test]
    fn regions_outside_the_tensor_are_rejected() {
        let r = Region {
            offsets: vec![3, 0],
            extents: vec![2, 4],
        };
        assert!(r.check(&[4, 4]).is_err());
        assert!(
            Region {
                offsets: vec![0],
                extents: vec![1]
            }
            .check(&[4, 4])
            .is_err()
        );
    }
}
