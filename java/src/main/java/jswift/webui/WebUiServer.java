package jswift.webui;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * {@code jswift web-ui}'s HTTP server: the page at {@code /}, and a small JSON API the page drives (and scripts may):
 * <ul>
 *   <li>{@code GET /api/runs}: every run started, newest last;
 *   <li>{@code POST /api/runs} {@code {"command": "sft", "args": ["--model", "...", ...]}}: starts a run (201), or
 *       400 naming what jswift rejects in the arguments, or 409 while another run trains;
 *   <li>{@code GET /api/runs/N}, {@code GET /api/runs/N/console?from=BYTE}, {@code GET /api/runs/N/metrics} (the
 *       run's logging.jsonl records), {@code POST /api/runs/N/stop}.
 * </ul>
 */
public final class WebUiServer implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int MAX_BODY = 1 << 20;
  private static final int MAX_CONSOLE_CHUNK = 1 << 20;

  private final HttpServer http;
  private final ExecutorService handlers;
  private final RunManager runs;
  private final String page;

  /**
   * Serves on host:port (port 0: any free port); runs log into {@code logDir}; {@code defaults} prefill the page's
   * form (the bundled model, ...).
   */
  public WebUiServer(String host, int port, Path logDir, ObjectNode defaults, String title) throws IOException {
    this(host, port, new RunManager(logDir, RunManager.thisJvm()), defaults, title);
  }

  WebUiServer(String host, int port, RunManager runs, ObjectNode defaults, String title) throws IOException {
    this.runs = runs;
    this.page = page(defaults, title);
    this.http = HttpServer.create(new InetSocketAddress(host, port), 64);
    this.handlers = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "jswift-web-ui");
      t.setDaemon(true);
      return t;
    });
    http.setExecutor(handlers);
    http.createContext("/", this::handle);
    http.start();
  }

  /** The port served (the one chosen, for port 0). */
  public int port() {
    return http.getAddress().getPort();
  }

  private static String page(ObjectNode defaults, String title) throws IOException {
    try (InputStream in = WebUiServer.class.getResourceAsStream("webui.html")) {
      if (in == null) throw new IllegalStateException("the web UI page is missing from the jar");
      String html = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      String safeTitle = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
      // the defaults go into a script: </ must not end it early
      return html.replace("{{TITLE}}", safeTitle).replace("{{DEFAULTS}}", defaults.toString().replace("</", "<\\/"));
    }
  }

  private void handle(HttpExchange ex) throws IOException {
    try {
      String path = ex.getRequestURI().getPath(), method = ex.getRequestMethod();
      if (path.equals("/") || path.equals("/index.html")) {
        allow(ex, "GET");
        send(ex, 200, "text/html; charset=utf-8", page.getBytes(StandardCharsets.UTF_8));
      } else if (path.equals("/api/runs")) {
        if (method.equals("POST")) start(ex);
        else {
          allow(ex, "GET");
          ArrayNode list = JSON.createArrayNode();
          for (TrainingRun r : runs.runs()) list.add(describe(r));
          json(ex, 200, list);
        }
      } else if (path.startsWith("/api/runs/")) {
        String[] parts = path.substring("/api/runs/".length()).split("/");
        TrainingRun run = run(parts[0]);
        String what = parts.length > 1 ? parts[1] : "";
        switch (what) {
          case "" -> {
            allow(ex, "GET");
            json(ex, 200, describe(run));
          }
          case "console" -> {
            allow(ex, "GET");
            TrainingRun.Chunk c = run.console(queryLong(ex, "from"), MAX_CONSOLE_CHUNK);
            json(ex, 200, JSON.createObjectNode().put("text", c.text()).put("next", c.next()));
          }
          case "metrics" -> {
            allow(ex, "GET");
            json(ex, 200, metrics(run));
          }
          case "stop" -> {
            allow(ex, "POST");
            run.stop();
            json(ex, 200, describe(run));
          }
          default -> throw new HttpError(404, "no such page: " + path);
        }
      } else {
        throw new HttpError(404, "no such page: " + path);
      }
    } catch (HttpError e) {
      json(ex, e.status, JSON.createObjectNode().put("error", e.getMessage()));
    } catch (IOException | RuntimeException e) {
      json(ex, 500, JSON.createObjectNode().put("error", String.valueOf(e)));
    } finally {
      ex.close();
    }
  }

  /** An answer other than 200, with its message. */
  private static final class HttpError extends Exception {
    final int status;

    HttpError(int status, String message) {
      super(message);
      this.status = status;
    }
  }

  private static void allow(HttpExchange ex, String method) throws HttpError {
    if (!ex.getRequestMethod().equals(method))
      throw new HttpError(405, ex.getRequestMethod() + " is not allowed here (" + method + " is)");
  }

  private TrainingRun run(String id) throws HttpError {
    try {
      TrainingRun r = runs.get(Integer.parseInt(id));
      if (r != null) return r;
    } catch (NumberFormatException e) {
      // not a number: no such run either
    }
    throw new HttpError(404, "no run " + id);
  }

  private static long queryLong(HttpExchange ex, String name) throws HttpError {
    String q = ex.getRequestURI().getQuery();
    if (q == null) return 0;
    for (String kv : q.split("&")) {
      if (!kv.startsWith(name + "=")) continue;
      try {
        return Long.parseLong(kv.substring(name.length() + 1));
      } catch (NumberFormatException e) {
        throw new HttpError(400, name + " must be a number, got " + kv.substring(name.length() + 1));
      }
    }
    return 0;
  }

  private void start(HttpExchange ex) throws IOException, HttpError {
    byte[] body = ex.getRequestBody().readNBytes(MAX_BODY + 1);
    if (body.length > MAX_BODY) throw new HttpError(413, "the request is over " + MAX_BODY + " bytes");
    JsonNode req;
    try {
      req = JSON.readTree(body);
    } catch (IOException e) {
      throw new HttpError(400, "the body is not JSON: " + e.getMessage());
    }
    if (req == null || !req.path("command").isTextual())
      throw new HttpError(400, "the body needs \"command\" (sft, pt or rlhf) and \"args\" (a list of strings)");
    List<String> args = new ArrayList<>();
    JsonNode a = req.path("args");
    if (!a.isMissingNode() && !a.isArray()) throw new HttpError(400, "\"args\" must be a list of strings");
    for (JsonNode x : a) {
      if (!x.isTextual()) throw new HttpError(400, "\"args\" must be a list of strings, found " + x);
      args.add(x.asText());
    }
    try {
      json(ex, 201, describe(runs.start(req.get("command").asText(), args)));
    } catch (IllegalStateException e) {
      throw new HttpError(409, e.getMessage());
    } catch (IllegalArgumentException e) {
      throw new HttpError(400, e.getMessage());
    }
  }

  private static ObjectNode describe(TrainingRun r) throws IOException {
    ObjectNode n = JSON.createObjectNode();
    n.put("id", r.id);
    n.put("command", r.command);
    n.set("args", JSON.valueToTree(r.args));
    n.put("status", r.status().name().toLowerCase(java.util.Locale.ROOT));
    Integer code = r.exitCode();
    if (code != null) n.put("exit_code", code);
    n.put("started", r.started.toString());
    Path folder = r.runFolder();
    if (folder != null) n.put("run_folder", folder.toString());
    return n;
  }

  /** The run's logging.jsonl records so far (a line being written is skipped). */
  private static ObjectNode metrics(TrainingRun r) throws IOException {
    ArrayNode records = JSON.createArrayNode();
    Path folder = r.runFolder();
    Path file = folder == null ? null : folder.resolve("logging.jsonl");
    if (file != null && Files.exists(file)) {
      for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
        try {
          records.add(JSON.readTree(line));
        } catch (IOException e) {
          // the last line may be half written
        }
      }
    }
    ObjectNode n = JSON.createObjectNode();
    n.set("records", records);
    return n;
  }

  private static void json(HttpExchange ex, int status, JsonNode body) throws IOException {
    send(ex, status, "application/json", JSON.writeValueAsBytes(body));
  }

  private static void send(HttpExchange ex, int status, String type, byte[] body) throws IOException {
    ex.getResponseHeaders().set("Content-Type", type);
    ex.getResponseHeaders().set("Cache-Control", "no-store");
    ex.sendResponseHeaders(status, body.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(body);
    }
  }

  /** Stops the server and every run still training. */
  @Override
  public void close() {
    http.stop(0);
    handlers.shutdownNow();
    runs.close();
  }
}
