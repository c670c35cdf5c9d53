package jswift.model;

import java.io.IOException;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * Where {@link CausalLM} gets its weights by Hugging Face name: a checkpoint folder ({@link Checkpoint}), or
 * weights generated on the fly ({@link RandomInit#source}) for benchmarks of model shapes nobody can download
 * where they run.
 */
public interface WeightSource {
  /** Whether a tensor of this name exists. */
  boolean contains(String name);

  /** A new tensor (the caller owns it) that must exist and have {@code shape}, as {@code dtype} on {@code device}. */
  Tensor load(String name, long[] shape, DType dtype, Device device) throws IOException;
}
