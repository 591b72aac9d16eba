// A caller's own compute passes around a fill, for tests/caller_buffers.rs: `mark` before
// the fill writes a marker into every word of the buffer, `complement` after it reads every
// word back and writes its complement elsewhere.
//
// Bindings, group 0:
//   0 data  storage, read_write: the caller's buffer, which GpuContext::record_fill fills
//           in part between the two passes (`mark` writes it, `complement` reads it)
//   1 seen  storage, read_write: as long as `data`; `complement` writes it, `mark` does not
//           use it
//
// One invocation per word of `data`, workgroups of WORKGROUP_SIZE, a 1-D grid; invocations
// past the end of `data` do nothing. Word i of `data` becomes MARK | i in `mark`, and
// `seen[i] = ~data[i]` in `complement`: each word's marker is distinct, and the complement
// of a word differs from the word, so a test can tell which pass wrote what. Both values are
// overrides set from the test's Rust constants of the same names.

@group(0)
@binding(0)
var<storage, read_write> data: array<u32>;

@group(0)
@binding(1)
var<storage, read_write> seen: array<u32>;

override WORKGROUP_SIZE: u32;

// The high bits of every marker word; the low bits hold the word's index.
override MARK: u32;

@compute
@workgroup_size(WORKGROUP_SIZE)
fn mark(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i < arrayLength(&data) {
        data[i] = MARK | i;
    }
}

@compute
@workgroup_size(WORKGROUP_SIZE)
fn complement(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i < arrayLength(&data) {
        seen[i] = ~data[i];
    }
}
