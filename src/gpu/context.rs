//! Adapter choice, device creation, and fills read back to host memory.

use std::sync::{Arc, Mutex, mpsc};

use super::kernel::{self, Grid, MAX_WORKGROUPS_PER_DIM, Params, WORKGROUP_SIZE};
use super::multiply::{self, Multiply};
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::spec::{FillPlan, TensorSpec};
use crate::transform::{Affine, Distribution};

/// Which adapters [`GpuContext::new`] may pick.
///
/// # Examples
///
/// A hardware adapter or none: on a machine with only lavapipe, `HardwareOnly` finds none.
///
/// ```
/// use weight_init::gpu::{AdapterPreference, GpuContext};
///
/// match GpuContext::new(AdapterPreference::HardwareOnly) {
///     Ok(gpu) => assert!(!gpu.is_software(), "{}", gpu.describe()),
///     // For example "no GPU adapter found: only software adapters are present: llvmpipe ...".
///     Err(e) => assert!(e.is_device_error(), "{e}"),
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterPreference {
    /// Any adapter that runs compute shaders, software ones (lavapipe, llvmpipe) included.
    Any,
    /// Only hardware adapters: discrete, integrated or virtual GPUs.
    HardwareOnly,
}

/// A wgpu device with the weight kernels compiled for it.
///
/// Pipelines are created once, when the context is built ([`GpuContext::new`],
/// [`GpuContext::from_adapter`] or [`GpuContext::from_device`]), and reused by every fill.
///
/// # Examples
///
/// Every example here runs: with an adapter (lavapipe counts) it does the GPU work and
/// compares it with the CPU path ([`crate::cpu`]), and without one it checks the CPU path's
/// values alone. They use symmetric uniform schemes (`he-uniform`, `xavier-uniform`), whose
/// values are one correctly rounded product and so the same bits on every device; normals are
/// the same bits on devices that round division and square root as IEEE 754 requires (see
/// [`GpuContext::is_software`]).
///
/// ```
/// use weight_init::gpu::{AdapterPreference, GpuContext};
/// use weight_init::{cpu, spec::TensorSpec};
///
/// // He uniform with fan_in 24: U(-b, b), b = sqrt(6 / 24) = 0.5.
/// let plan = TensorSpec::new("fc.weight", vec![32, 24], "he-uniform".parse()?).plan(7)?;
/// let mut want = vec![0.0f32; 768];
/// cpu::fill_range(&plan, 0, &mut want)?;
/// assert!(want.iter().all(|v| v.abs() < 0.5));
///
/// if let Ok(gpu) = GpuContext::new(AdapterPreference::Any) {
///     let mut got = vec![0.0f32; 768];
///     gpu.fill_range(&plan, 0, &mut got)?;
///     assert_eq!(got, want);
/// }
/// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
/// # Ok::<(), weight_init::Error>(())
/// ```
#[derive(Debug)]
pub struct GpuContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    layout: wgpu::BindGroupLayout,
    fill_pipeline: wgpu::ComputePipeline,
    fill_half_pipeline: wgpu::ComputePipeline,
    words_pipeline: wgpu::ComputePipeline,
    transform_pipeline: wgpu::ComputePipeline,
    exact_pipeline: wgpu::ComputePipeline,
    multiply: Multiply,
    workgroup_size: u32,
    max_chunk_elems: Option<u64>,
    lost: Arc<Mutex<Option<String>>>,
}

/// `name [backend, kind]` of an adapter.
fn describe(info: &wgpu::AdapterInfo) -> String {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => "discrete GPU",
        wgpu::DeviceType::IntegratedGpu => "integrated GPU",
        wgpu::DeviceType::VirtualGpu => "virtual GPU",
        wgpu::DeviceType::Cpu => "software",
        wgpu::DeviceType::Other => "other",
    };
    format!("{} [{}, {kind}]", info.name, info.backend)
}

/// Preference order among adapters: discrete first, software last; native APIs before GL.
fn adapter_rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    (kind, u8::from(info.backend == wgpu::Backend::Gl))
}

