package jswift.serve;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/**
 * The body of a {@code /v1/embeddings} request, checked (OpenAI's fields): {@code input}, a string, a list of
 * strings, a list of token ids or a list of such lists (at most {@link #MAX_INPUTS}); {@code model};
 * {@code encoding_format} "float" (default) or "base64" (little-endian float32 bytes); {@code dimensions}, the
 * leading components kept (Matryoshka-trained models such as Qwen3-Embedding), renormalized.
 *
 * @param texts    the inputs given as text (null where ids were given)
 * @param tokenIds the inputs given as token ids (null where text was given)
 */
public record EmbeddingRequest(String model, List<String> texts, List<int[]> tokenIds, boolean base64,
    Integer dimensions) {
  public static final int MAX_INPUTS = 256;

  public int size() {
    return texts.size();
  }

  public static EmbeddingRequest parse(JsonNode body) {
    if (body == null || !body.isObject()) throw ApiException.badRequest(null, "the body must be a JSON object");
    JsonNode input = body.get("input");
    List<String> texts = new ArrayList<>();
    List<int[]> ids = new ArrayList<>();
    if (input != null && input.isTextual()) {
      add(texts, ids, input, 0);
    } else if (input != null && input.isArray() && input.size() > 0 && input.get(0).isInt()) {
      texts.add(null);
      ids.add(ids(input, 0));
    } else if (input != null && input.isArray() && input.size() > 0) {
      if (input.size() > MAX_INPUTS)
        throw ApiException.badRequest("input", input.size() + " inputs in one request; at most " + MAX_INPUTS);
      for (int i = 0; i < input.size(); i++) add(texts, ids, input.get(i), i);
    } else {
      throw ApiException.badRequest("input", "'input' must be a string, a non-empty list of strings, or token ids");
    }
    String model = body.hasNonNull("model") ? body.get("model").asText() : null;
    String format = body.path("encoding_format").asText("float");
    if (!format.equals("float") && !format.equals("base64"))
      throw ApiException.badRequest("encoding_format", "'encoding_format' must be \"float\" or \"base64\", got \""
          + format + "\"");
    Integer dims = null;
    if (body.hasNonNull("dimensions")) {
      if (!body.get("dimensions").canConvertToInt() || body.get("dimensions").asInt() < 1)
        throw ApiException.badRequest("dimensions", "'dimensions' must be a positive integer");
      dims = body.get("dimensions").asInt();
    }
    return new EmbeddingRequest(model, texts, ids, format.equals("base64"), dims);
  }

  private static void add(List<String> texts, List<int[]> ids, JsonNode item, int index) {
    if (item.isTextual()) {
      if (item.asText().isEmpty()) throw ApiException.badRequest("input", "input " + index + " is an empty string");
      texts.add(item.asText());
      ids.add(null);
    } else if (item.isArray() && item.size() > 0 && item.get(0).isInt()) {
      texts.add(null);
      ids.add(ids(item, index));
    } else {
      throw ApiException.badRequest("input", "input " + index + " must be a non-empty string or a list of token ids");
    }
  }

  private static int[] ids(JsonNode list, int index) {
    int[] out = new int[list.size()];
    for (int i = 0; i < out.length; i++) {
      if (!list.get(i).isInt() || list.get(i).asInt() < 0)
        throw ApiException.badRequest("input", "input " + index + ": token ids must be non-negative integers");
      out[i] = list.get(i).asInt();
    }
    return out;
  }
}
