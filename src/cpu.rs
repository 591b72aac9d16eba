//! The CPU fill: the reference values, on all cores, with the widest SIMD the CPU has.
//!
//! Work is split into chunks of at most [`CHUNK_ELEMS`] elements handed to rayon's thread
//! pool ([`chunk_elems`]); since every element is a pure function of its index, the split
//! (and the number of threads) never changes a value. Within a chunk, whole groups of
//! [`LANES`] blocks go through the SIMD kernel (compiled for each [`Simd`] level), the ragged
//! ends through the scalar [`crate::transform::Affine::block_values`]; both give the same
//! bits.

mod lanes;

pub use lanes::{LANES, Simd};

use rayon::prelude::*;

use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::philox::philox4x32;
use crate::spec::FillPlan;
use crate::stream::counter;
use crate::transform::{Affine, Distribution};

/// Elements per parallel task: a multiple of 4 (whole blocks), large enough to amortize task
/// overhead, small enough to balance two to hundreds of cores.
pub const CHUNK_ELEMS: usize = 1 << 16;

/// Smallest chunk [`chunk_elems`] hands out: 64 groups of [`LANES`] blocks, a few
/// microseconds of work, against the roughly one microsecond it costs rayon to hand a task to
/// another thread.
const MIN_CHUNK_ELEMS: usize = 64 * 4 * LANES;

/// Elements per parallel task for a range of `len_elems`: [`CHUNK_ELEMS`], or less for short
/// ranges so that each of the pool's threads gets about four chunks (at 2^16 elements on two
/// threads a single chunk would leave one core idle); a multiple of `4 LANES`, so that chunks
/// start on group boundaries.
pub fn chunk_elems(len_elems: usize) -> usize {
    let per_thread = len_elems / (4 * rayon::current_num_threads());
    let group_elems = 4 * LANES;
    (per_thread / group_elems * group_elems).clamp(MIN_CHUNK_ELEMS, CHUNK_ELEMS)
}

/// Fills `out` with elements `[first_elem, first_elem + out.len())` of the tensor, on the
/// calling thread.
///
/// # Errors
///
/// [`crate::Error::InvalidArgument`] if the range is not inside the tensor.
pub fn fill_range_serial(plan: &FillPlan, first_elem: u64, out: &mut [f32]) -> Result<()> {
    plan.check_range(first_elem, out.len() as u64)?;
    if let Distribution::Structured(structure) = &plan.distribution {
        return crate::structured::fill_range(plan, structure, first_elem, out);
    }
    write_values(plan, &plan.affine(), first_elem, out);
    Ok(())
}

/// Fills `out` with elements `[first_elem, first_elem + out.len())` of the tensor, on all
/// cores of rayon's global pool.
///
/// # Errors
///
/// [`crate::Error::InvalidArgument`] if the range is not inside the tensor.
///
/// # Examples
///
/// ```
/// use weight_init::{cpu, spec::TensorSpec};
///
/// let spec = TensorSpec::new("W1", vec![4, 2], "he".parse()?);
/// let plan = spec.plan(7)?;
/// let mut whole = vec![0.0f32; 8];
/// cpu::fill_range(&plan, 0, &mut whole)?;
/// let mut tail = vec![0.0f32; 3];
/// cpu::fill_range(&plan, 5, &mut tail)?;
/// assert_eq!(&whole[5..], &tail[..]);
/// # Ok::<(), weight_init::Error>(())
/// ```
pub fn fill_range(plan: &FillPlan, first_elem: u64, out: &mut [f32]) -> Result<()> {
    plan.check_range(first_elem, out.len() as u64)?;
    if let Distribution::Structured(structure) = &plan.distribution {
        return crate::structured::fill_range(plan, structure, first_elem, out);
    }
    let affine = plan.affine();

    // A ragged head up to the next block boundary, then whole-block chunks.
    let head_len = ((4 - (first_elem % 4) as usize) % 4).min(out.len());
    let (head, rest) = out.split_at_mut(head_len);
    write_values(plan, &affine, first_elem, head);
    let rest_first = first_elem + head_len as u64;
    let chunk = chunk_elems(rest.len());
    rest.par_chunks_mut(chunk)
        .enumerate()
        .for_each(|(i, part)| {
            write_values(plan, &affine, rest_first + (i * chunk) as u64, part);
        });
    Ok(())
}

