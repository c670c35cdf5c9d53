package jswift.nn;

import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * The BOFT path of a {@link Linear} (PEFT's BOFT {@code Linear}). PEFT builds the rotated weight W R^T and multiplies
 * by it; here the input is rotated instead, which is the same product and never touches W (so a packed NF4 / GPTQ
 * base stays packed):
 *
 * <pre>
 *   Q_i = cayley(boft_R[i])        x' = x M_{N-1} ... M_1 M_0      z = x' W^T      y = s ⊙ z + b
 *   ds += Σ_tokens dy ⊙ z          dx' = (s ⊙ dy) W                 back through M_0 .. M_{N-1}:
 *   dQ_i += (input of M_i)^T d(output of M_i) on the blocks,  d(input of M_i) = d(output of M_i) M_i^T
 *   dboft_R += cayley'(Q, dQ)
 * </pre>
 *
 * with M_i = P_i diag(Q_i) P_i^T ({@link BoftRotation}). A factor costs tokens x in x H multiply-adds, against
 * in x out for the base product. The forward keeps z, the blocks Q (and the dropout flags) and the inputs of the
 * factors after the first applied for the backward.
 */
final class BoftLinear {
  private BoftLinear() {}

  static void forward(LoraAdapter ad, Tensor w, QuantizedWeight packed, Tensor bias, Arena arena, Arena tmp,
      Tensor x2, Tensor y2, boolean training, long dropoutSeed, Linear.Saved saved) {
    BoftRotation rot = ad.boft();
    Device d = x2.device();
    Arena keep = saved != null ? arena : tmp;
    Tensor flags = training ? rot.dropoutFlags(keep, dropoutSeed, Kernels.dropoutStep(d), d) : null;
    Tensor q = keep.allocate(DType.F32, d, rot.blocks().value().shape());
    Kernels.boftCayley(rot.blocks().value(), flags, q);
    int n = rot.factors();
    Tensor[] inputs = new Tensor[n];
    Tensor cur = x2;
    for (int i = n - 1; i >= 0; i--) {  // x' = x M_{N-1} ... M_0: the last factor first
      inputs[i] = cur;
      Tensor next = (i > 0 ? keep : tmp).allocate(x2.dtype(), d, x2.shape());
      Kernels.butterflyRotate(cur, rot.permInv(i), rot.factor(q, i), false, next);
      cur = next;
    }
    Tensor z = saved != null ? arena.allocate(y2.dtype(), d, y2.shape()) : y2;
    ScaledLoraLinear.baseForward(w, packed, null, cur, z);
    Kernels.scaleRowsCols(z, null, rot.scale().value(), y2);
    if (bias != null) Kernels.addBias(y2, bias);
    if (saved != null) {
      saved.boftQ = q;
      saved.boftFlags = flags;
      saved.boftInputs = inputs;
      saved.boftZ = z;
    }
  }

  static void backward(LoraAdapter ad, Tensor w, QuantizedWeight packed, Arena tmp, Tensor dy2, Linear.Saved saved,
      Tensor dx2) {
    BoftRotation rot = ad.boft();
    Parameter s = rot.scale(), r = rot.blocks();
    if (s.isTrainable()) Kernels.sumRowsMul(dy2, saved.boftZ, s.grad());
    boolean blocks = r.isTrainable();
    if (!blocks && dx2 == null) return;
    Device d = dy2.device();
    Tensor g = tmp.allocate(dy2.dtype(), d, dy2.shape());
    Kernels.scaleRowsCols(dy2, null, s.value(), g);
    long rows = dy2.size(0), in = saved.boftInputs[0].size(1);
    Tensor cur = tmp.allocate(dy2.dtype(), d, rows, in);  // dx'
    if (packed != null) packed.matmulBackward(g, cur, 0f);
    else Kernels.matmul(g, false, w, false, cur, 1f, 0f);
    Tensor dq = blocks ? tmp.zeros(DType.F32, d, r.value().shape()) : null;
    int n = rot.factors();
    for (int i = 0; i < n; i++) {  // M_0 was applied last
      if (blocks) Kernels.butterflyRotateGrad(saved.boftInputs[i], cur, rot.permInv(i), rot.factor(dq, i));
      if (i == n - 1 && dx2 == null) break;
      Tensor prev = i == n - 1 ? dx2 : tmp.allocate(dy2.dtype(), d, rows, in);
      Kernels.butterflyRotate(cur, rot.permInv(i), rot.factor(saved.boftQ, i), true, prev);
      cur = prev;
    }
    if (blocks) Kernels.boftCayleyBackward(saved.boftQ, dq, saved.boftFlags, r.grad());
  }
}
