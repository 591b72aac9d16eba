// Philox4x32-10 words, and weights made from them, written into a storage buffer.
//
// The same algorithm as src/philox.rs, src/stream.rs and src/transform.rs, operation for
// operation (no fused multiply-add, exact integer-to-float conversions), so that the CPU and
// GPU give the same words bit for bit and the same floats wherever the device rounds add,
// multiply, divide and sqrt as IEEE 754 requires.
//
// Each invocation handles one Philox block: counter = (block lo, block hi, stream lo,
// stream hi), key = (seed lo, seed hi). Element i of a tensor comes from block i / 4.
// Invocation g of a dispatch handles block `first + g` and writes its output at the g-th
// block-sized slot of out_words; the host drops elements outside the range it wants. The
// grid is 2-D (at most 65535 workgroups per dimension) and g = x + y * row_invocations.
//
// Every float constant below is a pipeline override set from the Rust constants of the same
// name, so the two sides cannot drift apart.

struct Params {
    key_lo: u32,
    key_hi: u32,
    stream_lo: u32,
    stream_hi: u32,
    // Index of the first block (`fill`, `words`) or element (`fill_exact`).
    first_lo: u32,
    first_hi: u32,
    // Blocks to process.
    len: u32,
    // 0 uniform, 1 normal, 2 constant, 3 truncated normal (src/transform.rs `Kind`).
    kind: u32,
    offset: f32,
    scale: f32,
    // Invocations in one row of the 2-D grid: workgroups in x times the workgroup size.
    row_invocations: u32,
    // Invocations with work: one per block.
    invocations: u32,
    // `fill` and `fill_exact` output: 0 f32, 1 f16, 2 bf16 (src/dtype.rs).
    dtype: u32,
    // `fill_exact`: the element index, within the binding, where element `first` goes.
    dest_elem: u32,
    // Truncated normal (kind 3): Phi(alpha), 1 - Phi(beta), their gap, and the clamp bounds
    // (src/transform.rs `Truncation`).
    p_low: f32,
    q_high: f32,
    mass: f32,
    low: f32,
    high: f32,
    pad0: u32,
}

@group(0)
@binding(0)
var<uniform> params: Params;

// Values stored as their bits, f32 one per word or f16/bf16 two per word with the even element
// in the low half (fill_exact); raw Philox words (words); values in place of words
// (transform).
@group(0)
@binding(1)
var<storage, read_write> out_words: array<u32>;

// The same binding seen a block at a time, for one vector store per invocation: four f32
// words (fill), or two words of four f16/bf16 halves (fill_half). Each entry point uses one
// view only, so no pipeline sees the binding under two types.
@group(0)
@binding(1)
var<storage, read_write> out_f32_blocks: array<vec4<u32>>;

@group(0)
@binding(1)
var<storage, read_write> out_half_blocks: array<vec2<u32>>;

override WORKGROUP_SIZE: u32 = 256u;

// Philox constants (src/philox.rs).
const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// Transform constants (src/transform.rs), set at pipeline creation.
override UNIFORM_STEP: f32;
override SQRT_2: f32;
override LN2_HI: f32;
override LN2_LO: f32;
override F16_MAX: f32;
override BF16_MAX: f32;
override LOG_C0: f32;
override LOG_C1: f32;
override LOG_C2: f32;
override LOG_C3: f32;
override SIN_C0: f32;
override SIN_C1: f32;
override SIN_C2: f32;
override SIN_C3: f32;
override SIN_C4: f32;
override COS_C0: f32;
override COS_C1: f32;
override COS_C2: f32;
override COS_C3: f32;
override COS_C4: f32;
override COS_C5: f32;

