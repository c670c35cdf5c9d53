package jswift.data;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

/**
 * Loads {@code --dataset} and {@code --val_dataset} as ms-swift's {@code load_dataset} does. Each spec
 * ({@link DatasetSpec}) is read and converted ({@link AutoPreprocessor}), then sampled to its {@code #N} and
 * split by {@code --split_dataset_ratio} ({@link Sampling}); the training parts are concatenated in the order
 * given and shuffled when {@code --dataset_shuffle} is on; {@code --val_dataset} specs are loaded the same way
 * as validation sets (shuffled only with {@code --val_dataset_shuffle}), and then the ratio must be 0. One
 * seeded generator per list of specs, consumed in order, makes a run repeat exactly.
 *
 * <p>Without {@code --streaming}, each file is read once at load time (all rows checked; 8 bytes per row kept)
 * and rows are re-read on demand; with it, files are read only while iterating, {@code #N} takes the first N
 * rows (repeating from the start when the data runs short), a split needs {@code #N}, and shuffling goes
 * through a {@code --shuffle_buffer_size} buffer.
 */
public final class DatasetLoader {
  private DatasetLoader() {}

  /**
   * Loads the datasets.
   *
   * @throws DatasetException for the first bad row (unless skipping)
   * @throws IllegalArgumentException for a spec that names nothing readable, or inconsistent options
   */
  public static LoadedDatasets load(List<String> datasets, List<String> valDatasets, DatasetOptions options)
      throws IOException {
    if (!valDatasets.isEmpty() && options.splitDatasetRatio() > 0)
      throw new IllegalArgumentException("--split_dataset_ratio " + options.splitDatasetRatio() + " splits a "
          + "validation set off --dataset; with --val_dataset it must be 0");
    BadRows bad = new BadRows(options.skipBadRows());
    List<Closeable> resources = new ArrayList<>();
    try {
      RowStream[] train = group(datasets, options.splitDatasetRatio(), options.datasetShuffle(), options, bad,
          resources);
      RowStream[] val = group(valDatasets, 1.0, options.valDatasetShuffle(), options, bad, resources);
      return new LoadedDatasets(train[0], val[1] != null ? val[1] : train[1], bad, resources);
    } catch (IOException | RuntimeException e) {
      for (Closeable c : resources) {
        try {
          c.close();
        } catch (IOException suppressed) {
          e.addSuppressed(suppressed);
        }
      }
      throw e;
    }
  }

  /** Loads one list of specs: {training part, validation part}, either null. */
  private static RowStream[] group(List<String> specs, double ratio, boolean shuffle, DatasetOptions options,
      BadRows bad, List<Closeable> resources) throws IOException {
    if (specs.isEmpty()) return new RowStream[2];
    Random random = new Random(options.seed());
    AutoPreprocessor converter = options.preprocessor();
    List<RowStream> trains = new ArrayList<>();
    List<RowStream> vals = new ArrayList<>();
    for (String text : specs) {
      DatasetSpec spec = DatasetSpec.parse(text);
      RowStream[] parts;
      if (options.streaming()) {
        parts = streamingSplit(open(spec, converter, options, bad, true, resources), spec, ratio);
      } else {
        RowList rows = (RowList) open(spec, converter, options, bad, false, resources);
        if (rows.size() == 0)
          throw new IllegalArgumentException(spec + ": no usable rows"
              + (bad.count() > 0 ? " (" + bad.count() + " bad rows skipped so far)" : ""));
        Sampling.Split split = Sampling.split(rows, spec.sample(), ratio, shuffle, random, spec.toString());
        parts = new RowStream[] {split.train(), split.val()};
      }
      if (parts[0] != null) trains.add(parts[0]);
      if (parts[1] != null) vals.add(parts[1]);
    }
    RowStream train = concat(trains, options.streaming());
    RowStream val = concat(vals, options.streaming());
    if (shuffle) {
      train = shuffled(train, random, options);
      val = shuffled(val, random, options);
    }
    return new RowStream[] {train, val};
  }

  private static RowStream shuffled(RowStream rows, Random random, DatasetOptions options) {
    if (rows == null) return null;
    if (rows instanceof RowList && !options.streaming())
      return Sampling.shuffle((RowList) rows, new Random(random.nextLong()));
    return Streams.shuffle(rows, options.shuffleBufferSize(), random.nextLong());
  }

  private static RowStream concat(List<RowStream> parts, boolean streaming) {
    if (parts.isEmpty()) return null;
    if (parts.size() == 1) return parts.get(0);
    if (!streaming) {
      List<RowList> lists = new ArrayList<>();
      for (RowStream p : parts) lists.add((RowList) p);
      return new ConcatRows(lists);
    }
    return Streams.concat(parts);
  }

