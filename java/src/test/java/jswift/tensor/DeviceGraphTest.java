package jswift.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.bindings.GraphNative;
import jswift.testing.Rand;
import org.junit.jupiter.api.Test;

/**
 * Device graphs from Java, on the CPU (a recording of the engine's calls under CUDA's rules): a captured block
 * runs only when launched, each launch sees the data its tensors hold then, a host read inside the capture is
 * refused (and the failed capture throws that refusal, leaving the device usable); {@link Kernels#adamwStepDev}
 * (AdamW with its per-step scalars in memory, the form a graph replays) equals {@link Kernels#adamwStep} bit for
 * bit (AdamWTest checks that one against libtorch); bad arguments are refused. The CUDA capture itself is checked
 * by the native tests (native/tests/graph_test.cpp), run by the GPU script.
 */
class DeviceGraphTest {
  @Test
  void aCpuGraphRunsItsBlockAtEachLaunchOnTheDataOfThatLaunch() {
    try (Arena a = new Arena()) {
      Tensor x = a.allocate(DType.F32, Device.CPU, 4), y = a.zeros(DType.F32, Device.CPU, 4);
      x.copyFrom(new float[] {1, 2, 3, 4});
      boolean[] ran = {false};
      try (DeviceGraph g = DeviceGraph.capture(Device.CPU, () -> {
        ran[0] = true;  // the Java block runs once, at capture; the engine's calls in it are recorded
        Kernels.axpby(2f, x, 1f, y);
      })) {
        assertTrue(ran[0]);
        assertArrayEquals(new float[4], y.toFloatArray(), "nothing ran during the capture");
        g.launch();
        assertArrayEquals(new float[] {2, 4, 6, 8}, y.toFloatArray());
        x.copyFrom(new float[] {10, 10, 10, 10});  // a new input, written between launches
        g.launch();
        assertArrayEquals(new float[] {22, 24, 26, 28}, y.toFloatArray());
      }
    }
  }

  /**
   * A capture (and its warm-up) allocates from the engine, never from a {@link BlockRecycler}: on CUDA a capture
   * may only take blocks from the engine's cache, so a warm-up whose freed blocks stayed in Java's recycler would
   * leave the capture nothing to take.
   */
  @Test
  void warmUpsAndCapturesAllocateFromTheEngineNotTheRecycler() {
    try (BlockRecycler r = BlockRecycler.open()) {
      try (Arena a = new Arena()) {
        a.allocate(DType.F32, Device.CPU, 1000);  // held by the recycler once the arena closes
      }
      long native0 = Kernels.memoryStats(Device.CPU)[3];
      DeviceGraph.warmUp(() -> {
        try (Arena a = new Arena()) {
          a.allocate(DType.F32, Device.CPU, 1000);
        }
      });
      assertEquals(native0 + 1, Kernels.memoryStats(Device.CPU)[3], "the warm-up allocated from the engine");
      try (DeviceGraph g = DeviceGraph.capture(Device.CPU, () -> {
        try (Arena a = new Arena()) {
          a.allocate(DType.F32, Device.CPU, 1000);
        }
      })) {
        assertEquals(native0 + 2, Kernels.memoryStats(Device.CPU)[3], "so did the capture");
      }
      try (Arena a = new Arena()) {
        a.allocate(DType.F32, Device.CPU, 1000);  // outside both: the recycler's block again
      }
      assertEquals(native0 + 2, Kernels.memoryStats(Device.CPU)[3]);
    }
  }

  @Test
  void aHostReadInsideACaptureIsRefusedAndTheDeviceStaysUsable() {
    try (Arena a = new Arena()) {
      Tensor x = a.zeros(DType.F32, Device.CPU, 4);
      JswiftNativeException e = assertThrows(JswiftNativeException.class,
          () -> DeviceGraph.capture(Device.CPU, () -> x.toFloatArray()));
      assertEquals(DeviceGraph.UNSUPPORTED, e.status());
      assertTrue(e.getMessage().contains("host memory"), e.getMessage());
      Kernels.fill(x, 3f);  // eager again
      assertArrayEquals(new float[] {3, 3, 3, 3}, x.toFloatArray());
    }
    // straight at the C ABI: a launch of nothing is refused, destroying nothing is a no-op
    assertTrue(GraphNative.jsw_graph_launch(0) != NativeStatus.OK);
    assertEquals(NativeStatus.OK, GraphNative.jsw_graph_destroy(0));
    if (jswift.bindings.CoreNative.jsw_cuda_compiled() == 0) {
      RuntimeException noCuda = assertThrows(RuntimeException.class,
          () -> DeviceGraph.capture(Device.cuda(0), () -> {}));
      assertTrue(noCuda.getMessage().contains("without CUDA"), noCuda.getMessage());
    }
  }

  @Test
  void adamwStepDevIsAdamwStepWithItsScalarsInMemory() {
    int n = 101;
    try (Arena a = new Arena()) {
      float[] init = Rand.normal(n, 3);
      Tensor p1 = a.allocate(DType.F32, Device.CPU, n), p2 = a.allocate(DType.F32, Device.CPU, n);
      p1.copyFrom(init);
      p2.copyFrom(init);
      Tensor m1 = a.zeros(DType.F32, Device.CPU, n), v1 = a.zeros(DType.F32, Device.CPU, n);
      Tensor m2 = a.zeros(DType.F32, Device.CPU, n), v2 = a.zeros(DType.F32, Device.CPU, n);
      Tensor c1 = a.allocate(DType.BF16, Device.CPU, n), c2 = a.allocate(DType.BF16, Device.CPU, n);
      Tensor scale = a.allocate(DType.F32, Device.CPU, 1), scalars = a.allocate(DType.F32, Device.CPU, 8);
      scale.copyFrom(new float[] {0.5f});
      for (int step = 1; step <= 4; step++) {
        float lr = 3e-2f / step;  // a new learning rate every step: stale scalars would show
        try (Tensor g = Tensor.fromFloats(Rand.normal(n, 50 + step, 0.4f), DType.F32, Device.CPU, n)) {
          Kernels.adamwStep(p1, g, m1, v1, lr, 0.9f, 0.95f, 1e-8f, 0.1f, step, scale, c1);
          scalars.copyFrom(Kernels.adamwScalars(lr, 0.9f, 0.95f, 1e-8f, 0.1f, step));
          Kernels.adamwStepDev(p2, g, m2, v2, scalars, scale, c2);
        }
      }
      // Tolerance: none; the same kernel with the same fp32 scalars.
      assertArrayEquals(p1.toFloatArray(), p2.toFloatArray());
      assertArrayEquals(m1.toFloatArray(), m2.toFloatArray());
      assertArrayEquals(v1.toFloatArray(), v2.toFloatArray());
      assertArrayEquals(c1.toFloatArray(), c2.toFloatArray());
      assertFalse(java.util.Arrays.equals(init, p1.toFloatArray()), "the steps moved the parameters");

      Tensor seven = a.allocate(DType.F32, Device.CPU, 7);
      IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
          () -> Kernels.adamwStepDev(p2, p2, m2, v2, seven, null, null));
      assertTrue(bad.getMessage().contains("scalars"), bad.getMessage());
      bad = assertThrows(IllegalArgumentException.class, () -> Kernels.adamwScalars(1e-3f, 0.9f, 0.95f, 1e-8f, 0f, 0));
      assertTrue(bad.getMessage().contains("step counts from 1"), bad.getMessage());
    }
  }
}
