package jswift.model;

import java.util.ArrayList;
import java.util.List;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * The keys and values of every layer for a batch of sequences being generated: per layer [batch, capacity,
 * kv_heads, head_dim] in the model's compute dtype on its device, plus each sequence's filled length and a
 * mask of the slots that hold padding (left-padded prompts of different lengths). Created by
 * {@link CausalLM#newCache}; freed with {@link #close()}.
 */
public final class KvCache implements AutoCloseable {
  final int batch;
  final int capacity;
  final List<Tensor> keys = new ArrayList<>();
  final List<Tensor> values = new ArrayList<>();
  final int[] lengths;
  final int[] mask;  // [batch * capacity], 1 = a real token's slot
  Tensor lengthsOnDevice;
  Tensor maskOnDevice;

  KvCache(ModelConfig cfg, int batch, int capacity, DType dtype, Device device) {
    if (batch <= 0 || capacity <= 0) throw new IllegalArgumentException("cache batch and capacity must be > 0");
    this.batch = batch;
    this.capacity = capacity;
    this.lengths = new int[batch];
    this.mask = new int[batch * capacity];
    boolean ok = false;
    try {
      for (int l = 0; l < cfg.numHiddenLayers(); l++) {
        keys.add(Tensor.zeros(dtype, device, batch, capacity, cfg.numKeyValueHeads(), cfg.headDim()));
        values.add(Tensor.zeros(dtype, device, batch, capacity, cfg.numKeyValueHeads(), cfg.headDim()));
      }
      lengthsOnDevice = Tensor.zeros(DType.I32, device, batch);
      maskOnDevice = Tensor.zeros(DType.I32, device, batch, capacity);
      ok = true;
    } finally {
      if (!ok) close();
    }
  }

  public int batch() {
    return batch;
  }

  public int capacity() {
    return capacity;
  }

  /** Filled slots of a sequence. */
  public int length(int sequence) {
    return lengths[sequence];
  }

  /** Whether no sequence holds a token yet. */
  boolean isEmpty() {
    for (int l : lengths) if (l != 0) return false;
    return true;
  }

  /** Records qLen new tokens per sequence (realMask[b * qLen + i] = 0 for padding) before the forward. */
  void append(int qLen, int[] realMask) {
    for (int b = 0; b < batch; b++) {
      if (lengths[b] + qLen > capacity)
        throw new IllegalStateException("KV cache of capacity " + capacity + " is full (sequence " + b + " has "
            + lengths[b] + " tokens, " + qLen + " more requested)");
    }
    for (int b = 0; b < batch; b++) {
      for (int i = 0; i < qLen; i++) mask[b * capacity + lengths[b] + i] = realMask == null ? 1 : realMask[b * qLen + i];
      lengths[b] += qLen;
    }
    lengthsOnDevice.copyFrom(lengths);
    maskOnDevice.copyFrom(mask);
  }

  @Override
  public void close() {
    keys.forEach(Tensor::close);
    values.forEach(Tensor::close);
    keys.clear();
    values.clear();
    if (lengthsOnDevice != null) lengthsOnDevice.close();
    if (maskOnDevice != null) maskOnDevice.close();
  }
}