  /** ms-swift's streaming post-processing: #N takes the first N rows; a split takes the first part as validation. */
  private static RowStream[] streamingSplit(RowStream rows, DatasetSpec spec, double ratio) {
    if (spec.sample() == null) {
      if (ratio == 0) return new RowStream[] {rows, null};
      if (ratio == 1) return new RowStream[] {null, rows};
      throw new IllegalArgumentException(spec + ": a streaming dataset's length is unknown, so --split_dataset_ratio "
          + "needs #N on the spec (e.g. " + spec.name() + "#10000)");
    }
    long n = spec.sample();
    RowStream taken = Streams.take(rows, n, true);
    if (ratio == 1) return new RowStream[] {null, taken};
    long valCount = (long) Math.floor(n * ratio);
    if (valCount == 0) return new RowStream[] {taken, null};
    return new RowStream[] {Streams.skip(taken, valCount), Streams.take(taken, valCount, false)};
  }

  /** A spec's rows: a RowList when indexed, a RowStream when streaming (bundled datasets are always lists). */
  private static RowStream open(DatasetSpec spec, AutoPreprocessor converter, DatasetOptions options, BadRows bad,
      boolean streaming, List<Closeable> resources) throws IOException {
    String bundled = spec.bundledName();
    if (bundled != null) {
      if (!spec.subsets().isEmpty() && !spec.subsets().equals(List.of("default")))
        throw new IllegalArgumentException(spec + ": the bundled dataset " + bundled + " has no subsets");
      return bundled(bundled, converter, options, bad);
    }
    Path path = Path.of(spec.name());
    if (!Files.exists(path))
      throw new IllegalArgumentException("dataset " + spec + ": no such file or folder"
          + (spec.name().contains("/") && !spec.name().startsWith("/") && !spec.name().startsWith(".")
              ? " (jswift reads local files and its bundled datasets " + DatasetSpec.QUICKSTART + " and "
                  + DatasetSpec.SELF_COGNITION + "; download a hub dataset first and give its path)"
              : ""));
    if (!spec.subsets().isEmpty())
      throw new IllegalArgumentException(spec + ": subsets (':...') apply to hub datasets, not to local files");
    List<Path> files = Files.isDirectory(path) ? folderFiles(path) : List.of(path);
    List<RowStream> parts = new ArrayList<>();
    for (Path file : files) {
      String name = file.toString();
      if (streaming) {
        DataFormat format = DataFormat.of(file);
        parts.add(Streams.file(() -> Files.newInputStream(file), format, name, converter, bad));
      } else {
        IndexedFile indexed = IndexedFile.index(file, name, converter, bad);
        resources.add(indexed);
        parts.add(indexed);
      }
    }
    if (parts.size() == 1) return parts.get(0);
    if (streaming) return Streams.concat(parts);
    List<RowList> lists = new ArrayList<>();
    for (RowStream p : parts) lists.add((RowList) p);
    return new ConcatRows(lists);
  }

  /** The dataset files directly in a folder, sorted by name; hidden files are ignored. */
  private static List<Path> folderFiles(Path dir) throws IOException {
    List<Path> files;
    try (Stream<Path> list = Files.list(dir)) {
      files = list.filter(Files::isRegularFile)
          .filter(p -> !p.getFileName().toString().startsWith("."))
          .filter(DataFormat::hasDatasetExtension)
          .sorted((a, b) -> a.getFileName().toString().compareTo(b.getFileName().toString()))
          .toList();
    }
    if (files.isEmpty())
      throw new IllegalArgumentException(dir + ": the folder holds no dataset files (" + DataFormat.EXTENSIONS + ")");
    return files;
  }

  private static RowList bundled(String name, AutoPreprocessor converter, DatasetOptions options, BadRows bad)
      throws IOException {
    boolean selfCognition = name.equals(DatasetSpec.SELF_COGNITION);
    if (selfCognition) SelfCognition.requireIdentity(options.modelName(), options.modelAuthor());
    String resource = selfCognition ? SelfCognition.RESOURCE : "/jswift/data/quickstart-sft.jsonl";
    InputStream in = DatasetLoader.class.getResourceAsStream(resource);
    if (in == null)
      throw new IOException("the bundled dataset " + name + " is missing from the classpath (" + resource + ")");
    List<Row> rows = new ArrayList<>();
    try (RowCursor cursor = DataFormat.JSONL.open(in, name)) {
      while (true) {
        try {
          RawRow raw = cursor.next();
          if (raw == null) break;
          ObjectNode fields = selfCognition
              ? SelfCognition.fill(raw.fields(), options.modelName(), options.modelAuthor())
              : raw.fields();
          rows.add(converter.convert(fields, raw.location()));
        } catch (DatasetException e) {
          bad.handle(e);
        }
      }
    }
    return new MemoryRows(rows);
  }
}
