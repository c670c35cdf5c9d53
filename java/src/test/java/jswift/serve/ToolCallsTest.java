package jswift.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import jswift.infer.ChatCompletion;
import jswift.infer.GenerationConfig;
import jswift.model.CausalLM;
import jswift.tensor.Device;
import jswift.template.AgentTemplate;
import jswift.template.TemplateOptions;
import jswift.template.Templates;
import jswift.testing.Fixtures;
import jswift.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An answer that calls tools comes back as OpenAI's tool_calls when the request gave tools: read by the template's
 * agent format (qwen2_5: hermes), the text before the calls as content, finish reason tool_calls. The answer is
 * given here, as a model that has learned to call tools would write it.
 */
class ToolCallsTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String TOOLS = "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_time\", "
      + "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}}}}]";

  @Test
  void answersWithCallsBecomeToolCalls(@TempDir Path dir) throws Exception {
    Path modelDir = Fixtures.tinyChatModel(dir.resolve("m"));
    try (CausalLM lm = CausalLM.load(modelDir, Device.CPU);
        Tokenizer qwen = Tokenizer.load(Fixtures.fetchedTokenizer("qwen3"))) {
      ServedModel served = new ServedModel(lm, qwen, Templates.create("qwen2_5", qwen, TemplateOptions.DEFAULT),
          GenerationConfig.greedy(16, qwen.eosTokenIds()), null, Collections.singletonMap("m", null), 4096);
      ChatRequest withTools = ChatRequest.chat(JSON.readTree("{\"messages\": [{\"role\": \"user\", \"content\": "
          + "\"What time is it in Rome?\"}], " + TOOLS + "}"), 5);
      String prompt = qwen.decode(served.prepare(withTools).prompt().inputIds(), false);
      assertTrue(prompt.contains("<tools>") && prompt.contains("get_time"), "the tools are in the prompt: " + prompt);
      ChatCompletion.Result answers = new ChatCompletion.Result(20, List.of(
          new ChatCompletion.Choice("Let me check.\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"city\": \"Rome\"}}\n"
              + "</tool_call>", new int[7], ChatCompletion.FinishReason.STOP),
          new ChatCompletion.Choice("It is noon.", new int[3], ChatCompletion.FinishReason.STOP)));
      List<AgentTemplate.Reply> replies = served.toolCalls(withTools, answers);
      JsonNode j = new Responses(true, "chatcmpl-x", 1, "m", qwen).complete(answers, null, replies);
      JsonNode call = j.get("choices").get(0);
      assertEquals("tool_calls", call.get("finish_reason").asText());
      assertEquals("Let me check.", call.get("message").get("content").asText());
      JsonNode tc = call.get("message").get("tool_calls").get(0);
      assertEquals("function", tc.get("type").asText());
      assertTrue(tc.get("id").asText().startsWith("call_"));
      assertEquals("get_time", tc.get("function").get("name").asText());
      assertEquals(JSON.readTree("{\"city\": \"Rome\"}"), JSON.readTree(tc.get("function").get("arguments").asText()),
          "arguments are a JSON string, as in OpenAI's API");
      JsonNode text = j.get("choices").get(1);
      assertEquals("stop", text.get("finish_reason").asText());
      assertEquals("It is noon.", text.get("message").get("content").asText());
      assertTrue(text.get("message").get("tool_calls") == null);
      assertEquals(10, j.get("usage").get("completion_tokens").asInt());
      // Without tools in the request, an answer's text is never read as calls.
      ChatRequest plain = ChatRequest.chat(JSON.readTree("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}"), 5);
      assertNull(served.toolCalls(plain, answers));
    }
  }
}
