package jswift.data;

import static jswift.data.DataTesting.assertRow;
import static jswift.data.DataTesting.infer;
import static jswift.data.DataTesting.train;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;
import org.junit.jupiter.api.Test;
import jswift.template.Message;
import jswift.template.Role;

/**
 * Conversation rows against what ms-swift's MessagesPreprocessor + _check_messages produce for them, worked out
 * by hand from its rules (swift/llm/dataset/preprocessor/core.py): key aliases, role aliases, where the system
 * prompt comes from, the ShareGPT pair form, and the keys that are dropped.
 */
class MessagesConversionTest {
  @Test
  void standardRowPassesThroughWithLossAndToolRoles() {
    Row row = train("{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
        + "{\"role\":\"user\",\"content\":\"Time in Oslo?\"},"
        + "{\"role\":\"tool_call\",\"content\":\"{\\\"name\\\":\\\"t\\\"}\"},"
        + "{\"role\":\"tool\",\"content\":\"14:05\"},"
        + "{\"role\":\"assistant\",\"content\":\"It is 14:05.\",\"loss\":true},"
        + "{\"role\":\"user\",\"content\":\"Thanks\"},"
        + "{\"role\":\"assistant\",\"content\":\"You're welcome.\",\"loss\":false}]}");
    // "tool" is ms-swift's other name for tool_response
    assertRow("{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
        + "{\"role\":\"user\",\"content\":\"Time in Oslo?\"},"
        + "{\"role\":\"tool_call\",\"content\":\"{\\\"name\\\":\\\"t\\\"}\"},"
        + "{\"role\":\"tool_response\",\"content\":\"14:05\"},"
        + "{\"role\":\"assistant\",\"content\":\"It is 14:05.\",\"loss\":true},"
        + "{\"role\":\"user\",\"content\":\"Thanks\"},"
        + "{\"role\":\"assistant\",\"content\":\"You're welcome.\",\"loss\":false}]}", row);
    assertEquals("Be brief.", row.system());
    assertEquals(Role.TOOL_RESPONSE, row.messages().get(3).role());
    assertEquals(0.0, row.messages().get(6).loss());
    assertNull(row.messages().get(1).loss());
  }

  @Test
  void shareGptConversationsWithFromValueAndSystemField() {
    // conversations -> messages; from/value -> role/content; human/gpt -> user/assistant; the row's system
    // field becomes a leading system message because the list has none
    Row row = train("{\"system\":\"You are kind.\",\"conversations\":[{\"from\":\"human\",\"value\":\"hi\"},"
        + "{\"from\":\"gpt\",\"value\":\"hello\"},{\"from\":\"human\",\"value\":\"bye\"},{\"from\":\"bot\","
        + "\"value\":\"ciao\"}],\"id\":\"x1\"}");
    assertRow("{\"messages\":[{\"role\":\"system\",\"content\":\"You are kind.\"},{\"role\":\"user\",\"content\":\"hi\"},"
        + "{\"role\":\"assistant\",\"content\":\"hello\"},{\"role\":\"user\",\"content\":\"bye\"},"
        + "{\"role\":\"assistant\",\"content\":\"ciao\"}],\"id\":\"x1\"}", row);
  }

  @Test
  void leadingSystemMessageWinsOverTheSystemField() {
    // ms-swift pops the system field in both cases and only inserts it when messages[0] is not a system turn
    Row row = train("{\"system_prompt\":\"ignored\",\"messages\":[{\"role\":\"system\",\"content\":\"kept\"},"
        + "{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]}");
    assertRow("{\"messages\":[{\"role\":\"system\",\"content\":\"kept\"},{\"role\":\"user\",\"content\":\"q\"},"
        + "{\"role\":\"assistant\",\"content\":\"a\"}]}", row);
  }

  @Test
  void functionCallAndObservationRoles() {
    Row row = train("{\"conversation\":[{\"from\":\"user\",\"value\":\"weather?\"},"
        + "{\"from\":\"function_call\",\"value\":\"{}\"},{\"from\":\"observation\",\"value\":\"sunny\"},"
        + "{\"from\":\"function-response\",\"value\":\"warm\"},{\"from\":\"assistant\",\"value\":\"Sunny and warm.\"}]}");
    // "function-response": ms-swift replaces '-' with '_' before matching the tool roles
    assertEquals(List.of(Role.USER, Role.TOOL_CALL, Role.TOOL_RESPONSE, Role.TOOL_RESPONSE, Role.ASSISTANT),
        row.messages().stream().map(Message::role).toList());
  }

