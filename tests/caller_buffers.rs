//! Fills recorded into a caller's buffer and encoder: exactly the requested bytes change, with
//! the values of every other fill, and the caller's own passes around it see what they expect.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use weight_init::dtype::Dtype;
use weight_init::gpu::GpuContext;
use weight_init::spec::{FillPlan, TensorSpec};

/// A byte no fill produces in every position of a buffer: a poison to detect stray writes.
const POISON: u8 = 0xA5;

/// The caller's own compute shader, with a pass to run before a fill and one after it.
const CALLER_PASSES_WGSL: &str = include_str!("../shaders/caller_passes.wgsl");

/// Workgroup size of the caller's passes: the shader's `WORKGROUP_SIZE` override.
const WORKGROUP_SIZE: u32 = 64;

/// High bits of the caller's marker words, the shader's `MARK` override: "MA" in ASCII,
/// unlike the poison, and in neither half of a word like a bf16 weight below 0.5.
const MARK: u32 = 0x4D41_0000;

fn buffer(gpu: &GpuContext, bytes: u64) -> wgpu::Buffer {
    let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("caller buffer"),
        size: bytes,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    gpu.queue()
        .write_buffer(&buffer, 0, &vec![POISON; bytes as usize]);
    buffer
}

fn expected(plan: &FillPlan, dtype: Dtype, first: u64, len: u64) -> Vec<u8> {
    let mut out = vec![0u8; len as usize * dtype.size_bytes()];
    weight_init::cpu::fill_range_as(plan, dtype, first, &mut out).unwrap();
    out
}

/// A compute pipeline of the caller's own shader, with its bind group: `entry_point` of
/// `shaders/caller_passes.wgsl` over `buffers` (bindings 0, 1, ... in order).
fn caller_pass(
    gpu: &GpuContext,
    entry_point: &str,
    buffers: &[&wgpu::Buffer],
) -> (wgpu::ComputePipeline, wgpu::BindGroup) {
    let scope = gpu.device().push_error_scope(wgpu::ErrorFilter::Validation);
    let module = gpu
        .device()
        .create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("caller_passes.wgsl"),
            source: wgpu::ShaderSource::Wgsl(CALLER_PASSES_WGSL.into()),
        });

    let constants = [
        ("WORKGROUP_SIZE", f64::from(WORKGROUP_SIZE)),
        ("MARK", f64::from(MARK)),
    ];
    let pipeline = gpu
        .device()
        .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry_point),
            layout: None,
            module: &module,
            entry_point: Some(entry_point),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &constants,
                ..Default::default()
            },
            cache: None,
        });

    // The pipeline's own layout (`layout: None`) holds only the bindings its entry point uses.
    let entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(binding, buffer)| wgpu::BindGroupEntry {
            binding: binding as u32,
            resource: buffer.as_entire_binding(),
        })
        .collect();
    let bind_group = gpu.device().create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(entry_point),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    });

    if let Some(error) = pollster::block_on(scope.pop()) {
        panic!("the caller's {entry_point} pass: {error}");
    }
    (pipeline, bind_group)
}

/// Records one pass of the caller's `pass` over `words` words.
fn record_caller_pass(
    encoder: &mut wgpu::CommandEncoder,
    pass: &(wgpu::ComputePipeline, wgpu::BindGroup),
    words: u32,
) {
    let mut compute = encoder.begin_compute_pass(&Default::default());
    compute.set_pipeline(&pass.0);
    compute.set_bind_group(0, &pass.1, &[]);
    compute.dispatch_workgroups(words.div_ceil(WORKGROUP_SIZE), 1, 1);
}

