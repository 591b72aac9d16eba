//! Whole-tensor schemes (orthogonal, sparse, eye, dirac, delta-orthogonal) and convolution
//! fans: each against its defining property, computed independently here, on the CPU path
//! and through the GPU engine; slices equal the whole.

mod common;

use weight_init::Error;
use weight_init::cpu;
use weight_init::dtype::Dtype;
use weight_init::engine::Engine;
use weight_init::gpu::GpuContext;
use weight_init::spec::{FillPlan, TensorSpec};

fn plan(shape: &[u64], scheme: &str, seed: u64) -> FillPlan {
    TensorSpec::new("w", shape.to_vec(), scheme.parse().unwrap())
        .plan(seed)
        .unwrap()
}

fn values(plan: &FillPlan) -> Vec<f32> {
    let mut out = vec![0.0f32; plan.len_elems as usize];
    cpu::fill_range(plan, 0, &mut out).unwrap();
    out
}

/// `M M^T` (or `M^T M` when `transpose`) of a row-major `rows x cols` matrix, in f64.
fn gram(m: &[f32], rows: usize, cols: usize, transpose: bool) -> Vec<Vec<f64>> {
    let at = |r: usize, c: usize| f64::from(m[r * cols + c]);
    let n = if transpose { cols } else { rows };
    let k = if transpose { rows } else { cols };
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    (0..k)
                        .map(|t| {
                            if transpose {
                                at(t, i) * at(t, j)
                            } else {
                                at(i, t) * at(j, t)
                            }
                        })
                        .sum()
                })
                .collect()
        })
        .collect()
}

/// Largest |G - gain^2 I| entry.
fn distance_from_scaled_identity(g: &[Vec<f64>], gain: f64) -> f64 {
    let mut worst = 0.0f64;
    for (i, row) in g.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let target = if i == j { gain * gain } else { 0.0 };
            worst = worst.max((v - target).abs());
        }
    }
    worst
}

#[test]
fn orthogonal_rows_or_columns_are_orthonormal_times_the_gain() {
    // f32 storage of an f64 QR: entries carry ~6e-8 relative error, so sums of up to a few
    // hundred products stay within 1e-5 of the identity.
    for (shape, scheme, rows, cols, wide, gain) in [
        (vec![64, 3, 7, 7], "orthogonal", 64, 147, true, 1.0),
        (vec![200, 50], "orthogonal(gain=2)", 200, 50, false, 2.0),
        (vec![33, 33], "orthogonal(gain=0.5)", 33, 33, true, 0.5),
        (vec![128, 96], "jax-orthogonal", 128, 96, false, 1.0),
    ] {
        let w = values(&plan(&shape, scheme, 9));
        let worst = distance_from_scaled_identity(&gram(&w, rows, cols, !wide), gain);
        assert!(
            worst < 1e-5,
            "{scheme} {shape:?}: |W W^T - g^2 I| = {worst}"
        );
    }
    // JAX's column axis: columns along axis 0 of (16, 3, 3, 4) are orthonormal vectors of
    // length 36, read with a stride of 36.
    let w = values(&plan(&[16, 3, 3, 4], "jax-orthogonal(column_axis=0)", 4));
    let as_matrix: Vec<f32> = (0..36)
        .flat_map(|r| (0..16).map(move |c| (r, c)))
        .map(|(r, c)| w[c * 36 + r])
        .collect();
    let worst = distance_from_scaled_identity(&gram(&as_matrix, 36, 16, true), 1.0);
    assert!(worst < 1e-5, "column_axis=0: {worst}");
}

#[test]
fn orthogonal_is_sign_corrected_so_entries_are_symmetric_about_zero() {
    // Q of a Householder QR without the sign correction is biased (R's diagonal has a fixed
    // sign pattern); with it, Q is Haar-distributed and Q[0][0] has mean 0, variance 1/8
    // for 8 x 8. 400 seeds: the mean's sd is sqrt(1/8/400) = 0.0177; bound 3.29 sd.
    let n = 400;
    let mean = (0..n)
        .map(|seed| f64::from(values(&plan(&[8, 8], "orthogonal", seed))[0]))
        .sum::<f64>()
        / n as f64;
    assert!(
        mean.abs() < 3.29 * (1.0 / 8.0 / n as f64).sqrt(),
        "mean {mean}"
    );
}