  @Test
  void shareGptPairFormExpandsToAlternatingTurns() {
    Row row = train("{\"system\":\"Be terse.\",\"conversation\":[{\"human\":\"hi\",\"assistant\":\"hello\"},"
        + "{\"human\":\"bye\",\"assistant\":\"ciao\"}]}");
    assertRow("{\"messages\":[{\"role\":\"system\",\"content\":\"Be terse.\"},{\"role\":\"user\",\"content\":\"hi\"},"
        + "{\"role\":\"assistant\",\"content\":\"hello\"},{\"role\":\"user\",\"content\":\"bye\"},"
        + "{\"role\":\"assistant\",\"content\":\"ciao\"}]}", row);
    Row gpt = train("{\"conversations\":[{\"user\":\"2+2?\",\"gpt\":\"4\"}]}");
    assertRow("{\"messages\":[{\"role\":\"user\",\"content\":\"2+2?\"},{\"role\":\"assistant\",\"content\":\"4\"}]}", gpt);
  }

  @Test
  void messagesAsPythonOrJsonTextAreRead() {
    // ms-swift's default_repair_messages runs ast.literal_eval on a string column (a CSV cell, say)
    Row py = train("{\"messages\":\"[{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': \\\"it's me\\\"}]\"}");
    assertRow("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"it's me\"}]}", py);
    Row json = train("{\"messages\":\"[{\\\"role\\\": \\\"user\\\", \\\"content\\\": \\\"hi\\\", \\\"loss\\\": null},"
        + "{\\\"role\\\": \\\"assistant\\\", \\\"content\\\": \\\"yo\\\", \\\"loss\\\": true}]\"}");
    assertRow("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"yo\",\"loss\":true}]}",
        json);
  }

  @Test
  void messageKeysOtherThanRoleContentLossAreDropped() {
    // _check_messages keeps role, content, loss (the fix for swift/SlimOrca's extra "weight" key)
    Row row = train("{\"messages\":[{\"role\":\"user\",\"content\":\"q\",\"name\":\"bob\"},"
        + "{\"role\":\"assistant\",\"content\":\"a\",\"weight\":1,\"loss\":1}]}");
    assertRow("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\",\"loss\":true}]}",
        row);
  }

  @Test
  void preferenceKtoToolsAndMediaFieldsAreKept() {
    Row dpo = train("{\"messages\":[{\"role\":\"user\",\"content\":\"Write a haiku.\"},"
        + "{\"role\":\"assistant\",\"content\":\"Soft rain...\"}],\"rejected_response\":\"Rain is wet.\"}");
    assertEquals("Rain is wet.", dpo.rejectedResponse());

    Row rejected = train("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"good\"}],"
        + "\"rejected_messages\":[{\"from\":\"human\",\"value\":\"q\"},{\"from\":\"gpt\",\"value\":\"bad\"}]}");
    assertEquals(List.of(new Message(Role.USER, "q"), new Message(Role.ASSISTANT, "bad")), rejected.rejectedMessages());

    Row kto = train("{\"messages\":[{\"role\":\"user\",\"content\":\"2+2?\"},{\"role\":\"assistant\",\"content\":\"5\"}],"
        + "\"label\":false}");
    assertEquals(false, kto.label().booleanValue());

    String fn = "{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}";
    Row toolsText = train("{\"tools\":\"[" + fn.replace("\"", "\\\"") + "]\",\"messages\":[{\"role\":\"user\",\"content\":\"t?\"},"
        + "{\"role\":\"assistant\",\"content\":\"noon\"}]}");
    Row toolsList = train("{\"tools\":[" + fn + "],\"messages\":[{\"role\":\"user\",\"content\":\"t?\"},"
        + "{\"role\":\"assistant\",\"content\":\"noon\"}]}");
    assertEquals(List.of(DataTesting.tree(fn)), toolsText.tools());
    assertEquals(toolsText.tools(), toolsList.tools());
    // written back in the documented form: a JSON string
    assertEquals(DataTesting.tree("[" + fn + "]"), DataTesting.tree(toolsList.toJson().get("tools").asText()));

    // "image" is read as "images", and one path becomes a list of one
    Row mm = train("{\"messages\":[{\"role\":\"user\",\"content\":\"<image>What is it?\"},"
        + "{\"role\":\"assistant\",\"content\":\"A cat.\"}],\"image\":\"/data/cat.jpg\",\"videos\":[{\"path\":\"v.mp4\"}]}");
    assertEquals(List.of("/data/cat.jpg"), mm.images());
    assertEquals(List.of("v.mp4"), mm.videos());
  }

  @Test
  void extraFieldsAreKeptInOrder() {
    Row grpo = infer("{\"messages\":[{\"role\":\"user\",\"content\":\"Solve 3*7.\"}],\"solution\":\"21\",\"level\":3}");
    assertRow("{\"messages\":[{\"role\":\"user\",\"content\":\"Solve 3*7.\"}],\"solution\":\"21\",\"level\":3}", grpo);
    assertEquals(List.of("solution", "level"), List.copyOf(grpo.extras().keySet()));
  }
}
