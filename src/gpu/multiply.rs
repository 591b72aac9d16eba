//! How the kernel forms the 64-bit products of Philox's rounds: from 16-bit partial products
//! (WGSL has no 64-bit integers), or with one 64-bit multiply where the device has wgpu's
//! `SHADER_INT64`.
//!
//! `shaders/fill.wgsl` holds the portable `mulhilo`; `shaders/mulhilo_int64.wgsl` holds the
//! 64-bit one, a standalone file of its own. Both are parsed by naga, and for
//! [`Multiply::Int64`] the kernel module's `mulhilo` is replaced by the other file's, at the
//! level of naga's IR rather than by editing source text. Both variants give the exact product,
//! so the words, and every value made from them, are the same.

use std::borrow::Cow;

use wgpu::naga;

use super::kernel::FILL_WGSL;
use crate::error::{Error, Result};

/// The 64-bit multiply variant, `shaders/mulhilo_int64.wgsl`, embedded at compile time.
pub const MULHILO_INT64_WGSL: &str = include_str!("../../shaders/mulhilo_int64.wgsl");

/// How the kernel multiplies 32-bit words into 64-bit products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Multiply {
    /// Four 16 x 16-bit partial products: every device.
    Emulated,
    /// One 64-bit multiply: devices with `wgpu::Features::SHADER_INT64`.
    Int64,
}

impl Multiply {
    /// [`Multiply::Int64`] where `features` has `SHADER_INT64`, else [`Multiply::Emulated`].
    pub fn best_for(features: wgpu::Features) -> Self {
        if features.contains(wgpu::Features::SHADER_INT64) {
            Multiply::Int64
        } else {
            Multiply::Emulated
        }
    }

    /// The device features this variant needs.
    pub fn required_features(self) -> wgpu::Features {
        match self {
            Multiply::Emulated => wgpu::Features::empty(),
            Multiply::Int64 => wgpu::Features::SHADER_INT64,
        }
    }
}

/// The kernel's shader source for `multiply`.
///
/// # Errors
///
/// [`Error::ShaderRejected`] if a shader file does not parse or the 64-bit `mulhilo` uses
/// something that cannot move between modules (only arguments, literals, locals,
/// conversions, arithmetic and composites can).
pub fn kernel_source(multiply: Multiply) -> Result<wgpu::ShaderSource<'static>> {
    match multiply {
        Multiply::Emulated => Ok(wgpu::ShaderSource::Wgsl(Cow::Borrowed(FILL_WGSL))),
        Multiply::Int64 => {
            let mut kernel = parse("fill.wgsl", FILL_WGSL)?;
            let donor = parse("mulhilo_int64.wgsl", MULHILO_INT64_WGSL)?;
            replace_function(&mut kernel, &donor, "mulhilo")?;
            Ok(wgpu::ShaderSource::Naga(Cow::Owned(kernel)))
        }
    }
}

fn parse(file: &str, source: &str) -> Result<naga::Module> {
    naga::front::wgsl::parse_str(source)
        .map_err(|e| Error::ShaderRejected(format!("{file}: {}", e.emit_to_string(source))))
}

/// Replaces the body and signature of function `name` in `module` by those of the function of
/// the same name in `donor`, moving the types it names into `module`'s type arena.
///
/// The donor function may use arguments, literals, local variables, conversions, arithmetic
/// and composites; an expression that names anything else of its module (constants,
/// overrides, globals, other functions) is refused, since its handle would mean something
/// else in `module`.
fn replace_function(module: &mut naga::Module, donor: &naga::Module, name: &str) -> Result<()> {
    let find = |m: &naga::Module, which: &str| {
        m.functions
            .iter()
            .find(|(_, f)| f.name.as_deref() == Some(name))
            .map(|(handle, _)| handle)
            .ok_or_else(|| Error::ShaderRejected(format!("{which} has no function `{name}`")))
    };
    let target = find(module, "the kernel")?;
    let mut function = donor.functions[find(donor, "the replacement")?].clone();

    // Every type handle the function holds, re-interned in the kernel's arena.
    let mut move_type = |ty: naga::Handle<naga::Type>| -> Result<naga::Handle<naga::Type>> {
        let moved = donor.types[ty].clone();
        if !matches!(
            moved.inner,
            naga::TypeInner::Scalar(_) | naga::TypeInner::Vector { .. }
        ) {
            return Err(Error::ShaderRejected(format!(
                "replacement `{name}` uses a type other than scalars and vectors"
            )));
        }
        Ok(module.types.insert(moved, naga::Span::UNDEFINED))
    };
    for argument in &mut function.arguments {
        argument.ty = move_type(argument.ty)?;
    }
    if let Some(result) = &mut function.result {
        result.ty = move_type(result.ty)?;
    }
    for (_, local) in function.local_variables.iter_mut() {
        local.ty = move_type(local.ty)?;
    }
    for (_, expression) in function.expressions.iter_mut() {
        use naga::Expression as E;
        match expression {
            E::Compose { ty, .. } | E::ZeroValue(ty) => *ty = move_type(*ty)?,
            E::Literal(_)
            | E::FunctionArgument(_)
            | E::LocalVariable(_)
            | E::Load { .. }
            | E::Access { .. }
            | E::AccessIndex { .. }
            | E::Splat { .. }
            | E::Swizzle { .. }
            | E::Unary { .. }
            | E::Binary { .. }
            | E::Select { .. }
            | E::Math { .. }
            | E::As { .. } => {}
            other => {
                return Err(Error::ShaderRejected(format!(
                    "replacement `{name}` uses an expression that cannot move between \
                     modules: {other:?}"
                )));
            }
        }
    }
    module.functions[target] = function;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(module: &naga::Module, capabilities: naga::valid::Capabilities) -> bool {
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), capabilities)
            .validate(module)
            .is_ok()
    }

    #[test]
    fn the_int64_kernel_validates_with_the_capability_and_only_with_it() {
        let Ok(wgpu::ShaderSource::Naga(module)) = kernel_source(Multiply::Int64) else {
            panic!("the 64-bit variant is a naga module");
        };
        assert!(validate(&module, naga::valid::Capabilities::all()));
        let without = naga::valid::Capabilities::all() - naga::valid::Capabilities::SHADER_INT64;
        assert!(
            !validate(&module, without),
            "the replaced mulhilo must use 64-bit integers"
        );
        // The replacement is a valid file of its own, and the untouched kernel needs no
        // 64-bit integers.
        let replacement = parse("mulhilo_int64.wgsl", MULHILO_INT64_WGSL).unwrap();
        assert!(validate(&replacement, naga::valid::Capabilities::all()));
        let plain = parse("fill.wgsl", FILL_WGSL).unwrap();
        assert!(validate(&plain, without));
    }

    #[test]
    fn a_replacement_naming_module_items_is_refused() {
        let mut kernel = parse("fill.wgsl", FILL_WGSL).unwrap();
        let donor = parse(
            "donor",
            "var<private> k: u32 = 3u;\n\
             fn mulhilo(a: u32, b: u32) -> vec2<u32> { return vec2<u32>(k, a * b); }",
        )
        .unwrap();
        let error = replace_function(&mut kernel, &donor, "mulhilo").unwrap_err();
        assert!(error.to_string().contains("cannot move"), "{error}");
    }
}
