//! Requests against a device's limits and wgpu's validation: fills split their work within
//! the limits of any device the kernels can run on, whatever the limits; a device the kernels
//! cannot run on, or a caller's buffer larger than the device allows, is our
//! [`Error::LimitExceeded`] naming the limit and the value; a validation error wgpu reports
//! for a fill is our [`Error::GpuValidation`] with wgpu's cause. Never a panic or a wgpu abort:
//! the devices made here keep wgpu's default uncaptured-error handler, which panics, so an
//! error that escaped the library's error scopes would fail the test.

mod common;

use weight_init::Error;
use weight_init::dtype::Dtype;
use weight_init::engine::Engine;
use weight_init::gpu::GpuContext;
use weight_init::spec::{FillPlan, TensorSpec};

/// A device on the first adapter wgpu offers, with the adapter's limits as changed by
/// `lower`; `None` (after the visible skip of [`common::gpu`]) without an adapter.
fn device_with(
    test: &str,
    lower: impl FnOnce(&mut wgpu::Limits),
) -> Option<(wgpu::Device, wgpu::Queue)> {
    drop(common::gpu(test)?);
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    descriptor.backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY);
    let instance = wgpu::Instance::new(descriptor);
    let adapter =
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
            .expect("common::gpu found an adapter");
    let mut limits = adapter.limits();
    lower(&mut limits);
    let descriptor = wgpu::DeviceDescriptor {
        label: Some("gpu_limits"),
        required_limits: limits,
        ..Default::default()
    };
    Some(pollster::block_on(adapter.request_device(&descriptor)).expect("lower limits are granted"))
}

fn plan(scheme: &str) -> FillPlan {
    TensorSpec::new("limits.weight", vec![1001, 103], scheme.parse().unwrap())
        .plan(17)
        .unwrap()
}

/// Checks GPU floats against the CPU's: bit for bit on a software adapter (lavapipe rounds as
/// the CPU path does, `tests/gpu_agreement.rs`), else within 2^-20 of max(|value|, scale), the
/// bound `tests/gpu_agreement.rs` documents for devices that may fuse multiply-adds.
fn assert_agree(gpu: &GpuContext, plan: &FillPlan, cpu: &[f32], on_gpu: &[f32], what: &str) {
    let scale = plan.affine().scale;
    for (i, (&c, &g)) in cpu.iter().zip(on_gpu).enumerate() {
        let ok = if gpu.is_software() {
            c.to_bits() == g.to_bits()
        } else {
            (c - g).abs() <= c.abs().max(scale) * 2f32.powi(-20)
        };
        assert!(ok, "{what}: element {i}: CPU {c}, GPU {g}");
    }
}

/// Checks that `bytes` hold, from byte `offset_bytes`, elements `[first, first + len)` of
/// `plan` as `dtype`: bit for bit on a software adapter, else through [`assert_agree`].
#[allow(clippy::too_many_arguments)]
fn assert_buffer_holds(
    gpu: &GpuContext,
    plan: &FillPlan,
    dtype: Dtype,
    bytes: &[u8],
    offset_bytes: usize,
    first: u64,
    len: usize,
    what: &str,
) {
    let size = dtype.size_bytes();
    let got = &bytes[offset_bytes..offset_bytes + len * size];
    let mut expected = vec![0u8; got.len()];
    weight_init::cpu::fill_range_as(plan, dtype, first, &mut expected).unwrap();
    if gpu.is_software() {
        assert!(
            got == expected,
            "{what}: the buffer differs from the CPU's {dtype} bytes"
        );
    } else {
        assert_agree(
            gpu,
            plan,
            &dtype.decode(&expected),
            &dtype.decode(got),
            what,
        );
    }
}

