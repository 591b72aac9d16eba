//! The GPU path computes the CPU path's values: raw words bit for bit, floats bit for bit on
//! IEEE-rounding devices (lavapipe) and within [`FLOAT_BOUND`] elsewhere.

mod common;

use weight_init::dtype::Dtype;
use weight_init::scheme::Scheme;
use weight_init::spec::TensorSpec;
use weight_init::transform::{Distribution, MAX_ABS_NORMAL};

/// Largest GPU-CPU difference allowed on a device that does not round division and sqrt as
/// IEEE 754 requires (WGSL allows 2.5 ulp for both) or that fuses multiply-adds: relative
/// 2^-20 (eight f32 ulps) of the larger of |value| and the scheme's scale. The ulp errors of
/// the divide in the logarithm and of the square root each stay within a few ulps of the
/// radius, and a fused multiply-add changes a product by at most one rounding.
const FLOAT_BOUND: f32 = 1.0 / 1_048_576.0;

/// Compares GPU floats with the CPU's: identical on software adapters (lavapipe rounds every
/// operation as IEEE 754 requires, and evaluates no fused multiply-add), within
/// [`FLOAT_BOUND`] elsewhere. Returns the number of elements that differ in any bit.
fn assert_floats_agree(cpu: &[f32], gpu: &[f32], scale: f32, exact: bool, what: &str) -> usize {
    assert_eq!(cpu.len(), gpu.len());
    let mut differing = 0;
    for (i, (&c, &g)) in cpu.iter().zip(gpu).enumerate() {
        assert!(g.is_finite(), "{what}: GPU element {i} is {g}");
        if c.to_bits() == g.to_bits() {
            continue;
        }
        differing += 1;
        assert!(
            !exact,
            "{what}: element {i} differs: CPU {c:e} GPU {g:e} ({} ulp)",
            common::ulp_distance(c, g)
        );
        let bound = FLOAT_BOUND * c.abs().max(scale);
        assert!(
            (c - g).abs() <= bound,
            "{what}: element {i}: CPU {c:e} GPU {g:e} > {bound:e}"
        );
    }
    differing
}

#[test]
fn raw_words_agree_bit_for_bit_over_2_pow_24_words_across_chunks() {
    let Some(mut gpu) = common::gpu("raw_words_agree_bit_for_bit_over_2_pow_24_words") else {
        return;
    };
    // 2^20 words per dispatch: 16 chunks, starting at an odd block near a 2^32 boundary.
    gpu.set_max_chunk_elems(Some(1 << 20));
    let first_block = (1u64 << 32) - 12_345;
    let mut on_gpu = vec![0u32; 1 << 24];
    let mut on_cpu = vec![0u32; 1 << 24];
    gpu.words(0x0123_4567_89AB_CDEF, 42, first_block, &mut on_gpu)
        .expect("gpu words");
    weight_init::cpu::words(0x0123_4567_89AB_CDEF, 42, first_block, &mut on_cpu).unwrap();
    let first_bad = on_gpu.iter().zip(&on_cpu).position(|(g, c)| g != c);
    assert_eq!(first_bad, None, "first differing word");
}

#[test]
fn the_emulated_and_the_64_bit_multiply_give_the_cpu_words_and_normals() {
    let Some(mut gpu) = common::gpu("the_emulated_and_the_64_bit_multiply_give_the_cpu_words")
    else {
        return;
    };
    let variants = common::multiplies(&gpu);
    eprintln!("multiply variants on this device: {variants:?}");
    let first_block = (1u64 << 32) - 1_000;
    let mut on_cpu = vec![0u32; 1 << 20];
    weight_init::cpu::words(7, 0xFFFF_FFFF_0000_0001, first_block, &mut on_cpu).unwrap();
    let plan = TensorSpec::new("multiply", vec![512, 512], "normal".parse().unwrap())
        .plan(11)
        .unwrap();
    let mut normals_cpu = vec![0.0f32; 512 * 512];
    weight_init::cpu::fill_range(&plan, 0, &mut normals_cpu).unwrap();
    for multiply in variants {
        gpu.set_multiply(multiply).expect("an available multiply");
        let mut on_gpu = vec![0u32; 1 << 20];
        gpu.words(7, 0xFFFF_FFFF_0000_0001, first_block, &mut on_gpu)
            .expect("gpu words");
        let first_bad = on_gpu.iter().zip(&on_cpu).position(|(g, c)| g != c);
        assert_eq!(first_bad, None, "{multiply:?}: first differing word");

        let mut normals_gpu = vec![0.0f32; 512 * 512];
        gpu.fill_range(&plan, 0, &mut normals_gpu)
            .expect("gpu fill");
        let what = format!("normals, {multiply:?} multiply");
        assert_floats_agree(&normals_cpu, &normals_gpu, 1.0, gpu.is_software(), &what);
    }
}

