package jswift.data;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How datasets are loaded: the data arguments of {@code jswift sft/pt/infer}, named and defaulted as in
 * ms-swift 3.x ({@code --columns}, {@code --data_seed} 42, which 2.x called {@code --seed};
 * {@code --split_dataset_ratio} 0, {@code --dataset_shuffle} true, {@code --val_dataset_shuffle} false,
 * {@code --streaming} false, {@code --shuffle_buffer_size} 1000, {@code --model_name}, {@code --model_author})
 * plus jswift's own {@code --dataset_skip_bad} (false: the first bad row ends the load). Immutable; each
 * {@code with} method returns a changed copy.
 */
public final class DatasetOptions {
  private final Map<String, String> columns;
  private final long seed;
  private final double splitDatasetRatio;
  private final boolean datasetShuffle;
  private final boolean valDatasetShuffle;
  private final boolean streaming;
  private final int shuffleBufferSize;
  private final boolean skipBadRows;
  private final boolean requireAssistant;
  private final List<String> modelName;
  private final List<String> modelAuthor;
  private final boolean randomListResponse;

  private DatasetOptions(Map<String, String> columns, long seed, double splitDatasetRatio, boolean datasetShuffle,
      boolean valDatasetShuffle, boolean streaming, int shuffleBufferSize, boolean skipBadRows,
      boolean requireAssistant, List<String> modelName, List<String> modelAuthor, boolean randomListResponse) {
    if (!(splitDatasetRatio >= 0 && splitDatasetRatio <= 1))
      throw new IllegalArgumentException("split_dataset_ratio must be in [0, 1], not " + splitDatasetRatio);
    if (shuffleBufferSize < 1) throw new IllegalArgumentException("shuffle_buffer_size must be at least 1");
    if (modelName.size() > 2 || modelAuthor.size() > 2)
      throw new IllegalArgumentException("--model_name and --model_author take one value, or two (Chinese, English)");
    // ordered: of two --columns keys differing only in case, the later wins, as in a Python dict
    this.columns = Collections.unmodifiableMap(new LinkedHashMap<>(columns));
    this.seed = seed;
    this.splitDatasetRatio = splitDatasetRatio;
    this.datasetShuffle = datasetShuffle;
    this.valDatasetShuffle = valDatasetShuffle;
    this.streaming = streaming;
    this.shuffleBufferSize = shuffleBufferSize;
    this.skipBadRows = skipBadRows;
    this.requireAssistant = requireAssistant;
    this.modelName = List.copyOf(modelName);
    this.modelAuthor = List.copyOf(modelAuthor);
    this.randomListResponse = randomListResponse;
  }

  /** ms-swift's defaults; training rows need an assistant turn. */
  public static DatasetOptions defaults() {
    return new DatasetOptions(Map.of(), 42, 0, true, false, false, 1000, false, true, List.of(), List.of(), false);
  }

  public Map<String, String> columns() {
    return columns;
  }

  public long seed() {
    return seed;
  }

  public double splitDatasetRatio() {
    return splitDatasetRatio;
  }

  public boolean datasetShuffle() {
    return datasetShuffle;
  }

  public boolean valDatasetShuffle() {
    return valDatasetShuffle;
  }

  public boolean streaming() {
    return streaming;
  }

  public int shuffleBufferSize() {
    return shuffleBufferSize;
  }

  public boolean skipBadRows() {
    return skipBadRows;
  }

  public boolean requireAssistant() {
    return requireAssistant;
  }

  /** {@code --model_name}: one name for both languages, or the Chinese then the English one. */
  public List<String> modelName() {
    return modelName;
  }

  public List<String> modelAuthor() {
    return modelAuthor;
  }

  public boolean randomListResponse() {
    return randomListResponse;
  }

