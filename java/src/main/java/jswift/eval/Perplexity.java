package jswift.eval;

import java.util.ArrayList;
import java.util.List;
import jswift.model.Batch;
import jswift.model.CausalLM;

/**
 * Perplexity of a causal LM on token blocks: exp of the mean next-token cross-entropy over every predicted token
 * (each block's first token has no predecessor, so a block of n tokens contributes n - 1 predictions). This is the
 * number to compare a model with its quantized copies on the same blocks: the same weights give the same value
 * on any device, and a lossier quantization gives a higher one.
 */
public final class Perplexity {
  private Perplexity() {}

  /** The mean negative log-likelihood (nats per token) and its exponential, over {@code tokens} predictions. */
  public record Result(double meanNll, long tokens, int blocks) {
    public double perplexity() {
      return Math.exp(meanNll);
    }
  }

  /**
   * Evaluates {@code blocks} (token ids, each at least 2 long to predict anything) packed {@code batchSize} blocks
   * per forward; {@code progress} (may be null) is told after each batch how many blocks are done.
   */
  public static Result of(CausalLM model, List<int[]> blocks, int batchSize, java.util.function.IntConsumer progress) {
    if (batchSize <= 0) throw new IllegalArgumentException("the batch size must be > 0, got " + batchSize);
    if (blocks.isEmpty()) throw new IllegalArgumentException("no token blocks to evaluate");
    double lossSum = 0;
    long tokens = 0;
    for (int start = 0; start < blocks.size(); start += batchSize) {
      List<int[]> ids = new ArrayList<>(blocks.subList(start, Math.min(blocks.size(), start + batchSize)));
      // Labels are the ids themselves: Batch shifts them, so token t is scored on predicting token t + 1.
      CausalLM.Eval e = model.evaluate(Batch.packed(ids, ids));
      lossSum += e.lossSum();
      tokens += e.targets();
      if (progress != null) progress.accept(Math.min(blocks.size(), start + batchSize));
    }
    if (tokens == 0)
      throw new IllegalArgumentException("the blocks hold no token to predict (each needs at least 2 tokens)");
    return new Result(lossSum / tokens, tokens, blocks.size());
  }
}
