//! Reproducible neural-network weight initialization on the GPU (wgpu) and the CPU.
//!
//! The value of element `i` of a tensor is a pure function of `(seed, stream, scheme, i)`:
//! it does not depend on the device, the thread count, the chunking, the workgroup size or
//! which slice of the tensor is generated. The CPU path and the WGSL kernel compute the same
//! numbers.
//!
//! # Vocabulary
//!
//! - *seed*: the user's 64-bit number; it becomes the Philox *key* (two 32-bit words).
//! - *stream*: a 64-bit id per tensor, by default the FNV-1a hash of its name.
//! - *counter*: Philox's 128-bit input, `(block lo, block hi, stream lo, stream hi)`.
//! - *block*: the four 32-bit words Philox makes from one counter; block `b` feeds elements
//!   `4b .. 4b + 4`.
//! - *round*: one multiply/xor step of Philox; the generator uses ten.
//! - *offset*: the index of the first element a fill writes.
//!
//! # Pipeline
//!
//! [`philox`] makes words, [`stream`] says which words each element uses, [`transform`] turns
//! words into uniforms, normals and truncated normals, [`scheme`] and [`spec`] turn a scheme
//! and a shape into a distribution, and [`cpu`] or [`gpu`] (chosen through [`engine`]) fill
//! memory; [`structured`] computes the schemes that need the whole tensor (orthogonal,
//! sparse, eye, dirac) on the CPU. [`bench`](mod@bench) times fills on each path, [`probe`]
//! pushes a batch through a deep network to show how the scheme sets the signal's scale,
//! [`report`] writes their numbers and charts, [`output`] writes files and [`display`]
//! prints arrays as NumPy does.
//!
//! # Examples
//!
//! ```
//! use weight_init::engine::{DeviceChoice, Engine};
//! use weight_init::spec::TensorSpec;
//!
//! let w1 = TensorSpec::new("W1", vec![4, 2], "he".parse()?);
//! let plan = w1.plan(7)?;
//! let values = Engine::new(DeviceChoice::Cpu)?.fill(&plan)?;
//! assert_eq!(values.len(), 8);
//! # Ok::<(), weight_init::Error>(())
//! ```

#![deny(missing_docs, missing_debug_implementations)]
#![doc(test(attr(deny(warnings))))]

pub mod philox;
pub mod stream;
pub mod transform;
pub mod dtype;
pub mod scheme;
pub mod spec;
pub mod slice;
pub mod model;
pub mod cpu;
pub mod structured;
pub mod gpu;
pub mod engine;
pub mod bench;
pub mod probe;
pub mod output;
pub mod report;
pub mod display;
pub mod error;

pub use error::{Error, Result};

/// The README's Rust examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