#[test]
fn fills_at_odd_offsets_change_exactly_their_bytes_for_every_dtype() {
    let Some(gpu) = common::gpu("fills_at_odd_offsets_change_exactly_their_bytes") else {
        return;
    };
    let plan = TensorSpec::new("w", vec![64, 33], "he".parse().unwrap())
        .plan(12)
        .unwrap();
    let exact = gpu.is_software();
    for dtype in [Dtype::F32, Dtype::F16, Dtype::BF16] {
        let size = dtype.size_bytes() as u64;
        // (element offset in the buffer, first tensor element, length): odd starts and ends,
        // ranges inside one word, across the alignment of the binding, and long ones.
        for (dest, first, len) in [
            (0, 0, 1),
            (1, 0, 1),
            (1, 5, 2),
            (3, 7, 1),
            (5, 3, 9),
            (2, 2, 4),
            (7, 1, 130),
            (0, 2000, 111),
            (129, 13, 300),
            // Aligned whole blocks: the plain fill kernel writes them.
            (0, 0, 128),
            (8, 4, 64),
            (16, 8, 40),
        ] {
            let buffer = buffer(&gpu, 2048);
            gpu.fill_buffer(&plan, dtype, first, len, &buffer, dest * size)
                .unwrap();
            let bytes = common::read_buffer(&gpu, &buffer);
            let (lo, hi) = ((dest * size) as usize, ((dest + len) * size) as usize);
            let case = format!("{dtype}, dest {dest}, elements [{first}, {})", first + len);
            assert!(
                bytes[..lo].iter().all(|&b| b == POISON),
                "{case}: bytes before the range changed"
            );
            assert!(
                bytes[hi..].iter().all(|&b| b == POISON),
                "{case}: bytes after the range changed"
            );
            let want = expected(&plan, dtype, first, len);
            if exact {
                assert!(
                    bytes[lo..hi] == want[..],
                    "{case}: values differ from the CPU path"
                );
            } else {
                let (g, c) = (dtype.decode(&bytes[lo..hi]), dtype.decode(&want));
                let step = if dtype == Dtype::F32 {
                    1e-5
                } else {
                    1.0 / 128.0
                };
                assert!(
                    g.iter()
                        .zip(&c)
                        .all(|(a, b)| (a - b).abs() <= step * b.abs().max(0.1)),
                    "{case}"
                );
            }
        }
    }
}

#[test]
fn ranges_that_break_a_rule_are_refused_and_write_nothing() {
    let Some(gpu) = common::gpu("ranges_that_break_a_rule_are_refused") else {
        return;
    };
    let plan = TensorSpec::new("w", vec![16, 16], "normal".parse().unwrap())
        .plan(1)
        .unwrap();
    let buffer = buffer(&gpu, 256);
    let cases = [
        (Dtype::F32, 0, 4, 2, "multiple of the f32 element size 4"),
        (Dtype::BF16, 0, 4, 3, "multiple of the bf16 element size 2"),
        (Dtype::F32, 0, 65, 0, "pass the end"),
        (Dtype::F32, 250, 10, 0, "outside the tensor"),
    ];
    for (dtype, first, len, offset, needle) in cases {
        let err = gpu
            .fill_buffer(&plan, dtype, first, len, &buffer, offset)
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{err}");
    }
    let no_storage = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: 64,
        usage: wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let err = gpu
        .fill_buffer(&plan, Dtype::F32, 0, 4, &no_storage, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("STORAGE"), "{err}");
    assert!(
        common::read_buffer(&gpu, &buffer)
            .iter()
            .all(|&b| b == POISON),
        "a refused fill wrote bytes"
    );
}

#[test]
fn the_callers_pass_shader_parses_and_validates_with_naga() {
    let module =
        naga::front::wgsl::parse_str(CALLER_PASSES_WGSL).expect("caller_passes.wgsl parses");
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    )
    .validate(&module)
    .expect("caller_passes.wgsl validates");
}

#[test]
fn a_fill_recorded_between_the_callers_compute_passes_sees_and_leaves_their_data() {
    let Some(gpu) = common::gpu("a_fill_recorded_between_the_callers_compute_passes") else {
        return;
    };
    // He uniform with fan_in 24 is U(-0.5, 0.5): one rounded product per value, so the same
    // bits on every device. bf16 elements [7, 107) go to buffer bytes [74, 274), which start
    // and end in the middle of a 4-byte word.
    let plan = TensorSpec::new("w", vec![32, 24], "he-uniform".parse().unwrap())
        .plan(3)
        .unwrap();
    let (first, len, offset) = (7, 100, 2 * 37);
    let (lo, hi) = (offset as usize, (offset + 2 * len) as usize);
    let words = 256u32;
    let data = buffer(&gpu, 4 * u64::from(words));
    let seen = buffer(&gpu, 4 * u64::from(words));
    let mark = caller_pass(&gpu, "mark", &[&data]);
    let complement = caller_pass(&gpu, "complement", &[&data, &seen]);

    // One encoder, one submission: the caller's pass, our fill, the caller's pass.
    let scope = gpu.device().push_error_scope(wgpu::ErrorFilter::Validation);
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    record_caller_pass(&mut encoder, &mark, words);
    gpu.record_fill(&mut encoder, &plan, Dtype::BF16, first, len, &data, offset)
        .unwrap();
    record_caller_pass(&mut encoder, &complement, words);
    gpu.queue().submit([encoder.finish()]);
    if let Some(error) = pollster::block_on(scope.pop()) {
        panic!("the encoder was rejected: {error}");
    }

    let (bytes, seen_bytes) = (
        common::read_buffer(&gpu, &data),
        common::read_buffer(&gpu, &seen),
    );
    // The first pass's markers outside the range survive, the other halves of the two words
    // the range starts and ends in included; the range holds the fill's values, so the fill
    // ran after that pass.
    let marked: Vec<u8> = (0..words).flat_map(|i| (MARK | i).to_le_bytes()).collect();
    assert!(
        bytes[..lo] == marked[..lo] && bytes[hi..] == marked[hi..],
        "the first pass's words outside bytes [{lo}, {hi}), or their halves beside it, changed"
    );
    assert!(
        bytes[lo..hi] == expected(&plan, Dtype::BF16, first, len)[..],
        "the filled range differs from the CPU path's values"
    );
    // The second pass read the markers and the fill's values: it ran after the fill.
    let complemented: Vec<u8> = bytes.iter().map(|b| !b).collect();
    assert!(
        seen_bytes == complemented,
        "the second pass did not read the buffer as the fill left it"
    );
}

