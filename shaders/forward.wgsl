// One dense layer of a forward pass, for examples/forward.rs: y = φ(x Wᵀ), no bias.
//
// Bindings, group 0:
//   0 params   uniform Params
//   1 weights  storage, read: the packed f32 model buffer that GpuContext::record_model
//              filled; this layer's W is (out_width, in_width), row-major, from element
//              params.weight_offset (its byte offset from GpuContext::pack_offsets, over 4)
//   2 x        storage, read: the layer's input, (batch, in_width), row-major
//   3 y        storage, read_write: the layer's output, (batch, out_width), row-major
//
// One invocation per output element: invocation g computes y[b, o] with b = g / out_width,
// o = g % out_width; invocations past batch * out_width do nothing. Workgroups of 64, a 1-D
// grid (the example's layers have at most a few thousand outputs).
//
// The sum runs over k = 0, 1, ... in order with a separate multiply and add, as the CPU
// reference `cpu_forward` in examples/forward.rs does, so the two agree to rounding (exactly
// where the device does not fuse them).

struct Params {
    batch: u32,
    in_width: u32,
    out_width: u32,
    // Index of W[0, 0] in `weights`.
    weight_offset: u32,
    // 1: ReLU after the sum (hidden layers); 0: linear (the output layer).
    relu: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0)
@binding(0)
var<uniform> params: Params;

@group(0)
@binding(1)
var<storage, read> weights: array<f32>;

@group(0)
@binding(2)
var<storage, read> x: array<f32>;

@group(0)
@binding(3)
var<storage, read_write> y: array<f32>;

@compute
@workgroup_size(64)
fn dense(@builtin(global_invocation_id) id: vec3<u32>) {
    let g = id.x;
    if g >= params.batch * params.out_width {
        return;
    }
    let b = g / params.out_width;
    let o = g % params.out_width;
    let row = params.weight_offset + o * params.in_width;
    let input = b * params.in_width;

    var acc = 0.0;
    for (var k = 0u; k < params.in_width; k++) {
        let product = x[input + k] * weights[row + k];
        acc = acc + product;
    }
    if params.relu == 1u {
        acc = max(acc, 0.0);
    }
    y[g] = acc;
}
