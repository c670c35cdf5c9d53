package jswift.nn;

import jswift.model.ModelConfig;
import jswift.model.RopeScaling;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/** The rotary embedding of a model: inverse frequencies from rope_theta / rope_scaling, on the model's device. */
public final class Rope implements AutoCloseable {
  private final Tensor invFreq;

  public Rope(ModelConfig cfg, Device device) {
    RopeScaling s = cfg.ropeScaling();
    int type = s.type().equals("linear") ? Kernels.ROPE_LINEAR : s.type().equals("llama3") ? Kernels.ROPE_LLAMA3
        : Kernels.ROPE_DEFAULT;
    float[] inv = Kernels.ropeInvFreq(cfg.headDim(), cfg.ropeTheta(), type, s.factor(), s.lowFreqFactor(),
        s.highFreqFactor(), s.originalMaxPositionEmbeddings());
    invFreq = Tensor.fromFloats(inv, DType.F32, device, inv.length);
  }

  /** Rotates x [tokens, heads, head_dim] in place by the token positions (i32 [tokens]). */
  public void apply(Tensor x, Tensor positions) {
    Kernels.ropeForward(x, positions, invFreq, 1f, x);
  }

  /** The transpose rotation of a gradient, in place. */
  public void applyBackward(Tensor dx, Tensor positions) {
    Kernels.ropeBackward(dx, positions, invFreq, 1f, dx);
  }

  @Override
  public void close() {
    invFreq.close();
  }
}
