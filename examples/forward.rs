//! Weights generated straight into GPU buffers, used there by a shader of our own.
//!
//! For two networks, the notebook's (layer widths 2, 4, 3, 1) and a deep one (20 layers of
//! width 256), this example:
//!
//! 1. packs every weight `W_i`, shape `(l[i], l[i-1])`, He-initialized with seed 7 as
//!    `weight-init init --layers ... --scheme he --seed 7` makes them, into one GPU buffer
//!    with `GpuContext::record_model`;
//! 2. runs the forward pass `h_i = relu(h_{i-1} W_iᵀ)` (the last layer linear) on a fixed
//!    batch of inputs in `shaders/forward.wgsl`, which reads that buffer directly, in the
//!    same submission: no weight travels through host memory;
//! 3. reads back only the outputs, prints them, and compares them with the same forward pass
//!    on the CPU from the CPU path's weights (`Engine::Cpu`).
//!
//! ```sh
//! cargo run --example forward
//! ```
//!
//! It exits with status 1 if the largest difference, relative to the largest output,
//! exceeds [`TOLERANCE`], and with status 0 otherwise. Without a GPU adapter it says so and
//! prints the CPU pass alone.

use std::process::ExitCode;
use std::sync::mpsc;

use wgpu::util::DeviceExt;

use weight_init::engine::Engine;
use weight_init::gpu::{AdapterPreference, GpuContext};
use weight_init::spec::{TensorSpec, layer_network};

/// The forward kernel, `shaders/forward.wgsl`.
pub const FORWARD_WGSL: &str = include_str!("../shaders/forward.wgsl");

/// The seed of every weight: the README's notebook example uses it too.
pub const SEED: u64 = 7;

/// Largest accepted `max |gpu - cpu| / max |cpu|`. Each output goes through one f32 dot
/// product per layer, of length `k` and relative rounding error at most `k · 2^-24` of the
/// sum of absolute terms (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed.,
/// 2002, eq. 3.5): for 20 layers of width 256 that adds up to about 3e-4 when the sum of
/// absolute terms is as large as the output itself. A wrong weight or index changes the
/// outputs by their own size, a thousand times more.
pub const TOLERANCE: f64 = 1e-3;

/// A network and its input batch.
#[derive(Debug, Clone)]
pub struct Case {
    /// What to call it in the printout.
    pub name: &'static str,
    /// Layer widths `l[0] ..= l[L]`.
    pub widths: Vec<u64>,
    /// The inputs, `(batch, widths[0])`, row-major.
    pub inputs: Vec<f32>,
}

impl Case {
    /// Input rows.
    pub fn batch(&self) -> usize {
        self.inputs.len() / self.widths[0] as usize
    }

    /// The weights: `W1 ..= WL`, He with PyTorch's default ReLU gain, as `init` makes them.
    pub fn tensors(&self) -> weight_init::Result<Vec<TensorSpec>> {
        layer_network(&self.widths, "he".parse()?)
    }
}

/// The notebook's network with four inputs, and 20 layers of width 256 with four inputs
/// `sin(0.1 (b · 256 + k))`: fixed numbers of order 1, different in every row.
pub fn cases() -> Vec<Case> {
    let deep_width = 256u64;
    let deep_inputs = (0..4 * deep_width)
        .map(|i| (0.1 * i as f32).sin())
        .collect();
    vec![
        Case {
            name: "notebook network (2, 4, 3, 1)",
            widths: vec![2, 4, 3, 1],
            inputs: vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0, -0.5, 2.0],
        },
        Case {
            name: "deep network (20 layers of width 256)",
            widths: vec![deep_width; 21],
            inputs: deep_inputs,
        },
    ]
}

