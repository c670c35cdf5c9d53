package jswift.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import jswift.testing.Fixtures;
import jswift.testing.RunningServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** `jswift deploy` as a user runs it: flags, the printed address, a request, the port fallback and bad flags. */
class DeployCommandTest {
  @Test
  void servesTheModelAndItsNamedAdapterUntilStopped(@TempDir Path dir) throws Exception {
    Path model = Fixtures.tinyChatModel(dir.resolve("tiny-chat"));
    RunningServer r = new RunningServer("deploy", "--model", model.toString(), "--device", "cpu", "--host", "127.0.0.1", "--port",
        "0", "--adapters", "mine=" + Fixtures.llamaGqa().resolve("adapters/lora"), "--template", "jinja",
        "--served_model_name", "tiny", "--log_interval", "0");
    try (r) {
      int port = r.port();
      HttpClient client = HttpClient.newHttpClient();
      HttpResponse<String> models = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/models"))
          .GET().build(), HttpResponse.BodyHandlers.ofString());
      JsonNode data = new ObjectMapper().readTree(models.body()).get("data");
      assertEquals("tiny", data.get(0).get("id").asText());
      assertEquals("mine", data.get(1).get("id").asText());
      HttpResponse<String> chat = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
          + "/v1/chat/completions")).POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"mine\", \"messages\": "
          + "[{\"role\": \"user\", \"content\": \"hello\"}], \"max_tokens\": 3}")).build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(200, chat.statusCode(), chat.body());
    }
    assertEquals(0, r.code.get(), r.out.toString());
    assertTrue(r.out.toString().contains("jswift deploy: stopped"), r.out.toString());
    assertTrue(r.out.toString().contains("chat: "), "the request was logged (verbose is the default): " + r.out);
  }

  @Test
  void aTakenPortMovesToTheNextFreeOne(@TempDir Path dir) throws Exception {
    Path model = Fixtures.tinyChatModel(dir.resolve("m"));
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      int port = taken.getLocalPort();
      RunningServer r = new RunningServer("deploy", "--model", model.toString(), "--device", "cpu", "--host", "127.0.0.1",
          "--port", String.valueOf(port), "--log_interval", "0", "--template", "jinja");
      try (r) {
        int actual = r.port();
        assertTrue(actual > port, "moved past the taken port " + port + ": " + actual);
        assertTrue(r.out.toString().contains("port " + port + " is taken"), r.out.toString());
      }
    }
  }

  @Test
  void badFlagsAreClearErrors(@TempDir Path dir) throws Exception {
    Path model = Fixtures.tinyChatModel(dir.resolve("m"));
    String lora = Fixtures.llamaGqa().resolve("adapters/lora").toString();
    String[][] cases = {
        {"only one adapter can be served without a name", "--adapters", lora, Fixtures.llamaGqa().resolve("adapters/rslora").toString()},
        {"is used twice", "--adapters", "a=" + lora, "a=" + lora},
        {"--port must be in [0, 65535]", "--port", "70000"},
        {"--max_length must be >= 2", "--max_length", "1"},
    };
    for (String[] c : cases) {
      java.util.List<String> list = new java.util.ArrayList<>(java.util.List.of("deploy", "--model", model.toString(),
          "--device", "cpu", "--log_interval", "0"));
      list.addAll(java.util.Arrays.asList(c).subList(1, c.length));
      String[] args = list.toArray(String[]::new);
      java.io.StringWriter out = new java.io.StringWriter();
      CommandLine cli = Main.commandLine();
      cli.setOut(new java.io.PrintWriter(out, true));
      cli.setErr(new java.io.PrintWriter(out, true));
      int code = cli.execute(args);
      assertEquals(2, code, String.join(" ", args) + "\n" + out);
      assertTrue(out.toString().contains(c[0]), out.toString());
    }
  }

  @Test
  void appIsDeployWithAChatPageOnPort7860(@TempDir Path dir) throws Exception {
    AppCommand defaults = new AppCommand();
    new CommandLine(defaults).parseArgs("--model", "m");
    assertEquals(7860, defaults.port);
    Path model = Fixtures.tinyChatModel(dir.resolve("tiny"));
    RunningServer r = new RunningServer("app", "--model", model.toString(), "--device", "cpu", "--host", "127.0.0.1", "--port", "0",
        "--template", "jinja", "--log_interval", "0");
    try (r) {
      int port = r.port();
      HttpResponse<String> page = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
          + port + "/")).GET().build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(200, page.statusCode());
      assertTrue(page.body().contains("<title>jswift: tiny</title>"), page.body());
      assertTrue(r.out.toString().contains("open http://127.0.0.1:" + port + "/ in a browser"), r.out.toString());
    }
  }
}