// Inverse normal CDF pieces and their expansion points (src/transform.rs INVERSE_NORMAL_*).
override INV_A0: f32;
override INV_A1: f32;
override INV_A2: f32;
override INV_A3: f32;
override INV_A4: f32;
override INV_A5: f32;
override INV_A6: f32;
override INV_A7: f32;
override INV_A8: f32;
override INV_A9: f32;
override INV_B0: f32;
override INV_B1: f32;
override INV_B2: f32;
override INV_B3: f32;
override INV_B4: f32;
override INV_B5: f32;
override INV_B6: f32;
override INV_B7: f32;
override INV_B8: f32;
override INV_C0: f32;
override INV_C1: f32;
override INV_C2: f32;
override INV_C3: f32;
override INV_C4: f32;
override INV_C5: f32;
override INV_C6: f32;
override INV_C7: f32;
override INV_C8: f32;
override INV_CENTRE_A: f32;
override INV_CENTRE_B: f32;
override INV_CENTRE_C: f32;

// The 64-bit product a * b as (high word, low word). WGSL has no 64-bit integers, so the
// high word is assembled from the four 16 x 16-bit partial products; `mid` sums three values
// below 2^16 each and cannot overflow. The low word is the wrapping 32-bit product.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xFFFFu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xFFFFu;
    let b_hi = b >> 16u;
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    let mid = (ll >> 16u) + (lh & 0xFFFFu) + (hl & 0xFFFFu);
    let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox_round(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    let p0 = mulhilo(PHILOX_M0, ctr.x);
    let p1 = mulhilo(PHILOX_M1, ctr.z);
    return vec4<u32>(p1.x ^ ctr.y ^ key.x, p1.y, p0.x ^ ctr.w ^ key.y, p0.y);
}

// Philox4x32-10: ten rounds, the key bumped between consecutive rounds.
fn philox4x32(counter: vec4<u32>, key0: vec2<u32>) -> vec4<u32> {
    var ctr = philox_round(counter, key0);
    var key = key0;
    for (var r = 1u; r < 10u; r++) {
        key = key + vec2<u32>(PHILOX_W0, PHILOX_W1);
        ctr = philox_round(ctr, key);
    }
    return ctr;
}

// a + b for a 64-bit a = (lo, hi) and a 32-bit b, with the carry.
fn add_u64(a: vec2<u32>, b: u32) -> vec2<u32> {
    let lo = a.x + b;
    return vec2<u32>(lo, a.y + select(0u, 1u, lo < a.x));
}

fn block_words(block: vec2<u32>) -> vec4<u32> {
    let counter = vec4<u32>(block.x, block.y, params.stream_lo, params.stream_hi);
    return philox4x32(counter, vec2<u32>(params.key_lo, params.key_hi));
}

// (w >> 8) | 1 scaled by 2^-24: a value in [2^-24, 1 - 2^-24], computed exactly.
fn uniform01(word: u32) -> f32 {
    return f32((word >> 8u) | 1u) * UNIFORM_STEP;
}

fn uniform_signed(word: u32) -> f32 {
    return 2.0 * uniform01(word) - 1.0;
}

// ln u for u in [2^-24, 1 - 2^-24]: u = 2^e m, m in [sqrt(1/2), sqrt(2)), f = m - 1,
// ln(1 + f) = 2 artanh(f / (2 + f)) by its Taylor series, in fdlibm's arrangement.
fn ln_uniform(u: f32) -> f32 {
    let bits = bitcast<u32>(u);
    var exponent = i32((bits >> 23u) & 0xFFu) - 127;
    var mantissa = bitcast<f32>((bits & 0x007FFFFFu) | 0x3F800000u);
    if (mantissa > SQRT_2) {
        mantissa = mantissa * 0.5;
        exponent = exponent + 1;
    }
    let f = mantissa - 1.0;

    let s = f / (2.0 + f);
    let z = s * s;
    let r = z * (LOG_C0 + z * (LOG_C1 + z * (LOG_C2 + z * LOG_C3)));
    let half_f2 = 0.5 * f * f;
    let log1p_f = f - (half_f2 - s * (half_f2 + r));

    let e = f32(exponent);
    return e * LN2_HI + (log1p_f + e * LN2_LO);
}