#[test]
fn every_workgroup_size_gives_the_cpu_words_and_values() {
    let Some(mut gpu) = common::gpu("every_workgroup_size_gives_the_cpu_words_and_values") else {
        return;
    };
    let first_block = (1u64 << 32) - 300;
    let mut on_cpu = vec![0u32; 40_000];
    weight_init::cpu::words(3, 0x1234_5678_9ABC_DEF0, first_block, &mut on_cpu).unwrap();
    // A 2-byte dtype at an odd element range, so the partial words at both ends are covered.
    let plan = TensorSpec::new("wg", vec![301, 7], "he".parse().unwrap())
        .plan(5)
        .unwrap();
    let (start, end) = (3u64, 2_000u64);
    let mut bf16_cpu = vec![0u8; 2 * (end - start) as usize];
    weight_init::cpu::fill_range_as(&plan, Dtype::BF16, start, &mut bf16_cpu).unwrap();
    let limits = gpu.device().limits();
    let largest = limits
        .max_compute_invocations_per_workgroup
        .min(limits.max_compute_workgroup_size_x);
    for size in [1, 7, 64, 255, largest] {
        gpu.set_workgroup_size(size)
            .expect("a size within the limits");
        assert_eq!(gpu.workgroup_size(), size);
        let mut on_gpu = vec![0u32; on_cpu.len()];
        gpu.words(3, 0x1234_5678_9ABC_DEF0, first_block, &mut on_gpu)
            .expect("gpu words");
        let first_bad = on_gpu.iter().zip(&on_cpu).position(|(g, c)| g != c);
        assert_eq!(
            first_bad, None,
            "workgroup size {size}: first differing word"
        );
        let mut bf16_gpu = vec![0u8; bf16_cpu.len()];
        gpu.fill_range_as(&plan, Dtype::BF16, start, &mut bf16_gpu)
            .expect("gpu fill");
        let bits = |b: &[u8]| -> Vec<u16> {
            b.chunks(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect()
        };
        let ulps = bits(&bf16_cpu)
            .iter()
            .zip(&bits(&bf16_gpu))
            .map(|(c, g)| c.abs_diff(*g))
            .max()
            .unwrap();
        assert!(
            ulps <= 1,
            "workgroup size {size}: bf16 values {ulps} ulp apart"
        );
    }
    let too_big = largest + 1;
    let err = gpu.set_workgroup_size(too_big).unwrap_err().to_string();
    assert!(err.contains(&too_big.to_string()), "{err}");
    assert_eq!(
        gpu.workgroup_size(),
        largest,
        "a refused size changes nothing"
    );
    assert!(gpu.set_workgroup_size(0).is_err());
}

#[test]
fn every_scheme_agrees_with_the_cpu_at_odd_offsets_and_chunk_sizes() {
    let Some(mut gpu) = common::gpu("every_scheme_agrees_with_the_cpu") else {
        return;
    };
    let exact = gpu.is_software();
    for scheme in [
        "normal",
        "normal(mean=0.5, std=3)",
        "uniform(low=-2, high=5)",
        "he",
        "he-uniform(mode=fan_out)",
        "xavier",
        "xavier-uniform(gain=2)",
        "lecun",
        "ones",
        "constant(value=-0.25)",
        "trunc-normal",
        "trunc-normal(mean=1, std=0.002, a=-2, b=2)",
        "trunc-normal(a=5.5, b=inf)",
        "jax-truncated-normal(stddev=0.5, lower=-8, upper=-5.6)",
        "jax-he-normal",
        "variance-scaling(scale=3, mode=fan_geo_avg, distribution=uniform)",
        "jax-uniform",
        // Whole-tensor schemes: the GPU context hands them to the CPU path.
        "orthogonal",
        "sparse(sparsity=0.3)",
        "eye",
    ] {
        let spec = TensorSpec::new("layer.7.weight", vec![300, 257], scheme.parse().unwrap());
        let plan = spec.plan(2024).unwrap();
        let scale = plan.affine().scale;
        let mut cpu = vec![0.0f32; 70_001];
        weight_init::cpu::fill_range(&plan, 3, &mut cpu).unwrap();
        // A chunk that is not a multiple of the block size's natural alignment of the range.
        for chunk in [None, Some(1_001), Some(4)] {
            gpu.set_max_chunk_elems(chunk);
            let mut on_gpu = vec![f32::NAN; if chunk == Some(4) { 999 } else { cpu.len() }];
            gpu.fill_range(&plan, 3, &mut on_gpu).unwrap();
            let what = format!("{scheme}, chunk {chunk:?}");
            assert_floats_agree(&cpu[..on_gpu.len()], &on_gpu, scale, exact, &what);
        }
    }
}

#[test]
fn normals_agree_over_2_pow_22_elements() {
    let Some(mut gpu) = common::gpu("normals_agree_over_2_pow_22_elements") else {
        return;
    };
    gpu.set_max_chunk_elems(Some(1 << 20));
    let plan = TensorSpec::new("big", vec![1 << 22], Scheme::default())
        .plan(5)
        .unwrap();
    let mut cpu = vec![0.0f32; 1 << 22];
    let mut on_gpu = vec![0.0f32; 1 << 22];
    weight_init::cpu::fill_range(&plan, 0, &mut cpu).unwrap();
    gpu.fill_range(&plan, 0, &mut on_gpu).unwrap();
    let differing = assert_floats_agree(&cpu, &on_gpu, 1.0, gpu.is_software(), "N(0,1)");
    eprintln!(
        "{} of {} normals differ in any bit on {}",
        differing,
        cpu.len(),
        gpu.adapter_info().name
    );
}

#[test]
fn extreme_words_give_finite_bounded_values_on_both_paths() {
    let Some(gpu) = common::gpu("extreme_words_give_finite_bounded_values") else {
        return;
    };
    let extremes = [0u32, 1, 0xFFFF_FF7F, 0xFFFF_FF80, 0xFFFF_FFFF];
    // Every ordered pair in both Box-Muller slots of a block.
    let mut words = Vec::new();
    for &a in &extremes {
        for &b in &extremes {
            words.extend([a, b, b, a]);
        }
    }
    let truncated = |low: f32, high: f32| Distribution::TruncatedNormal {
        mean: 0.0,
        std: 1.0,
        low,
        high,
    };
    for dist in [
        Distribution::Normal {
            mean: 0.0,
            std: 1.0,
        },
        Distribution::Uniform {
            low: -1.0,
            high: 1.0,
        },
        truncated(f32::NEG_INFINITY, f32::INFINITY),
        truncated(-2.0, 2.0),
        // Far tail: the inverse CDF reaches its third piece here.
        truncated(5.5, f32::INFINITY),
        truncated(f32::NEG_INFINITY, -11.0),
    ] {
        let affine = dist.affine();
        let kind = affine.kind;
        // Box-Muller and the uniform stay within MAX_ABS_NORMAL; a truncated normal within
        // its bounds.
        let (low, high) = match dist {
            Distribution::TruncatedNormal { low, high, .. } => (low, high),
            _ => (-MAX_ABS_NORMAL, MAX_ABS_NORMAL),
        };
        let cpu: Vec<f32> = words
            .chunks_exact(4)
            .flat_map(|b| affine.block_values([b[0], b[1], b[2], b[3]]))
            .collect();
        let mut on_gpu = words.clone();
        gpu.transform_words(affine, &mut on_gpu)
            .expect("gpu transform");
        let on_gpu: Vec<f32> = on_gpu.into_iter().map(f32::from_bits).collect();
        for (&c, &g) in cpu.iter().zip(&on_gpu) {
            assert!(c.is_finite() && g.is_finite(), "{kind:?}: CPU {c} GPU {g}");
            assert!(
                (low..=high).contains(&c) && (low..=high).contains(&g),
                "{dist:?}: CPU {c} GPU {g} outside [{low}, {high}]"
            );
        }
        assert_floats_agree(
            &cpu,
            &on_gpu,
            1.0,
            gpu.is_software(),
            &format!("{kind:?} extremes of {dist:?}"),
        );
    }
}

#[test]
fn slices_around_element_2_pow_31_and_2_pow_32_agree_and_do_not_repeat() {
    let Some(gpu) = common::gpu("slices_around_element_2_pow_32") else {
        return;
    };
    // A (65536, 65537) tensor has more than 2^32 elements; only 16-element slices are made.
    let plan = TensorSpec::new("huge", vec![65_536, 65_537], "he".parse().unwrap())
        .plan(11)
        .unwrap();
    for centre in [1u64 << 31, 1u64 << 32] {
        let first = centre - 8;
        let mut cpu = [0.0f32; 16];
        let mut on_gpu = [0.0f32; 16];
        weight_init::cpu::fill_range(&plan, first, &mut cpu).unwrap();
        gpu.fill_range(&plan, first, &mut on_gpu).unwrap();
        assert_floats_agree(
            &cpu,
            &on_gpu,
            plan.affine().scale,
            gpu.is_software(),
            "2^32 slice",
        );
        // Elements 2^32 .. 2^32 + 8 must differ from elements 0 .. 8, onto which a 32-bit
        // index would wrap.
        if centre == 1 << 32 {
            let mut wrapped = [0.0f32; 8];
            weight_init::cpu::fill_range(&plan, 0, &mut wrapped).unwrap();
            assert!(
                cpu[8..].iter().zip(&wrapped).all(|(a, b)| a != b),
                "values repeat 2^32 earlier: {:?} vs {wrapped:?}",
                &cpu[8..]
            );
        }
    }
}

#[test]
fn f16_and_bf16_outputs_agree_bit_for_bit_and_stay_finite() {
    let Some(mut gpu) = common::gpu("f16_and_bf16_outputs_agree") else {
        return;
    };
    gpu.set_max_chunk_elems(Some(40_000));
    let exact = gpu.is_software();
    for dtype in [Dtype::F16, Dtype::BF16, Dtype::F32] {
        for (scheme, seed) in [
            ("normal", 1u64),
            ("normal(std=30000)", 2),
            ("uniform(low=-1e-6, high=1e-6)", 3),
            ("he", 4),
            // Bounds that are not f16/bf16 values: the clamp rounds them inward per dtype.
            ("trunc-normal(mean=0.3, std=0.7, a=0.1, b=0.7)", 5),
            ("trunc-normal(a=5.5, b=inf)", 6),
        ] {
            let plan = TensorSpec::new("w", vec![1000, 301], scheme.parse().unwrap())
                .plan(seed)
                .unwrap();
            // An odd start and length: the first and last 4-byte words hold one element each.
            let (first, len) = (5u64, 250_001usize);
            let mut cpu = vec![0u8; len * dtype.size_bytes()];
            let mut on_gpu = vec![0u8; len * dtype.size_bytes()];
            weight_init::cpu::fill_range_as(&plan, dtype, first, &mut cpu).unwrap();
            gpu.fill_range_as(&plan, dtype, first, &mut on_gpu).unwrap();
            let (c, g) = (dtype.decode(&cpu), dtype.decode(&on_gpu));
            assert!(
                g.iter().all(|v| v.is_finite()),
                "{dtype} {scheme}: non-finite GPU value"
            );
            if exact {
                assert!(cpu == on_gpu, "{dtype} {scheme}: bytes differ");
            } else {
                // One rounding step of the target type on top of the f32 bound.
                let step = if dtype == Dtype::BF16 {
                    1.0 / 128.0
                } else {
                    1.0 / 1024.0
                };
                for (a, b) in c.iter().zip(&g) {
                    assert!((a - b).abs() <= step * a.abs().max(plan.affine().scale));
                }
            }
            let decoded = dtype.decode(&cpu);
            if let Distribution::TruncatedNormal { low, high, .. } = plan.distribution {
                assert!(
                    decoded.iter().all(|v| (low..=high).contains(v)),
                    "{dtype} {scheme}: a value left [{low}, {high}]"
                );
                // Its f32 values clamp to the f32 bounds, so they convert differently.
                continue;
            }
            // The f32 values, converted on the host, give the same bytes as the device did.
            let mut values = vec![0.0f32; len];
            weight_init::cpu::fill_range(&plan, first, &mut values).unwrap();
            let mut converted = vec![0u8; cpu.len()];
            dtype.encode(&values, &mut converted);
            assert!(
                converted == cpu,
                "{dtype} {scheme}: fill_range_as differs from encode"
            );
        }
    }
}

#[test]
fn device_conversion_rounds_edge_values_like_the_half_crate() {
    let Some(gpu) = common::gpu("device_conversion_rounds_edge_values") else {
        return;
    };
    let tiny = 2.0f32.powi(-24);
    let mut edges = vec![
        0.0f32,
        -0.0,
        1.0,
        65_504.0,
        65_519.0,
        65_520.0,
        1e9,
        f32::MAX,
        f32::MIN_POSITIVE,
        tiny,
        tiny / 2.0,
        tiny / 2.0 * 1.000_001,
        tiny * 1.5,
        tiny * 2.5,
        2.0f32.powi(-14),
        2.0f32.powi(-14) * (1.0 - 2.0f32.powi(-11)),
        1.0 + 1.0 / 2048.0,
        1.0 + 3.0 / 2048.0,
        1.0 + 1.0 / 256.0,
        1.0 + 3.0 / 256.0,
        3.389_531_4e38,
    ];
    edges.extend(edges.clone().iter().map(|v| -v));
    for dtype in [Dtype::F16, Dtype::BF16] {
        for &value in &edges {
            // A constant tensor of 3 elements makes the device convert exactly `value`.
            let plan = weight_init::spec::FillPlan {
                key: [0, 0],
                stream: 0,
                distribution: Distribution::Constant { value },
                len_elems: 3,
            };
            let mut on_gpu = vec![0u8; 3 * 2];
            gpu.fill_range_as(&plan, dtype, 0, &mut on_gpu).unwrap();
            let mut expected = vec![0u8; 3 * 2];
            dtype.encode(&[value; 3], &mut expected);
            assert_eq!(
                on_gpu,
                expected,
                "{dtype} of {value:e} ({:#010x})",
                value.to_bits()
            );
        }
    }
}

#[test]
fn every_simd_level_of_the_cpu_path_agrees_with_the_gpu() {
    let Some(gpu) = common::gpu("every_simd_level_of_the_cpu_path_agrees_with_the_gpu") else {
        return;
    };
    let exact = gpu.is_software();
    for scheme in [
        "normal(mean=0.1, std=2)",
        "he-uniform",
        "trunc-normal(a=-1, b=0.5)",
        "trunc-normal(a=5.5, b=inf)",
    ] {
        let plan = TensorSpec::new("simd", vec![5003, 17], scheme.parse().unwrap())
            .plan(31)
            .unwrap();
        let mut on_gpu = vec![0.0f32; 85_001];
        gpu.fill_range(&plan, 2, &mut on_gpu).unwrap();
        for simd in weight_init::cpu::Simd::available() {
            let mut cpu = vec![0.0f32; on_gpu.len()];
            weight_init::cpu::fill_range_with(simd, &plan, 2, &mut cpu).unwrap();
            let what = format!("{scheme} with {}", simd.name());
            assert_floats_agree(&cpu, &on_gpu, plan.affine().scale, exact, &what);
        }
    }
}

#[test]
fn a_tensor_larger_than_one_storage_binding_matches_the_cpu() {
    let Some(gpu) = common::gpu("a_tensor_larger_than_one_storage_binding") else {
        return;
    };
    // Past the binding limit (128 MiB on lavapipe), with the device's own chunking.
    let binding_elems = gpu.chunk_elems();
    let len = (binding_elems + 12_345) as usize;
    let plan = TensorSpec::new("big", vec![len as u64], "he-uniform".parse().unwrap());
    let plan = TensorSpec {
        shape: vec![len as u64 / 5, 5],
        ..plan
    }
    .plan(3)
    .unwrap();
    let mut on_gpu = vec![0.0f32; len / 5 * 5];
    let mut cpu = vec![0.0f32; on_gpu.len()];
    gpu.fill_range(&plan, 0, &mut on_gpu).unwrap();
    weight_init::cpu::fill_range(&plan, 0, &mut cpu).unwrap();
    assert_floats_agree(
        &cpu,
        &on_gpu,
        plan.affine().scale,
        gpu.is_software(),
        "two dispatches",
    );
}
