package jswift.template;

import java.util.Arrays;
import java.util.List;
import jswift.tokenizer.Tokenizer;

/**
 * Step 5 of the swift backend: weighted pieces to {@code input_ids}, {@code labels} and loss weights.
 *
 * <p>Adjacent text pieces of equal weight are joined and tokenized together (as ms-swift does), so tokens
 * only break where the weight changes: that keeps each trained span exactly its own tokens, at the cost of
 * differing from a one-go tokenization of the whole text where a span starts in the middle of what the
 * tokenizer would have merged (a response starting with a newline right after a prompt ending in one).
 *
 * <p>"Dynamic EOS": a stretch of untrained tokens right after a trained span that starts with the suffix's
 * tokens gets those tokens trained too. In ChatML the separator between rounds is the suffix
 * ({@code <|im_end|>\n}), so every assistant turn learns its end, not just the last one; tool-call turns
 * included, whose end comes inside the tool results' piece.
 */
final class PieceTokenizer {
  private PieceTokenizer() {}

  static Encoded tokenize(List<Piece> pieces, Tokenizer tokenizer, int[] suffixIds) {
    IntList ids = new IntList(), labels = new IntList();
    FloatList weights = new FloatList();
    StringBuilder text = new StringBuilder();
    double textWeight = 0;
    for (Piece p : pieces) {
      if (p.part() instanceof PromptPart.Text t && (text.length() == 0 || p.weight() == textWeight)) {
        text.append(t.text());
        textWeight = p.weight();
        continue;
      }
      emit(tokenizer.encode(text.toString()), textWeight, ids, labels, weights);
      text.setLength(0);
      if (p.part() instanceof PromptPart.Text t) {
        text.append(t.text());
        textWeight = p.weight();
      } else {
        emit(((PromptPart.Tokens) p.part()).ids(), p.weight(), ids, labels, weights);
      }
    }
    emit(tokenizer.encode(text.toString()), textWeight, ids, labels, weights);
    if (ids.size == 0) throw new IllegalArgumentException("the conversation encodes to no tokens");

    int[] idArr = ids.toArray(), labelArr = labels.toArray();
    float[] w = weights.toArray();
    addDynamicEos(idArr, labelArr, w, suffixIds);
    labelArr[0] = Encoded.IGNORE;  // nothing predicts the first token
    w[0] = 0;
    boolean binary = true;
    for (float x : w) binary &= x == 0 || x == 1;
    return new Encoded(idArr, labelArr, binary ? null : w);
  }

  private static void emit(int[] tokens, double weight, IntList ids, IntList labels, FloatList weights) {
    for (int t : tokens) {
      ids.add(t);
      labels.add(weight > 0 ? t : Encoded.IGNORE);
      weights.add((float) weight);
    }
  }

  /** Labels the suffix tokens that open each untrained stretch following a trained one. */
  static void addDynamicEos(int[] ids, int[] labels, float[] weights, int[] suffix) {
    int n = labels.length, s = suffix.length;
    if (s == 0) return;
    int start = 0;
    for (int i = 1; i <= n; i++) {
      if (labels[i - 1] >= 0 && i < n && labels[i] == Encoded.IGNORE) {
        start = i;
      } else if (start > 0 && labels[i - 1] == Encoded.IGNORE && (i == n || labels[i] >= 0)) {
        // [start, i) is untrained, between two trained spans or at the end
        if (i - start >= s && Arrays.equals(ids, start, start + s, suffix, 0, s)) {
          for (int k = start; k < start + s; k++) {
            labels[k] = ids[k];
            if (weights[k] == 0) weights[k] = 1;
          }
        }
        start = 0;
      }
    }
  }

  /** Growable primitive arrays, to avoid boxing every token. */
  private static final class IntList {
    int[] a = new int[256];
    int size;

    void add(int v) {
      if (size == a.length) a = Arrays.copyOf(a, size * 2);
      a[size++] = v;
    }

    int[] toArray() {
      return Arrays.copyOf(a, size);
    }
  }

  private static final class FloatList {
    float[] a = new float[256];
    int size;

    void add(float v) {
      if (size == a.length) a = Arrays.copyOf(a, size * 2);
      a[size++] = v;
    }

    float[] toArray() {
      return Arrays.copyOf(a, size);
    }
  }
}
