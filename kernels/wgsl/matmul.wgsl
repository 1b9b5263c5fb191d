// Tiled matrix product for prefill: y[tok][row] (+)= W[row] · x[tok] for
// the rows of one weight chunk and the S.n vectors of the batch. A
// workgroup of 16×16 invocations computes a TM×TN tile (rows × tokens),
// 4×4 outputs each, stepping through the columns TK at a time: each step
// dequantizes a TM×TK tile of W into workgroup memory (deq, so no
// expanded copy of the weights ever exists) beside a TN×TK tile of x.
struct MatMul {
  rows: u32,
  row_bytes: u32,
  cols: u32,
  x_off: u32,
  x_stride: u32,
  y_off: u32,
  y_stride: u32,
  accumulate: u32,
}

@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> P: MatMul;
@group(0) @binding(4) var<uniform> S: Step;

const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = 16u;
const PAD: u32 = TK + 1u;

var<workgroup> ws: array<f32, TM * PAD>;
var<workgroup> xs: array<f32, TN * PAD>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let row0 = wid.x * TM;
  let tok0 = wid.y * TN;
  let n = S.n;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < P.cols; k0 += TK) {
    for (var m = 0u; m < 4u; m++) {
      let idx = li + 256u * m;
      let r = idx / TK;
      let kk = idx % TK;
      let row = row0 + r;
      let k = k0 + kk;
      var w = 0.0;
      if (row < P.rows && k < P.cols) {
        w = deq(row * P.row_bytes, k);
      }
      ws[r * PAD + kk] = w;
      let tok = tok0 + r;
      var x = 0.0;
      if (tok < n && k < P.cols) {
        x = x1(P.x_off + tok * P.x_stride + k);
      }
      xs[r * PAD + kk] = x;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        a[i] = ws[(lid.y + 16u * i) * PAD + kk];
        b[i] = xs[(lid.x + 16u * i) * PAD + kk];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i * 4u + j] += a[i] * b[j];
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      let row = row0 + lid.y + 16u * i;
      let tok = tok0 + lid.x + 16u * j;
      if (row < P.rows && tok < n) {
        let yi = P.y_off + tok * P.y_stride + row;
        var v = acc[i * 4u + j];
        if (P.accumulate != 0u) {
          v = Y[yi] + v;
        }
        Y[yi] = v;
      }
    }
  }
}