// (sin, cos) of 2 pi uniform01(word), reduced exactly in integers to a quarter turn.
fn sin_cos_turns(word: u32) -> vec2<f32> {
    let k = (word >> 8u) | 1u;
    let quadrant = (k + (1u << 21u)) >> 22u;
    let t = i32(k) - i32(quadrant << 22u);
    let x = f32(t) * (UNIFORM_STEP * 4.0);
    let x2 = x * x;

    let sin_x = x * (SIN_C0 + x2 * (SIN_C1 + x2 * (SIN_C2 + x2 * (SIN_C3 + x2 * SIN_C4))));
    let cos_x = COS_C0
        + x2 * (COS_C1 + x2 * (COS_C2 + x2 * (COS_C3 + x2 * (COS_C4 + x2 * COS_C5))));

    switch (quadrant & 3u) {
        case 0u: {
            return vec2<f32>(sin_x, cos_x);
        }
        case 1u: {
            return vec2<f32>(cos_x, -sin_x);
        }
        case 2u: {
            return vec2<f32>(-sin_x, -cos_x);
        }
        default: {
            return vec2<f32>(-cos_x, sin_x);
        }
    }
}

// Box-Muller: (r cos theta, r sin theta), r from word_radius, theta from word_angle.
fn box_muller(word_radius: u32, word_angle: u32) -> vec2<f32> {
    let radius = sqrt(-2.0 * ln_uniform(uniform01(word_radius)));
    let sc = sin_cos_turns(word_angle);
    return vec2<f32>(radius * sc.y, radius * sc.x);
}

// Phi^-1(t) for t in [2^-126, 1/2]: -x h(w), x = 1 - 2t, w = -ln(4 t (1 - t)), h in three
// polynomial pieces (src/transform.rs `inverse_normal_lower`).
fn inverse_normal_lower(t: f32) -> f32 {
    let x = 1.0 - 2.0 * t;
    let w = -ln_uniform(4.0 * t * (1.0 - t));
    var h: f32;
    if (w <= 5.0) {
        let v = w - INV_CENTRE_A;
        h = INV_A9;
        h = h * v + INV_A8;
        h = h * v + INV_A7;
        h = h * v + INV_A6;
        h = h * v + INV_A5;
        h = h * v + INV_A4;
        h = h * v + INV_A3;
        h = h * v + INV_A2;
        h = h * v + INV_A1;
        h = h * v + INV_A0;
    } else if (w <= 16.0) {
        let v = sqrt(w) - INV_CENTRE_B;
        h = INV_B8;
        h = h * v + INV_B7;
        h = h * v + INV_B6;
        h = h * v + INV_B5;
        h = h * v + INV_B4;
        h = h * v + INV_B3;
        h = h * v + INV_B2;
        h = h * v + INV_B1;
        h = h * v + INV_B0;
    } else {
        let v = sqrt(w) - INV_CENTRE_C;
        h = INV_C8;
        h = h * v + INV_C7;
        h = h * v + INV_C6;
        h = h * v + INV_C5;
        h = h * v + INV_C4;
        h = h * v + INV_C3;
        h = h * v + INV_C2;
        h = h * v + INV_C1;
        h = h * v + INV_C0;
    }
    return -(x * h);
}

// Truncated normal by inversion, the CDF coordinate taken from the nearer end
// (src/transform.rs `truncated_normal`).
fn truncated_normal(word: u32) -> f32 {
    let u = uniform01(word);
    let p = params.p_low + u * params.mass;
    let q = params.q_high + (1.0 - u) * params.mass;
    let lower = p <= q;
    let z = inverse_normal_lower(select(q, p, lower));
    let signed = select(-z, z, lower);
    return min(max(params.offset + params.scale * signed, params.low), params.high);
}

fn block_values(words: vec4<u32>) -> vec4<f32> {
    switch (params.kind) {
        case 0u: {
            let s = vec4<f32>(
                uniform_signed(words.x),
                uniform_signed(words.y),
                uniform_signed(words.z),
                uniform_signed(words.w),
            );
            return vec4<f32>(params.offset) + vec4<f32>(params.scale) * s;
        }
        case 1u: {
            let z01 = box_muller(words.x, words.y);
            let z23 = box_muller(words.z, words.w);
            let z = vec4<f32>(z01, z23);
            return vec4<f32>(params.offset) + vec4<f32>(params.scale) * z;
        }
        case 3u: {
            return vec4<f32>(
                truncated_normal(words.x),
                truncated_normal(words.y),
                truncated_normal(words.z),
                truncated_normal(words.w),
            );
        }
        default: {
            return vec4<f32>(params.offset);
        }
    }
}

