package jswift.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * While a {@link BlockRecycler} is open, arenas of the same sizes reuse each other's blocks (no native
 * allocation after the first), tensors of a closed arena still refuse to be used, other sizes are allocated as
 * usual, and closing the recycler returns every block (the engine's allocated bytes come back to where they were).
 */
class BlockRecyclerTest {
  private static long[] stats() {
    return Kernels.memoryStats(Device.CPU);  // {allocated, reserved, peak, native allocations}
  }

  @Test
  void arenasOfTheSameSizesReuseBlocksAndClosingFreesThem() {
    long allocatedBefore = stats()[0];
    Tensor stale;
    try (BlockRecycler r = BlockRecycler.open()) {
      try (Arena a = new Arena()) {
        stale = a.allocate(DType.F32, Device.CPU, 64, 32);
        a.allocate(DType.BF16, Device.CPU, 7);
      }
      long nativeAllocs = stats()[3];
      for (int step = 0; step < 5; step++) {
        try (Arena a = new Arena()) {
          Tensor t = a.allocate(DType.F32, Device.CPU, 64, 32);
          t.copyFrom(new float[64 * 32]);  // usable
          a.allocate(DType.BF16, Device.CPU, 7);
        }
      }
      assertEquals(nativeAllocs, stats()[3], "the same sizes came from the recycler");
      Tensor staleRef = stale;
      assertThrows(IllegalStateException.class, staleRef::toFloatArray, "a closed arena's tensor stays unusable");
      try (Arena a = new Arena()) {
        a.allocate(DType.F32, Device.CPU, 3);  // a new size: a native allocation
      }
      assertEquals(nativeAllocs + 1, stats()[3]);
      assertTrue(stats()[0] > allocatedBefore, "the recycler holds its blocks while open");
      r.trim();
      assertEquals(allocatedBefore, stats()[0], "trim frees what it holds");
      try (Arena a = new Arena()) {
        a.allocate(DType.F32, Device.CPU, 64, 32);
      }
    }
    assertEquals(allocatedBefore, stats()[0], "closing frees what it holds");
    try (Arena a = new Arena()) {  // no recycler any more: plain allocation and free
      long n = stats()[3];
      a.allocate(DType.F32, Device.CPU, 64, 32);
      assertEquals(n + 1, stats()[3]);
    }
    assertEquals(allocatedBefore, stats()[0]);
  }

  @Test
  void nestedRecyclersRestoreTheOuterOne() {
    try (BlockRecycler outer = BlockRecycler.open()) {
      try (BlockRecycler inner = BlockRecycler.open()) {
        assertEquals(inner, BlockRecycler.current());
      }
      assertEquals(outer, BlockRecycler.current());
    }
    assertEquals(null, BlockRecycler.current());
  }
}