  /** {@code --columns}, as a map or (see {@link #withColumns(String)}) as ms-swift's JSON string. */
  public DatasetOptions withColumns(Map<String, String> v) {
    return new DatasetOptions(v, seed, splitDatasetRatio, datasetShuffle, valDatasetShuffle, streaming,
        shuffleBufferSize, skipBadRows, requireAssistant, modelName, modelAuthor, randomListResponse);
  }

  /** {@code --columns '{"src": "query", "tgt": "response"}'}. */
  public DatasetOptions withColumns(String json) {
    return withColumns(Columns.parse(json));
  }

  public DatasetOptions withSeed(long v) {
    return new DatasetOptions(columns, v, splitDatasetRatio, datasetShuffle, valDatasetShuffle, streaming,
        shuffleBufferSize, skipBadRows, requireAssistant, modelName, modelAuthor, randomListResponse);
  }

  public DatasetOptions withSplitDatasetRatio(double v) {
    return new DatasetOptions(columns, seed, v, datasetShuffle, valDatasetShuffle, streaming,
        shuffleBufferSize, skipBadRows, requireAssistant, modelName, modelAuthor, randomListResponse);
  }

  public DatasetOptions withDatasetShuffle(boolean v) {
    return new DatasetOptions(columns, seed, splitDatasetRatio, v, valDatasetShuffle, streaming,
        shuffleBufferSize, skipBadRows, requireAssistant, modelName, modelAuthor, randomListResponse);
  }

  public DatasetOptions withValDatasetShuffle(boolean v) {
    return new DatasetOptions(columns, seed, splitDatasetRatio, datasetShuffle, v, streaming,
        shuffleBufferSize, skipBadRows, requireAssistant, modelName, modelAuthor, randomListResponse);
  }

  public DatasetOptions withStreaming(boolean v) {
    return new DatasetOptions(columns, seed, splitDatasetRatio, datasetShuffle, valDatasetShuffle, v,
        shuffleBufferSize, skipBadRows, requireAssistant, modelName, modelAuthor, randomListResponse);
  }

  public DatasetOptions withShuffleBufferSize(int v) {
    return new DatasetOptions(columns, seed, splitDatasetRatio, datasetShuffle, valDatasetShuffle, streaming,
        v, skipBadRows, requireAssistant, modelName, modelAuthor, randomListResponse);
  }

  /** {@code --dataset_skip_bad true}: skip and count bad rows instead of stopping at the first. */
  public DatasetOptions withSkipBadRows(boolean v) {
    return new DatasetOptions(columns, seed, splitDatasetRatio, datasetShuffle, valDatasetShuffle, streaming,
        shuffleBufferSize, v, requireAssistant, modelName, modelAuthor, randomListResponse);
  }

  /** Whether a row without an assistant turn is an error: true to train, false to run inference. */
  public DatasetOptions withRequireAssistant(boolean v) {
    return new DatasetOptions(columns, seed, splitDatasetRatio, datasetShuffle, valDatasetShuffle, streaming,
        shuffleBufferSize, skipBadRows, v, modelName, modelAuthor, randomListResponse);
  }

  /** {@code --model_name zh en} (or one name for both) and {@code --model_author}, for self-cognition. */
  public DatasetOptions withModelIdentity(List<String> name, List<String> author) {
    return new DatasetOptions(columns, seed, splitDatasetRatio, datasetShuffle, valDatasetShuffle, streaming,
        shuffleBufferSize, skipBadRows, requireAssistant, name, author, randomListResponse);
  }

  /** ms-swift's {@code RANDOM_DATASET_RESPONSE}: a list-valued response is drawn at random (seeded), not the first. */
  public DatasetOptions withRandomListResponse(boolean v) {
    return new DatasetOptions(columns, seed, splitDatasetRatio, datasetShuffle, valDatasetShuffle, streaming,
        shuffleBufferSize, skipBadRows, requireAssistant, modelName, modelAuthor, v);
  }

  AutoPreprocessor preprocessor() {
    return new AutoPreprocessor(columns, requireAssistant, randomListResponse ? seed : null);
  }
}