#[test]
fn a_device_with_a_small_dispatch_grid_splits_large_fills_and_matches_the_cpu() {
    // Two workgroups per dimension: at most 2 x 2 x 256 invocations, about 4096 elements, per
    // dispatch. A fill of 103,103 elements needs 26 dispatches; before the grid entered the
    // chunk size, the first one panicked ("invocations exceed a 2^2 grid").
    let Some((device, queue)) = device_with("a_device_with_a_small_dispatch_grid", |l| {
        l.max_compute_workgroups_per_dimension = 2;
    }) else {
        return;
    };
    let gpu = GpuContext::from_device(&device, &queue).expect("the kernels fit this device");
    assert!(gpu.chunk_elems() < 4096, "{}", gpu.chunk_elems());
    let plan = plan("he");
    let len = plan.len_elems as usize;

    // Host fills, raw words and a caller's buffer at an odd offset.
    let mut on_gpu = vec![0.0f32; len - 5];
    gpu.fill_range(&plan, 5, &mut on_gpu).unwrap();
    let mut cpu = vec![0.0f32; len - 5];
    weight_init::cpu::fill_range(&plan, 5, &mut cpu).unwrap();
    assert_agree(&gpu, &plan, &cpu, &on_gpu, "fill_range");
    let mut words = vec![0u32; 4 * 5000];
    gpu.words(3, 4, 1 << 33, &mut words).unwrap();
    let mut cpu_words = vec![0u32; words.len()];
    weight_init::cpu::words(3, 4, 1 << 33, &mut cpu_words).unwrap();
    assert!(words == cpu_words, "raw words differ from the CPU's");
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("gpu_limits"),
        size: (len as u64 * 2).next_multiple_of(4) + 4,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    gpu.fill_buffer(&plan, Dtype::BF16, 1, len as u64 - 1, &buffer, 2)
        .unwrap();
    let bytes = common::read_buffer(&gpu, &buffer);
    assert_buffer_holds(
        &gpu,
        &plan,
        Dtype::BF16,
        &bytes,
        2,
        1,
        len - 1,
        "fill_buffer",
    );

    // Through the engine that `--device auto` builds: the device is used, not fallen back
    // from, since nothing failed.
    let engine = Engine::with_cpu_fallback(gpu);
    let values = engine.fill(&plan).unwrap();
    let Engine::GpuWithFallback(fallback) = &engine else {
        unreachable!("with_cpu_fallback builds a GpuWithFallback");
    };
    assert!(!fallback.has_fallen_back(), "{engine}");
    let cpu_all = Engine::Cpu.fill(&plan).unwrap();
    assert_agree(fallback.gpu(), &plan, &cpu_all, &values, "engine fill");
}

#[test]
fn a_device_with_a_small_storage_binding_splits_caller_buffer_fills() {
    // 64-byte bindings (the alignment, 32 on lavapipe, plus one f32 block and slack): every
    // dispatch of a caller-buffer fill covers a few elements, at unaligned offsets too.
    let Some((device, queue)) = device_with("a_device_with_a_small_storage_binding", |l| {
        l.max_storage_buffer_binding_size =
            64.max(u64::from(l.min_storage_buffer_offset_alignment) + 24);
    }) else {
        return;
    };
    let gpu = GpuContext::from_device(&device, &queue).expect("the kernels fit this device");
    let plan = TensorSpec::new(
        "small.binding",
        vec![37, 29],
        "xavier-uniform".parse().unwrap(),
    )
    .plan(2)
    .unwrap();
    let mut on_gpu = vec![0.0f32; plan.len_elems as usize - 3];
    gpu.fill_range(&plan, 3, &mut on_gpu).unwrap();
    let mut cpu = vec![0.0f32; on_gpu.len()];
    weight_init::cpu::fill_range(&plan, 3, &mut cpu).unwrap();
    assert_agree(&gpu, &plan, &cpu, &on_gpu, "fill_range");
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("gpu_limits"),
        size: 4 * plan.len_elems + 8,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let len = plan.len_elems as usize - 1;
    gpu.fill_buffer(&plan, Dtype::F16, 1, len as u64, &buffer, 6)
        .unwrap();
    let bytes = common::read_buffer(&gpu, &buffer);
    assert_buffer_holds(&gpu, &plan, Dtype::F16, &bytes, 6, 1, len, "fill_buffer");
}

