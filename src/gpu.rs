//! The GPU path: adapter and device, the compute pipelines, chunked dispatch and readback.
//!
//! [`GpuContext`] holds a wgpu device, its own or the caller's, and the five pipelines of
//! `shaders/fill.wgsl`: `fill` and `fill_half` (weights as f32, or as f16 and bf16, whole
//! blocks, one vector store per block), `fill_exact` (weights into any element range of a
//! caller's buffer), `words` (raw Philox words) and
//! `transform` (chosen words to values, for tests). They are built once per context and
//! reused for every fill, with Philox's 64-bit products formed as [`Multiply`] says (one
//! 64-bit multiply where the device has `SHADER_INT64`, 16-bit partial products elsewhere; the
//! same words either way) and the context's workgroup size. A fill larger than one storage
//! binding, or than one dispatch grid (the device's workgroups per dimension, at most 65535,
//! squared), is split into chunks ([`kernel::chunk_elems`]); since each element depends only
//! on its index, chunking never changes a value. A request that no split can bring within a
//! device limit (a caller's buffer larger than the device's largest, a device that cannot run
//! a workgroup of the kernels' size) is an [`crate::Error::LimitExceeded`].
//!
//! Every public item of [`GpuContext`] and [`crate::engine`] has an example that runs as a
//! doctest: with an adapter it does the GPU work and compares it with the CPU path's bytes,
//! without one it checks the CPU path's values (`WEIGHT_INIT_REQUIRE_GPU=1` makes a missing
//! adapter fail them, as it does the GPU tests).
//!
//! All wgpu work runs inside error scopes, so validation and out-of-memory errors come back
//! as [`crate::Error`] values, as do failed buffer maps and lost devices.

mod context;
pub mod kernel;
pub mod multiply;

pub use context::{AdapterPreference, GpuContext};
pub use multiply::Multiply;