#[test]
fn a_fill_recorded_between_the_callers_copies_sees_and_leaves_their_data() {
    let Some(gpu) = common::gpu("a_fill_recorded_between_the_callers_copies") else {
        return;
    };
    let plan = TensorSpec::new("w", vec![100], "uniform".parse().unwrap())
        .plan(2)
        .unwrap();
    let target = buffer(&gpu, 512);
    let source = buffer(&gpu, 512);
    let after = buffer(&gpu, 512);
    gpu.queue().write_buffer(&source, 0, &[7u8; 512]);

    // The caller's copy, our fill of bytes [64, 64 + 2 * 50) as bf16, the caller's copy out.
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(&source, 0, &target, 0, None);
    gpu.record_fill(&mut encoder, &plan, Dtype::BF16, 10, 50, &target, 64)
        .unwrap();
    encoder.copy_buffer_to_buffer(&target, 0, &after, 0, None);
    gpu.queue().submit([encoder.finish()]);

    let bytes = common::read_buffer(&gpu, &after);
    assert!(
        bytes[..64].iter().chain(&bytes[164..]).all(|&b| b == 7),
        "the caller's data changed"
    );
    if gpu.is_software() {
        assert_eq!(bytes[64..164], expected(&plan, Dtype::BF16, 10, 50)[..]);
    }
}

#[test]
fn long_ranges_split_into_dispatches_keep_their_values_and_bounds() {
    let Some(mut gpu) = common::gpu("long_ranges_split_into_dispatches") else {
        return;
    };
    // Dispatches of at most 12 elements, each with its own aligned binding.
    gpu.set_max_chunk_elems(Some(12));
    let plan = TensorSpec::new("w", vec![5000], "normal".parse().unwrap())
        .plan(4)
        .unwrap();
    for dtype in [Dtype::F32, Dtype::F16] {
        let size = dtype.size_bytes() as u64;
        let buffer = buffer(&gpu, 8192);
        gpu.fill_buffer(&plan, dtype, 11, 1001, &buffer, 37 * size)
            .unwrap();
        let bytes = common::read_buffer(&gpu, &buffer);
        let (lo, hi) = ((37 * size) as usize, ((37 + 1001) * size) as usize);
        assert!(
            bytes[..lo].iter().chain(&bytes[hi..]).all(|&b| b == POISON),
            "{dtype}"
        );
        if gpu.is_software() {
            assert!(
                bytes[lo..hi] == expected(&plan, dtype, 11, 1001)[..],
                "{dtype}"
            );
        }
    }
}

#[test]
fn a_context_built_on_the_callers_device_shares_it() {
    let Some(own) = common::gpu("a_context_built_on_the_callers_device_shares_it") else {
        return;
    };
    // The caller's device and queue: here those of another context, standing in for an
    // application's own.
    let shared = GpuContext::from_device(own.device(), own.queue()).unwrap();
    let plan = TensorSpec::new("w", vec![40], "normal".parse().unwrap())
        .plan(8)
        .unwrap();
    let target = buffer(&own, 256);
    shared
        .fill_buffer(&plan, Dtype::F32, 0, 40, &target, 0)
        .unwrap();
    let bytes = common::read_buffer(&own, &target);
    if own.is_software() {
        assert_eq!(bytes[..160], expected(&plan, Dtype::F32, 0, 40)[..]);
    }
    assert!(bytes[160..].iter().all(|&b| b == POISON));
}

