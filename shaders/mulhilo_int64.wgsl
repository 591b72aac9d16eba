// The 64-bit product a * b as (high word, low word), from one 64-bit multiply.
//
// Needs wgpu's SHADER_INT64 feature. On devices that have it, this function replaces the
// `mulhilo` of shaders/fill.wgsl (16-bit partial products) in the compiled module: the two
// give the same words for every input, the exact 64-bit product split in halves, which the
// GPU agreement tests check against the CPU's `philox::mulhilo` on both variants. Only
// literals, arguments and conversions appear here, so the function moves between modules
// with its types alone (src/gpu/multiply.rs).
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let product = u64(a) * u64(b);
    return vec2<u32>(u32(product >> 32u), u32(product));
}
