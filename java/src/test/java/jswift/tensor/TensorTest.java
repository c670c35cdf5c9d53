package jswift.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.bindings.CoreNative;
import org.junit.jupiter.api.Test;

/** Tensor lifecycle, views, copies, dtype conversion, and what happens on misuse. */
class TensorTest {
  @Test
  void roundTripsValuesThroughEveryFloatDtype() {
    float[] v = {1.0f, -2.5f, 3.14159265f, 1e-3f, 65504f, 0f};
    try (Tensor f32 = Tensor.fromFloats(v, DType.F32, Device.CPU, 2, 3);
        Tensor bf16 = Tensor.fromFloats(v, DType.BF16, Device.CPU, 2, 3);
        Tensor f16 = Tensor.fromFloats(v, DType.F16, Device.CPU, 6)) {
      assertArrayEquals(v, f32.toFloatArray());
      float[] b = bf16.toFloatArray();
      assertEquals(3.140625f, b[2]); // bf16 keeps 8 bits of mantissa
      assertEquals(65536f, b[4]);    // 65504 rounds up in bf16
      float[] h = f16.toFloatArray();
      assertEquals(3.140625f, h[2]);
      assertEquals(65504f, h[4]);
      assertEquals(12, bf16.byteSize());
    }
  }

  @Test
  void viewsShareMemoryAndNarrowSelectsRows() {
    float[] v = new float[12];
    for (int i = 0; i < v.length; i++) v[i] = i;
    try (Tensor t = Tensor.fromFloats(v, DType.F32, Device.CPU, 3, 4)) {
      Tensor rows = t.narrow(1, 2);
      assertArrayEquals(new float[] {4, 5, 6, 7, 8, 9, 10, 11}, rows.toFloatArray());
      Tensor flat = t.view(-1);
      assertArrayEquals(new long[] {12}, flat.shape());
      rows.copyFrom(new float[8]);
      assertEquals(0f, t.toFloatArray()[4]);
      assertThrows(IllegalArgumentException.class, () -> t.view(5, -1));
      assertThrows(IllegalArgumentException.class, () -> t.narrow(2, 2));
    }
  }

  @Test
  void arenaFreesEverythingAndFreedTensorsThrow() {
    long before = Kernels.memoryStats(Device.CPU)[0];
    Tensor leaked;
    try (Arena a = new Arena()) {
      leaked = a.allocate(DType.F32, Device.CPU, 1024);
      a.allocate(DType.BF16, Device.CPU, 10, 10);
      assertEquals(before + 4096 + 200, Kernels.memoryStats(Device.CPU)[0]);
    }
    assertEquals(before, Kernels.memoryStats(Device.CPU)[0]);
    assertFalse(leaked.isAlive());
    assertThrows(IllegalStateException.class, leaked::address);
    assertThrows(IllegalStateException.class, leaked::toFloatArray);
    Tensor y = Tensor.zeros(DType.F32, Device.CPU, 1024);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Kernels.axpby(1f, leaked, 1f, y));
    assertTrue(e.getMessage().contains("x was already freed"), e.getMessage());
    y.close();
    y.close(); // closing twice is harmless
  }

  @Test
  void wrongSizesAndTypesAreRejected() {
    try (Tensor t = Tensor.zeros(DType.F32, Device.CPU, 4)) {
      assertThrows(IllegalArgumentException.class, () -> t.copyFrom(new float[5]));
      assertThrows(IllegalArgumentException.class, () -> t.copyFrom(new int[4]));
      assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(DType.F32, Device.CPU, 2, -1));
      assertThrows(ArithmeticException.class, () -> Tensor.allocate(DType.F32, Device.CPU, 1L << 40, 1L << 40));
    }
  }

  @Test
  void nativeBoundaryRejectsBadArgumentsWithoutCrashing() {
    // Straight to the C ABI, bypassing Kernels: the engine validates too.
    int st = CoreNative.jsw_gemm(-1, 0, 0, 0, 0, -4, 4, 4, 1f, 0, 4, 0, 4, 0f, 0, 4, 1, 0, 0, 0);
    assertEquals(1, st);
    assertTrue(CoreNative.jsw_last_error().contains("m must be >= 0"), CoreNative.jsw_last_error());
    st = CoreNative.jsw_gemm(-1, 0, 0, 0, 0, 4, 4, 4, 1f, 0, 4, 0, 4, 0f, 0, 4, 1, 0, 0, 0);
    assertEquals(1, st);
    assertTrue(CoreNative.jsw_last_error().contains("null pointer"), CoreNative.jsw_last_error());
    assertEquals(1, CoreNative.jsw_free(-1, 12345L)); // not an allocation of ours
    assertEquals(1, CoreNative.jsw_cast(-1, 0, 16, 9, 16, 1));
  }

  @Test
  void cudaWithoutADeviceIsAClearError() {
    if (Kernels.cudaDeviceCount() > 0) return; // covered by the GPU tests where a device exists
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> Tensor.allocate(DType.F32, Device.cuda(0), 8));
    assertTrue(e.getMessage().contains("cuda:0"), e.getMessage());
  }

  @Test
  void parsesDevicesAndDtypes() {
    assertEquals(Device.CPU, Device.parse("cpu"));
    assertEquals(Device.cuda(1), Device.parse("cuda:1"));
    assertEquals(-1, Device.CPU.index());
    assertThrows(IllegalArgumentException.class, () -> Device.parse("tpu"));
    assertEquals(DType.BF16, DType.parse("bfloat16"));
    assertThrows(IllegalArgumentException.class, () -> DType.parse("float8"));
  }

  @Test
  void selectingAMissingCudaDeviceFailsUpFrontAndSaysWhatToDo() {
    int visible = Kernels.cudaDeviceCount();
    assertEquals(visible > 0 ? Device.cuda(0) : Device.CPU, Device.select(null), "no --device: the GPU if any");
    assertEquals(Device.CPU, Device.select("cpu"));
    String missing = "cuda:" + visible;  // one past the last visible device (cuda:0 on a machine without one)
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Device.select(missing));
    assertTrue(e.getMessage().startsWith("--device " + missing + ": ") && e.getMessage().endsWith("--device cpu"),
        e.getMessage());
    String why = Kernels.buildInfo().contains("CUDA: off") ? "no CUDA kernels"
        : visible == 0 ? "no CUDA device is visible" : "visible (cuda:0";
    assertTrue(e.getMessage().contains(why), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Device.select("tpu"));
  }
}
