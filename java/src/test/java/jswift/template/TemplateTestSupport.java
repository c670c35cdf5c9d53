package jswift.template;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import jswift.testing.Fixtures;
import jswift.tokenizer.Tokenizer;

/**
 * Shared test material: the real Qwen3 and Llama 3 tokenizers (loaded once; parsing an 11 MB tokenizer.json per
 * test would dominate the run), their chat templates, the fixture conversation and helpers that read encoded
 * rows back as text.
 */
final class TemplateTestSupport {
  static final ObjectMapper JSON = new ObjectMapper();
  /** A fixed "today" for the templates that print the date. */
  static final Clock CLOCK = Clock.fixed(Instant.parse("2024-07-05T12:00:00Z"), ZoneOffset.UTC);

  private static final Map<String, Tokenizer> TOKENIZERS = new ConcurrentHashMap<>();

  private TemplateTestSupport() {}

  static Tokenizer tokenizer(String name) {
    return TOKENIZERS.computeIfAbsent(name, n -> {
      try {
        return Tokenizer.load(Fixtures.fetchedTokenizer(n));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    });
  }

  static ChatTemplate chatTemplate(String name) {
    try {
      return ChatTemplate.load(Fixtures.resource("tokenizers/" + name));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static SwiftTemplate swift(String template, String tokenizer, TemplateOptions options) {
    return new SwiftTemplate(Templates.meta(template, CLOCK), tokenizer(tokenizer), options);
  }

  static SwiftTemplate swift(String template, String tokenizer) {
    return swift(template, tokenizer, TemplateOptions.DEFAULT);
  }

  /** The fixture conversation of fixtures/chat-templates/conversation.json (the HF goldens' input). */
  static Conversation fixtureConversation() {
    return Conversation.fromJson(fixtureRow());
  }

  static JsonNode fixtureRow() {
    try {
      JsonNode conv = JSON.readTree(Fixtures.resource("chat-templates/conversation.json").toFile());
      return JSON.createObjectNode().<com.fasterxml.jackson.databind.node.ObjectNode>set("messages", conv.get("messages"))
          .set("tools", conv.get("tools"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static Conversation row(String json) {
    try {
      return Conversation.fromJson(JSON.readTree(json));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The conversation with more messages at the end. */
  static Conversation plus(Conversation c, Message... more) {
    List<Message> m = new ArrayList<>(c.messages());
    m.addAll(List.of(more));
    return new Conversation(m, c.tools());
  }

  static String decode(Tokenizer t, int[] ids) {
    return t.decode(ids, false);
  }

  /** The labelled spans (maximal runs of labels != -100), each decoded. */
  static List<String> labelledSpans(Tokenizer t, Encoded e) {
    List<String> spans = new ArrayList<>();
    int[] labels = e.labels();
    int i = 0;
    while (i < labels.length) {
      if (labels[i] == Encoded.IGNORE) {
        i++;
        continue;
      }
      int j = i;
      while (j < labels.length && labels[j] != Encoded.IGNORE) j++;
      spans.add(t.decode(java.util.Arrays.copyOfRange(labels, i, j), false));
      i = j;
    }
    return spans;
  }
}