/// The forward pass on the CPU in f32, from the CPU path's weights: each sum runs over the
/// input index in order, as the shader's does.
pub fn cpu_forward(case: &Case) -> weight_init::Result<Vec<f32>> {
    let engine = Engine::Cpu;
    let layers = case.tensors()?;
    let mut h = case.inputs.clone();
    for (i, tensor) in layers.iter().enumerate() {
        let w = engine.fill(&tensor.plan(SEED)?)?;
        let (out_width, in_width) = (tensor.shape[0] as usize, tensor.shape[1] as usize);
        let relu = i + 1 < layers.len();
        h = h
            .chunks_exact(in_width)
            .flat_map(|x| {
                w.chunks_exact(in_width).map(move |row| {
                    let mut acc = 0f32;
                    for (a, b) in x.iter().zip(row) {
                        acc += a * b;
                    }
                    if relu { acc.max(0.0) } else { acc }
                })
            })
            .collect();
        debug_assert_eq!(h.len(), case.batch() * out_width);
    }
    Ok(h)
}

/// The `dense` kernel of `shaders/forward.wgsl`, compiled once per device.
#[derive(Debug)]
pub struct ForwardKernel {
    pipeline: wgpu::ComputePipeline,
}

/// The kernel's parameters, field for field the `Params` struct of `shaders/forward.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    batch: u32,
    in_width: u32,
    out_width: u32,
    weight_offset: u32,
    relu: u32,
    pad: [u32; 3],
}

/// Invocations per workgroup, as `@workgroup_size` in the shader says.
const WORKGROUP_SIZE: u32 = 64;

impl ForwardKernel {
    /// Compiles the kernel on `gpu`'s device.
    ///
    /// # Errors
    ///
    /// wgpu's validation error if the shader or the pipeline is rejected.
    pub fn new(gpu: &GpuContext) -> Result<Self, wgpu::Error> {
        let scope = gpu.device().push_error_scope(wgpu::ErrorFilter::Validation);
        let module = gpu
            .device()
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("forward.wgsl"),
                source: wgpu::ShaderSource::Wgsl(FORWARD_WGSL.into()),
            });
        let pipeline = gpu
            .device()
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("dense"),
                layout: None,
                module: &module,
                entry_point: Some("dense"),
                compilation_options: Default::default(),
                cache: None,
            });
        match pollster::block_on(scope.pop()) {
            Some(error) => Err(error),
            None => Ok(Self { pipeline }),
        }
    }

    /// Fills the weights on the GPU and runs the forward pass there, in one submission, and
    /// reads back the outputs alone, `(batch, widths[L])`.
    pub fn run(
        &self,
        gpu: &GpuContext,
        case: &Case,
    ) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
        let device = gpu.device();
        let tensors = case.tensors()?;
        let (_, weight_bytes) = gpu.pack_offsets(&tensors)?;
        let weights = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("weights"),
            size: weight_bytes,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let batch = case.batch() as u64;
        let widest = *case.widths.iter().max().expect("a case has widths");
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let mut activations = [0, 1].map(|i| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(["activations 0", "activations 1"][i]),
                size: batch * widest * 4,
                usage: storage | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        gpu.queue()
            .write_buffer(&activations[0], 0, bytemuck::cast_slice(&case.inputs));

        // The fill, every layer and the copy of the outputs, in one encoder.
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut encoder = device.create_command_encoder(&Default::default());
        let offsets = gpu.record_model(&mut encoder, &tensors, SEED, &weights)?;
        for (i, (tensor, offset)) in tensors.iter().zip(&offsets).enumerate() {
            let params = Params {
                batch: batch as u32,
                in_width: tensor.shape[1] as u32,
                out_width: tensor.shape[0] as u32,
                weight_offset: (offset / 4) as u32,
                relu: u32::from(i + 1 < tensors.len()),
                pad: [0; 3],
            };
            self.encode_layer(gpu, &mut encoder, params, &weights, &activations);
            activations.swap(0, 1);
        }
        let out_bytes = batch * case.widths.last().copied().unwrap_or(0) * 4;
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("outputs"),
            size: out_bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        encoder.copy_buffer_to_buffer(&activations[0], 0, &staging, 0, out_bytes);
        gpu.queue().submit([encoder.finish()]);
        if let Some(error) = pollster::block_on(scope.pop()) {
            return Err(error.into());
        }

        let (sender, receiver) = mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |result| {
            let _ = sender.send(result);
        });
        device.poll(wgpu::PollType::wait_indefinitely())?;
        receiver.recv()??;
        let outputs = bytemuck::cast_slice(&staging.get_mapped_range(..)?).to_vec();
        Ok(outputs)
    }

    /// One dispatch of `dense` from `activations[0]` into `activations[1]`.
    fn encode_layer(
        &self,
        gpu: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        params: Params,
        weights: &wgpu::Buffer,
        activations: &[wgpu::Buffer; 2],
    ) {
        let device = gpu.device();
        let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("dense params"),
            contents: bytemuck::bytes_of(&params),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let entries: Vec<wgpu::BindGroupEntry<'_>> =
            [&uniform, weights, &activations[0], &activations[1]]
                .into_iter()
                .enumerate()
                .map(|(binding, buffer)| wgpu::BindGroupEntry {
                    binding: binding as u32,
                    resource: buffer.as_entire_binding(),
                })
                .collect();
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("dense bindings"),
            layout: &self.pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(
            (params.batch * params.out_width).div_ceil(WORKGROUP_SIZE),
            1,
            1,
        );
    }
}