#[test]
fn a_device_below_the_kernels_needs_is_refused_with_the_limit_and_the_value() {
    // (how the device is lowered, the text the error must hold)
    type Lower = fn(&mut wgpu::Limits);
    let cases: [(Lower, &str); 3] = [
        (
            |l| {
                l.max_compute_invocations_per_workgroup = 128;
                l.max_compute_workgroup_size_x = 128;
            },
            "the kernels' invocations per workgroup is 256, above the device limit \
             max_compute_invocations_per_workgroup = 128",
        ),
        (
            |l| l.max_compute_workgroup_size_x = 64,
            "the kernels' workgroup size along x is 256, above the device limit \
             max_compute_workgroup_size_x = 64",
        ),
        (
            // Below the alignment plus one block: before this check, record_fill's chunk size
            // underflowed and panicked.
            |l| l.max_storage_buffer_binding_size = 32,
            "above the device limit max_storage_buffer_binding_size = 32",
        ),
    ];
    for (lower, needle) in cases {
        let Some((device, queue)) = device_with("a_device_below_the_kernels_needs", lower) else {
            return;
        };
        let err = GpuContext::from_device(&device, &queue).unwrap_err();
        assert!(matches!(err, Error::LimitExceeded { .. }), "{err:?}");
        assert!(err.is_device_error(), "{err:?}");
        assert!(err.to_string().contains(needle), "{err}");
    }
}

#[test]
fn a_buffer_larger_than_the_device_allows_is_our_error_with_the_size_and_the_limit() {
    let Some(gpu) = common::gpu("a_buffer_larger_than_the_device_allows") else {
        return;
    };
    let max = gpu.device().limits().max_buffer_size;
    // wgpu refuses the buffer at creation (caught here, so nothing reaches the context's
    // uncaptured-error log) and hands back an invalid buffer of that size.
    let scope = gpu.device().push_error_scope(wgpu::ErrorFilter::Validation);
    let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("too large"),
        size: max + 4,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    let refused = pollster::block_on(scope.pop());
    assert!(
        refused.is_some(),
        "wgpu accepted a buffer past max_buffer_size"
    );

    let plan = plan("normal");
    let expected = format!(
        "the buffer's size in bytes is {}, above the device limit max_buffer_size = {max}",
        max + 4
    );
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let results = [
        gpu.fill_buffer(&plan, Dtype::F32, 0, plan.len_elems, &buffer, 0),
        gpu.record_fill(&mut encoder, &plan, Dtype::F32, 0, 16, &buffer, 0),
        pollster::block_on(gpu.fill_buffer_async(&plan, Dtype::BF16, 0, 16, &buffer, 0)),
    ];
    for result in results {
        let err = result.unwrap_err();
        assert!(matches!(err, Error::LimitExceeded { .. }), "{err:?}");
        assert_eq!(err.to_string(), expected);
    }

    // A model too large for one buffer is refused when packed, before any buffer is made.
    let elems = max / 4 + 1;
    let tensors = [
        TensorSpec::new("small", vec![4], "normal".parse().unwrap()),
        TensorSpec::new("huge", vec![elems], "normal".parse().unwrap()),
    ];
    let err = gpu.pack_offsets(&tensors).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::LimitExceeded { .. }), "{err:?}");
    assert!(
        message.contains("the packed tensors' size in bytes is")
            && message.contains(&format!("max_buffer_size = {max}")),
        "{message}"
    );
}

#[test]
fn a_validation_error_of_a_fill_is_our_error_with_wgpus_cause() {
    // A destroyed buffer passes every check of ours (size, usage, range) and is refused by
    // wgpu's validation when the fill is recorded: the error scopes turn that into an error.
    let Some(gpu) = common::gpu("a_validation_error_of_a_fill") else {
        return;
    };
    let plan = plan("normal");
    let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("destroyed"),
        size: 4 * plan.len_elems,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    buffer.destroy();
    let results = [
        gpu.fill_buffer(&plan, Dtype::F32, 0, plan.len_elems, &buffer, 0),
        pollster::block_on(gpu.fill_buffer_async(&plan, Dtype::F16, 0, 64, &buffer, 0)),
    ];
    for result in results {
        let err = result.unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, Error::GpuValidation { .. }) && err.is_device_error(),
            "{err:?}"
        );
        assert!(
            message.starts_with("GPU fill_buffer") && message.contains("destroyed"),
            "{message}"
        );
        assert_eq!(message.lines().count(), 1, "{message}");
    }
    // The context is still usable.
    let mut out = vec![0.0f32; 64];
    gpu.fill_range(&plan, 0, &mut out).unwrap();
}
