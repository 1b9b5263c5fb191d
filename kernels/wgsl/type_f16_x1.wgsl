// F16 rows of any length: a unit is one value.
const UNIT: u32 = 1u;

struct XU {
  v: f32,
}

fn load_x(u: u32, xr: u32) -> XU {
  return XU(x1(xr + u));
}

fn deq(wb: u32, e: u32) -> f32 {
  return f16at(wb + 2u * e);
}

// WU is the row's byte offset: this type's loads stay in unit_dot.
struct WU {
  wb: u32,
}

fn unit_load(wb: u32, u: u32) -> WU {
  return WU(wb);
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  let wb = w.wb;
  return deq(wb, u) * x.v;
}