#[test]
fn sparse_zeros_exactly_the_fraction_of_each_column_at_random_rows() {
    let (rows, cols, sparsity) = (100usize, 300usize, 0.37);
    let p = plan(
        &[rows as u64, cols as u64],
        "sparse(sparsity=0.37, std=0.05)",
        1,
    );
    let w = values(&p);
    let zeros = (sparsity * rows as f64).ceil() as usize;
    let normal = values(&plan(&[rows as u64, cols as u64], "normal(std=0.05)", 1));
    let mut per_row = vec![0usize; rows];
    for c in 0..cols {
        let zero_rows: Vec<usize> = (0..rows).filter(|&r| w[r * cols + c] == 0.0).collect();
        assert_eq!(zero_rows.len(), zeros, "column {c}");
        for &r in &zero_rows {
            per_row[r] += 1;
        }
        // The rest are the tensor's N(0, std^2) values at the same indices.
        for r in (0..rows).filter(|r| !zero_rows.contains(r)) {
            assert_eq!(w[r * cols + c], normal[r * cols + c]);
        }
    }
    // Each row is zeroed in a column with probability 0.37: binomial(300, 0.37) per row,
    // sd 8.4; every row within 4.5 sd of 111 (all 100 at once: 1 - 100 * 7e-6).
    let expected = cols as f64 * zeros as f64 / rows as f64;
    let sd = (expected * (1.0 - zeros as f64 / rows as f64)).sqrt();
    for (r, &count) in per_row.iter().enumerate() {
        assert!(
            (count as f64 - expected).abs() < 4.5 * sd,
            "row {r}: zeroed in {count} columns, expected {expected}"
        );
    }
}

#[test]
fn eye_dirac_and_delta_orthogonal_follow_pytorch_and_jax_layouts() {
    let eye = values(&plan(&[3, 5], "eye", 0));
    for (i, &v) in eye.iter().enumerate() {
        assert_eq!(v, f32::from(u8::from(i / 5 == i % 5)), "eye element {i}");
    }
    // dirac(groups=2) on (4, 3, 4): out per group 2, min(2, 3) = 2 ones per group at the
    // centre 4 // 2 = 2: [0, 0, 2], [1, 1, 2], [2, 0, 2], [3, 1, 2].
    let dirac = values(&plan(&[4, 3, 4], "dirac(groups=2)", 0));
    let ones: Vec<usize> = (0..dirac.len()).filter(|&i| dirac[i] == 1.0).collect();
    let at = |o: usize, i: usize, k: usize| (o * 3 + i) * 4 + k;
    assert_eq!(ones, [at(0, 0, 2), at(1, 1, 2), at(2, 0, 2), at(3, 1, 2)]);
    assert!(dirac.iter().all(|&v| v == 0.0 || v == 1.0));
    // delta-orthogonal on (4, 2, 3, 5): kernel 4 x 2, centre ((4-1)//2, (2-1)//2) = (1, 0),
    // not dirac's (2, 1); there an orthogonal (3, 5) matrix with orthonormal rows.
    let delta = values(&plan(&[4, 2, 3, 5], "jax-delta-orthogonal(scale=2)", 6));
    for k1 in 0..4 {
        for k2 in 0..2 {
            let block = &delta[(k1 * 2 + k2) * 15..(k1 * 2 + k2 + 1) * 15];
            if (k1, k2) == (1, 0) {
                let worst = distance_from_scaled_identity(&gram(block, 3, 5, false), 2.0);
                assert!(worst < 1e-5, "centre block: {worst}");
            } else {
                assert!(block.iter().all(|&v| v == 0.0), "block ({k1}, {k2})");
            }
        }
    }
}

#[test]
fn whole_tensor_schemes_give_the_same_slices_in_every_dtype_and_on_the_gpu() {
    let gpu = common::gpu("whole_tensor_schemes_on_the_gpu");
    for (shape, scheme) in [
        (vec![40u64, 30], "orthogonal"),
        (vec![40, 30], "sparse(sparsity=0.5)"),
        (vec![6, 4, 3, 3], "dirac(groups=3)"),
        (vec![3, 3, 4, 6], "jax-delta-orthogonal"),
        (vec![7, 9], "eye"),
    ] {
        let p = plan(&shape, scheme, 77);
        let whole = values(&p);
        for dtype in [Dtype::F32, Dtype::F16, Dtype::BF16] {
            let mut full = vec![0u8; whole.len() * dtype.size_bytes()];
            dtype.encode(&whole, &mut full);
            // A ragged slice through the middle, on the CPU path and the GPU engine.
            let (first, len) = (37usize, whole.len() - 50);
            let expect = &full[first * dtype.size_bytes()..(first + len) * dtype.size_bytes()];
            let mut got = vec![0u8; expect.len()];
            Engine::Cpu
                .fill_range_as(&p, dtype, first as u64, &mut got)
                .unwrap();
            assert_eq!(got, expect, "{scheme} {dtype} on the CPU");
            if let Some(gpu) = &gpu {
                got.fill(0);
                gpu.fill_range_as(&p, dtype, first as u64, &mut got)
                    .unwrap();
                assert_eq!(got, expect, "{scheme} {dtype} through the GPU context");
            }
        }
    }
}

#[test]
fn whole_tensor_schemes_refuse_to_record_into_a_caller_buffer() {
    let Some(gpu) = common::gpu("whole_tensor_schemes_refuse_to_record") else {
        return;
    };
    let gpu: &GpuContext = &gpu;
    let p = plan(&[8, 8], "orthogonal", 1);
    let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: 256,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    let mut encoder = gpu
        .device()
        .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
    let err = gpu
        .record_fill(&mut encoder, &p, Dtype::F32, 0, 64, &buffer, 0)
        .unwrap_err();
    assert!(err.to_string().contains("whole tensor"), "{err}");
}