/// `max |gpu - cpu|` and that over `max |cpu|`.
pub fn differences(gpu: &[f32], cpu: &[f32]) -> (f64, f64) {
    let max_abs = gpu
        .iter()
        .zip(cpu)
        .map(|(g, c)| f64::from((g - c).abs()))
        .fold(0.0, f64::max);
    let scale = cpu.iter().map(|c| f64::from(c.abs())).fold(0.0, f64::max);
    (
        max_abs,
        if scale > 0.0 {
            max_abs / scale
        } else {
            max_abs
        },
    )
}

/// Prints each input row's outputs (at most six of them) from each side.
fn print_outputs(case: &Case, sides: &[(&str, &[f32])]) {
    let out_width = *case.widths.last().expect("a case has widths") as usize;
    let shown = out_width.min(6);
    for b in 0..case.batch() {
        for (side, values) in sides {
            let row = &values[b * out_width..b * out_width + shown];
            let cells: Vec<String> = row.iter().map(|v| format!("{v:>11.6}")).collect();
            let more = if shown < out_width {
                format!("  ... ({out_width} outputs)")
            } else {
                String::new()
            };
            println!("  input {b} {side:>4}: {}{more}", cells.join(" "));
        }
    }
}

fn main() -> ExitCode {
    // Output piped into `head` ends the program quietly, as for other command-line tools,
    // instead of making `println!` panic on the closed pipe.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let gpu = match GpuContext::new(AdapterPreference::Any) {
        Ok(gpu) => Some(gpu),
        Err(e) => {
            println!("{e}; showing the CPU forward pass only");
            None
        }
    };
    let kernel = match gpu.as_ref().map(ForwardKernel::new).transpose() {
        Ok(kernel) => kernel,
        Err(e) => {
            eprintln!("error: the forward kernel was rejected: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(gpu) = &gpu {
        println!("GPU: {}", gpu.describe());
    }

    let mut failed = false;
    for case in cases() {
        println!(
            "\n{}, batch of {}, He weights, seed {SEED}",
            case.name,
            case.batch()
        );
        let cpu = match cpu_forward(&case) {
            Ok(cpu) => cpu,
            Err(e) => {
                eprintln!("error: the CPU forward pass failed: {e}");
                return ExitCode::FAILURE;
            }
        };
        let (Some(gpu), Some(kernel)) = (&gpu, &kernel) else {
            print_outputs(&case, &[("cpu", &cpu)]);
            continue;
        };
        let on_gpu = match kernel.run(gpu, &case) {
            Ok(outputs) => outputs,
            Err(e) => {
                eprintln!("error: the GPU forward pass failed: {e}");
                return ExitCode::FAILURE;
            }
        };
        print_outputs(&case, &[("gpu", &on_gpu), ("cpu", &cpu)]);
        let (max_abs, max_rel) = differences(&on_gpu, &cpu);
        let verdict = if max_rel <= TOLERANCE {
            "ok"
        } else {
            "MISMATCH"
        };
        println!(
            "  max abs difference {max_abs:.3e}, relative to the largest output {max_rel:.3e} \
             (tolerance {TOLERANCE:.0e}): {verdict}"
        );
        failed |= max_rel > TOLERANCE;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
