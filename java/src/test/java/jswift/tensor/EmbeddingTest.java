package jswift.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.bindings.CoreNative;
import jswift.bindings.EmbeddingNative;
import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Embedding lookup forward and backward against torch.embedding with autograd (fp64). The forward is a copy,
 * so it must match exactly. The backward sums the upstream rows of repeated ids in fp32: with at most a few
 * hundred terms of magnitude ~1 per element the rounding stays below 1e-5, hence atol = rtol = 1e-5.
 */
class EmbeddingTest {
  @ParameterizedTest
  @CsvSource({"1, 5, 64", "37, 11, 80", "300, 50, 13", "64, 1000, 4096", "6, 3, 1"})
  void matchesTorchForwardAndBackward(int tokens, int vocab, int dim) {
    // Few distinct ids, so most of them repeat: the case where the backward must sum.
    int[] ids = Rand.ints(tokens, 1, 0, Math.min(vocab, 7));
    float[] table = Rand.normal((long) vocab * dim, 2);
    float[] dout = Rand.normal((long) tokens * dim, 3);
    float[] dtable0 = Rand.uniform((long) vocab * dim, 4, -1, 1); // dtable accumulates: start non-zero

    var tTable = Torch.param(table, vocab, dim);
    long[] idsLong = new long[tokens];
    for (int i = 0; i < tokens; i++) idsLong[i] = ids[i];
    var tOut = torch.embedding(tTable, Torch.longs(idsLong, tokens));
    Torch.dot(tOut, Torch.tensor(dout, tokens, dim)).backward();

    try (Arena a = new Arena()) {
      // ids as [2, tokens/2] when possible: the op accepts any id shape and appends dim
      long[] idShape = tokens % 2 == 0 ? new long[] {2, tokens / 2} : new long[] {tokens};
      Tensor jIds = a.allocate(DType.I32, Device.CPU, idShape);
      jIds.copyFrom(ids);
      Tensor jTable = a.allocate(DType.F32, Device.CPU, vocab, dim);
      jTable.copyFrom(table);
      Tensor out = a.allocate(DType.F32, Device.CPU, withDim(idShape, dim));
      Tensor jDout = a.allocate(DType.F32, Device.CPU, withDim(idShape, dim));
      jDout.copyFrom(dout);
      Tensor dTable = a.allocate(DType.F32, Device.CPU, vocab, dim);
      dTable.copyFrom(dtable0);
      Kernels.embeddingForward(jIds, jTable, out);
      Kernels.embeddingBackward(jIds, jDout, dTable);
      Assert.close("out", out.toFloatArray(), Torch.floats(tOut), 0, 0);
      Assert.close("dtable", minus(dTable.toFloatArray(), dtable0), Torch.floats(tTable.grad()), 1e-5, 1e-5);
    }
  }

  @Test
  void halfStorageCopiesExactly() {
    int tokens = 9, vocab = 6, dim = 40;
    int[] ids = Rand.ints(tokens, 5, 0, vocab);
    for (DType dtype : new DType[] {DType.BF16, DType.F16}) {
      try (Tensor jTable = Tensor.fromFloats(Rand.normal((long) vocab * dim, 6), dtype, Device.CPU, vocab, dim);
          Tensor jIds = Tensor.fromInts(ids, Device.CPU, tokens);
          Tensor out = Tensor.allocate(dtype, Device.CPU, tokens, dim);
          Tensor dTable = Tensor.zeros(DType.F32, Device.CPU, vocab, dim);
          Tensor dout = Tensor.fromFloats(Rand.normal((long) tokens * dim, 7), dtype, Device.CPU, tokens, dim)) {
        Kernels.embeddingForward(jIds, jTable, out);
        Kernels.embeddingBackward(jIds, dout, dTable);
        long[] idsLong = new long[tokens];
        for (int i = 0; i < tokens; i++) idsLong[i] = ids[i];
        var tTable = Torch.param(jTable.toFloatArray(), vocab, dim);
        var tOut = torch.embedding(tTable, Torch.longs(idsLong, tokens));
        Torch.dot(tOut, Torch.tensor(dout.toFloatArray(), tokens, dim)).backward();
        // The stored values are copied bit for bit; the gradient sums exactly representable values in fp32.
        Assert.close(dtype + " out", out.toFloatArray(), Torch.floats(tOut), 0, 0);
        Assert.close(dtype + " dtable", dTable.toFloatArray(), Torch.floats(tTable.grad()), 1e-5, 1e-5);
      }
    }
  }

