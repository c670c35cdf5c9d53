package jswift.serve;

import java.util.ArrayList;
import java.util.List;
import jswift.infer.ChatCompletion;

/**
 * Records, for each answer of a request, the log-probability of every generated token and of the {@code top} most
 * likely tokens at that step, from the model's own distribution (log-softmax of the raw logits, before the
 * repetition penalty, temperature and top-k / top-p that picked the token), as OpenAI's {@code logprobs} reports.
 * As a listener it records an answer that is not streamed (it needs no text).
 */
final class TokenLogprobs implements ChatCompletion.Listener {
  /** One candidate token and its log-probability. */
  record Candidate(int id, float logprob) {}

  /** A generated token, its log-probability and the most likely tokens of its step (most likely first). */
  record Entry(int id, float logprob, List<Candidate> top) {}

  private final int top;
  private final List<List<Entry>> entries = new ArrayList<>();
  private final float[][] pendingLogits;
  private final double[] pendingLogSum;
  private final List<List<Candidate>> pendingTop = new ArrayList<>();

  TokenLogprobs(int choices, int top) {
    this.top = top;
    pendingLogits = new float[choices][];
    pendingLogSum = new double[choices];
    for (int i = 0; i < choices; i++) {
      entries.add(new ArrayList<>());
      pendingTop.add(List.of());
    }
  }

  @Override
  public void onText(int choice, String delta) {}

  @Override
  public boolean wantsText() {
    return false;
  }

  @Override
  public void onLogits(int choice, float[] logits) {
    double max = Double.NEGATIVE_INFINITY;
    for (float v : logits) max = Math.max(max, v);
    double sum = 0;
    for (float v : logits) sum += Math.exp(v - max);
    double logSum = max + Math.log(sum);
    pendingLogits[choice] = logits.clone();
    pendingLogSum[choice] = logSum;
    pendingTop.set(choice, best(logits, top, logSum));
  }

  /** The token picked after the last {@link #onLogits}. */
  @Override
  public void onToken(int choice, int id) {
    float lp = (float) (pendingLogits[choice][id] - pendingLogSum[choice]);
    entries.get(choice).add(new Entry(id, lp, pendingTop.get(choice)));
    pendingLogits[choice] = null;
  }

  /** Every entry of an answer so far. */
  List<Entry> entries(int choice) {
    return entries.get(choice);
  }

  /** The k largest logits as log-probabilities, largest first (ties: the lower id first). */
  static List<Candidate> best(float[] logits, int k, double logSum) {
    k = Math.min(k, logits.length);
    if (k <= 0) return List.of();
    int[] ids = new int[k];
    int size = 0;
    for (int i = 0; i < logits.length; i++) {
      if (size == k && !(logits[i] > logits[ids[size - 1]])) continue;
      int at = size < k ? size++ : size - 1;
      while (at > 0 && logits[i] > logits[ids[at - 1]]) {
        ids[at] = ids[at - 1];
        at--;
      }
      ids[at] = i;
    }
    List<Candidate> out = new ArrayList<>();
    for (int j = 0; j < size; j++) out.add(new Candidate(ids[j], (float) (logits[ids[j]] - logSum)));
    return out;
  }
}
