package jswift.train;

import jswift.tensor.Tensor;

/**
 * What {@link AdamW}'s GaLore step needs of a projector: a refresh from the current gradient, the projection of a
 * gradient to the low-rank shape and the projection of an update back. {@link GaLoreProjector} keeps P in fp32;
 * {@link QGaLoreProjector} keeps it INT4 and refreshes it lazily (Q-GaLore).
 */
interface LowRankProjector extends AutoCloseable {
  /** P from the SVD of the current gradient (f32 [m, n], any device). */
  void refresh(Tensor grad);

  /** low = G P^T (right) or P^T G (left). */
  void project(Tensor grad, Tensor low);

  /** target += alpha * (N P) (right) or alpha * (P N) (left). */
  void projectBackInto(Tensor low, float alpha, Tensor target);

  /** The checkpointed state by name suffix (live tensors: a restore copies into them). */
  java.util.Map<String, Tensor> stateTensors();

  @Override
  void close();

  /** GaLore's fp32 projector behind this interface (its checkpoint name: galore_projector). */
  static LowRankProjector of(GaLoreProjector p) {
    return new LowRankProjector() {
      @Override
      public void refresh(Tensor grad) {
        p.refresh(grad);
      }

      @Override
      public void project(Tensor grad, Tensor low) {
        p.project(grad, low);
      }

      @Override
      public void projectBackInto(Tensor low, float alpha, Tensor target) {
        p.projectBackInto(low, alpha, target);
      }

      @Override
      public java.util.Map<String, Tensor> stateTensors() {
        return java.util.Map.of("galore_projector", p.matrix());
      }

      @Override
      public void close() {
        p.close();
      }
    };
  }
}
