// One row chunk of a weight tensor, its bytes as the GGUF file stores them,
// read 16 bytes at a time where a type's blocks allow (w4) and a word at a
// time otherwise (wd). Chunk buffers are padded to whole 16-byte units.
@group(0) @binding(0) var<storage, read> W: array<vec4<u32>>;

// wd is word i (byte 4i) of the chunk.
fn wd(i: u32) -> u32 {
  return W[i >> 2u][i & 3u];
}

// w4 is 16-byte unit i (byte 16i) of the chunk.
fn w4(i: u32) -> vec4<u32> {
  return W[i];
}
