package jswift.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

/**
 * The bundled self-cognition rows ({@value DatasetSpec#SELF_COGNITION}): questions about who the model is,
 * with {@code {{NAME}}} and {@code {{AUTHOR}}} where its name and maker go. As in ms-swift, each row's
 * {@code tag} says its language: a {@code zh} row takes the first (Chinese) value of {@code --model_name} and
 * {@code --model_author}, any other row the second (English) one; one value serves both.
 *
 * <p>ms-swift leaves a placeholder in place when its value is missing; jswift stops instead, since a model
 * trained to call itself {@code {{NAME}}} is not what anybody wants.
 */
final class SelfCognition {
  static final String RESOURCE = "/jswift/data/self-cognition.jsonl";

  private SelfCognition() {}

  /** Checks that a name and an author were given, before any row is read. */
  static void requireIdentity(List<String> name, List<String> author) {
    if (name.isEmpty() || author.isEmpty())
      throw new IllegalArgumentException(DatasetSpec.SELF_COGNITION + " needs --model_name and --model_author "
          + "(one value each, or the Chinese then the English one), e.g. --model_name 小黄 'Xiao Huang' "
          + "--model_author 魔搭 ModelScope");
  }

  /** The row with its placeholders filled in (a copy; the argument is not changed). */
  static ObjectNode fill(ObjectNode row, List<String> name, List<String> author) {
    boolean zh = "zh".equals(row.path("tag").asText());
    String n = zh ? name.get(0) : name.get(name.size() - 1);
    String a = zh ? author.get(0) : author.get(author.size() - 1);
    ObjectNode out = row.deepCopy();
    for (String key : List.of("query", "response")) {
      JsonNode v = out.get(key);
      if (v != null && v.isTextual()) out.put(key, v.asText().replace("{{NAME}}", n).replace("{{AUTHOR}}", a));
    }
    return out;
  }
}