fn invocation_index(gid: vec3<u32>) -> u32 {
    return gid.x + gid.y * params.row_invocations;
}

// f32 to binary16 bits, round to nearest even, after saturating to +-65504 (src/dtype.rs).
// Integer arithmetic only: WGSL leaves the rounding of pack2x16float to the implementation.
fn to_f16_bits(v: f32) -> u32 {
    let bits = bitcast<u32>(clamp(v, -F16_MAX, F16_MAX));
    let sign = (bits >> 16u) & 0x8000u;
    let exponent = i32((bits >> 23u) & 0xFFu) - 127;
    let mantissa = bits & 0x007FFFFFu;
    if (exponent >= -14) {
        // Normal: keep 10 of 23 mantissa bits; a carry may bump the exponent, never to
        // infinity thanks to the clamp.
        let kept = (u32(exponent + 15) << 10u) | (mantissa >> 13u);
        let rest = mantissa & 0x1FFFu;
        let up = rest > 0x1000u || (rest == 0x1000u && (kept & 1u) == 1u);
        return sign | (kept + select(0u, 1u, up));
    }
    // Subnormal or zero: the significand 1.m in units of 2^-24 is (m | 2^23) >> (-exponent - 1).
    let shift = u32(-exponent - 1);
    if (shift > 24u) {
        return sign;
    }
    let significand = mantissa | 0x00800000u;
    let kept = significand >> shift;
    let rest = significand & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    let up = rest > half || (rest == half && (kept & 1u) == 1u);
    return sign | (kept + select(0u, 1u, up));
}

// f32 to bfloat16 bits: the top half of the f32, rounded to nearest even, after saturating.
fn to_bf16_bits(v: f32) -> u32 {
    let bits = bitcast<u32>(clamp(v, -BF16_MAX, BF16_MAX));
    return (bits + 0x7FFFu + ((bits >> 16u) & 1u)) >> 16u;
}

fn half_bits(v: f32) -> u32 {
    if (params.dtype == 1u) {
        return to_f16_bits(v);
    }
    return to_bf16_bits(v);
}

// Writes the four f32 values of blocks [first, first + len), block g as words [4 g, 4 g + 4):
// one 16-byte store per invocation, so a subgroup writes one contiguous span.
@compute
@workgroup_size(WORKGROUP_SIZE)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>) {
    let g = invocation_index(gid);
    if (g >= params.invocations) {
        return;
    }
    let block = add_u64(vec2<u32>(params.first_lo, params.first_hi), g);
    out_f32_blocks[g] = bitcast<vec4<u32>>(block_values(block_words(block)));
}

// The same for f16 and bf16 (params.dtype 1 or 2): block g as words [2 g, 2 g + 2), the even
// element of each pair in the low half; one 8-byte store per invocation.
@compute
@workgroup_size(WORKGROUP_SIZE)
fn fill_half(@builtin(global_invocation_id) gid: vec3<u32>) {
    let g = invocation_index(gid);
    if (g >= params.invocations) {
        return;
    }
    let block = add_u64(vec2<u32>(params.first_lo, params.first_hi), g);
    let values = block_values(block_words(block));
    out_half_blocks[g] = vec2<u32>(
        half_bits(values.x) | (half_bits(values.y) << 16u),
        half_bits(values.z) | (half_bits(values.w) << 16u),
    );
}

// Writes the raw words of blocks [first, first + len) to out_words[0 .. 4 len).
@compute
@workgroup_size(WORKGROUP_SIZE)
fn words(@builtin(global_invocation_id) gid: vec3<u32>) {
    let g = invocation_index(gid);
    if (g >= params.invocations) {
        return;
    }
    let block = block_words(add_u64(vec2<u32>(params.first_lo, params.first_hi), g));
    out_words[4u * g] = block.x;
    out_words[4u * g + 1u] = block.y;
    out_words[4u * g + 2u] = block.z;
    out_words[4u * g + 3u] = block.w;
}

