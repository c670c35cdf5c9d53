package jswift.train;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import jswift.data.Row;
import jswift.data.RowList;
import jswift.infer.ChatCompletion;
import jswift.infer.GenerationConfig;
import jswift.model.CausalLM;
import jswift.template.ConversationEncoder;
import jswift.template.Message;
import jswift.tokenizer.Tokenizer;

/**
 * {@code jswift sample} (ms-swift's {@code swift sample}, sampler_type sample): for each prompt of a dataset,
 * num_return_sequences answers sampled from the model, scored by an outcome reward (a {@link RewardFunction}: a
 * built-in such as accuracy, a plugin, or a trained reward model), the n best kept as ready-to-train rows (rejection
 * sampling / RFT data). Rows are appended prompt by prompt, so an interrupted run keeps what it wrote.
 */
public final class BestOfN {
  private BestOfN() {}

  /** The run's settings: answers per prompt, how many to keep, the reward (null: keep without scores), easy cut. */
  public record Options(int numReturnSequences, int nBestToKeep, String ormModel, List<Path> externalPlugins,
      Double easyQueryThreshold, int rangeIndex, int rangeParts) {
    public Options {
      if (numReturnSequences < 1)
        throw new IllegalArgumentException("--num_return_sequences must be >= 1, got " + numReturnSequences);
      if (nBestToKeep < 1) throw new IllegalArgumentException("--n_best_to_keep must be >= 1, got " + nBestToKeep);
      if (easyQueryThreshold != null && !(easyQueryThreshold >= 0 && easyQueryThreshold <= 1))
        throw new IllegalArgumentException("--easy_query_threshold must be in [0, 1], got " + easyQueryThreshold);
      if (easyQueryThreshold != null && ormModel == null)
        throw new IllegalArgumentException("--easy_query_threshold needs --orm_model (which answers are right)");
      if (rangeParts < 1 || rangeIndex < 0 || rangeIndex >= rangeParts)
        throw new IllegalArgumentException("--data_range " + rangeIndex + " " + rangeParts + ": expected i n with 0 <= i < n");
    }
  }

  /** What a run did. */
  public record Summary(int prompts, int skippedTooLong, int skippedEasy, long kept) {}

  /**
   * Samples, scores and keeps answers for every row, appending them to {@code out}; {@code progress} (may be null)
   * hears a line per prompt.
   */
  public static Summary run(CausalLM model, Tokenizer tokenizer, ConversationEncoder template, GenerationConfig gen,
      RowList rows, Options o, Path out, PrintWriter progress) throws IOException {
    RewardFunction orm = null;
    RewardModelScorer rm = null;
    if (o.ormModel() != null) {
      if (Files.isDirectory(Path.of(o.ormModel()))) {
        rm = RewardModelScorer.load(Path.of(o.ormModel()), model.device(), model.dtype());
        orm = rm;
      } else {
        orm = Rewards.resolve(List.of(o.ormModel()), Rewards.Settings.defaults(gen.maxNewTokens()), o.externalPlugins())
            .get(0);
      }
    }
    try {
      return sample(model, tokenizer, template, gen, rows, o, orm, out, progress);
    } finally {
      if (rm != null) rm.close();
    }
  }

  private static Summary sample(CausalLM model, Tokenizer tokenizer, ConversationEncoder template, GenerationConfig gen,
      RowList rows, Options o, RewardFunction orm, Path out, PrintWriter progress) throws IOException {
    Path parent = out.toAbsolutePath().getParent();
    if (parent != null) Files.createDirectories(parent);
    int tooLong = 0, easy = 0;
    long kept = 0, start = System.nanoTime();
    // --data_range i n: the i-th of n contiguous parts (for several processes over one dataset)
    int from = (int) ((long) rows.size() * o.rangeIndex() / o.rangeParts());
    int to = (int) ((long) rows.size() * (o.rangeIndex() + 1) / o.rangeParts());
    try (BufferedWriter w = Files.newBufferedWriter(out, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
        StandardOpenOption.APPEND)) {
      for (int i = from; i < to; i++) {
        Row row = rows.get(i);
        RowPrompt prompt = RowPrompt.encode(row, template);
        if (prompt == null) {
          tooLong++;
          continue;
        }
        List<Message> promptMessages = prompt.messages();
        List<ChatCompletion.Choice> answers = ChatCompletion.generate(model, tokenizer, prompt.encoded(),
            gen.withSeed(gen.seed() + (long) i * o.numReturnSequences()), o.numReturnSequences(), null).choices();
        double[] scores = new double[answers.size()];
        java.util.Arrays.fill(scores, Double.NaN);
        if (orm != null) {
          List<RewardFunction.Completion> completions = new ArrayList<>();
          for (ChatCompletion.Choice a : answers)
            completions.add(new RewardFunction.Completion(a.text(), a.tokens().length,
                a.finishReason() == ChatCompletion.FinishReason.LENGTH, promptMessages, row.extras()));
          try {
            scores = orm.rewards(completions);
          } catch (RuntimeException e) {
            throw new IllegalArgumentException(row.location() + ": --orm_model " + orm.name() + ": " + e.getMessage(), e);
          }
        }
        List<double[]> scored = new ArrayList<>();  // {index, score}
        int right = 0;
        for (int j = 0; j < answers.size(); j++) {
          if (scores[j] > 0) right++;
          scored.add(new double[] {j, scores[j]});
        }
        if (o.easyQueryThreshold() != null && (double) right / answers.size() > o.easyQueryThreshold()) {
          easy++;
          report(progress, i + 1 - from, to - from, kept, start, "too easy: " + right + "/" + answers.size() + " right");
          continue;
        }
        if (orm != null) scored.sort(Comparator.comparingDouble((double[] s) -> -s[1]));  // best first, stable
        for (int k = 0; k < Math.min(o.nBestToKeep(), scored.size()); k++) {
          int j = (int) scored.get(k)[0];
          ObjectNode n = prompt.withAnswer(answers.get(j).text());  // the row as it was, the sample its answer
          if (orm != null) n.put("orm_score", scored.get(k)[1]);
          w.write(TrainingLog.JSON.writeValueAsString(n));
          w.write('\n');
          kept++;
        }
        w.flush();
        report(progress, i + 1 - from, to - from, kept, start, null);
      }
    }
    return new Summary(to - from, tooLong, easy, kept);
  }

  private static void report(PrintWriter progress, int done, int total, long kept, long start, String note) {
    if (progress == null) return;
    double secs = (System.nanoTime() - start) / 1e9;
    progress.printf("sample: %d/%d prompts, %d answers kept (%.2f prompts/s)%s%n", done, total, kept,
        done / Math.max(secs, 1e-9), note == null ? "" : "; " + note);
    progress.flush();
  }
}