impl GpuContext {
    /// Picks the best adapter allowed by `preference` and builds the kernels on it.
    ///
    /// Vulkan, Metal and DX12 adapters are considered; wgpu's `WGPU_BACKEND` environment
    /// variable (for example `gl`) selects others.
    ///
    /// # Errors
    ///
    /// [`Error::NoAdapter`] when no adapter qualifies; those of [`GpuContext::from_adapter`].
    ///
    /// # Examples
    ///
    /// Any adapter, software ones included, and the same bf16 bytes as the CPU path:
    ///
    /// ```
    /// use weight_init::gpu::{AdapterPreference, GpuContext};
    /// use weight_init::{cpu, dtype::Dtype, spec::TensorSpec};
    ///
    /// let plan = TensorSpec::new("fc.weight", vec![16, 8], "xavier-uniform".parse()?).plan(3)?;
    /// let mut want = vec![0u8; 2 * 128];
    /// cpu::fill_range_as(&plan, Dtype::BF16, 0, &mut want)?;
    /// // Xavier uniform: U(-b, b), b = sqrt(6 / (8 + 16)) = 0.5, exact in bf16.
    /// assert!(Dtype::BF16.decode(&want).iter().all(|v| v.abs() <= 0.5));
    ///
    /// match GpuContext::new(AdapterPreference::Any) {
    ///     Ok(gpu) => {
    ///         println!("filling on {}", gpu.describe());
    ///         let mut got = vec![0u8; 2 * 128];
    ///         gpu.fill_range_as(&plan, Dtype::BF16, 0, &mut got)?;
    ///         assert_eq!(got, want);
    ///     }
    ///     Err(e) => {
    /// #       assert_ne!(std::env::var("WEIGHT_INIT_REQUIRE_GPU").as_deref(), Ok("1"), "{e}");
    ///         // "no GPU adapter found: no Vulkan, Metal, DX12 or GL driver offers compute ..."
    ///         println!("the CPU path's values only: {e}");
    ///     }
    /// }
    /// # Ok::<(), weight_init::Error>(())
    /// ```
    pub fn new(preference: AdapterPreference) -> Result<Self> {
        // Vulkan, Metal and DX12 by default: the GL backend adds nothing for compute and its
        // EGL probe logs errors on headless machines. WGPU_BACKEND=gl still selects it.
        let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        descriptor.backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY);
        let instance = wgpu::Instance::new(descriptor);
        let mut adapters: Vec<wgpu::Adapter> =
            pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
                .into_iter()
                .filter(|a| {
                    a.get_downlevel_capabilities()
                        .flags
                        .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
                })
                .collect();
        let seen: Vec<String> = adapters.iter().map(|a| describe(&a.get_info())).collect();
        if preference == AdapterPreference::HardwareOnly {
            adapters.retain(|a| a.get_info().device_type != wgpu::DeviceType::Cpu);
        }
        adapters.sort_by_key(|a| adapter_rank(&a.get_info()));
        let Some(adapter) = adapters.into_iter().next() else {
            let detail = match (preference, seen.is_empty()) {
                (_, true) => ": no Vulkan, Metal, DX12 or GL driver offers compute shaders \
                     (on Linux without a GPU, install mesa-vulkan-drivers for lavapipe)"
                    .to_string(),
                (AdapterPreference::HardwareOnly, false) => {
                    format!(": only software adapters are present: {}", seen.join(", "))
                }
                (AdapterPreference::Any, false) => String::new(),
            };
            return Err(Error::NoAdapter { detail });
        };
        Self::from_adapter(&adapter)
    }

    /// Creates a device on `adapter` with the adapter's own limits and builds the kernels.
    /// The device has `Features::SHADER_INT64` where the adapter offers it, for the
    /// 64-bit multiply ([`Multiply`]), and `Features::TIMESTAMP_QUERY`, for timing fills on
    /// the GPU's own clock (`weight-init bench`).
    ///
    /// # Errors
    ///
    /// [`Error::RequestDevice`] if the device cannot be created, [`Error::LimitExceeded`] if
    /// the adapter's limits are below what the kernels need ([`GpuContext::from_device`]),
    /// [`Error::ShaderRejected`] if the kernel does not compile on it.
    ///
    /// # Examples
    ///
    /// An adapter the caller picked, here wgpu's high-performance choice among Vulkan, Metal and
    /// DX12 adapters:
    ///
    /// ```
    /// use weight_init::gpu::GpuContext;
    /// use weight_init::{cpu, spec::TensorSpec};
    ///
    /// let plan = TensorSpec::new("fc.weight", vec![32, 24], "he-uniform".parse()?).plan(7)?;
    /// let mut want = vec![0.0f32; 100];
    /// cpu::fill_range(&plan, 301, &mut want)?;
    /// // Any range of a tensor holds the values of the whole tensor's fill.
    /// let mut whole = vec![0.0f32; 768];
    /// cpu::fill_range(&plan, 0, &mut whole)?;
    /// assert_eq!(want, whole[301..401]);
    ///
    /// let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
    ///     backends: wgpu::Backends::PRIMARY,
    ///     ..wgpu::InstanceDescriptor::new_without_display_handle()
    /// });
    /// let options = wgpu::RequestAdapterOptions {
    ///     power_preference: wgpu::PowerPreference::HighPerformance,
    ///     ..Default::default()
    /// };
    /// if let Ok(adapter) = pollster::block_on(instance.request_adapter(&options)) {
    ///     let gpu = GpuContext::from_adapter(&adapter)?;
    ///     let mut got = vec![0.0f32; 100];
    ///     gpu.fill_range(&plan, 301, &mut got)?;
    ///     assert_eq!(got, want);
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_adapter(adapter: &wgpu::Adapter) -> Result<Self> {
        let info = adapter.get_info();
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("weight-init"),
            required_features: adapter.features()
                & (wgpu::Features::TIMESTAMP_QUERY | Multiply::Int64.required_features()),
            required_limits: adapter.limits(),
            ..Default::default()
        };
        let (device, queue) =
            pollster::block_on(adapter.request_device(&descriptor)).map_err(|source| {
                Error::RequestDevice {
                    adapter: info.name.clone(),
                    source,
                }
            })?;
        if info.device_type == wgpu::DeviceType::Cpu {
            log::warn!(
                "GPU path on a software adapter ({}): correct but slow",
                info.name
            );
        }

        let lost = Arc::new(Mutex::new(None));
        let lost_flag = Arc::clone(&lost);
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut slot) = lost_flag.lock() {
                *slot = Some(format!("{reason:?}: {message}"));
            }
        });
        device.on_uncaptured_error(Arc::new(|error| {
            log::error!("uncaptured wgpu error: {error}");
        }));
        Self::build(device, queue, info, lost)
    }

    /// Builds the kernels on the caller's device and queue, which stay shared: the context
    /// keeps clones of the handles (wgpu's `Device` and `Queue` are reference counted), so the
    /// caller's buffers and encoders work with [`GpuContext::record_fill`]. The caller's
    /// device-lost callback and uncaptured-error handler are left alone, so a lost device shows
    /// as a failed poll rather than with wgpu's reason.
    ///
    /// # Errors
    ///
    /// [`Error::LimitExceeded`], before anything is created on the device, if a limit of the
    /// device is below what the kernels need: a workgroup of
    /// [`kernel::WORKGROUP_SIZE`](super::kernel::WORKGROUP_SIZE) invocations along x, one
    /// workgroup per dimension, a bind group with one uniform and one storage buffer, a
    /// uniform binding of the parameter block, and a storage binding and a buffer of
    /// `min_storage_buffer_offset_alignment + 24` bytes (one block of f32 after the alignment
    /// slack of [`GpuContext::record_fill`]). WebGPU's default limits meet all of them.
    /// [`Error::ShaderRejected`] if the kernels do not compile on the device.
    ///
    /// # Examples
    ///
    /// An application's own instance, adapter, device, queue, buffer and encoder, with a bf16
    /// weight filled between its own passes:
    ///
    /// ```
    /// use weight_init::gpu::GpuContext;
    /// use weight_init::{cpu, dtype::Dtype, spec::TensorSpec};
    /// # fn read_back(
    /// #     device: &wgpu::Device,
    /// #     queue: &wgpu::Queue,
    /// #     buffer: &wgpu::Buffer,
    /// # ) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    /// #     let (sender, receiver) = std::sync::mpsc::channel();
    /// #     let slice = buffer.slice(..);
    /// #     wgpu::util::DownloadBuffer::read_buffer(device, queue, &slice, move |bytes| {
    /// #         let _ = sender.send(bytes.map(|b| b.to_vec()));
    /// #     });
    /// #     device.poll(wgpu::PollType::wait_indefinitely())?;
    /// #     Ok(receiver.recv()??)
    /// # }
    ///
    /// let plan = TensorSpec::new("fc.weight", vec![256, 128], "he-uniform".parse()?).plan(7)?;
    /// let mut want = vec![0u8; 2 * 256 * 128];
    /// cpu::fill_range_as(&plan, Dtype::BF16, 0, &mut want)?;
    /// // He uniform with fan_in 128: U(-b, b), b = sqrt(6 / 128) < 0.22.
    /// assert!(Dtype::BF16.decode(&want).iter().all(|v| v.abs() < 0.22));
    ///
    /// let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
    ///     backends: wgpu::Backends::PRIMARY,
    ///     ..wgpu::InstanceDescriptor::new_without_display_handle()
    /// });
    /// if let Ok(adapter) = pollster::block_on(instance.request_adapter(&Default::default())) {
    ///     let (device, queue) = pollster::block_on(adapter.request_device(&Default::default()))?;
    ///     let weights = device.create_buffer(&wgpu::BufferDescriptor {
    ///         label: Some("fc.weight"),
    ///         size: want.len() as u64,
    ///         usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
    ///         mapped_at_creation: false,
    ///     });
    ///
    ///     let gpu = GpuContext::from_device(&device, &queue)?;
    ///     let mut encoder = device.create_command_encoder(&Default::default());
    ///     // ... the application's passes before the fill ...
    ///     gpu.record_fill(&mut encoder, &plan, Dtype::BF16, 0, plan.len_elems, &weights, 0)?;
    ///     // ... and those after it, which see the weights ...
    ///     queue.submit([encoder.finish()]);
    ///     assert_eq!(read_back(&device, &queue, &weights)?, want);
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_device(device: &wgpu::Device, queue: &wgpu::Queue) -> Result<Self> {
        let info = device.adapter_info();
        Self::build(
            device.clone(),
            queue.clone(),
            info,
            Arc::new(Mutex::new(None)),
        )
    }

    /// The kernels on a device: layout and pipelines, with the best [`Multiply`] the device
    /// has.
    fn build(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: wgpu::AdapterInfo,
        lost: Arc<Mutex<Option<String>>>,
    ) -> Result<Self> {
        check_limits(&device.limits())?;
        let layout = bind_group_layout(&device);
        let multiply = Multiply::best_for(device.features());
        let [
            fill_pipeline,
            fill_half_pipeline,
            words_pipeline,
            transform_pipeline,
            exact_pipeline,
        ] = build_pipelines(&device, &layout, multiply, kernel::WORKGROUP_SIZE)?;
        log::debug!("GPU kernels built with the {multiply:?} multiply");
        Ok(Self {
            device,
            queue,
            info,
            layout,
            fill_pipeline,
            fill_half_pipeline,
            words_pipeline,
            transform_pipeline,
            exact_pipeline,
            multiply,
            workgroup_size: kernel::WORKGROUP_SIZE,
            max_chunk_elems: None,
            lost,
        })
    }

    /// How the kernels form Philox's 64-bit products: [`Multiply::Int64`] where the device
    /// has `SHADER_INT64`, else [`Multiply::Emulated`]. Both give the same values.
    pub fn multiply(&self) -> Multiply {
        self.multiply
    }

    /// Rebuilds the kernels with `multiply`, for comparing the two variants.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if the device lacks the features `multiply` needs;
    /// [`Error::ShaderRejected`] if the kernels do not compile.
    pub fn set_multiply(&mut self, multiply: Multiply) -> Result<()> {
        let missing = multiply.required_features() - self.device.features();
        if !missing.is_empty() {
            return Err(Error::invalid(
                "multiply",
                format!("{multiply:?} needs the device feature {missing:?}"),
            ));
        }
        self.rebuild(multiply, self.workgroup_size)
    }

    /// Invocations per workgroup of every dispatch: [`kernel::WORKGROUP_SIZE`] unless set.
    pub fn workgroup_size(&self) -> u32 {
        self.workgroup_size
    }

    /// Rebuilds the kernels with `invocations` per workgroup, for finding the fastest on a
    /// device. Each invocation still makes one block, so values never depend on it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `invocations` is 0 or above the device's
    /// `max_compute_invocations_per_workgroup` or `max_compute_workgroup_size_x`;
    /// [`Error::ShaderRejected`] if the kernels do not compile.
    pub fn set_workgroup_size(&mut self, invocations: u32) -> Result<()> {
        let limits = self.device.limits();
        let max = limits
            .max_compute_invocations_per_workgroup
            .min(limits.max_compute_workgroup_size_x);
        if !(1..=max).contains(&invocations) {
            return Err(Error::invalid(
                "workgroup size",
                format!("{invocations} is outside 1..={max}, this device's limit"),
            ));
        }
        self.rebuild(self.multiply, invocations)
    }

    /// The whole-block kernel for `dtype`: `fill` (f32) or `fill_half` (f16, bf16), each
    /// with one vector store per block.
    fn block_pipeline(&self, dtype: Dtype) -> &wgpu::ComputePipeline {
        match dtype {
            Dtype::F32 => &self.fill_pipeline,
            Dtype::F16 | Dtype::BF16 => &self.fill_half_pipeline,
        }
    }

    fn rebuild(&mut self, multiply: Multiply, workgroup_size: u32) -> Result<()> {
        let [fill, fill_half, words, transform, exact] =
            build_pipelines(&self.device, &self.layout, multiply, workgroup_size)?;
        self.fill_pipeline = fill;
        self.fill_half_pipeline = fill_half;
        self.words_pipeline = words;
        self.transform_pipeline = transform;
        self.exact_pipeline = exact;
        self.multiply = multiply;
        self.workgroup_size = workgroup_size;
        Ok(())
    }

    /// The adapter's name, backend and type.
    ///
    /// # Examples
    ///
    /// ```
    /// use weight_init::gpu::{AdapterPreference, GpuContext};
    ///
    /// if let Ok(gpu) = GpuContext::new(AdapterPreference::Any) {
    ///     let info = gpu.adapter_info();
    ///     println!("{} ({:?}), driver {}", info.name, info.device_type, info.driver);
    ///     assert_eq!(gpu.is_software(), info.device_type == wgpu::DeviceType::Cpu);
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// ```
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// `name [backend, kind]`, for example `llvmpipe (LLVM 15.0.6, 256 bits) [Vulkan, software]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weight_init::gpu::{AdapterPreference, GpuContext};
    ///
    /// if let Ok(gpu) = GpuContext::new(AdapterPreference::Any) {
    ///     let info = gpu.adapter_info();
    ///     let text = gpu.describe();
    ///     assert!(text.starts_with(&format!("{} [{}, ", info.name, info.backend)), "{text}");
    ///     assert_eq!(text.ends_with(", software]"), gpu.is_software());
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// ```
    pub fn describe(&self) -> String {
        describe(&self.info)
    }

    /// Whether the adapter is a software rasterizer running on the CPU.
    ///
    /// Normals come out of a logarithm, a division and a square root. On a software adapter
    /// such as lavapipe they are the CPU path's bits; WGSL allows other devices 2.5 ulp in
    /// division and square root and fused multiply-adds, and the tests accept there a
    /// difference of at most 2^-20 of max(|value|, std).
    ///
    /// # Examples
    ///
    /// ```
    /// use weight_init::gpu::{AdapterPreference, GpuContext};
    /// use weight_init::{cpu, spec::TensorSpec};
    ///
    /// let plan = TensorSpec::new("fc.weight", vec![64, 64], "he".parse()?).plan(7)?;
    /// let mut want = vec![0.0f32; 4096];
    /// cpu::fill_range(&plan, 0, &mut want)?;
    /// // He normal with fan_in 64: std sqrt(2 / 64); Box–Muller in f32 stays within 5.77 std.
    /// let std = (2.0f32 / 64.0).sqrt();
    /// assert!(want.iter().all(|v| v.abs() <= 5.77 * std));
    ///
    /// if let Ok(gpu) = GpuContext::new(AdapterPreference::Any) {
    ///     let mut got = vec![0.0f32; 4096];
    ///     gpu.fill_range(&plan, 0, &mut got)?;
    ///     if gpu.is_software() {
    ///         assert_eq!(got, want);
    ///     } else {
    ///         let bound = |c: f32| 2f32.powi(-20) * c.abs().max(std);
    ///         assert!(got.iter().zip(&want).all(|(g, c)| (g - c).abs() <= bound(*c)));
    ///     }
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), weight_init::Error>(())
    /// ```
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Caps the elements per dispatch (rounded down to a multiple of 4, at least 4), or
    /// removes the cap with `None`. Values never depend on it; tests use it to force many
    /// chunks.
    ///
    /// # Examples
    ///
    /// ```
    /// use weight_init::gpu::{AdapterPreference, GpuContext};
    /// use weight_init::{cpu, spec::TensorSpec};
    ///
    /// let plan = TensorSpec::new("fc.weight", vec![32, 24], "he-uniform".parse()?).plan(7)?;
    /// let mut want = vec![0.0f32; 768];
    /// cpu::fill_range(&plan, 0, &mut want)?;
    /// // The CPU path's values do not depend on how a fill is cut up either.
    /// let mut pieces = vec![0.0f32; 768];
    /// for (i, piece) in pieces.chunks_mut(100).enumerate() {
    ///     cpu::fill_range(&plan, 100 * i as u64, piece)?;
    /// }
    /// assert_eq!(pieces, want);
    ///
    /// if let Ok(mut gpu) = GpuContext::new(AdapterPreference::Any) {
    ///     gpu.set_max_chunk_elems(Some(100));
    ///     let mut got = vec![0.0f32; 768];
    ///     gpu.fill_range(&plan, 0, &mut got)?; // eight dispatches
    ///     assert_eq!(got, want);
    ///     gpu.set_max_chunk_elems(None);
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), weight_init::Error>(())
    /// ```
    pub fn set_max_chunk_elems(&mut self, max_chunk_elems: Option<u64>) {
        self.max_chunk_elems = max_chunk_elems;
    }

    /// Elements per dispatch on this device: the largest multiple of 4 whose f32 output fits
    /// one storage binding and one buffer, at most 2^28 and at most the cap of
    /// [`GpuContext::set_max_chunk_elems`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weight_init::gpu::{AdapterPreference, GpuContext};
    ///
    /// if let Ok(mut gpu) = GpuContext::new(AdapterPreference::Any) {
    ///     let limits = gpu.device().limits();
    ///     let binding_bytes = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
    ///     assert!(gpu.chunk_elems() <= (binding_bytes / 4).min(1 << 28));
    ///     assert_eq!(gpu.chunk_elems() % 4, 0);
    ///     gpu.set_max_chunk_elems(Some(10));
    ///     assert_eq!(gpu.chunk_elems(), 8);
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// ```
    pub fn chunk_elems(&self) -> u64 {
        kernel::chunk_elems(
            &self.device.limits(),
            self.workgroup_size,
            self.max_chunk_elems,
        )
    }

    /// Fills `out` with elements `[first_elem, first_elem + out.len())` of the tensor on the
    /// GPU and reads them back.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if the range is outside the tensor; GPU errors
    /// ([`Error::GpuValidation`], [`Error::MapFailed`], [`Error::DeviceLost`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use weight_init::gpu::{AdapterPreference, GpuContext};
    /// use weight_init::{cpu, spec::TensorSpec};
    ///
    /// let plan = TensorSpec::new("fc.weight", vec![32, 24], "he-uniform".parse()?).plan(7)?;
    /// let mut want = vec![0.0f32; 10];
    /// cpu::fill_range(&plan, 5, &mut want)?;
    /// assert!(want.iter().all(|v| v.abs() < 0.5));
    ///
    /// if let Ok(gpu) = GpuContext::new(AdapterPreference::Any) {
    ///     // Elements 5..15: the dispatch covers blocks 1..4 and keeps the requested part.
    ///     let mut got = vec![0.0f32; 10];
    ///     gpu.fill_range(&plan, 5, &mut got)?;
    ///     assert_eq!(got, want);
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), weight_init::Error>(())
    /// ```
    pub fn fill_range(&self, plan: &FillPlan, first_elem: u64, out: &mut [f32]) -> Result<()> {
        self.fill_range_as(plan, Dtype::F32, first_elem, bytemuck::cast_slice_mut(out))
    }

    /// Fills `out` with elements `[first_elem, first_elem + n)` of the tensor as `dtype`,
    /// little-endian, where `n = out.len() / dtype.size_bytes()`; conversion happens on the
    /// device, so only 2 bytes per element cross the bus for f16 and bf16.
    ///
    /// Dispatches cover whole Philox blocks, up to [`GpuContext::chunk_elems`] elements each;
    /// the elements of the first and last block outside the range are computed and dropped.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `out.len()` is not a whole number of elements or the range
    /// is outside the tensor; GPU errors as for [`GpuContext::fill_range`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weight_init::gpu::{AdapterPreference, GpuContext};
    /// use weight_init::{cpu, dtype::Dtype, spec::TensorSpec};
    ///
    /// let plan = TensorSpec::new("fc.weight", vec![32, 24], "he-uniform".parse()?).plan(7)?;
    /// let mut want = vec![0u8; 2 * 99];
    /// cpu::fill_range_as(&plan, Dtype::F16, 100, &mut want)?;
    /// // f16 is the f32 value rounded to nearest: within 2^-11 relative of it.
    /// let mut f32_values = vec![0.0f32; 99];
    /// cpu::fill_range(&plan, 100, &mut f32_values)?;
    /// let halves = Dtype::F16.decode(&want);
    /// assert!(halves.iter().zip(&f32_values).all(|(h, v)| (h - v).abs() <= v.abs() / 2048.0));
    ///
    /// if let Ok(gpu) = GpuContext::new(AdapterPreference::Any) {
    ///     let mut got = vec![0u8; 2 * 99];
    ///     gpu.fill_range_as(&plan, Dtype::F16, 100, &mut got)?;
    ///     assert_eq!(got, want);
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), weight_init::Error>(())
    /// ```
    pub fn fill_range_as(
        &self,
        plan: &FillPlan,
        dtype: Dtype,
        first_elem: u64,
        out: &mut [u8],
    ) -> Result<()> {
        let size = dtype.size_bytes();
        let len_elems = dtype.elems_in(out.len())?;
        plan.check_range(first_elem, len_elems)?;
        plan.affine_for(dtype)?;
        if len_elems == 0 {
            return Ok(());
        }
        if matches!(plan.distribution, Distribution::Structured(_)) {
            log::debug!(
                "whole-tensor scheme on stream {:#x}: computed on the CPU",
                plan.stream
            );
            return crate::cpu::fill_range_as(plan, dtype, first_elem, out);
        }
        let end_elem = first_elem + len_elems;
        let (first_block, end_block) = (first_elem / 4, end_elem.div_ceil(4));
        let chunk_blocks = (self.chunk_elems() / 4).min(end_block - first_block);
        log::debug!(
            "gpu fill: {len_elems} {dtype} elements from {first_elem} on stream {:#x}, {} per dispatch",
            plan.stream,
            4 * chunk_blocks
        );

        let scratch = self.scratch(chunk_blocks * 4 * size as u64)?;
        let mut block = first_block;
        while block < end_block {
            let blocks = chunk_blocks.min(end_block - block);
            let params = Params::new(plan, dtype, block, blocks as u32);
            self.dispatch(self.block_pipeline(dtype), &scratch, params, None)?;

            // The dispatch made elements [4 block, 4 (block + blocks)); keep the requested part.
            let lo = first_elem.max(4 * block);
            let hi = end_elem.min(4 * (block + blocks));
            let dst =
                &mut out[(lo - first_elem) as usize * size..(hi - first_elem) as usize * size];
            let src_start = (lo - 4 * block) as usize * size;
            self.read(&scratch, 4 * blocks * size as u64, |bytes| {
                dst.copy_from_slice(&bytes[src_start..src_start + dst.len()]);
            })?;
            block += blocks;
        }
        Ok(())
    }

    /// Raw Philox words of blocks `[first_block, first_block + out.len() / 4)`, as
    /// [`crate::cpu::words`] computes them.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `out.len()` is not a multiple of 4; GPU errors as for
    /// [`GpuContext::fill_range`].
    ///
    /// # Examples
    ///
    /// Random123's third known answer for Philox4x32-10 (`kat_vectors`), on both paths:
    ///
    /// ```
    /// use weight_init::gpu::{AdapterPreference, GpuContext};
    ///
    /// let (seed, stream) = (0x299f_31d0_a409_3822, 0x0370_7344_1319_8a2e);
    /// let block = 0x85a3_08d3_243f_6a88;
    /// let answer = [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1];
    /// let mut want = [0u32; 4];
    /// weight_init::cpu::words(seed, stream, block, &mut want)?;
    /// assert_eq!(want, answer);
    ///
    /// if let Ok(gpu) = GpuContext::new(AdapterPreference::Any) {
    ///     let mut got = [0u32; 4];
    ///     gpu.words(seed, stream, block, &mut got)?;
    ///     assert_eq!(got, answer);
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), weight_init::Error>(())
    /// ```
    pub fn words(&self, seed: u64, stream: u64, first_block: u64, out: &mut [u32]) -> Result<()> {
        crate::stream::check_whole_blocks(out.len())?;
        let key = crate::stream::key(seed);
        let chunk_blocks = (self.chunk_elems() / 4) as usize;
        let scratch = self.scratch((chunk_blocks.min(out.len() / 4) * 16) as u64)?;
        for (i, dst) in out.chunks_mut(4 * chunk_blocks).enumerate() {
            let first = first_block.wrapping_add((i * chunk_blocks) as u64);
            let params = Params {
                key_lo: key[0],
                key_hi: key[1],
                stream_lo: stream as u32,
                stream_hi: (stream >> 32) as u32,
                first_lo: first as u32,
                first_hi: (first >> 32) as u32,
                len: (dst.len() / 4) as u32,
                ..Params::default()
            };
            self.dispatch(&self.words_pipeline, &scratch, params, None)?;
            self.read(&scratch, 4 * dst.len() as u64, |bytes| {
                bytemuck::cast_slice_mut(dst).copy_from_slice(bytes);
            })?;
        }
        Ok(())
    }

    /// Replaces each block of four words in `words` by the four f32 values (as bits) that the
    /// kernel's transform for `affine` makes from them, as [`Affine::block_values`] does on the
    /// CPU. For checking the transform on chosen words, such as 0 and `0xFFFF_FFFF`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `words.len()` is not a multiple of 4; GPU errors as for
    /// [`GpuContext::fill_range`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weight_init::gpu::{AdapterPreference, GpuContext};
    /// use weight_init::spec::TensorSpec;
    ///
    /// // He uniform with fan_in 24 is U(-0.5, 0.5): words 0 and 0xFFFF_FFFF give the ends of
    /// // its grid, -0.5 + 2^-24 and 0.5 - 2^-24.
    /// let plan = TensorSpec::new("fc.weight", vec![32, 24], "he-uniform".parse()?).plan(7)?;
    /// let words = [0, 0x8000_0000, 0xFFFF_FF00, 0xFFFF_FFFF];
    /// let want = plan.affine().block_values(words);
    /// let end = 0.5 - 2f32.powi(-24);
    /// assert_eq!(want, [-end, 2f32.powi(-24), end, end]);
    ///
    /// if let Ok(gpu) = GpuContext::new(AdapterPreference::Any) {
    ///     let mut got = words;
    ///     gpu.transform_words(plan.affine(), &mut got)?;
    ///     assert_eq!(got, want.map(f32::to_bits));
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), weight_init::Error>(())
    /// ```
    pub fn transform_words(&self, affine: Affine, words: &mut [u32]) -> Result<()> {
        crate::stream::check_whole_blocks(words.len())?;
        let chunk_blocks = (self.chunk_elems() / 4) as usize;
        let scratch = self.scratch((chunk_blocks.min(words.len() / 4) * 16) as u64)?;
        for chunk in words.chunks_mut(4 * chunk_blocks) {
            let params = Params {
                len: (chunk.len() / 4) as u32,
                ..Params::with_affine(&affine)
            };
            self.dispatch(
                &self.transform_pipeline,
                &scratch,
                params,
                Some(bytemuck::cast_slice(chunk)),
            )?;
            self.read(&scratch, 4 * chunk.len() as u64, |bytes| {
                bytemuck::cast_slice_mut(chunk).copy_from_slice(bytes);
            })?;
        }
        Ok(())
    }

    /// Records into `encoder` a fill of elements `[first_elem, first_elem + len_elems)` of the
    /// tensor as `dtype` into the caller's `buffer`, starting at byte `offset_bytes`; nothing
    /// is submitted and nothing is read back.
    ///
    /// Exactly the bytes `[offset_bytes, offset_bytes + len_elems * dtype.size_bytes())` are
    /// written: for f16 and bf16 a range that starts or ends in the middle of a 4-byte word
    /// leaves the other half of that word as it was. The buffer needs `STORAGE` usage; the
    /// binding starts at the largest offset below `offset_bytes` that meets the device's
    /// `min_storage_buffer_offset_alignment`, and long ranges are split into several
    /// dispatches within the device's binding size. Values are those of every other fill.
    ///
    /// The recorded commands read the boundary words of 2-byte ranges when they run: other
    /// work writing the neighbouring elements must not run concurrently with them.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming the rule broken (an offset that is not a multiple of
    /// the element size, a range past the end of the buffer or of the tensor, a buffer
    /// without `STORAGE` usage); [`Error::LimitExceeded`] for a buffer larger than the
    /// device's `max_buffer_size` (wgpu refused to create it, so no fill can use it); nothing
    /// is recorded then.
    ///
    /// # Examples
    ///
    /// Fill 50 bf16 elements into the caller's buffer from element 5 of the buffer, which starts
    /// in the middle of a 4-byte word, in the caller's encoder: exactly those 100 bytes change.
    ///
    /// ```
    /// use wgpu::util::DeviceExt;
    /// use weight_init::gpu::{AdapterPreference, GpuContext};
    /// use weight_init::{cpu, dtype::Dtype, spec::TensorSpec};
    /// # fn read_back(
    /// #     device: &wgpu::Device,
    /// #     queue: &wgpu::Queue,
    /// #     buffer: &wgpu::Buffer,
    /// # ) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    /// #     let (sender, receiver) = std::sync::mpsc::channel();
    /// #     let slice = buffer.slice(..);
    /// #     wgpu::util::DownloadBuffer::read_buffer(device, queue, &slice, move |bytes| {
    /// #         let _ = sender.send(bytes.map(|b| b.to_vec()));
    /// #     });
    /// #     device.poll(wgpu::PollType::wait_indefinitely())?;
    /// #     Ok(receiver.recv()??)
    /// # }
    ///
    /// let plan = TensorSpec::new("fc.weight", vec![32, 24], "he-uniform".parse()?).plan(7)?;
    /// let mut want = vec![0u8; 2 * 50];
    /// cpu::fill_range_as(&plan, Dtype::BF16, 10, &mut want)?;
    /// assert!(Dtype::BF16.decode(&want).iter().all(|v| v.abs() <= 0.5));
    ///
    /// if let Ok(gpu) = GpuContext::new(AdapterPreference::Any) {
    ///     let buffer = gpu.device().create_buffer_init(&wgpu::util::BufferInitDescriptor {
    ///         label: Some("caller's buffer"),
    ///         contents: &[0xA5; 128],
    ///         usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
    ///     });
    ///     let mut encoder = gpu.device().create_command_encoder(&Default::default());
    ///     gpu.record_fill(&mut encoder, &plan, Dtype::BF16, 10, 50, &buffer, 2 * 5)?;
    ///     gpu.queue().submit([encoder.finish()]);
    ///
    ///     let bytes = read_back(gpu.device(), gpu.queue(), &buffer)?;
    ///     assert_eq!(bytes[10..110], want[..]);
    ///     assert!(bytes[..10].iter().chain(&bytes[110..]).all(|&b| b == 0xA5));
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn record_fill(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        plan: &FillPlan,
        dtype: Dtype,
        first_elem: u64,
        len_elems: u64,
        buffer: &wgpu::Buffer,
        offset_bytes: u64,
    ) -> Result<()> {
        let size = dtype.size_bytes() as u64;
        plan.check_range(first_elem, len_elems)?;
        plan.affine_for(dtype)?;
        if let Distribution::Structured(structure) = plan.distribution {
            return Err(Error::invalid(
                "scheme",
                format!(
                    "{structure:?} is computed from the whole tensor on the CPU, not by the \
                     kernel; fill a host buffer with cpu::fill_range_as and upload it"
                ),
            ));
        }
        let limits = self.device.limits();
        if buffer.size() > limits.max_buffer_size {
            return Err(Error::LimitExceeded {
                what: "the buffer's size in bytes",
                value: buffer.size(),
                limit_name: "max_buffer_size",
                limit: limits.max_buffer_size,
            });
        }
        if !buffer.usage().contains(wgpu::BufferUsages::STORAGE) {
            return Err(Error::invalid(
                "buffer",
                format!(
                    "usage {:?} lacks STORAGE, which a fill needs",
                    buffer.usage()
                ),
            ));
        }
        if !offset_bytes.is_multiple_of(size) {
            return Err(Error::invalid(
                "buffer offset",
                format!("{offset_bytes} is not a multiple of the {dtype} element size {size}"),
            ));
        }
        len_elems
            .checked_mul(size)
            .and_then(|b| b.checked_add(offset_bytes))
            .filter(|&end| end <= buffer.size())
            .ok_or_else(|| {
                Error::invalid(
                    "buffer range",
                    format!(
                        "{len_elems} {dtype} elements at byte {offset_bytes} pass the end of \
                         the {}-byte buffer",
                        buffer.size()
                    ),
                )
            })?;
        if len_elems == 0 {
            return Ok(());
        }

        let align = u64::from(limits.min_storage_buffer_offset_alignment);
        // Elements per dispatch, leaving room for the alignment slack in the binding.
        let max_binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        let chunk = (self.chunk_elems().min((max_binding - align - 8) / size) / 4 * 4).max(4);
        let mut done = 0u64;
        while done < len_elems {
            let n = chunk.min(len_elems - done);
            let start_bytes = offset_bytes + done * size;
            let bind_start = start_bytes / align * align;
            let dest_elem = (start_bytes - bind_start) / size;
            // Whole words from the binding start through the last element's word.
            let bind_end = (start_bytes + n * size).next_multiple_of(4);
            if bind_end > buffer.size() {
                return Err(Error::invalid(
                    "buffer range",
                    format!(
                        "the range ends inside the last 4-byte word of the {}-byte buffer, which \
                         a shader cannot address; pad the buffer to a multiple of 4 bytes",
                        buffer.size()
                    ),
                ));
            }
            let first = first_elem + done;

            // Whole blocks into a binding that can start at the range itself: the plain `fill`
            // kernel, one Philox block and no masks per invocation.
            if start_bytes.is_multiple_of(align) && first.is_multiple_of(4) && n.is_multiple_of(4) {
                let mut params = Params {
                    invocations: (n / 4) as u32,
                    ..Params::new(plan, dtype, first / 4, (n / 4) as u32)
                };
                let grid = kernel::grid(
                    params.invocations,
                    self.workgroup_size,
                    self.max_workgroups_per_dim(),
                );
                params.row_invocations = grid.row_invocations;
                let binding = wgpu::BufferBinding {
                    buffer,
                    offset: start_bytes,
                    size: wgpu::BufferSize::new(n * size),
                };
                self.encode(encoder, self.block_pipeline(dtype), params, grid, binding)?;
                done += n;
                continue;
            }

            let groups = (dest_elem + n).div_ceil(4) - dest_elem / 4;
            let mut params = Params {
                dest_elem: dest_elem as u32,
                invocations: groups as u32,
                ..Params::new(plan, dtype, first, n as u32)
            };
            let grid = kernel::grid(
                params.invocations,
                self.workgroup_size,
                self.max_workgroups_per_dim(),
            );
            params.row_invocations = grid.row_invocations;
            let binding = wgpu::BufferBinding {
                buffer,
                offset: bind_start,
                size: wgpu::BufferSize::new(bind_end - bind_start),
            };
            self.encode(encoder, &self.exact_pipeline, params, grid, binding)?;
            done += n;
        }
        Ok(())
    }

    /// [`GpuContext::record_fill`] in an encoder of its own, submitted and waited for.
    ///
    /// # Errors
    ///
    /// Those of [`GpuContext::record_fill`]; [`Error::GpuValidation`] for errors wgpu reports
    /// when the work is submitted; [`Error::DeviceLost`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weight_init::gpu::{AdapterPreference, GpuContext};
    /// use weight_init::{cpu, dtype::Dtype, spec::TensorSpec};
    /// # fn read_back(
    /// #     device: &wgpu::Device,
    /// #     queue: &wgpu::Queue,
    /// #     buffer: &wgpu::Buffer,
    /// # ) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    /// #     let (sender, receiver) = std::sync::mpsc::channel();
    /// #     let slice = buffer.slice(..);
    /// #     wgpu::util::DownloadBuffer::read_buffer(device, queue, &slice, move |bytes| {
    /// #         let _ = sender.send(bytes.map(|b| b.to_vec()));
    /// #     });
    /// #     device.poll(wgpu::PollType::wait_indefinitely())?;
    /// #     Ok(receiver.recv()??)
    /// # }
    ///
    /// let plan = TensorSpec::new("fc.weight", vec![32, 24], "he-uniform".parse()?).plan(7)?;
    /// let mut want = vec![0u8; 4 * 768];
    /// cpu::fill_range_as(&plan, Dtype::F32, 0, &mut want)?;
    /// assert!(Dtype::F32.decode(&want).iter().all(|v| v.abs() < 0.5));
    ///
    /// if let Ok(gpu) = GpuContext::new(AdapterPreference::Any) {
    ///     let weights = gpu.device().create_buffer(&wgpu::BufferDescriptor {
    ///         label: Some("fc.weight"),
    ///         size: 4 * 768,
    ///         usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
    ///         mapped_at_creation: false,
    ///     });
    ///     gpu.fill_buffer(&plan, Dtype::F32, 0, plan.len_elems, &weights, 0)?;
    ///     assert_eq!(read_back(gpu.device(), gpu.queue(), &weights)?, want);
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn fill_buffer(
        &self,
        plan: &FillPlan,
        dtype: Dtype,
        first_elem: u64,
        len_elems: u64,
        buffer: &wgpu::Buffer,
        offset_bytes: u64,
    ) -> Result<()> {
        let scope = self.submit_fill(plan, dtype, first_elem, len_elems, buffer, offset_bytes)?;
        scope.pop("fill_buffer")?;
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::DeviceLost(self.lost_reason().unwrap_or_else(|| e.to_string())))?;
        Ok(())
    }

    /// [`GpuContext::fill_buffer`] without blocking a thread: the fill is recorded in an
    /// encoder of its own and submitted at once, and the future resolves when the queue
    /// reports that submission done (`Queue::on_submitted_work_done`).
    ///
    /// The values and the bytes written are those of [`GpuContext::record_fill`]. The work is
    /// submitted, and validation errors are caught, when the function is called; the future
    /// (`Send + 'static`, borrowing nothing) only waits, and returns any error.
    ///
    /// On native backends wgpu runs completion callbacks only from `Device::poll`,
    /// `Queue::submit` or `Instance::poll_all`: something must poll the device (an event
    /// loop, or a thread calling `device.poll(wgpu::PollType::Poll)`), or the future never
    /// resolves. On the web the browser does it.
    ///
    /// # Errors
    ///
    /// Those of [`GpuContext::fill_buffer`]; [`Error::DeviceLost`] also when wgpu drops the
    /// completion callback without running it.
    ///
    /// # Examples
    ///
    /// Fill a tensor into a buffer while another thread polls the device, and wait with
    /// `pollster` (any executor works):
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    ///
    /// use weight_init::gpu::{AdapterPreference, GpuContext};
    /// use weight_init::{cpu, dtype::Dtype, spec::TensorSpec};
    /// # fn read_back(
    /// #     device: &wgpu::Device,
    /// #     queue: &wgpu::Queue,
    /// #     buffer: &wgpu::Buffer,
    /// # ) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    /// #     let (sender, receiver) = std::sync::mpsc::channel();
    /// #     let slice = buffer.slice(..);
    /// #     wgpu::util::DownloadBuffer::read_buffer(device, queue, &slice, move |bytes| {
    /// #         let _ = sender.send(bytes.map(|b| b.to_vec()));
    /// #     });
    /// #     device.poll(wgpu::PollType::wait_indefinitely())?;
    /// #     Ok(receiver.recv()??)
    /// # }
    ///
    /// let plan = TensorSpec::new("fc.weight", vec![64, 24], "he-uniform".parse()?).plan(7)?;
    /// let mut want = vec![0u8; 4 * 64 * 24];
    /// cpu::fill_range_as(&plan, Dtype::F32, 0, &mut want)?;
    /// assert!(Dtype::F32.decode(&want).iter().all(|v| v.abs() < 0.5));
    ///
    /// if let Ok(gpu) = GpuContext::new(AdapterPreference::Any) {
    ///     let weights = gpu.device().create_buffer(&wgpu::BufferDescriptor {
    ///         label: Some("fc.weight"),
    ///         size: want.len() as u64,
    ///         usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
    ///         mapped_at_creation: false,
    ///     });
    ///     let done = AtomicBool::new(false);
    ///     std::thread::scope(|s| {
    ///         s.spawn(|| {
    ///             while !done.load(Ordering::Acquire) {
    ///                 let _ = gpu.device().poll(wgpu::PollType::Poll);
    ///                 std::thread::yield_now();
    ///             }
    ///         });
    ///         let len = plan.len_elems;
    ///         let filled = gpu.fill_buffer_async(&plan, Dtype::F32, 0, len, &weights, 0);
    ///         let result = pollster::block_on(filled);
    ///         done.store(true, Ordering::Release);
    ///         result
    ///     })?;
    ///     assert_eq!(read_back(gpu.device(), gpu.queue(), &weights)?, want);
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn fill_buffer_async(
        &self,
        plan: &FillPlan,
        dtype: Dtype,
        first_elem: u64,
        len_elems: u64,
        buffer: &wgpu::Buffer,
        offset_bytes: u64,
    ) -> impl Future<Output = Result<()>> + Send + 'static + use<> {
        // Error scopes belong to the calling thread, so they are popped here rather than in
        // the future (which may run elsewhere); on native backends the pop does not wait for
        // the device, validation being done at submission.
        let submitted = self
            .submit_fill(plan, dtype, first_elem, len_elems, buffer, offset_bytes)
            .and_then(|scope| scope.pop("fill_buffer_async"))
            .map(|()| {
                let (sender, receiver) = futures_channel::oneshot::channel();
                self.queue.on_submitted_work_done(move || {
                    // The receiver is gone only if the caller dropped the future: nothing waits.
                    let _ = sender.send(());
                });
                receiver
            });
        let lost = Arc::clone(&self.lost);
        async move {
            let receiver = submitted?;
            let reason = || lost.lock().ok().and_then(|slot| slot.clone());
            if receiver.await.is_err() {
                return Err(Error::DeviceLost(reason().unwrap_or_else(|| {
                    "wgpu dropped the completion callback without running it".into()
                })));
            }
            match reason() {
                Some(reason) => Err(Error::DeviceLost(reason)),
                None => Ok(()),
            }
        }
    }

    /// Records [`GpuContext::record_fill`] in an encoder of its own and submits it, inside
    /// error scopes the caller pops.
    #[allow(clippy::too_many_arguments)]
    fn submit_fill(
        &self,
        plan: &FillPlan,
        dtype: Dtype,
        first_elem: u64,
        len_elems: u64,
        buffer: &wgpu::Buffer,
        offset_bytes: u64,
    ) -> Result<ErrorScopes> {
        let scope = ErrorScopes::push(&self.device);
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("weight-init fill_buffer"),
            });
        self.record_fill(
            &mut encoder,
            plan,
            dtype,
            first_elem,
            len_elems,
            buffer,
            offset_bytes,
        )?;
        self.queue.submit([encoder.finish()]);
        Ok(scope)
    }

    /// Byte offsets for packing `tensors` into one buffer, in order, each at a multiple of the
    /// device's `min_storage_buffer_offset_alignment` (so that every fill can bind at its own
    /// offset), and the buffer size they need (a multiple of 4).
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] if the sizes overflow `u64`; [`Error::LimitExceeded`] if the packed
    /// size is larger than the device's `max_buffer_size`, so no buffer could hold them.
    ///
    /// # Examples
    ///
    /// ```
    /// use weight_init::gpu::{AdapterPreference, GpuContext};
    /// use weight_init::{dtype::Dtype, spec::TensorSpec};
    ///
    /// let tensors = [
    ///     TensorSpec::new("fc1.weight", vec![64, 24], "he-uniform".parse()?)
    ///         .with_dtype(Dtype::BF16),
    ///     TensorSpec::new("fc1.bias", vec![63], "zeros".parse()?),
    ///     TensorSpec::new("fc2.weight", vec![10, 64], "xavier-uniform".parse()?),
    /// ];
    /// let bytes = tensors
    ///     .iter()
    ///     .map(|t| Ok(t.elem_count()? * t.dtype.size_bytes() as u64))
    ///     .collect::<weight_init::Result<Vec<u64>>>()?;
    /// assert_eq!(bytes, [3072, 252, 2560]);
    ///
    /// if let Ok(gpu) = GpuContext::new(AdapterPreference::Any) {
    ///     let (offsets, size) = gpu.pack_offsets(&tensors)?;
    ///     // In order, each at the next multiple of the alignment (256 on lavapipe).
    ///     let align = u64::from(gpu.device().limits().min_storage_buffer_offset_alignment);
    ///     let second = bytes[0].next_multiple_of(align);
    ///     let third = (second + bytes[1]).next_multiple_of(align);
    ///     assert_eq!(offsets, [0, second, third]);
    ///     assert_eq!(size, third + bytes[2]);
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), weight_init::Error>(())
    /// ```
    pub fn pack_offsets(&self, tensors: &[TensorSpec]) -> Result<(Vec<u64>, u64)> {
        let align = u64::from(self.device.limits().min_storage_buffer_offset_alignment).max(4);
        let too_large = || Error::TooLarge {
            what: "packed model size",
            value: format!("{} tensors", tensors.len()),
            limit: u64::MAX.to_string(),
        };
        let mut offsets = Vec::with_capacity(tensors.len());
        let mut end = 0u64;
        for t in tensors {
            let start = end.checked_next_multiple_of(align).ok_or_else(too_large)?;
            let bytes = t
                .elem_count()?
                .checked_mul(t.dtype.size_bytes() as u64)
                .ok_or_else(too_large)?;
            offsets.push(start);
            end = start.checked_add(bytes).ok_or_else(too_large)?;
        }
        let needed = end.checked_next_multiple_of(4).ok_or_else(too_large)?;
        let max_buffer_size = self.device.limits().max_buffer_size;
        if needed > max_buffer_size {
            return Err(Error::LimitExceeded {
                what: "the packed tensors' size in bytes",
                value: needed,
                limit_name: "max_buffer_size",
                limit: max_buffer_size,
            });
        }
        Ok((offsets, needed))
    }

    /// Records fills of every tensor of `tensors` (whole, as its dtype, values for `seed`)
    /// into `buffer` at the offsets of [`GpuContext::pack_offsets`], all in `encoder`: a
    /// whole model in one submission. Returns the offsets.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `buffer` is smaller than the packed size (naming both)
    /// or a tensor is invalid, both checked before anything is recorded; those of
    /// [`GpuContext::record_fill`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weight_init::gpu::{AdapterPreference, GpuContext};
    /// use weight_init::{cpu, dtype::Dtype, spec::TensorSpec};
    /// # fn read_back(
    /// #     device: &wgpu::Device,
    /// #     queue: &wgpu::Queue,
    /// #     buffer: &wgpu::Buffer,
    /// # ) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    /// #     let (sender, receiver) = std::sync::mpsc::channel();
    /// #     let slice = buffer.slice(..);
    /// #     wgpu::util::DownloadBuffer::read_buffer(device, queue, &slice, move |bytes| {
    /// #         let _ = sender.send(bytes.map(|b| b.to_vec()));
    /// #     });
    /// #     device.poll(wgpu::PollType::wait_indefinitely())?;
    /// #     Ok(receiver.recv()??)
    /// # }
    ///
    /// let tensors = [
    ///     TensorSpec::new("fc1.weight", vec![64, 24], "he-uniform".parse()?)
    ///         .with_dtype(Dtype::BF16),
    ///     TensorSpec::new("fc1.bias", vec![64], "zeros".parse()?),
    ///     TensorSpec::new("fc2.weight", vec![10, 64], "xavier-uniform".parse()?),
    /// ];
    /// let seed = 5;
    /// let mut want = Vec::new();
    /// for t in &tensors {
    ///     let plan = t.plan(seed)?;
    ///     let mut bytes = vec![0u8; plan.len_elems as usize * t.dtype.size_bytes()];
    ///     cpu::fill_range_as(&plan, t.dtype, 0, &mut bytes)?;
    ///     want.push(bytes);
    /// }
    /// assert!(want[1].iter().all(|&b| b == 0));
    ///
    /// if let Ok(gpu) = GpuContext::new(AdapterPreference::Any) {
    ///     let (_, size) = gpu.pack_offsets(&tensors)?;
    ///     let model = gpu.device().create_buffer(&wgpu::BufferDescriptor {
    ///         label: Some("model"),
    ///         size,
    ///         usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
    ///         mapped_at_creation: false,
    ///     });
    ///     let mut encoder = gpu.device().create_command_encoder(&Default::default());
    ///     let offsets = gpu.record_model(&mut encoder, &tensors, seed, &model)?;
    ///     gpu.queue().submit([encoder.finish()]);
    ///
    ///     let bytes = read_back(gpu.device(), gpu.queue(), &model)?;
    ///     for (want, offset) in want.iter().zip(offsets) {
    ///         assert_eq!(bytes[offset as usize..][..want.len()], want[..]);
    ///     }
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn record_model(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        tensors: &[TensorSpec],
        seed: u64,
        buffer: &wgpu::Buffer,
    ) -> Result<Vec<u64>> {
        let (offsets, needed) = self.pack_offsets(tensors)?;
        if buffer.size() < needed {
            return Err(Error::invalid(
                "buffer",
                format!(
                    "{} bytes, but the packed tensors need {needed}",
                    buffer.size()
                ),
            ));
        }
        let plans = tensors
            .iter()
            .map(|t| t.plan(seed))
            .collect::<Result<Vec<_>>>()?;
        for ((t, plan), &offset) in tensors.iter().zip(&plans).zip(&offsets) {
            self.record_fill(encoder, plan, t.dtype, 0, plan.len_elems, buffer, offset)?;
        }
        Ok(offsets)
    }

    /// The wgpu device, for callers that create buffers for [`GpuContext::record_fill`].
    ///
    /// # Examples
    ///
    /// A buffer and an encoder of the context's device:
    ///
    /// ```
    /// use weight_init::gpu::{AdapterPreference, GpuContext};
    /// use weight_init::{cpu, dtype::Dtype, spec::TensorSpec};
    /// # fn read_back(
    /// #     device: &wgpu::Device,
    /// #     queue: &wgpu::Queue,
    /// #     buffer: &wgpu::Buffer,
    /// # ) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    /// #     let (sender, receiver) = std::sync::mpsc::channel();
    /// #     let slice = buffer.slice(..);
    /// #     wgpu::util::DownloadBuffer::read_buffer(device, queue, &slice, move |bytes| {
    /// #         let _ = sender.send(bytes.map(|b| b.to_vec()));
    /// #     });
    /// #     device.poll(wgpu::PollType::wait_indefinitely())?;
    /// #     Ok(receiver.recv()??)
    /// # }
    ///
    /// let plan = TensorSpec::new("fc.bias", vec![64], "ones".parse()?).plan(1)?;
    /// let mut want = vec![0u8; 2 * 64];
    /// cpu::fill_range_as(&plan, Dtype::F16, 0, &mut want)?;
    /// assert_eq!(Dtype::F16.decode(&want), [1.0; 64]);
    ///
    /// if let Ok(gpu) = GpuContext::new(AdapterPreference::Any) {
    ///     let bias = gpu.device().create_buffer(&wgpu::BufferDescriptor {
    ///         label: Some("fc.bias"),
    ///         size: 2 * 64,
    ///         usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
    ///         mapped_at_creation: false,
    ///     });
    ///     let mut encoder = gpu.device().create_command_encoder(&Default::default());
    ///     gpu.record_fill(&mut encoder, &plan, Dtype::F16, 0, 64, &bias, 0)?;
    ///     gpu.queue().submit([encoder.finish()]);
    ///     assert_eq!(read_back(gpu.device(), gpu.queue(), &bias)?, want);
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The wgpu queue of [`GpuContext::device`].
    ///
    /// # Examples
    ///
    /// Upload through the context's queue, then fill part of the buffer: the rest keeps the
    /// upload.
    ///
    /// ```
    /// use weight_init::gpu::{AdapterPreference, GpuContext};
    /// use weight_init::{cpu, dtype::Dtype, spec::TensorSpec};
    /// # fn read_back(
    /// #     device: &wgpu::Device,
    /// #     queue: &wgpu::Queue,
    /// #     buffer: &wgpu::Buffer,
    /// # ) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    /// #     let (sender, receiver) = std::sync::mpsc::channel();
    /// #     let slice = buffer.slice(..);
    /// #     wgpu::util::DownloadBuffer::read_buffer(device, queue, &slice, move |bytes| {
    /// #         let _ = sender.send(bytes.map(|b| b.to_vec()));
    /// #     });
    /// #     device.poll(wgpu::PollType::wait_indefinitely())?;
    /// #     Ok(receiver.recv()??)
    /// # }
    ///
    /// let plan = TensorSpec::new("fc.weight", vec![32, 24], "he-uniform".parse()?).plan(7)?;
    /// let mut want = vec![0u8; 4 * 8];
    /// cpu::fill_range_as(&plan, Dtype::F32, 0, &mut want)?;
    /// assert!(want.iter().any(|&b| b != 1));
    ///
    /// if let Ok(gpu) = GpuContext::new(AdapterPreference::Any) {
    ///     let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
    ///         label: Some("weights"),
    ///         size: 64,
    ///         usage: wgpu::BufferUsages::STORAGE
    ///             | wgpu::BufferUsages::COPY_SRC
    ///             | wgpu::BufferUsages::COPY_DST,
    ///         mapped_at_creation: false,
    ///     });
    ///     gpu.queue().write_buffer(&buffer, 0, &[1; 64]);
    ///     gpu.fill_buffer(&plan, Dtype::F32, 0, 8, &buffer, 16)?;
    ///
    ///     let bytes = read_back(gpu.device(), gpu.queue(), &buffer)?;
    ///     assert_eq!(bytes[16..48], want[..]);
    ///     assert!(bytes[..16].iter().chain(&bytes[48..]).all(|&b| b == 1));
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// Encodes one compute pass of `pipeline` over `grid` with `params` and `binding`.
    fn encode(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        pipeline: &wgpu::ComputePipeline,
        params: Params,
        grid: Grid,
        binding: wgpu::BufferBinding<'_>,
    ) -> Result<()> {
        let uniform = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("weight-init params"),
            size: std::mem::size_of::<Params>() as u64,
            usage: wgpu::BufferUsages::UNIFORM,
            mapped_at_creation: true,
        });
        // On a lost device the buffer is invalid and has no mapping; wgpu's
        // `create_buffer_init` would panic there, this returns the error.
        uniform
            .get_mapped_range_mut(..)
            .map_err(|e| {
                // A poll runs the device-lost callback, if the device is why.
                let _ = self.device.poll(wgpu::PollType::Poll);
                match self.lost_reason() {
                    Some(reason) => Error::DeviceLost(reason),
                    None => Error::GpuValidation {
                        operation: "parameter upload",
                        message: one_line(&e),
                    },
                }
            })?
            .copy_from_slice(bytemuck::bytes_of(&params));
        uniform.unmap();
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("weight-init bindings"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: uniform.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::Buffer(binding),
                },
            ],
        });
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("weight-init fill"),
            timestamp_writes: None,
        });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(grid.x, grid.y, 1);
        Ok(())
    }

    /// A storage buffer the kernel writes and a mappable buffer to read it back, `bytes` each.
    fn scratch(&self, bytes: u64) -> Result<Scratch> {
        let scope = ErrorScopes::push(&self.device);
        let storage = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("weight-init output"),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("weight-init readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        scope.pop("buffer allocation")?;
        Ok(Scratch { storage, staging })
    }

    fn max_workgroups_per_dim(&self) -> u32 {
        self.device
            .limits()
            .max_compute_workgroups_per_dimension
            .min(MAX_WORKGROUPS_PER_DIM)
    }

    /// One dispatch of `params.len` blocks into `scratch.storage` (after uploading `input`
    /// there, when given), then a copy of the whole storage buffer to `scratch.staging`.
    fn dispatch(
        &self,
        pipeline: &wgpu::ComputePipeline,
        scratch: &Scratch,
        mut params: Params,
        input: Option<&[u8]>,
    ) -> Result<()> {
        params.invocations = params.len;
        let grid: Grid = kernel::grid(
            params.invocations,
            self.workgroup_size,
            self.max_workgroups_per_dim(),
        );
        params.row_invocations = grid.row_invocations;

        let scope = ErrorScopes::push(&self.device);
        if let Some(input) = input {
            self.queue.write_buffer(&scratch.storage, 0, input);
        }
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("weight-init"),
            });
        let binding = scratch.storage.as_entire_buffer_binding();
        self.encode(&mut encoder, pipeline, params, grid, binding)?;
        encoder.copy_buffer_to_buffer(&scratch.storage, 0, &scratch.staging, 0, None);
        self.queue.submit([encoder.finish()]);
        scope.pop("dispatch")
    }

    /// Maps the first `len_bytes` of `scratch.staging`, hands them to `consume`, and unmaps.
    fn read(&self, scratch: &Scratch, len_bytes: u64, consume: impl FnOnce(&[u8])) -> Result<()> {
        let (sender, receiver) = mpsc::channel();
        scratch
            .staging
            .map_async(wgpu::MapMode::Read, 0..len_bytes, move |result| {
                // The receiver outlives the poll below; a send can only fail if it is gone.
                let _ = sender.send(result);
            });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::DeviceLost(self.lost_reason().unwrap_or_else(|| e.to_string())))?;
        match receiver.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Error::MapFailed(e.to_string())),
            Err(_) => {
                return Err(Error::MapFailed(
                    self.lost_reason()
                        .unwrap_or_else(|| "the map callback never ran".into()),
                ));
            }
        }
        {
            let view = scratch
                .staging
                .get_mapped_range(0..len_bytes)
                .map_err(|e| Error::MapFailed(e.to_string()))?;
            consume(&view);
        }
        scratch.staging.unmap();
        if let Some(reason) = self.lost_reason() {
            return Err(Error::DeviceLost(reason));
        }
        Ok(())
    }

    fn lost_reason(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|slot| slot.clone())
    }
}