// Replaces each block of four words in out_words[0 .. 4 len) by the four values the `fill`
// transform makes from them, for checking the transform on chosen words (such as 0 and
// 0xFFFFFFFF) against the CPU.
@compute
@workgroup_size(WORKGROUP_SIZE)
fn transform(@builtin(global_invocation_id) gid: vec3<u32>) {
    let g = invocation_index(gid);
    if (g >= params.invocations) {
        return;
    }
    let base = 4u * g;
    let words = vec4<u32>(
        out_words[base],
        out_words[base + 1u],
        out_words[base + 2u],
        out_words[base + 3u],
    );
    let values = block_values(words);
    for (var j = 0u; j < 4u; j++) {
        out_words[base + j] = bitcast<u32>(values[j]);
    }
}

// Writes elements [first, first + len) of the tensor (first = first_lo/hi as an element
// index here) into a caller's buffer, element t at element index `dest` + t of the binding,
// touching no byte outside. Invocation g owns destination elements [4 m, 4 m + 4) with
// m = dest / 4 + g: whole 32-bit words for every dtype, so no two invocations share a word.
// Words only partly inside the range keep their other half (read, merge, write back).
@compute
@workgroup_size(WORKGROUP_SIZE)
fn fill_exact(@builtin(global_invocation_id) gid: vec3<u32>) {
    let g = invocation_index(gid);
    if (g >= params.invocations) {
        return;
    }
    let dest = params.dest_elem;
    let d0 = 4u * (dest / 4u + g);
    // Element index of destination d0: first + (d0 - dest), possibly before `first` (then the
    // lanes before it are outside the range). Computed in 64 bits as first - dest + d0.
    let e0 = sub_u64(add_u64(vec2<u32>(params.first_lo, params.first_hi), d0), dest);
    let shift = e0.x & 3u;
    let block0 = vec2<u32>((e0.x >> 2u) | (e0.y << 30u), e0.y >> 2u);
    let a = block_values(block_words(block0));
    var b = a;
    if (shift != 0u) {
        // The block of e0 + 4, from the element index: when e0 wrapped below 0 (destinations
        // before the range), only this block's lanes are used, and it must be block 0.
        let e4 = add_u64(e0, 4u);
        b = block_values(block_words(vec2<u32>((e4.x >> 2u) | (e4.y << 30u), e4.y >> 2u)));
    }
    // Values of destinations d0 .. d0 + 3: elements e0 .. e0 + 3.
    var v: array<f32, 4>;
    for (var j = 0u; j < 4u; j++) {
        let k = shift + j;
        v[j] = select(b[k & 3u], a[k & 3u], k < 4u);
    }
    var inside: array<bool, 4>;
    for (var j = 0u; j < 4u; j++) {
        let d = d0 + j;
        inside[j] = d >= dest && d - dest < params.len;
    }
    if (params.dtype == 0u) {
        for (var j = 0u; j < 4u; j++) {
            if (inside[j]) {
                out_words[d0 + j] = bitcast<u32>(v[j]);
            }
        }
    } else {
        for (var w = 0u; w < 2u; w++) {
            let lo_in = inside[2u * w];
            let hi_in = inside[2u * w + 1u];
            if (!lo_in && !hi_in) {
                continue;
            }
            let index = d0 / 2u + w;
            var word = select(0u, out_words[index], !(lo_in && hi_in));
            if (lo_in) {
                word = (word & 0xFFFF0000u) | half_bits(v[2u * w]);
            }
            if (hi_in) {
                word = (word & 0x0000FFFFu) | (half_bits(v[2u * w + 1u]) << 16u);
            }
            out_words[index] = word;
        }
    }
}

// a - b for a 64-bit a = (lo, hi) and a 32-bit b, with the borrow.
fn sub_u64(a: vec2<u32>, b: u32) -> vec2<u32> {
    return vec2<u32>(a.x - b, a.y - select(0u, 1u, a.x < b));
}