/// Fills `out` with elements `[first_elem, first_elem + n)` of the tensor as `dtype`,
/// little-endian, where `n = out.len() / dtype.size_bytes()`, on all cores. Values are computed
/// in f32 and converted last ([`crate::dtype`]).
///
/// # Errors
///
/// [`crate::Error::InvalidArgument`] if `out.len()` is not a whole number of elements or the
/// range is not inside the tensor.
pub fn fill_range_as(plan: &FillPlan, dtype: Dtype, first_elem: u64, out: &mut [u8]) -> Result<()> {
    let size = dtype.size_bytes();
    let len_elems = dtype.elems_in(out.len())?;
    plan.check_range(first_elem, len_elems)?;
    let affine = plan.affine_for(dtype)?;
    if let Distribution::Structured(structure) = &plan.distribution {
        // Whole-tensor schemes: f32 from the structured path, converted a piece at a time.
        const PIECE_ELEMS: usize = 1 << 16;
        for (k, piece) in out.chunks_mut(PIECE_ELEMS * size).enumerate() {
            let mut values = vec![0.0f32; piece.len() / size];
            let first = first_elem + (k * PIECE_ELEMS) as u64;
            crate::structured::fill_range(plan, structure, first, &mut values)?;
            dtype.encode(&values, piece);
        }
        return Ok(());
    }

    // f32 into 4-byte-aligned memory (as allocators give) is written in place.
    if dtype == Dtype::F32
        && let Ok(values) = bytemuck::try_cast_slice_mut::<u8, f32>(out)
    {
        return fill_range(plan, first_elem, values);
    }

    // Same split as `fill_range`: a ragged head, then whole-block chunks, each made in f32
    // a cache-sized piece at a time and converted into its bytes.
    let head_len = ((4 - (first_elem % 4) as usize) % 4).min(len_elems as usize);
    let (head, rest) = out.split_at_mut(head_len * size);
    let encode = |first: u64, bytes: &mut [u8]| {
        const PIECE_ELEMS: usize = 4096;
        let mut values = [0.0f32; PIECE_ELEMS];
        for (k, piece) in bytes.chunks_mut(PIECE_ELEMS * size).enumerate() {
            let values = &mut values[..piece.len() / size];
            write_values(plan, &affine, first + (k * PIECE_ELEMS) as u64, values);
            dtype.encode(values, piece);
        }
    };
    encode(first_elem, head);
    let rest_first = first_elem + head_len as u64;
    let chunk = chunk_elems(rest.len() / size);
    rest.par_chunks_mut(chunk * size)
        .enumerate()
        .for_each(|(i, part)| encode(rest_first + (i * chunk) as u64, part));
    Ok(())
}

/// Writes elements `[first_elem, first_elem + out.len())`; the range is already checked.
fn write_values(plan: &FillPlan, affine: &Affine, first_elem: u64, out: &mut [f32]) {
    write_values_with(Simd::detect(), plan, affine, first_elem, out);
}

/// [`write_values`] with a chosen instruction set: a ragged head up to a block boundary and a
/// ragged tail one block at a time, whole groups of [`LANES`] blocks through the SIMD kernel.
fn write_values_with(
    simd: Simd,
    plan: &FillPlan,
    affine: &Affine,
    first_elem: u64,
    out: &mut [f32],
) {
    let head_len = ((4 - (first_elem % 4) as usize) % 4).min(out.len());
    let (head, rest) = out.split_at_mut(head_len);
    write_blocks_scalar(plan, affine, first_elem, head);

    let groups_len = rest.len() / (4 * LANES) * (4 * LANES);
    let (groups, tail) = rest.split_at_mut(groups_len);
    let groups_first = first_elem + head_len as u64;
    lanes::fill_groups(
        simd,
        affine,
        plan.key,
        plan.stream,
        groups_first / 4,
        groups,
    );
    write_blocks_scalar(plan, affine, groups_first + groups_len as u64, tail);
}

/// Elements `[first_elem, first_elem + out.len())` one Philox block at a time, for the ragged
/// ends of a range.
fn write_blocks_scalar(plan: &FillPlan, affine: &Affine, first_elem: u64, out: &mut [f32]) {
    let mut elem = first_elem;
    let mut written = 0;
    while written < out.len() {
        let block = elem / 4;
        let skip = (elem % 4) as usize;
        let take = (4 - skip).min(out.len() - written);
        let values = affine.block_values(philox4x32(counter(block, plan.stream), plan.key));
        out[written..written + take].copy_from_slice(&values[skip..skip + take]);
        written += take;
        elem += take as u64;
    }
}

/// [`fill_range_serial`] with the kernel compiled for `simd`, which must be one of
/// [`Simd::available`]: for checking that every instruction set gives the same bits.
///
/// # Errors
///
/// [`crate::Error::InvalidArgument`] if the range is not inside the tensor or `simd` is not
/// available on this CPU.
pub fn fill_range_with(
    simd: Simd,
    plan: &FillPlan,
    first_elem: u64,
    out: &mut [f32],
) -> Result<()> {
    if !Simd::available().contains(&simd) {
        return Err(Error::invalid(
            "simd",
            format!("{} is not available on this CPU", simd.name()),
        ));
    }
    plan.check_range(first_elem, out.len() as u64)?;
    if let Distribution::Structured(structure) = &plan.distribution {
        return crate::structured::fill_range(plan, structure, first_elem, out);
    }
    write_values_with(simd, plan, &plan.affine(), first_elem, out);
    Ok(())
}

/// Raw Philox words of blocks `[first_block, first_block + out.len() / 4)` on `stream`:
/// `out[4 k + j]` is word `j` of block `first_block + k`. Block indices wrap modulo 2^64.
///
/// # Errors
///
/// [`Error::InvalidArgument`] if `out.len()` is not a multiple of 4.
pub fn words(seed: u64, stream: u64, first_block: u64, out: &mut [u32]) -> Result<()> {
    crate::stream::check_whole_blocks(out.len())?;
    let key = crate::stream::key(seed);
    out.par_chunks_mut(CHUNK_ELEMS)
        .enumerate()
        .for_each(|(i, chunk)| {
            let chunk_first = first_block.wrapping_add((i * CHUNK_ELEMS / 4) as u64);
            for (k, block) in chunk.chunks_exact_mut(4).enumerate() {
                let b = chunk_first.wrapping_add(k as u64);
                block.copy_from_slice(&philox4x32(counter(b, stream), key));
            }
        });
    Ok(())
}