/// Checks that a device with `limits` can run the kernels ([`GpuContext::from_device`] lists
/// the needs), so that no pipeline, binding or dispatch is refused later for a limit.
fn check_limits(limits: &wgpu::Limits) -> Result<()> {
    // A storage binding holds one block of f32 after the slack that `record_fill` leaves for
    // aligning the binding's start below the range.
    let binding_bytes = u64::from(limits.min_storage_buffer_offset_alignment) + 24;
    let needs: [(&'static str, u64, &'static str, u64); 10] = [
        (
            "the kernels' invocations per workgroup",
            u64::from(WORKGROUP_SIZE),
            "max_compute_invocations_per_workgroup",
            u64::from(limits.max_compute_invocations_per_workgroup),
        ),
        (
            "the kernels' workgroup size along x",
            u64::from(WORKGROUP_SIZE),
            "max_compute_workgroup_size_x",
            u64::from(limits.max_compute_workgroup_size_x),
        ),
        (
            "the kernels' workgroups per dimension",
            1,
            "max_compute_workgroups_per_dimension",
            u64::from(limits.max_compute_workgroups_per_dimension),
        ),
        (
            "the kernels' bind groups",
            1,
            "max_bind_groups",
            u64::from(limits.max_bind_groups),
        ),
        (
            "the kernels' bindings per bind group",
            2,
            "max_bindings_per_bind_group",
            u64::from(limits.max_bindings_per_bind_group),
        ),
        (
            "the kernels' uniform buffers per shader stage",
            1,
            "max_uniform_buffers_per_shader_stage",
            u64::from(limits.max_uniform_buffers_per_shader_stage),
        ),
        (
            "the kernels' storage buffers per shader stage",
            1,
            "max_storage_buffers_per_shader_stage",
            u64::from(limits.max_storage_buffers_per_shader_stage),
        ),
        (
            "the kernels' parameter block in bytes",
            std::mem::size_of::<Params>() as u64,
            "max_uniform_buffer_binding_size",
            limits.max_uniform_buffer_binding_size,
        ),
        (
            "the kernels' smallest storage binding in bytes",
            binding_bytes,
            "max_storage_buffer_binding_size",
            limits.max_storage_buffer_binding_size,
        ),
        (
            "the kernels' smallest buffer in bytes",
            binding_bytes,
            "max_buffer_size",
            limits.max_buffer_size,
        ),
    ];
    match needs
        .into_iter()
        .find(|&(_, value, _, limit)| value > limit)
    {
        Some((what, value, limit_name, limit)) => Err(Error::LimitExceeded {
            what,
            value,
            limit_name,
            limit,
        }),
        None => Ok(()),
    }
}

