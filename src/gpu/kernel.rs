//! The WGSL kernel's interface: its parameter block, its override constants, and the
//! geometry of a dispatch.

use crate::dtype::Dtype;
use crate::spec::FillPlan;
use crate::transform::{
    Affine, COS_COEFFS, INVERSE_NORMAL_A, INVERSE_NORMAL_B, INVERSE_NORMAL_C,
    INVERSE_NORMAL_CENTRES, LOG_COEFFS, SIN_COEFFS, UNIFORM_STEP,
};

/// The kernel source, `shaders/fill.wgsl`, embedded at compile time.
pub const FILL_WGSL: &str = include_str!("../../shaders/fill.wgsl");

/// Invocations per workgroup (the shader's `WORKGROUP_SIZE` override) unless a context is set
/// otherwise (`GpuContext::set_workgroup_size`). Each invocation makes one block of four
/// values. 256 is a common choice across vendors; `weight-init bench --workgroup-size` measures
/// others on the adapter at hand.
pub const WORKGROUP_SIZE: u32 = 256;

/// Workgroups per grid dimension that WebGPU guarantees (`max_compute_workgroups_per_dimension`
/// default); larger grids use a second dimension.
pub const MAX_WORKGROUPS_PER_DIM: u32 = 65_535;

/// The shader's `Params` uniform block, field for field.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Params {
    /// Seed, low word (Philox key word 0).
    pub key_lo: u32,
    /// Seed, high word (Philox key word 1).
    pub key_hi: u32,
    /// Stream id, low word (counter word 2).
    pub stream_lo: u32,
    /// Stream id, high word (counter word 3).
    pub stream_hi: u32,
    /// First block index (`fill`, `words`) or element index (`fill_exact`), low word.
    pub first_lo: u32,
    /// High word of `first`.
    pub first_hi: u32,
    /// Blocks to process.
    pub len: u32,
    /// [`crate::transform::Kind`] code.
    pub kind: u32,
    /// Added last.
    pub offset: f32,
    /// Multiplies the uniform or normal.
    pub scale: f32,
    /// Invocations per row of the 2-D grid.
    pub row_invocations: u32,
    /// Invocations that have work: one per block.
    pub invocations: u32,
    /// `fill` and `fill_exact`: the output [`crate::dtype::Dtype`] code (0 f32, 1 f16, 2 bf16).
    pub dtype: u32,
    /// `fill_exact`: the element index, within the binding, where the first element goes.
    pub dest_elem: u32,
    /// Truncated normal: [`crate::transform::Truncation::p_low`].
    pub p_low: f32,
    /// Truncated normal: `q_high`.
    pub q_high: f32,
    /// Truncated normal: `mass`.
    pub mass: f32,
    /// Truncated normal: lower clamp bound.
    pub low: f32,
    /// Truncated normal: upper clamp bound.
    pub high: f32,
    /// Padding to a multiple of 16 bytes.
    pub pad: u32,
}

impl Params {
    /// The key, stream, distribution and output dtype of `plan`, with `first` and `len` as
    /// the entry point reads them (a block or element index, and a count).
    pub fn new(plan: &FillPlan, dtype: Dtype, first: u64, len: u32) -> Self {
        Self {
            key_lo: plan.key[0],
            key_hi: plan.key[1],
            stream_lo: plan.stream as u32,
            stream_hi: (plan.stream >> 32) as u32,
            first_lo: first as u32,
            first_hi: (first >> 32) as u32,
            len,
            dtype: dtype.code(),
            ..Self::with_affine(&plan.distribution.affine_for(dtype))
        }
    }

    /// The distribution fields of `affine`, everything else zero.
    pub fn with_affine(affine: &Affine) -> Self {
        let t = affine.truncation;
        Self {
            kind: affine.kind as u32,
            offset: affine.offset,
            scale: affine.scale,
            p_low: t.p_low,
            q_high: t.q_high,
            mass: t.mass,
            low: t.low,
            high: t.high,
            ..Self::default()
        }
    }
}

