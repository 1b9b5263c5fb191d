// i2f is f32(i), exactly, for |i| <= 2^22 (every sum of up to 256
// products of int8 values is): i added to the bits of 1.5·2^23, whose
// ulp is 1, makes the float 1.5·2^23 + i, and the subtraction leaves i.
// An integer add and a float add instead of an int-to-float conversion,
// a quarter-rate instruction on NVIDIA GPUs: the int8 matvecs take two
// per 32-value group, row and vector, which cost as much issue time as 8
// of its 16 dot4I8Packed.
fn i2f(i: i32) -> f32 {
  return bitcast<f32>(0x4b400000i + i) - 12582912.0;
}
