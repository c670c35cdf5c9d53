package jswift.eval;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.IntConsumer;
import jswift.data.DatasetException;
import jswift.data.Location;
import jswift.data.RecordFile;
import jswift.model.CausalLM;
import jswift.model.KvCache;
import jswift.template.Conversation;
import jswift.template.ConversationEncoder;
import jswift.template.Message;
import jswift.tokenizer.Tokenizer;

/**
 * Multiple-choice accuracy (EvalScope's {@code general_mcq} data): each question goes to the model as a user turn
 * of its chat template (the question, its lettered options and an instruction to answer with a letter), after the
 * few-shot examples as earlier turns answered with their letters; the model's choice is the option letter with the
 * highest next-token logit where its answer starts. Scoring the letters' likelihoods instead of parsing generated
 * text makes every answer count, also from small or base models that would not write a bare letter, and needs one
 * forward pass per question.
 */
public final class MultipleChoice {
  private MultipleChoice() {}

  /** Option letters, in order: up to ten options. */
  public static final String LETTERS = "ABCDEFGHIJ";

  /** One question: its options (A, B, ... in order), the index of the right one, and where it was read. */
  public record Question(String id, String question, List<String> options, int answer, Location location) {}

  /** A scored question: the option chosen and each option's log-probability as the answer's first token. */
  public record Scored(Question question, int chosen, double[] logprobs) {
    public boolean correct() {
      return chosen == question.answer();
    }
  }

  /** The scored questions of one set. */
  public record Result(List<Scored> rows) {
    public int correct() {
      int n = 0;
      for (Scored s : rows) n += s.correct() ? 1 : 0;
      return n;
    }

    public double accuracy() {
      return rows.isEmpty() ? 0 : correct() / (double) rows.size();
    }
  }

  /**
   * Reads a {@code general_mcq} CSV: a header {@code id,question,A,B,...,answer} (two to ten option columns named
   * by letters from A; an empty last option cell means the question has fewer options), one question a row, the
   * answer a letter of one of its options.
   */
  public static List<Question> read(Path csv) throws IOException {
    List<Question> out = new ArrayList<>();
    for (RecordFile.Record r : RecordFile.read(csv)) {
      List<String> options = new ArrayList<>();
      for (int i = 0; i < LETTERS.length() && r.fields().has(String.valueOf(LETTERS.charAt(i))); i++)
        options.add(r.text(String.valueOf(LETTERS.charAt(i))));
      while (!options.isEmpty() && options.get(options.size() - 1).isBlank()) options.remove(options.size() - 1);
      if (options.size() < 2)
        throw new DatasetException(r.location(), "a multiple-choice question needs option columns A, B, ... (at least "
            + "two non-empty); the fields are " + r.names());
      int index = letterIndex(r, r.text("answer"), options.size());
      String id = r.fields().hasNonNull("id") ? r.fields().get("id").asText() : String.valueOf(out.size());
      out.add(new Question(id, r.text("question"), List.copyOf(options), index, r.location()));
    }
    return out;
  }

  /** The option an answer letter (A, B, ...) names among {@code options}; anything else names the record. */
  public static int letterIndex(RecordFile.Record r, String letter, int options) {
    String answer = letter.strip().toUpperCase(Locale.ROOT);
    int index = answer.length() == 1 ? LETTERS.indexOf(answer.charAt(0)) : -1;
    if (index < 0 || index >= options)
      throw new DatasetException(r.location(), "answer \"" + letter + "\" is not the letter of one of its " + options
          + " options (" + LETTERS.substring(0, options) + ")");
    return index;
  }

  /** The option a 0-based index label ("0", "1", ...) names among {@code options}; anything else names the record. */
  public static int index(RecordFile.Record r, String label, int options) {
    int index;
    try {
      index = Integer.parseInt(label.strip());
    } catch (NumberFormatException e) {
      index = -1;
    }
    if (index < 0 || index >= options)
      throw new DatasetException(r.location(), "label \"" + label + "\" is not the index (0-" + (options - 1)
          + ") of one of its " + options + " options");
    return index;
  }

  /** The user turn of a question: the question, its options as "A. ..." lines, and the instruction. */
  public static String prompt(Question q) {
    StringBuilder sb = new StringBuilder(q.question().strip()).append('\n');
    for (int i = 0; i < q.options().size(); i++) sb.append(LETTERS.charAt(i)).append(". ").append(q.options().get(i)).append('\n');
    return sb.append("Answer with the letter of the correct option.").toString();
  }

  /**
   * Scores {@code questions}, each after the {@code shots} as answered earlier turns (and {@code system}, if not
   * null); {@code progress} (may be null) hears how many are done.
   */
  public static Result evaluate(CausalLM model, Tokenizer tokenizer, ConversationEncoder template, String system,
      List<Question> shots, List<Question> questions, IntConsumer progress) {
    int[] letterIds = letterIds(tokenizer);
    int maxLength = model.config().maxPositionEmbeddings();
    List<Scored> rows = new ArrayList<>();
    for (Question q : questions) {
      List<Message> messages = new ArrayList<>();
      if (system != null) messages.add(Message.system(system));
      for (Question s : shots) {
        messages.add(Message.user(prompt(s)));
        messages.add(Message.assistant(String.valueOf(LETTERS.charAt(s.answer()))));
      }
      messages.add(Message.user(prompt(q)));
      int[] ids = template.encodePrompt(Conversation.of(messages)).inputIds();
      if (ids.length > maxLength)
        throw new DatasetException(q.location(), "question " + q.id() + " with " + shots.size() + " examples before it"
            + " is " + ids.length + " tokens, over the model's " + maxLength + ": use fewer examples (few_shot_num)");
      float[] logits = lastLogits(model, ids);
      double max = Double.NEGATIVE_INFINITY, sum = 0;
      for (float v : logits) max = Math.max(max, v);
      for (float v : logits) sum += Math.exp(v - max);
      double logSum = max + Math.log(sum);
      double[] lp = new double[q.options().size()];
      int chosen = 0;
      for (int i = 0; i < lp.length; i++) {
        lp[i] = logits[letterIds[i]] - logSum;
        if (lp[i] > lp[chosen]) chosen = i;
      }
      rows.add(new Scored(q, chosen, lp));
      if (progress != null) progress.accept(rows.size());
    }
    return new Result(rows);
  }

  /** The token each option letter starts its answer with; they must differ. */
  static int[] letterIds(Tokenizer tokenizer) {
    int[] ids = new int[LETTERS.length()];
    for (int i = 0; i < ids.length; i++) {
      int[] t = tokenizer.encode(String.valueOf(LETTERS.charAt(i)), false);
      if (t.length == 0) throw new IllegalStateException("the tokenizer encodes the letter " + LETTERS.charAt(i) + " as nothing");
      ids[i] = t[0];
      for (int j = 0; j < i; j++)
        if (ids[j] == ids[i])
          throw new IllegalStateException("the tokenizer starts the letters " + LETTERS.charAt(j) + " and "
              + LETTERS.charAt(i) + " with the same token, so their likelihoods cannot tell the options apart");
    }
    return ids;
  }

  /** The logits of the token after {@code ids}: one prefill through a KV cache. */
  private static float[] lastLogits(CausalLM model, int[] ids) {
    int[] pos = new int[ids.length], real = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      pos[i] = i;
      real[i] = 1;
    }
    try (KvCache cache = model.newCache(1, ids.length)) {
      return model.forwardCached(cache, ids, ids.length, pos, real)[0];
    }
  }
}
