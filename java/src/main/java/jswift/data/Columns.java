package jswift.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Renames a row's columns as ms-swift's {@code safe_rename_columns} does: the mapping's keys match column names
 * without regard to case; when two present columns would take the same new name, neither is renamed (a row
 * with both {@code answer} and {@code output} keeps both as they are, rather than guessing which is the
 * response); a column already bearing the new name counts as one of those. This serves both {@code --columns}
 * and each preprocessor's own list of accepted names.
 */
final class Columns {
  private Columns() {}

  /**
   * The renamed row: a new object (the input is not changed) sharing the field values, in the original order.
   *
   * @throws DatasetException when a new name is already taken by a column that is not renamed
   */
  static ObjectNode rename(ObjectNode row, Map<String, String> mapping, Location where) {
    Map<String, String> plan = plan(row, mapping);
    for (Map.Entry<String, String> e : plan.entrySet()) {
      String target = e.getValue();
      if (row.has(target) && !plan.containsKey(target))
        throw new DatasetException(where, "cannot rename column \"" + e.getKey() + "\" to \"" + target
            + "\": the row already has a \"" + target + "\" column");
    }
    ObjectNode out = row.objectNode();
    for (Iterator<Map.Entry<String, JsonNode>> it = row.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> field = it.next();
      out.set(plan.getOrDefault(field.getKey(), field.getKey()), field.getValue());
    }
    return out;
  }

  /**
   * The renames that were not made because several columns wanted the same name, e.g.
   * {@code "prompt and question both mean query"}; for error messages.
   */
  static List<String> ambiguities(ObjectNode row, Map<String, String> mapping) {
    Map<String, List<String>> byTarget = new LinkedHashMap<>();
    matched(row, mapping).forEach((column, target) ->
        byTarget.computeIfAbsent(target, t -> new ArrayList<>()).add(column));
    List<String> out = new ArrayList<>();
    byTarget.forEach((target, columns) -> {
      if (columns.size() > 1)
        out.add(String.join(" and ", columns) + (columns.size() == 2 ? " both" : " all") + " mean " + target);
    });
    return out;
  }

  /** Parses {@code --columns}: a JSON object of old name to new name. */
  static Map<String, String> parse(String json) {
    JsonNode node;
    try {
      node = Json.MAPPER.readTree(json);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("--columns must be a JSON object such as '{\"src\": \"query\", \"tgt\": "
          + "\"response\"}': " + e.getOriginalMessage());
    }
    if (node == null || !node.isObject())
      throw new IllegalArgumentException("--columns must be a JSON object such as '{\"src\": \"query\"}', not " + json);
    Map<String, String> out = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!e.getValue().isTextual())
        throw new IllegalArgumentException("--columns: the new name of \"" + e.getKey() + "\" must be a string");
      out.put(e.getKey(), e.getValue().asText());
    }
    return out;
  }

  /**
   * Present column -> new name, in the row's order, before dropping the ambiguous ones. As in ms-swift, the
   * mapping's keys match without regard to case; of two columns differing only in case, the later one matches.
   */
  private static Map<String, String> matched(ObjectNode row, Map<String, String> mapping) {
    Map<String, String> byLower = new HashMap<>();
    for (Iterator<String> it = row.fieldNames(); it.hasNext(); ) {
      String name = it.next();
      byLower.put(name.toLowerCase(Locale.ROOT), name);
    }
    Map<String, String> targets = new HashMap<>();
    mapping.forEach((from, to) -> targets.put(from.toLowerCase(Locale.ROOT), to));
    Map<String, String> matched = new LinkedHashMap<>();
    for (Iterator<String> it = row.fieldNames(); it.hasNext(); ) {
      String name = it.next();
      String lower = name.toLowerCase(Locale.ROOT);
      if (targets.containsKey(lower) && byLower.get(lower).equals(name)) matched.put(name, targets.get(lower));
    }
    return matched;
  }

  private static Map<String, String> plan(ObjectNode row, Map<String, String> mapping) {
    Map<String, String> matched = matched(row, mapping);
    Map<String, Integer> count = new HashMap<>();
    matched.values().forEach(t -> count.merge(t, 1, Integer::sum));
    Map<String, String> plan = new LinkedHashMap<>();
    // a column that already has the name counts too: it keeps it, and no other column is renamed onto it
    matched.forEach((column, target) -> {
      if (count.get(target) == 1 && !column.equals(target)) plan.put(column, target);
    });
    return plan;
  }
}