/// The values of the shader's override constants, from the Rust constants they mirror, with
/// `workgroup_size` invocations per workgroup.
pub fn override_constants(workgroup_size: u32) -> Vec<(&'static str, f64)> {
    let mut constants = vec![
        ("WORKGROUP_SIZE", f64::from(workgroup_size)),
        ("UNIFORM_STEP", f64::from(UNIFORM_STEP)),
        ("SQRT_2", f64::from(core::f32::consts::SQRT_2)),
        ("LN2_HI", f64::from(crate::transform::LN2_HI)),
        ("LN2_LO", f64::from(crate::transform::LN2_LO)),
        ("F16_MAX", f64::from(half::f16::MAX)),
        ("BF16_MAX", f64::from(half::bf16::MAX)),
    ];
    const LOG: [&str; 4] = ["LOG_C0", "LOG_C1", "LOG_C2", "LOG_C3"];
    const SIN: [&str; 5] = ["SIN_C0", "SIN_C1", "SIN_C2", "SIN_C3", "SIN_C4"];
    const COS: [&str; 6] = ["COS_C0", "COS_C1", "COS_C2", "COS_C3", "COS_C4", "COS_C5"];
    constants.extend(LOG.iter().zip(LOG_COEFFS).map(|(n, c)| (*n, f64::from(c))));
    constants.extend(SIN.iter().zip(SIN_COEFFS).map(|(n, c)| (*n, f64::from(c))));
    constants.extend(COS.iter().zip(COS_COEFFS).map(|(n, c)| (*n, f64::from(c))));
    const INV_A: [&str; 10] = [
        "INV_A0", "INV_A1", "INV_A2", "INV_A3", "INV_A4", "INV_A5", "INV_A6", "INV_A7", "INV_A8",
        "INV_A9",
    ];
    const INV_B: [&str; 9] = [
        "INV_B0", "INV_B1", "INV_B2", "INV_B3", "INV_B4", "INV_B5", "INV_B6", "INV_B7", "INV_B8",
    ];
    const INV_C: [&str; 9] = [
        "INV_C0", "INV_C1", "INV_C2", "INV_C3", "INV_C4", "INV_C5", "INV_C6", "INV_C7", "INV_C8",
    ];
    const CENTRES: [&str; 3] = ["INV_CENTRE_A", "INV_CENTRE_B", "INV_CENTRE_C"];
    constants.extend(
        INV_A
            .iter()
            .zip(INVERSE_NORMAL_A)
            .map(|(n, c)| (*n, f64::from(c))),
    );
    constants.extend(
        INV_B
            .iter()
            .zip(INVERSE_NORMAL_B)
            .map(|(n, c)| (*n, f64::from(c))),
    );
    constants.extend(
        INV_C
            .iter()
            .zip(INVERSE_NORMAL_C)
            .map(|(n, c)| (*n, f64::from(c))),
    );
    constants.extend(
        CENTRES
            .iter()
            .zip(INVERSE_NORMAL_CENTRES)
            .map(|(n, c)| (*n, f64::from(c))),
    );
    constants
}

/// A dispatch grid: `(x, y)` workgroups and the invocations per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// Workgroups along x.
    pub x: u32,
    /// Workgroups along y.
    pub y: u32,
    /// `x` times the workgroup size.
    pub row_invocations: u32,
}

/// The smallest grid of `workgroup_size`-invocation workgroups covering `invocations`: one row
/// while it fits in `max_per_dim` workgroups, else full rows of `max_per_dim`.
///
/// # Panics
///
/// If `invocations` needs more than `max_per_dim^2` workgroups; [`chunk_elems`] keeps chunks
/// within that for the device's `max_compute_workgroups_per_dimension`.
pub fn grid(invocations: u32, workgroup_size: u32, max_per_dim: u32) -> Grid {
    let workgroups = invocations.div_ceil(workgroup_size).max(1);
    let x = workgroups.min(max_per_dim);
    let y = workgroups.div_ceil(x);
    assert!(
        y <= max_per_dim,
        "{invocations} invocations exceed a {max_per_dim}^2 grid"
    );
    Grid {
        x,
        y,
        row_invocations: x * workgroup_size,
    }
}

/// Elements per dispatch: the largest multiple of 4 whose f32 output fits one storage binding
/// and one buffer and whose blocks fit one dispatch grid of `workgroup_size`-invocation
/// workgroups (see [`grid_blocks`]), at most
/// `requested` when given, and at most 2^28 (1 GiB of f32), so that word indices
/// `4 * invocation` stay far from u32 overflow in the shader.
pub fn chunk_elems(limits: &wgpu::Limits, workgroup_size: u32, requested: Option<u64>) -> u64 {
    let binding_bytes = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size);
    let mut elems = (binding_bytes / 4)
        .min(4 * grid_blocks(limits, workgroup_size))
        .min(1 << 28);
    if let Some(r) = requested {
        elems = elems.min(r.max(1));
    }
    (elems / 4 * 4).max(4)
}

