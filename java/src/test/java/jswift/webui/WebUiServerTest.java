package jswift.webui;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import jswift.cli.QuickStart;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `jswift web-ui`'s server end to end: the page, a real training run started as a child JVM and followed to its end
 * (console, metrics), the refusals (bad flags, a second run while one trains, unknown runs), and a run stopped.
 */
class WebUiServerTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path MODEL = Path.of(System.getProperty("user.dir")).getParent().resolve(QuickStart.MODEL);
  private final HttpClient http = HttpClient.newHttpClient();

  private record Answer(int status, String body) {
    JsonNode json() throws Exception {
      return JSON.readTree(body);
    }
  }

  private Answer get(String url) throws Exception {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).GET().build(),
        HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    return new Answer(r.statusCode(), r.body());
  }

  private Answer post(String url, String body) throws Exception {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url))
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    return new Answer(r.statusCode(), r.body());
  }

  private static String sft(Path out, int steps) throws Exception {
    List<String> args = new ArrayList<>(List.of("--model", MODEL.toString(), "--dataset", "swift/self-cognition#8",
        "--model_name", "jswift-bot", "--model_author", "the jswift team", "--max_steps", Integer.toString(steps),
        "--logging_steps", "1", "--save_steps", "1000", "--output_dir", out.toString(), "--device", "cpu"));
    return JSON.writeValueAsString(Map.of("command", "sft", "args", args));
  }

  private JsonNode waitWhileRunning(String base, int id) throws Exception {
    long deadline = System.nanoTime() + 180_000_000_000L;
    while (System.nanoTime() < deadline) {
      JsonNode run = get(base + "/api/runs/" + id).json();
      if (!run.get("status").asText().equals("running")) return run;
      Thread.sleep(200);
    }
    throw new AssertionError("run " + id + " still running after 180 s");
  }

  @Test
  void startsFollowsAndStopsRuns(@TempDir Path dir) throws Exception {
    ObjectNode defaults = JSON.createObjectNode().put("model", "/models/</script>tiny");
    try (WebUiServer ui = new WebUiServer("127.0.0.1", 0, dir.resolve("logs"), defaults, "jswift <web-ui>")) {
      String base = "http://127.0.0.1:" + ui.port();
      Answer page = get(base + "/");
      assertEquals(200, page.status());
      assertTrue(page.body().contains("New run") && page.body().contains("jswift &lt;web-ui&gt;"), "the page, its title escaped");
      assertTrue(page.body().contains("/models/<\\/script>tiny") && !page.body().contains("{{"), "defaults filled in safely");

      Answer started = post(base + "/api/runs", sft(dir.resolve("out"), 3));
      assertEquals(201, started.status(), started.body());
      int id = started.json().get("id").asInt();
      Answer busy = post(base + "/api/runs", sft(dir.resolve("out"), 3));
      assertEquals(409, busy.status(), "one run at a time: " + busy.body());
      JsonNode done = waitWhileRunning(base, id);
      assertEquals("finished", done.get("status").asText(), done.toString());
      assertEquals(0, done.get("exit_code").asInt());
      assertTrue(done.get("run_folder").asText().startsWith(dir.resolve("out").toString()), done.toString());
      JsonNode console = get(base + "/api/runs/" + id + "/console?from=0").json();
      assertTrue(console.get("text").asText().contains("done: 3 steps"), console.toString());
      long end = console.get("next").asLong();
      assertEquals("", get(base + "/api/runs/" + id + "/console?from=" + end).json().get("text").asText());
      JsonNode records = get(base + "/api/runs/" + id + "/metrics").json().get("records");
      long steps = 0;
      for (JsonNode r : records) if (r.has("loss")) steps++;
      assertEquals(3, steps, records.toString());

      Answer bad = post(base + "/api/runs", "{\"command\": \"sft\", \"args\": [\"--no_such_flag\"]}");
      assertEquals(400, bad.status());
      assertTrue(bad.json().get("error").asText().contains("--no_such_flag"), bad.body());
      assertEquals(400, post(base + "/api/runs", "{\"command\": \"export\", \"args\": []}").status());
      assertEquals(400, post(base + "/api/runs", "not json").status());
      assertEquals(404, get(base + "/api/runs/99").status());
      assertEquals(400, get(base + "/api/runs/" + id + "/console?from=x").status());
      assertEquals(405, post(base + "/api/runs/" + id + "/console", "").status());

      Answer longRun = post(base + "/api/runs", sft(dir.resolve("out2"), 100_000));
      assertEquals(201, longRun.status(), longRun.body());
      int second = longRun.json().get("id").asInt();
      long deadline = System.nanoTime() + 120_000_000_000L;
      while (!get(base + "/api/runs/" + second + "/console?from=0").body().contains("step 1/") && System.nanoTime() < deadline)
        Thread.sleep(200);
      assertEquals(200, post(base + "/api/runs/" + second + "/stop", "").status());
      JsonNode stopped = waitWhileRunning(base, second);
      assertEquals("stopped", stopped.get("status").asText(), stopped.toString());
      JsonNode list = get(base + "/api/runs").json();
      assertEquals(2, list.size());
      assertFalse(list.get(0).get("args").isEmpty());
    }
  }

  @Test
  void consoleChunksEndOnWholeCharacters() {
    byte[] b = "ab\u00e9\u4e2d".getBytes(StandardCharsets.UTF_8);  // a, b, 2-byte e-acute, 3-byte CJK
    assertEquals(b.length, TrainingRun.wholeCharacters(b, b.length));
    assertEquals(4, TrainingRun.wholeCharacters(b, 5), "inside the CJK character: cut before it");
    assertEquals(4, TrainingRun.wholeCharacters(b, 6));
    assertEquals(2, TrainingRun.wholeCharacters(b, 3), "inside the e-acute");
  }
}
