package jswift.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import jswift.infer.GenerationConfig;
import jswift.infer.Generator;
import jswift.model.CausalLM;
import jswift.model.KvCache;
import jswift.tensor.Device;
import jswift.template.ChatTemplate;
import jswift.template.TemplateOptions;
import jswift.template.Templates;
import jswift.testing.Fixtures;
import jswift.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The OpenAI-compatible server end to end over HTTP, on the tiny chat model (llama-gqa weights, word-level
 * tokenizer, one-line chat template, max_position_embeddings 128) with its LoRA fixture served as a second model.
 * Every answer is checked against the generator run directly on the prompt the template text gives, with the
 * adapter set as the request asks.
 */
class OpenAiServerTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient CLIENT = HttpClient.newHttpClient();

  @TempDir static Path dir;
  static Path modelDir;
  static CausalLM lm;
  static Tokenizer tok;
  static OpenAiServer server;
  static StringWriter log = new StringWriter();
  static Path results;

  @BeforeAll
  static void start() throws IOException {
    modelDir = Fixtures.tinyChatModel(dir.resolve("tiny-chat"));
    lm = CausalLM.load(modelDir, Device.CPU);
    tok = Tokenizer.load(modelDir);
    ServedModel served = servedWithAdapter(lm, tok, modelDir, "tiny-chat");
    results = dir.resolve("results/deploy.jsonl");
    server = OpenAiServer.start(served,
        new OpenAiServer.Options("127.0.0.1", 0, null, "swift", 5, 8, true, 0, results, null), new PrintWriter(log, true));
  }

  @AfterAll
  static void stop() {
    if (server != null) server.close();
    if (tok != null) tok.close();
    if (lm != null) lm.close();
  }

  /**
   * The tiny chat model served under {@code baseName} and its LoRA fixture under "mine" (loaded here), greedy with
   * up to 16 new tokens by default, its context 128 tokens.
   */
  static ServedModel servedWithAdapter(CausalLM lm, Tokenizer tok, Path modelDir, String baseName) throws IOException {
    lm.loadAdapter("mine", Fixtures.llamaGqa().resolve("adapters/lora"));
    Map<String, String> names = new LinkedHashMap<>();
    names.put(baseName, null);
    names.put("mine", "mine");
    return new ServedModel(lm, tok,
        Templates.create(Templates.JINJA, tok, ChatTemplate.load(modelDir), TemplateOptions.DEFAULT),
        GenerationConfig.greedy(16, tok.eosTokenIds()), null, names, 128);
  }

  /** The greedy answer the generator gives for the template's text of one user turn, with an adapter or none. */
  private static String reference(String user, String adapter, int maxTokens) {
    lm.setActiveAdapter(adapter);
    try {
      int[] prompt = tok.encode("user : " + user + " </s> assistant : ");
      return tok.decode(Generator.generate(lm, prompt, GenerationConfig.greedy(maxTokens, tok.eosTokenIds())), true);
    } finally {
      lm.setActiveAdapter(null);
    }
  }

  private static HttpResponse<String> post(String path, String body, String... headers) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
        .POST(HttpRequest.BodyPublishers.ofString(body)).header("Content-Type", "application/json");
    for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
    return CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static HttpResponse<String> get(String path) throws Exception {
    return CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static String chatBody(String user, int maxTokens, String extra) {
    return "{\"messages\": [{\"role\": \"user\", \"content\": \"" + user + "\"}], \"max_tokens\": " + maxTokens
        + ", \"temperature\": 0" + (extra.isEmpty() ? "" : ", " + extra) + "}";
  }

  /** The data: payloads of a server-sent event stream, [DONE] included. */
  private static List<String> events(String body) {
    List<String> out = new ArrayList<>();
    for (String block : body.split("\n\n")) {
      if (block.isBlank()) continue;
      assertTrue(block.startsWith("data: "), "every event is a data line: " + block);
      out.add(block.substring("data: ".length()));
    }
    return out;
  }

  @Test
  void listsTheModelsAndAnswersHealthChecks() throws Exception {
    HttpResponse<String> models = get("/v1/models");
    assertEquals(200, models.statusCode());
    JsonNode data = JSON.readTree(models.body()).get("data");
    assertEquals(List.of("tiny-chat", "mine"), List.of(data.get(0).get("id").asText(), data.get(1).get("id").asText()));
    assertEquals("swift", data.get(0).get("owned_by").asText());
    assertEquals(200, get("/health").statusCode());
    assertEquals(200, post("/ping", "").statusCode());
  }

  @Test
  void chatAnswerIsTheGeneratorsGreedyAnswer() throws Exception {
    HttpResponse<String> r = post("/v1/chat/completions", chatBody("hello world", 6, "\"model\": \"tiny-chat\""));
    assertEquals(200, r.statusCode(), r.body());
    JsonNode j = JSON.readTree(r.body());
    assertEquals("chat.completion", j.get("object").asText());
    assertEquals("tiny-chat", j.get("model").asText());
    JsonNode choice = j.get("choices").get(0);
    assertEquals("assistant", choice.get("message").get("role").asText());
    String expected = reference("hello world", null, 6);
    assertFalse(expected.isBlank());
    assertEquals(expected, choice.get("message").get("content").asText());
    int promptTokens = tok.encode("user : hello world </s> assistant : ").length;
    JsonNode usage = j.get("usage");
    assertEquals(promptTokens, usage.get("prompt_tokens").asInt());
    int completion = usage.get("completion_tokens").asInt();
    assertTrue(completion >= 1 && completion <= 6, r.body());
    assertEquals(promptTokens + completion, usage.get("total_tokens").asInt());
    assertEquals(completion == 6 ? "length" : "stop", choice.get("finish_reason").asText(), r.body());
  }

  @Test
  void eachAdapterIsServedUnderItsName() throws Exception {
    for (String adapter : new String[] {"mine", null}) {
      String model = adapter == null ? "tiny-chat" : adapter;
      HttpResponse<String> r = post("/v1/chat/completions", chatBody("how are you", 8, "\"model\": \"" + model + "\""));
      assertEquals(200, r.statusCode(), r.body());
      assertEquals(reference("how are you", adapter, 8),
          JSON.readTree(r.body()).get("choices").get(0).get("message").get("content").asText(), model);
    }
    HttpResponse<String> unknown = post("/v1/chat/completions", chatBody("hi", 2, "\"model\": \"gpt-4\""));
    assertEquals(404, unknown.statusCode());
    JsonNode e = JSON.readTree(unknown.body()).get("error");
    assertEquals("model", e.get("param").asText());
    assertTrue(e.get("message").asText().contains("gpt-4") && e.get("message").asText().contains("mine"), unknown.body());
  }

  @Test
  void streamedPiecesAddUpToTheWholeAnswer() throws Exception {
    String whole = JSON.readTree(post("/v1/chat/completions", chatBody("hello world", 10, "")).body())
        .get("choices").get(0).get("message").get("content").asText();
    HttpResponse<String> r = post("/v1/chat/completions",
        chatBody("hello world", 10, "\"stream\": true, \"stream_options\": {\"include_usage\": true}"));
    assertEquals(200, r.statusCode());
    assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
    List<String> ev = events(r.body());
    assertEquals("[DONE]", ev.get(ev.size() - 1));
    StringBuilder text = new StringBuilder();
    String finish = null;
    for (int i = 0; i < ev.size() - 2; i++) {
      JsonNode c = JSON.readTree(ev.get(i));
      assertEquals("chat.completion.chunk", c.get("object").asText());
      JsonNode choice = c.get("choices").get(0), delta = choice.get("delta");
      if (i == 0) assertEquals("assistant", delta.get("role").asText());
      if (delta.has("content")) text.append(delta.get("content").asText());
      if (!choice.get("finish_reason").isNull()) finish = choice.get("finish_reason").asText();
    }
    assertTrue(ev.size() >= 4, "several chunks: " + ev);
    assertEquals(whole, text.toString());
    assertTrue(finish != null, "the last chunk has a finish_reason");
    JsonNode usage = JSON.readTree(ev.get(ev.size() - 2)).get("usage");
    assertEquals(tok.encode(whole).length + (finish.equals("stop") ? 1 : 0), usage.get("completion_tokens").asInt(),
        "completion tokens: the answer's words (+ the eos that stopped it)");
  }

  @Test
  void aStopStringEndsTheAnswerAndIsNeverShown() throws Exception {
    String whole = reference("hello world", null, 12);
    String[] words = whole.strip().split(" ");
    assertTrue(words.length >= 4, "the reference answer has words to stop at: " + whole);
    int at = 2;  // stop before the first word from the third on that has not come before
    while (at < words.length - 1 && List.of(words).subList(0, at).contains(words[at])) at++;
    String stop = " " + words[at];
    String expected = whole.substring(0, whole.indexOf(stop));
    String stops = "\"stop\": [\"" + stop + "\"]", body = chatBody("hello world", 12, stops);
    JsonNode j = JSON.readTree(post("/v1/chat/completions", body).body());
    assertEquals(expected, j.get("choices").get(0).get("message").get("content").asText());
    assertEquals("stop", j.get("choices").get(0).get("finish_reason").asText());
    String streamed = post("/v1/chat/completions", chatBody("hello world", 12, stops + ", \"stream\": true")).body();
    StringBuilder text = new StringBuilder();
    for (String e : events(streamed)) {
      if (e.equals("[DONE]")) continue;
      JsonNode d = JSON.readTree(e).get("choices").get(0).get("delta");
      if (d.has("content")) {
        text.append(d.get("content").asText());
        assertFalse(text.toString().contains(stop), "the stream showed the stop string: " + streamed);
      }
    }
    assertEquals(expected, text.toString());
  }

  @Test
  void logprobsAreTheModelsLogSoftmax() throws Exception {
    JsonNode j = JSON.readTree(post("/v1/chat/completions",
        chatBody("hello world", 3, "\"logprobs\": true, \"top_logprobs\": 3")).body());
    JsonNode content = j.get("choices").get(0).get("logprobs").get("content");
    assertTrue(content.size() >= 1);
    // The first token's distribution, computed here from a prefill of the prompt.
    int[] prompt = tok.encode("user : hello world </s> assistant : ");
    float[] logits;
    try (KvCache cache = lm.newCache(1, prompt.length + 1)) {
      int[] pos = new int[prompt.length], real = new int[prompt.length];
      for (int i = 0; i < pos.length; i++) {
        pos[i] = i;
        real[i] = 1;
      }
      logits = lm.forwardCached(cache, prompt, prompt.length, pos, real)[0];
    }
    double max = Double.NEGATIVE_INFINITY, sum = 0;
    for (float v : logits) max = Math.max(max, v);
    for (float v : logits) sum += Math.exp(v - max);
    double logSum = max + Math.log(sum);
    JsonNode first = content.get(0);
    int best = 0;
    for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    assertEquals(tok.decode(new int[] {best}, false), first.get("token").asText(), "greedy picks the most likely token");
    assertEquals(logits[best] - logSum, first.get("logprob").asDouble(), 1e-5);
    ArrayNode top = (ArrayNode) first.get("top_logprobs");
    assertEquals(3, top.size());
    assertEquals(first.get("logprob").asDouble(), top.get(0).get("logprob").asDouble(), 0);
    for (int i = 1; i < 3; i++) assertTrue(top.get(i).get("logprob").asDouble() <= top.get(i - 1).get("logprob").asDouble());
    HttpResponse<String> tooMany = post("/v1/chat/completions", chatBody("hi", 2, "\"logprobs\": true, \"top_logprobs\": 6"));
    assertEquals(400, tooMany.statusCode(), "max_logprobs is 5 here");
  }

  @Test
  void completionsAnswerThePromptAsAUserTurn() throws Exception {
    HttpResponse<String> r = post("/v1/completions", "{\"prompt\": \"hello world\", \"max_tokens\": 6, \"temperature\": 0, "
        + "\"logprobs\": 2}");
    assertEquals(200, r.statusCode(), r.body());
    JsonNode j = JSON.readTree(r.body());
    assertEquals("text_completion", j.get("object").asText());
    JsonNode choice = j.get("choices").get(0);
    assertEquals(reference("hello world", null, 6), choice.get("text").asText());
    assertEquals(choice.get("logprobs").get("tokens").size(), j.get("usage").get("completion_tokens").asInt());
    assertEquals(2, choice.get("logprobs").get("top_logprobs").get(0).size());
  }

  @Test
  void nAnswersAreSampledWithTheirOwnSeeds() throws Exception {
    String body = "{\"messages\": [{\"role\": \"user\", \"content\": \"hello\"}], \"max_tokens\": 8, \"n\": 3, "
        + "\"temperature\": 1.5, \"seed\": 7}";
    JsonNode a = JSON.readTree(post("/v1/chat/completions", body).body()), b = JSON.readTree(post("/v1/chat/completions", body).body());
    assertEquals(3, a.get("choices").size());
    assertEquals(a.get("choices"), b.get("choices"), "a seed repeats the answers");
    List<String> texts = new ArrayList<>();
    for (JsonNode c : a.get("choices")) texts.add(c.get("message").get("content").asText());
    assertTrue(texts.stream().distinct().count() > 1, "three samples at temperature 1.5 differ: " + texts);
  }

  @Test
  void badRequestsGetAClearErrorAndChangeNothing() throws Exception {
    String[][] cases = {
        {"{\"messages\": [", "400", "not valid JSON"},
        {"[1, 2]", "400", "JSON object"},
        {"{\"model\": \"tiny-chat\"}", "400", "'messages'"},
        {chatBody("hi", 2, "").replace("\"temperature\": 0", "\"temperature\": \"hot\""), "400", "'temperature' must be a number"},
        {chatBody("hi", 2, "\"presence_penalty\": 0.5"), "400", "presence_penalty"},
        {chatBody("hi", 0, ""), "400", "'max_tokens'"},
        {chatBody("hi", 2, "\"n\": 99"), "400", "'n'"},
        {chatBody("hi", 2, "\"stop\": [\"\"]"), "400", "'stop'"},
        {"{\"messages\": [{\"role\": \"wizard\", \"content\": \"hi\"}]}", "400", "unknown role 'wizard'"},
        {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"x\"}}]}]}",
            "400", "text only"},
        {chatBody("w25 ".repeat(130), 2, ""), "400", "maximum context length is 128"},
        {chatBody("hello", 125, ""), "400", "max_tokens can be at most"},
    };
    for (String[] c : cases) {
      HttpResponse<String> r = post("/v1/chat/completions", c[0]);
      assertEquals(Integer.parseInt(c[1]), r.statusCode(), c[0] + " -> " + r.body());
      String message = JSON.readTree(r.body()).get("error").get("message").asText();
      assertTrue(message.contains(c[2]), c[0] + " -> " + message);
    }
    assertEquals(404, post("/v1/audio/speech", "{}").statusCode());
    assertEquals(404, get("/").statusCode(), "deploy serves no page");
    assertEquals(405, get("/v1/chat/completions").statusCode());
    HttpResponse<String> huge = post("/v1/chat/completions", "{\"messages\": \"" + "x".repeat(OpenAiServer.MAX_BODY_BYTES) + "\"}");
    assertEquals(413, huge.statusCode());
    // The server still answers, and content parts of type text are joined.
    HttpResponse<String> ok = post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": "
        + "[{\"type\": \"text\", \"text\": \"hello \"}, {\"type\": \"text\", \"text\": \"world\"}]}], \"max_tokens\": 6, \"temperature\": 0}");
    assertEquals(reference("hello world", null, 6),
        JSON.readTree(ok.body()).get("choices").get(0).get("message").get("content").asText());
  }

  @Test
  void concurrentRequestsAreAnsweredInTurn() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Future<HttpResponse<String>>> futures = new ArrayList<>();
      String[] users = {"hello world", "how are you", "hello", "are you"};
      for (String u : users) futures.add(pool.submit(() -> post("/v1/chat/completions", chatBody(u, 8, ""))));
      for (int i = 0; i < users.length; i++) {
        HttpResponse<String> r = futures.get(i).get();
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(reference(users[i], null, 8),
            JSON.readTree(r.body()).get("choices").get(0).get("message").get("content").asText(), users[i]);
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void aClientThatLeavesMidStreamDoesNotStopTheServer() throws Exception {
    String body = chatBody("hello world", 100, "\"stream\": true");
    try (Socket s = new Socket("127.0.0.1", server.port())) {
      OutputStream out = s.getOutputStream();
      out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
          + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
      out.flush();
      InputStream in = s.getInputStream();
      byte[] first = new byte[64];
      assertTrue(in.read(first) > 0, "the stream started");
    }  // closed after the first bytes
    HttpResponse<String> r = post("/v1/chat/completions", chatBody("hello world", 6, ""));
    assertEquals(200, r.statusCode());
    assertEquals(reference("hello world", null, 6),
        JSON.readTree(r.body()).get("choices").get(0).get("message").get("content").asText());
  }

  @Test
  void finishedRequestsAreLoggedAndAppendedToTheResultPath() throws Exception {
    post("/v1/chat/completions", chatBody("are you", 4, "\"model\": \"mine\""));
    List<String> lines = Files.readAllLines(results);
    JsonNode last = JSON.readTree(lines.get(lines.size() - 1));
    assertEquals("are you", last.get("request").get("messages").get(0).get("content").asText());
    assertEquals("mine", last.get("response").get("model").asText());
    assertTrue(last.get("id").asText().startsWith("chatcmpl-"));
    assertTrue(log.toString().contains("prompt +"), log.toString());
  }

  @Test
  void anApiKeyGuardsTheV1Routes(@TempDir Path tmp) throws Exception {
    ServedModel served = new ServedModel(lm, tok,
        Templates.create(Templates.JINJA, tok, ChatTemplate.load(modelDir), TemplateOptions.DEFAULT),
        GenerationConfig.greedy(4, tok.eosTokenIds()), null, Collections.singletonMap("tiny", null), 128);
    try (OpenAiServer guarded = OpenAiServer.start(served,
        new OpenAiServer.Options("127.0.0.1", 0, "s3cret", "swift", 5, 1, false, 0, null, "Chat <test>"), new PrintWriter(new StringWriter()))) {
      URI models = URI.create("http://127.0.0.1:" + guarded.port() + "/v1/models");
      HttpResponse<String> none = CLIENT.send(HttpRequest.newBuilder(models).GET().build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(401, none.statusCode());
      assertTrue(none.body().contains("API key"), none.body());
      HttpResponse<String> wrong = CLIENT.send(HttpRequest.newBuilder(models).header("Authorization", "Bearer nope").GET().build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(401, wrong.statusCode());
      HttpResponse<String> right = CLIENT.send(HttpRequest.newBuilder(models).header("Authorization", "Bearer s3cret").GET().build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(200, right.statusCode());
      HttpResponse<String> health = CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + guarded.port() + "/health"))
          .GET().build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(200, health.statusCode(), "health checks need no key");
      HttpResponse<String> page = CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + guarded.port() + "/"))
          .GET().build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(200, page.statusCode(), "the chat page needs no key (it asks for one)");
      assertTrue(page.headers().firstValue("Content-Type").orElse("").startsWith("text/html"));
      assertTrue(page.body().contains("<title>Chat &lt;test&gt;</title>") && page.body().contains("v1/chat/completions")
          && page.body().contains("id=\"key\""), page.body());
    }
  }


  /**
   * /v1/embeddings: each input's final hidden state at its last token (the end-of-sequence token appended), from
   * the model run directly, L2-normalized; dimensions keep the leading components, renormalized; base64 holds the
   * same floats; token ids embed like their text; a named adapter changes the vectors; bad inputs are 400s.
   */
  @Test
  void embeddingsAreTheNormalizedLastHiddenStates() throws Exception {
    HttpResponse<String> r = post("/v1/embeddings", "{\"input\": [\"hello world\", \"good morning to you\"]}");
    assertEquals(200, r.statusCode(), r.body());
    JsonNode body = JSON.readTree(r.body());
    assertEquals("list", body.get("object").asText());
    assertEquals("tiny-chat", body.get("model").asText());
    int eos = lm.config().eosTokenIds().get(0);
    int tokens = 0;
    for (int i = 0; i < 2; i++) {
      String text = i == 0 ? "hello world" : "good morning to you";
      int[] ids = tok.encode(text, true);
      int[] withEos = java.util.Arrays.copyOf(ids, ids.length + 1);
      withEos[ids.length] = eos;
      tokens += withEos.length;
      float[] last = lm.lastHiddenStates(jswift.model.Batch.packed(List.of(withEos), null))[0];
      double norm = 0;
      for (float x : last) norm += x * (double) x;
      JsonNode v = body.get("data").get(i).get("embedding");
      assertEquals(i, body.get("data").get(i).get("index").asInt());
      assertEquals(last.length, v.size());
      for (int j = 0; j < last.length; j++) assertEquals(last[j] / Math.sqrt(norm), v.get(j).asDouble(), 1e-6, "x" + j);
    }
    assertEquals(tokens, body.get("usage").get("prompt_tokens").asInt());

    JsonNode small = JSON.readTree(post("/v1/embeddings", "{\"input\": \"hello world\", \"dimensions\": 8, "
        + "\"encoding_format\": \"base64\"}").body()).get("data").get(0).get("embedding");
    java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(java.util.Base64.getDecoder().decode(small.asText()))
        .order(java.nio.ByteOrder.LITTLE_ENDIAN);
    float[] first = new float[8];
    double n8 = 0;
    for (int j = 0; j < 8; j++) n8 += Math.pow(body.get("data").get(0).get("embedding").get(j).asDouble(), 2);
    for (int j = 0; j < 8; j++) {
      first[j] = b.getFloat();
      assertEquals(body.get("data").get(0).get("embedding").get(j).asDouble() / Math.sqrt(n8), first[j], 1e-6);
    }
    assertFalse(b.hasRemaining());

    ArrayNode ids = JSON.createArrayNode();
    for (int id : tok.encode("hello world", true)) ids.add(id);
    JsonNode byIds = JSON.readTree(post("/v1/embeddings", "{\"input\": " + ids + "}").body());
    assertEquals(body.get("data").get(0).get("embedding"), byIds.get("data").get(0).get("embedding"));
    JsonNode adapted = JSON.readTree(post("/v1/embeddings", "{\"input\": \"hello world\", \"model\": \"mine\"}")
        .body());
    assertFalse(adapted.get("data").get(0).get("embedding").equals(body.get("data").get(0).get("embedding")),
        "the adapter changes the hidden states");

    String[][] bad = {
        {"{}", "'input'"},
        {"{\"input\": []}", "'input'"},
        {"{\"input\": [\"\"]}", "empty string"},
        {"{\"input\": \"hi\", \"dimensions\": 100000}", "'dimensions' is 100000"},
        {"{\"input\": \"hi\", \"encoding_format\": \"int8\"}", "encoding_format"},
        {"{\"input\": [999999]}", "beyond the vocabulary"},
        {"{\"input\": \"" + "w25 ".repeat(130) + "\"}", "maximum context length of 128"},
    };
    for (String[] c : bad) {
      HttpResponse<String> e = post("/v1/embeddings", c[0]);
      assertEquals(400, e.statusCode(), c[0] + " -> " + e.body());
      assertTrue(JSON.readTree(e.body()).get("error").get("message").asText().contains(c[1]), c[0] + " -> " + e.body());
    }
    assertEquals(404, post("/v1/embeddings", "{\"input\": \"hi\", \"model\": \"nope\"}").statusCode());
    assertEquals(405, get("/v1/embeddings").statusCode());
  }
}
