package jswift.quant;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import jswift.data.DatasetLoader;
import jswift.data.DatasetOptions;
import jswift.data.LoadedDatasets;
import jswift.data.Row;
import jswift.data.RowList;
import jswift.model.ModelConfig;
import jswift.template.Conversation;
import jswift.template.ConversationEncoder;
import jswift.template.SequenceTooLongException;
import jswift.template.TemplateOptions;
import jswift.template.Templates;
import jswift.template.Truncation;
import jswift.tokenizer.Tokenizer;

/**
 * Calibration token blocks for GPTQ, as ms-swift's export builds them for a text model: the rows of the dataset in
 * a seeded shuffle, encoded with the model's template until {@code quant_n_samples} rows are taken (rows longer
 * than max_length are skipped), their input_ids concatenated and cut into blocks of max_length tokens
 * (max(len / max_length, 1) blocks: the tail that does not fill a block is dropped unless it is everything).
 */
public final class Calibration {
  private Calibration() {}

  public static List<int[]> blocks(Path modelDir, List<String> datasets, int nSamples, int maxLength, long seed)
      throws IOException {
    if (datasets.isEmpty())
      throw new IllegalArgumentException("GPTQ needs calibration data: pass --dataset (a jsonl/json/csv file or a "
          + "bundled dataset name)");
    if (nSamples <= 0) throw new IllegalArgumentException("--quant_n_samples must be > 0, got " + nSamples);
    if (maxLength <= 0) throw new IllegalArgumentException("--max_length must be > 0, got " + maxLength);
    ModelConfig cfg = ModelConfig.load(modelDir);
    Tokenizer tok = Tokenizer.load(modelDir);
    ConversationEncoder template = Templates.create(cfg.architecture().template(), tok,
        TemplateOptions.DEFAULT.withMaxLength(maxLength, Truncation.parse("delete")));
    List<int[]> encoded = new ArrayList<>();
    try (LoadedDatasets d = DatasetLoader.load(datasets, List.of(),
        DatasetOptions.defaults().withSeed(seed).withSplitDatasetRatio(0))) {
      RowList rows = d.trainList();
      int[] order = new int[rows.size()];
      for (int i = 0; i < order.length; i++) order[i] = i;
      Random r = new Random(seed);
      for (int i = order.length - 1; i > 0; i--) {
        int j = r.nextInt(i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
      for (int i = 0; i < order.length && encoded.size() < nSamples; i++) {
        Row row = rows.get(order[i]);
        try {
          int[] ids = template.encode(Conversation.fromJson(row.toJson())).inputIds();
          if (ids.length > 0) encoded.add(ids);
        } catch (SequenceTooLongException e) {
          // skipped, as ms-swift's template encoding drops rows over max_length
        }
      }
    }
    if (encoded.isEmpty())
      throw new IllegalArgumentException("no row of " + datasets + " fits --max_length " + maxLength + " once templated: raise --max_length");
    return cut(encoded, maxLength);
  }

  /** Concatenates the samples and cuts max(total / blockSize, 1) blocks of (at most) blockSize tokens. */
  static List<int[]> cut(List<int[]> samples, int blockSize) {
    int total = 0;
    for (int[] s : samples) total += s.length;
    int[] all = new int[total];
    int at = 0;
    for (int[] s : samples) {
      System.arraycopy(s, 0, all, at, s.length);
      at += s.length;
    }
    int n = Math.max(total / blockSize, 1);
    List<int[]> out = new ArrayList<>();
    for (int i = 0; i < n; i++) out.add(Arrays.copyOfRange(all, i * blockSize, Math.min(total, (i + 1) * blockSize)));
    return out;
  }
}
