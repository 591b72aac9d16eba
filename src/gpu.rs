//! The GPU path: adapter and device, the compute pipelines, chunked dispatch and readback.
//!
//! [`GpuContext`] owns a wgpu device and the two pipelines of `shaders/fill.wgsl`: `fill`
//! (weights as f32) and `words` (raw Philox words). Both are built once per context and reused
//! for every fill. A fill larger than one storage binding, or than one dispatch grid (the
//! device's workgroups per dimension, at most 65535, squared), is split into chunks
//! ([`kernel::chunk_elems`]); since each element depends only on its index, chunking never
//! changes a value. A request that no split can bring within a device limit (a caller's
//! buffer larger than the device's largest, a device that cannot run a workgroup of the
//! kernels' size) is an [`crate::Error::LimitExceeded`].
//!
//! All wgpu work runs inside error scopes, so validation and out-of-memory errors come back
//! as [`crate::Error`] values, as do failed buffer maps and lost devices.

mod context;
pub mod kernel;

pub use context::{AdapterPreference, GpuContext};
