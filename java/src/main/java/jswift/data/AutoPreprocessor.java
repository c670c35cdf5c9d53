package jswift.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Turns any accepted row into the standard {@code messages} format, choosing the conversion as ms-swift's
 * {@code AutoPreprocessor} does: first {@code --columns} renames columns; then a row with {@code messages},
 * {@code conversation} or {@code conversations} is a conversation ({@link MessagesPreprocessor}); a row with
 * both {@code instruction} and {@code input} is alpaca ({@link AlpacaPreprocessor}); anything else is the
 * query/response form ({@link ResponsePreprocessor}). {@code image}, {@code video} and {@code audio} are read as
 * {@code images}, {@code videos}, {@code audios}. A {@code solution} column is kept for GRPO's reward functions
 * even when it was used as the response, as ms-swift keeps it. Then {@link RowChecks} runs.
 *
 * <p>ms-swift picks the conversion once per dataset from its column set, which for a JSON Lines file is the
 * union of all rows' keys; jswift reads rows one at a time and picks per row, from the row's keys. The two
 * agree whenever rows share their keys (what a Hugging Face dataset requires anyway); where they differ,
 * jswift converts rows that ms-swift would drop.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class AutoPreprocessor {
  private static final Map<String, String> MEDIA_COLUMNS = Map.of(
      "image", "images", "images", "images",
      "video", "videos", "videos", "videos",
      "audio", "audios", "audios", "audios");
  private static final Map<String, String> MESSAGES_COLUMNS = union(MessagesPreprocessor.COLUMNS);
  private static final Map<String, String> RESPONSE_COLUMNS = union(ResponsePreprocessor.COLUMNS);

  private final Map<String, String> columns;
  private final boolean requireAssistant;
  private final Long randomResponseSeed;

  /**
   * @param columns {@code --columns}: old column name to new
   * @param requireAssistant whether a row without an assistant turn is an error (training) or not (inference)
   * @param randomResponseSeed null to take the first of a list-valued response; else the seed of a random pick
   */
  public AutoPreprocessor(Map<String, String> columns, boolean requireAssistant, Long randomResponseSeed) {
    this.columns = Collections.unmodifiableMap(new LinkedHashMap<>(columns));
    this.requireAssistant = requireAssistant;
    this.randomResponseSeed = randomResponseSeed;
  }

  /**
   * Converts and checks one row (the given object is not changed).
   *
   * @throws DatasetException naming {@code where} and what is wrong
   */
  public Row convert(ObjectNode fields, Location where) {
    ObjectNode row = Columns.rename(fields, columns, where);
    JsonNode solution = row.get("solution");
    ObjectNode work;
    if (row.has("messages") || row.has("conversation") || row.has("conversations")) {
      work = Columns.rename(row, MESSAGES_COLUMNS, where);
      String field = row.has("messages") ? "messages" : row.has("conversation") ? "conversation" : "conversations";
      MessagesPreprocessor.preprocess(work, field, where);
    } else if (row.has("instruction") && row.has("input")) {
      work = Columns.rename(row, RESPONSE_COLUMNS, where);
      AlpacaPreprocessor.preprocess(work, row, where, randomResponseSeed);
    } else {
      work = Columns.rename(row, RESPONSE_COLUMNS, where);
      ResponsePreprocessor.preprocess(work, row, where, randomResponseSeed);
    }
    if (solution != null && !work.has("solution")) work.set("solution", solution);
    return RowChecks.check(work, where, requireAssistant);
  }

  private static Map<String, String> union(Map<String, String> own) {
    Map<String, String> m = new HashMap<>(MEDIA_COLUMNS);
    m.putAll(own);
    return Map.copyOf(m);
  }
}