/// The layout shared by all entry points: the `Params` uniform and the output words.
fn bind_group_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("weight-init layout"),
        entries: &[
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: wgpu::BufferSize::new(std::mem::size_of::<Params>() as u64),
                },
                count: None,
            },
            wgpu::BindGroupLayoutEntry {
                binding: 1,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only: false },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            },
        ],
    })
}

/// The `fill`, `fill_half`, `words`, `transform` and `fill_exact` pipelines with `multiply` and
/// `workgroup_size` invocations per workgroup, created in an error scope.
fn build_pipelines(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    multiply: Multiply,
    workgroup_size: u32,
) -> Result<[wgpu::ComputePipeline; 5]> {
    let source = multiply::kernel_source(multiply)?;
    let scope = ErrorScopes::push(device);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("fill.wgsl"),
        source,
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("weight-init pipeline layout"),
        bind_group_layouts: &[Some(layout)],
        immediate_size: 0,
    });
    let constants = kernel::override_constants(workgroup_size);
    let pipeline = |entry_point: &str| {
        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry_point),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(entry_point),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &constants,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        })
    };
    let pipelines = ["fill", "fill_half", "words", "transform", "fill_exact"].map(pipeline);
    scope
        .pop("pipeline creation")
        .map_err(|e| Error::ShaderRejected(e.to_string()))?;
    Ok(pipelines)
}

/// The buffers of a sequence of dispatches: the kernel's output and its readback copy.
struct Scratch {
    storage: wgpu::Buffer,
    staging: wgpu::Buffer,
}

/// A validation scope inside an out-of-memory scope, popped together.
struct ErrorScopes {
    validation: wgpu::ErrorScopeGuard,
    out_of_memory: wgpu::ErrorScopeGuard,
}

impl ErrorScopes {
    fn push(device: &wgpu::Device) -> Self {
        let out_of_memory = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        Self {
            validation,
            out_of_memory,
        }
    }

    fn pop(self, operation: &'static str) -> Result<()> {
        let validation = pollster::block_on(self.validation.pop());
        let out_of_memory = pollster::block_on(self.out_of_memory.pop());
        match validation.or(out_of_memory) {
            None => Ok(()),
            Some(error) => Err(Error::GpuValidation {
                operation,
                message: one_line(&error),
            }),
        }
    }
}

/// A wgpu error's message on one line: its lines joined by ": ", without wgpu's
/// "Caused by:" headings.
fn one_line(error: &dyn std::fmt::Display) -> String {
    let text = error.to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "Caused by:")
        .collect();
    lines.join(": ")
}