  @Test
  void outOfRangeIdFailsBeforeWriting() {
    try (Arena a = new Arena()) {
      Tensor table = a.zeros(DType.F32, Device.CPU, 5, 4);
      Tensor ids = a.allocate(DType.I32, Device.CPU, 3);
      ids.copyFrom(new int[] {0, 4, 5});
      Tensor out = a.allocate(DType.F32, Device.CPU, 3, 4);
      out.copyFrom(new float[] {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7});
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> Kernels.embeddingForward(ids, table, out));
      assertTrue(e.getMessage().contains("ids[2] = 5 is outside [0, vocab = 5)"), e.getMessage());
      for (float v : out.toFloatArray()) assertEquals(7.0f, v, "out must be untouched");

      Tensor dTable = a.zeros(DType.F32, Device.CPU, 5, 4);
      Tensor dout = a.zeros(DType.F32, Device.CPU, 3, 4);
      ids.copyFrom(new int[] {-1, 0, 1});
      e = assertThrows(IllegalArgumentException.class, () -> Kernels.embeddingBackward(ids, dout, dTable));
      assertTrue(e.getMessage().contains("ids[0] = -1"), e.getMessage());
    }
  }

  @Test
  void rejectsBadArgumentsBeforeNativeCode() {
    try (Arena a = new Arena()) {
      Tensor table = a.zeros(DType.F32, Device.CPU, 10, 8);
      Tensor ids = a.zeros(DType.I32, Device.CPU, 4);
      Tensor out = a.zeros(DType.F32, Device.CPU, 4, 8);
      expectMessage(() -> Kernels.embeddingForward(ids, table, a.zeros(DType.F32, Device.CPU, 4, 7)),
          "out must have shape [4, 8]");
      expectMessage(() -> Kernels.embeddingForward(a.zeros(DType.F32, Device.CPU, 4), table, out),
          "ids must be int32");
      expectMessage(() -> Kernels.embeddingForward(ids, table, a.zeros(DType.BF16, Device.CPU, 4, 8)),
          "out must have dtype float32");
      expectMessage(() -> Kernels.embeddingForward(ids, table, ElsewhereTensors.onCuda(DType.F32, 4, 8)),
          "out is on cuda:0 but the op runs on cpu");
      expectMessage(() -> Kernels.embeddingBackward(ids, out, a.zeros(DType.BF16, Device.CPU, 10, 8)),
          "dtable must be float32");
      expectMessage(() -> Kernels.embeddingBackward(ElsewhereTensors.onCuda(DType.I32, 4), out,
          a.zeros(DType.F32, Device.CPU, 10, 8)), "ids is on cuda:0");
      Tensor freed = Tensor.zeros(DType.F32, Device.CPU, 10, 8);
      freed.close();
      expectMessage(() -> Kernels.embeddingForward(ids, freed, out), "table was already freed");
    }
  }

  @Test
  void cAbiRejectsNullPointers() {
    try (Tensor table = Tensor.zeros(DType.F32, Device.CPU, 10, 8);
        Tensor out = Tensor.zeros(DType.F32, Device.CPU, 4, 8)) {
      int status = EmbeddingNative.jsw_embedding_fwd(-1, DType.F32.code(), 0, 4, table.address(), 10, 8,
          out.address());
      assertEquals(NativeStatus.INVALID_ARGUMENT, status);
      assertTrue(CoreNative.jsw_last_error().contains("jsw_embedding_fwd: ids is a null pointer"),
          CoreNative.jsw_last_error());
    }
  }

  static void expectMessage(org.junit.jupiter.api.function.Executable call, String fragment) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
    assertTrue(e.getMessage().contains(fragment), "expected '" + fragment + "' in: " + e.getMessage());
  }

  private static long[] withDim(long[] shape, long dim) {
    long[] s = java.util.Arrays.copyOf(shape, shape.length + 1);
    s[shape.length] = dim;
    return s;
  }

  private static float[] minus(float[] a, float[] b) {
    float[] r = new float[a.length];
    for (int i = 0; i < a.length; i++) r[i] = a[i] - b[i];
    return r;
  }

  /** gatherColumns is torch's index_select on the last dimension, exactly; bad arguments fail before native code. */
  @Test
  void gatherColumnsIsIndexSelectOnTheLastDimension() {
    int rows = 6, cols = 50, n = 70;  // more indices than columns: repeats are allowed
    int[] idx = Rand.ints(n, 11, 0, cols);
    float[] x = Rand.normal((long) 2 * rows * cols, 12);
    long[] idxLong = new long[n];
    for (int j = 0; j < n; j++) idxLong[j] = idx[j];
    var want = Torch.tensor(x, 2, rows, cols).index_select(2, Torch.longs(idxLong, n));
    try (Arena a = new Arena()) {
      Tensor jx = a.allocate(DType.F32, Device.CPU, 2, rows, cols);
      jx.copyFrom(x);
      Tensor ji = a.allocate(DType.I32, Device.CPU, n);
      ji.copyFrom(idx);
      Tensor out = a.allocate(DType.F32, Device.CPU, 2, rows, n);
      Kernels.gatherColumns(jx, ji, out);
      Assert.close("gathered", out.toFloatArray(), Torch.floats(want), 0, 0);
      Tensor wrong = a.allocate(DType.F32, Device.CPU, 2, rows, n + 1);
      assertThrows(IllegalArgumentException.class, () -> Kernels.gatherColumns(jx, ji, wrong));
      Tensor intIdx = a.allocate(DType.F32, Device.CPU, n);
      assertThrows(IllegalArgumentException.class, () -> Kernels.gatherColumns(jx, intIdx, out));
      ji.copyFrom(new int[n]);  // all zeros: valid
      Kernels.gatherColumns(jx, ji, out);
      int[] bad = idx.clone();
      bad[3] = cols;
      ji.copyFrom(bad);
      RuntimeException e = assertThrows(RuntimeException.class, () -> Kernels.gatherColumns(jx, ji, out));
      assertTrue(e.getMessage().contains("[3] = " + cols), e.getMessage());
    }
  }
}