#[test]
fn a_whole_model_packs_into_one_buffer_in_one_submission() {
    let Some(gpu) = common::gpu("a_whole_model_packs_into_one_buffer") else {
        return;
    };
    let model = weight_init::model::Model::preset("llama-tiny")
        .unwrap()
        .with_dtype(Dtype::BF16);
    let (offsets, needed) = gpu.pack_offsets(&model.tensors).unwrap();
    let target = buffer(&gpu, needed + 64);
    let small = buffer(&gpu, needed - 4);
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let err = gpu
        .record_model(&mut encoder, &model.tensors, 5, &small)
        .unwrap_err();
    assert!(err.to_string().contains(&needed.to_string()), "{err}");
    assert_eq!(
        gpu.record_model(&mut encoder, &model.tensors, 5, &target)
            .unwrap(),
        offsets
    );
    gpu.queue().submit([encoder.finish()]);

    let bytes = common::read_buffer(&gpu, &target);
    let mut covered = vec![false; bytes.len()];
    for (t, &offset) in model.tensors.iter().zip(&offsets) {
        let plan = t.plan(5).unwrap();
        let (lo, hi) = (offset as usize, (offset + plan.len_elems * 2) as usize);
        if gpu.is_software() {
            assert!(
                bytes[lo..hi] == expected(&plan, Dtype::BF16, 0, plan.len_elems)[..],
                "{}",
                t.name
            );
        }
        covered[lo..hi].iter_mut().for_each(|c| *c = true);
    }
    let stray = bytes
        .iter()
        .zip(&covered)
        .filter(|(b, c)| !**c && **b != POISON)
        .count();
    assert_eq!(stray, 0, "bytes between or after the tensors changed");
}

#[test]
fn the_async_fill_writes_what_the_blocking_fill_writes() {
    let Some(gpu) = common::gpu("the_async_fill_writes_what_the_blocking_fill_writes") else {
        return;
    };
    let plan = TensorSpec::new("w", vec![64, 33], "he".parse().unwrap())
        .plan(21)
        .unwrap();
    // bf16 at an odd element offset: the range starts and ends inside 4-byte words.
    let (dtype, first, len, dest) = (Dtype::BF16, 3, 777, 5);
    let blocking = buffer(&gpu, 2048);
    gpu.fill_buffer(&plan, dtype, first, len, &blocking, dest * 2)
        .unwrap();
    let asynchronous = buffer(&gpu, 2048);

    // wgpu runs the completion callback from a device poll: a second thread polls until the
    // future, driven by pollster on this one, resolves.
    let done = AtomicBool::new(false);
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Acquire) {
                let _ = gpu.device().poll(wgpu::PollType::Poll);
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let filled = gpu.fill_buffer_async(&plan, dtype, first, len, &asynchronous, dest * 2);
        let result = pollster::block_on(filled);
        done.store(true, Ordering::Release);
        result
    });
    result.unwrap();

    let (want, got) = (
        common::read_buffer(&gpu, &blocking),
        common::read_buffer(&gpu, &asynchronous),
    );
    // An independent check of the range, so that two equally wrong fills cannot pass.
    let (lo, hi) = ((dest * 2) as usize, ((dest + len) * 2) as usize);
    assert!(got[..lo].iter().chain(&got[hi..]).all(|&b| b == POISON));
    assert!(got[lo..hi].iter().any(|&b| b != POISON));
    assert!(
        got == want,
        "the async fill's bytes differ from the blocking fill's"
    );
}

#[test]
fn the_async_fill_returns_the_blocking_fills_errors_without_polling() {
    let Some(gpu) = common::gpu("the_async_fill_returns_the_blocking_fills_errors") else {
        return;
    };
    let plan = TensorSpec::new("w", vec![16, 16], "normal".parse().unwrap())
        .plan(1)
        .unwrap();
    let buffer = buffer(&gpu, 256);
    // A refused fill submits nothing, so its future resolves with no device poll at all.
    let err = pollster::block_on(gpu.fill_buffer_async(&plan, Dtype::F32, 0, 4, &buffer, 2))
        .unwrap_err()
        .to_string();
    assert!(err.contains("multiple of the f32 element size 4"), "{err}");
    assert!(
        common::read_buffer(&gpu, &buffer)
            .iter()
            .all(|&b| b == POISON)
    );
}