#[test]
fn grouped_and_transposed_convolutions_change_only_the_fans_asked_for() {
    let std = |shape: &[u64], scheme: &str| plan(shape, scheme, 0).distribution.std();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b;
    // Grouped (out 8, in/groups 1, 3, 3), groups 4: fan_in 9 either way; fan_out 8 * 9 by
    // default (PyTorch), 8 / 4 * 9 = 18 with groups.
    let g = [8u64, 1, 3, 3];
    assert!(close(std(&g, "he"), (2.0f64 / 9.0).sqrt()));
    assert!(close(std(&g, "he(mode=fan_out)"), (2.0f64 / 72.0).sqrt()));
    assert!(close(
        std(&g, "he(mode=fan_out, groups=4)"),
        (2.0f64 / 18.0).sqrt()
    ));
    assert!(close(std(&g, "xavier(groups=4)"), (2.0f64 / 27.0).sqrt()));
    // Transposed (in 8, out/groups 2, 3, 3) with groups 4: fan_in = 8 / 4 * 9 = 18,
    // fan_out = 2 * 9 = 18; PyTorch's default reads fan_in = 2 * 9.
    let t = [8u64, 2, 3, 3];
    assert!(close(std(&t, "lecun"), (1.0f64 / 18.0).sqrt()));
    assert!(close(
        std(&t, "lecun(groups=4, transposed=true)"),
        (1.0f64 / 18.0).sqrt()
    ));
    assert!(close(
        std(&t, "he(transposed=true)"),
        (2.0f64 / 72.0).sqrt()
    ));
}

#[test]
fn bad_shapes_and_parameters_of_the_new_schemes_name_the_rule() {
    let err = |shape: &[u64], scheme: &str| -> Error {
        match scheme.parse::<weight_init::scheme::Scheme>() {
            Err(e) => e,
            Ok(s) => TensorSpec::new("w", shape.to_vec(), s).plan(0).unwrap_err(),
        }
    };
    for (shape, scheme, needle) in [
        (vec![5u64], "orthogonal", "at least 2 dimensions"),
        (
            vec![4, 4, 4],
            "sparse(sparsity=0.1)",
            "exactly 2 dimensions",
        ),
        (vec![4, 4], "sparse", "sparsity"),
        (vec![4, 4], "sparse(sparsity=1.5)", "1.5"),
        (vec![4, 4], "dirac", "3, 4 or 5 dimensions"),
        (vec![5, 4, 3], "dirac(groups=2)", "does not divide"),
        (vec![3, 5, 4], "jax-delta-orthogonal", "in <= out"),
        (vec![6, 2, 3], "he(groups=4)", "does not divide"),
        (vec![6, 2, 3], "he(groups=0)", "groups"),
        (vec![4, 4], "trunc-normal(a=2, b=1)", "below b"),
        (vec![4, 4], "trunc-normal(std=0)", "std"),
        (vec![4, 4], "trunc-normal(a=20, b=inf)", "probability"),
        (vec![4, 4], "variance-scaling(scale=1)", "mode is missing"),
        (
            vec![4, 4],
            "variance-scaling(scale=1, mode=fan_sum, distribution=normal)",
            "fan_sum",
        ),
        (vec![4, 4], "jax-he-normal(scale=3)", "fixes scale"),
        (vec![4, 4], "jax-glorot-uniform(in_axis=5)", "in_axis 5"),
        (vec![4], "jax-lecun-normal", "at least 2 dimensions"),
        (
            vec![4, 4, 4],
            "jax-orthogonal(column_axis=3)",
            "column_axis",
        ),
        (vec![1 << 14, 1 << 13], "orthogonal", "67108864"),
    ] {
        let e = err(&shape, scheme);
        assert!(
            e.to_string().contains(needle),
            "{scheme} {shape:?}: {e} lacks {needle:?}"
        );
    }
}

#[test]
fn the_example_spec_of_every_kind_of_initializer_writes_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model.safetensors");
    let spec = format!("{}/examples/initializers.toml", env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_weight-init"))
        .args(["init", "--device", "cpu", "--spec"])
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let bytes = std::fs::read(&out).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(file.len(), 9);
    let floats = |name: &str| -> Vec<f32> {
        let view = file.tensor(name).unwrap();
        Dtype::F32.decode(view.data())
    };
    let patch = floats("patch_embed.weight");
    assert!(patch.iter().all(|v| v.abs() <= 0.04));
    let rnn = floats("rnn.weight_hh");
    // (512, 128) is tall: its 128 columns are orthonormal.
    let worst = distance_from_scaled_identity(&gram(&rnn, 512, 128, true), 1.0);
    assert!(worst < 1e-5, "rnn.weight_hh: {worst}");
    let sparse = floats("sparse.weight");
    let zeros = sparse.iter().filter(|&&v| v == 0.0).count();
    // ceil(0.9 * 256) = 231 zeros in each of 128 columns.
    assert_eq!(zeros, 231 * 128);
}