/// Blocks that one dispatch may cover on a device with `limits` with `workgroup_size`
/// invocations per workgroup: one per invocation, in a grid of at most `max_compute_workgroups_per_dimension` (capped at
/// [`MAX_WORKGROUPS_PER_DIM`]) squared workgroups, less two for the partial blocks at both ends
/// of a `fill_exact` range.
pub fn grid_blocks(limits: &wgpu::Limits, workgroup_size: u32) -> u64 {
    let per_dim = u64::from(
        limits
            .max_compute_workgroups_per_dimension
            .min(MAX_WORKGROUPS_PER_DIM),
    );
    (per_dim * per_dim * u64::from(workgroup_size)).saturating_sub(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_uses_a_second_dimension_past_65535_workgroups() {
        let g = grid(1000, WORKGROUP_SIZE, MAX_WORKGROUPS_PER_DIM);
        assert_eq!((g.x, g.y, g.row_invocations), (4, 1, 1024));
        let g = grid(1000, 64, MAX_WORKGROUPS_PER_DIM);
        assert_eq!((g.x, g.y, g.row_invocations), (16, 1, 1024));
        let many = 70_000 * WORKGROUP_SIZE;
        let g = grid(many, WORKGROUP_SIZE, MAX_WORKGROUPS_PER_DIM);
        assert_eq!((g.x, g.y), (MAX_WORKGROUPS_PER_DIM, 2));
        assert!(u64::from(g.x) * u64::from(g.y) * u64::from(WORKGROUP_SIZE) >= u64::from(many));
    }

    #[test]
    fn chunks_fit_the_binding_limit() {
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: 128 << 20,
            ..wgpu::Limits::default()
        };
        assert_eq!(chunk_elems(&limits, WORKGROUP_SIZE, None), 32 << 20);
        assert_eq!(chunk_elems(&limits, WORKGROUP_SIZE, Some(1001)), 1000);
        assert_eq!(chunk_elems(&limits, WORKGROUP_SIZE, Some(1)), 4);
    }

    #[test]
    fn chunks_fit_a_small_dispatch_grid() {
        // 3 x 3 workgroups of 256 invocations, one block each, less fill_exact's two partial
        // blocks: 2302 blocks. Before the grid entered the chunk size, such a device made
        // `grid` panic on the first large fill.
        let limits = wgpu::Limits {
            max_compute_workgroups_per_dimension: 3,
            ..wgpu::Limits::default()
        };
        assert_eq!(grid_blocks(&limits, WORKGROUP_SIZE), 3 * 3 * 256 - 2);
        let elems = chunk_elems(&limits, WORKGROUP_SIZE, None);
        assert_eq!(elems, 4 * (3 * 3 * 256 - 2));
        let g = grid((elems / 4) as u32 + 1, WORKGROUP_SIZE, 3);
        assert!(g.x <= 3 && g.y <= 3, "{g:?}");
        // Smaller workgroups cover fewer blocks per grid, so chunks shrink with them.
        assert_eq!(grid_blocks(&limits, 1), 3 * 3 - 2);
        assert_eq!(chunk_elems(&limits, 1, None), 4 * (3 * 3 - 2));
        let g = grid(3 * 3 - 1, 1, 3);
        assert!(g.x <= 3 && g.y <= 3, "{g:?}");
    }

    #[test]
    fn shader_parses_and_validates_with_naga() {
        let module = naga::front::wgsl::parse_str(FILL_WGSL).expect("fill.wgsl parses");
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        )
        .validate(&module)
        .expect("fill.wgsl validates");
        let names: Vec<_> = module
            .overrides
            .iter()
            .filter_map(|(_, o)| o.name.clone())
            .collect();
        for (name, _) in override_constants(WORKGROUP_SIZE) {
            assert!(
                names.iter().any(|n| n == name),
                "override {name} missing from the shader"
            );
        }
        assert_eq!(
            names.len(),
            override_constants(WORKGROUP_SIZE).len(),
            "shader overrides: {names:?}"
        );
    }

    #[test]
    fn params_layout_matches_the_shader_struct_size() {
        // 20 four-byte fields, a multiple of 16 bytes as uniform buffers like.
        assert_eq!(core::mem::size_of::<Params>(), 80);
    }
}
