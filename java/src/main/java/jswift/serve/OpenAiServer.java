package jswift.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import jswift.infer.ChatCompletion;
import jswift.template.AgentTemplate;

/**
 * An OpenAI-compatible HTTP server over one {@link ServedModel}, with ms-swift's deploy routes: {@code GET
 * /v1/models}, {@code POST /v1/chat/completions}, {@code POST /v1/completions}, {@code POST /v1/embeddings}, {@code GET
 * /health} and
 * {@code GET|POST /ping}. Answers stream as server-sent events ({@code data: {chunk}} lines, then
 * {@code data: [DONE]}) when a request sets {@code stream}. With an API key, the {@code /v1} routes need
 * {@code Authorization: Bearer <key>}.
 *
 * <p>The model runs on one thread ({@link ModelWorker}): a request's JSON is checked as it arrives (a malformed one
 * is answered at once), then it waits for the model, and requests that wait together for the same model are
 * generated together, as one batch; more than {@link #MAX_WAITING} waiting requests are refused with a 503, and a
 * body over {@link #MAX_BODY_BYTES} with a 413. A client that goes away while its answer streams stops
 * that generation. Built on the JDK's own HTTP server ({@code com.sun.net.httpserver}), so it adds no dependency.
 */
public final class OpenAiServer implements AutoCloseable {
  /** Requests that may wait for the model before new ones are refused (503). */
  public static final int MAX_WAITING = 64;
  /** The largest request body accepted (413 above). */
  public static final int MAX_BODY_BYTES = 16 << 20;

  /**
   * How the server runs: where it listens (port 0: any free port), the API key (null: none), the {@code owned_by}
   * of the model list, the most {@code top_logprobs} a request may ask for, the most answers generated together
   * (concurrent requests share a batch: see {@link ModelWorker}), whether each request is logged, how
   * often throughput is logged (seconds; 0: never), and where finished requests are appended as JSON lines (null:
   * nowhere), and the title of the chat page served at {@code /} ({@code jswift app}; null: no page).
   */
  public record Options(String host, int port, String apiKey, String ownedBy, int maxLogprobs, int maxBatchSize,
      boolean verbose, int logIntervalSeconds, java.nio.file.Path resultPath, String chatPageTitle) {
    /** The same options on another port. */
    public Options withPort(int newPort) {
      return new Options(host, newPort, apiKey, ownedBy, maxLogprobs, maxBatchSize, verbose, logIntervalSeconds,
          resultPath, chatPageTitle);
    }
  }

  private final ServedModel model;
  private final Options options;
  private final HttpServer http;
  private final ExecutorService handlers;
  private final ModelWorker worker;
  private final ScheduledExecutorService ticker;
  private final RequestLog requests;
  private final long created = System.currentTimeMillis() / 1000;

  private OpenAiServer(ServedModel model, Options options, PrintWriter log) throws IOException {
    this.model = model;
    this.options = options;
    this.http = HttpServer.create(new InetSocketAddress(options.host(), options.port()), 128);
    try {
      this.requests = new RequestLog(options.resultPath(), log);
    } catch (IOException | RuntimeException e) {
      http.stop(0);
      throw e;
    }
    this.handlers = Executors.newCachedThreadPool(daemon("jswift-http"));
    this.worker = new ModelWorker(model, options.maxBatchSize(), MAX_WAITING);
    this.ticker = Executors.newSingleThreadScheduledExecutor(daemon("jswift-log"));
    http.setExecutor(handlers);
    http.createContext("/", this::handle);
  }

  /** Starts serving; the server runs until {@link #close}. */
  public static OpenAiServer start(ServedModel model, Options options, PrintWriter log) throws IOException {
    OpenAiServer s = new OpenAiServer(model, options, log);
    s.http.start();
    if (options.logIntervalSeconds() > 0)
      s.ticker.scheduleAtFixedRate(() -> s.requests.logThroughput(s.worker.pending()), options.logIntervalSeconds(),
          options.logIntervalSeconds(), TimeUnit.SECONDS);
    return s;
  }

  /** The port it listens on (the chosen one when started with port 0). */
  public int port() {
    return http.getAddress().getPort();
  }

  @Override
  public void close() {
    http.stop(0);
    ticker.shutdownNow();
    worker.close();
    handlers.shutdownNow();
    requests.close();
  }

  private void handle(HttpExchange ex) {
    String id = UUID.randomUUID().toString().replace("-", "");
    long start = System.nanoTime();
    String method = ex.getRequestMethod(), path = ex.getRequestURI().getPath();
    try {
      switch (path) {
        case "/", "/index.html" -> {
          if (options.chatPageTitle() == null) throw new ApiException(404, "not_found_error", null, "no page here: "
              + "jswift deploy serves the API only (jswift app adds a chat page)");
          if (!method.equals("GET")) throw notAllowed(method, path);
          sendHtml(ex, ChatPage.html(options.chatPageTitle()));
        }
        case "/health", "/ping" -> {
          if (!method.equals("GET") && !(path.equals("/ping") && method.equals("POST"))) throw notAllowed(method, path);
          send(ex, 200, Responses.JSON.createObjectNode().put("status", "ok"));
        }
        case "/v1/models" -> {
          if (!method.equals("GET")) throw notAllowed(method, path);
          authorize(ex);
          send(ex, 200, Responses.models(model.names(), created, options.ownedBy()));
        }
        case "/v1/chat/completions", "/v1/completions" -> {
          if (!method.equals("POST")) throw notAllowed(method, path);
          authorize(ex);
          boolean chat = path.equals("/v1/chat/completions");
          JsonNode body = readJson(ex);
          ChatRequest r = chat ? ChatRequest.chat(body, options.maxLogprobs())
              : ChatRequest.completion(body, options.maxLogprobs());
          if (model.classifier() != null) classify(ex, "chatcmpl-" + id, chat, r);
          else complete(ex, (chat ? "chatcmpl-" : "cmpl-") + id, chat, body, r, start);
        }
        case "/v1/embeddings" -> {
          if (!method.equals("POST")) throw notAllowed(method, path);
          authorize(ex);
          embed(ex, EmbeddingRequest.parse(readJson(ex)));
        }
        default -> throw new ApiException(404, "not_found_error", null, "no route " + path + "; routes: GET /v1/models, "
            + "POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings, GET /health, GET|POST /ping");
      }
    } catch (ApiException e) {
      if (options.verbose()) log(method + " " + path + " " + e.status() + ": " + e.getMessage());
      trySend(ex, e.status(), Responses.error(e.type(), e.param(), e.getMessage(), e.status()));
    } catch (RuntimeException e) {
      log(method + " " + path + " 500: " + e);
      trySend(ex, 500, Responses.error("server_error", null, String.valueOf(e.getMessage()), 500));
    } finally {
      drain(ex);
      ex.close();
    }
  }

  /**
   * Reads what is left of the request body, so the connection can carry the client's next request (the JDK
   * server would otherwise drop it, and a client reusing it would see it closed).
   */
  private static void drain(HttpExchange ex) {
    try (InputStream in = ex.getRequestBody()) {
      in.transferTo(OutputStream.nullOutputStream());
    } catch (IOException ignored) {
      // the client is gone: nothing to keep
    }
  }

  /** Queues the request for the model and answers it, whole or as a stream. */
  private void complete(HttpExchange ex, String id, boolean chat, JsonNode body, ChatRequest r, long start) {
    CompletableFuture<ObjectNode> answer = new CompletableFuture<>();
    worker.submit(new ModelWorker.Job() {
      private Responses shape;
      private TokenLogprobs logprobs;
      private EventStream events;

      @Override
      public ChatRequest request() {
        return r;
      }

      @Override
      public ChatCompletion.Listener started(ServedModel.Prepared p) {
        shape = new Responses(chat, id, System.currentTimeMillis() / 1000, p.name(), model.tokenizer());
        logprobs = r.logprobs() ? new TokenLogprobs(r.n(), r.topLogprobs()) : null;
        if (!r.stream()) return logprobs;
        events = new EventStream(ex, shape, logprobs, r.n());
        events.begin();
        return events;
      }

      @Override
      public void finished(ServedModel.Prepared p, ChatCompletion.Result result) {
        List<AgentTemplate.Reply> replies = chat ? model.toolCalls(r, result) : null;
        ObjectNode whole = shape.complete(result, logprobs, replies);
        if (events != null) events.end(result, r.includeUsage(), replies);
        if (events != null && events.clientGone()) {
          answer.completeExceptionally(new ClientGone());
          return;
        }
        requests.finished(id, chat, body, whole, result, (System.nanoTime() - start) / 1e9, options.verbose());
        answer.complete(whole);
      }

      @Override
      public void failed(RuntimeException e) {
        if (events != null && !(e instanceof ApiException)) events.fail(String.valueOf(e.getMessage()));
        answer.completeExceptionally(e);
      }
    });
    try {
      ObjectNode whole = answer.get();
      if (!r.stream()) send(ex, 200, whole);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof ApiException a) throw a;
      if (cause instanceof ClientGone) {
        if (options.verbose()) log(id + ": the client closed the connection; its generation stopped");
        return;
      }
      if (cause instanceof IllegalArgumentException) throw ApiException.badRequest(null, cause.getMessage());
      throw new RuntimeException(cause.getMessage() == null ? cause.toString() : cause.getMessage(), cause);
    }
  }

  /** A served classifier's answer to a chat request: run alone in the model's turn, answered whole. */
  private void classify(HttpExchange ex, String id, boolean chat, ChatRequest r) {
    if (!chat)
      throw ApiException.badRequest(null, "this server runs a sequence classifier: POST /v1/chat/completions with the "
          + "messages to classify");
    if (r.stream())
      throw ApiException.badRequest("stream", "a sequence classifier answers whole: send \"stream\": false");
    send(ex, 200, Responses.classification(id, System.currentTimeMillis() / 1000, runAlone("messages", () -> model.classify(r))));
  }

  /**
   * Runs {@code work} on the model's thread, alone in its turn, and returns its result; an IllegalArgumentException
   * it throws is the client's error in request field {@code param}.
   */
  private <T> T runAlone(String param, java.util.function.Supplier<T> work) {
    CompletableFuture<T> answer = new CompletableFuture<>();
    worker.submit(new ModelWorker.Job() {
      @Override
      public ChatRequest request() {
        return null;
      }

      @Override
      public ChatCompletion.Listener started(ServedModel.Prepared p) {
        return null;
      }

      @Override
      public void finished(ServedModel.Prepared p, ChatCompletion.Result result) {}

      @Override
      public void failed(RuntimeException e) {
        answer.completeExceptionally(e);
      }

      @Override
      public Runnable exclusive() {
        return () -> answer.complete(work.get());
      }
    });
    try {
      return answer.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for the model", e);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof ApiException a) throw a;
      if (e.getCause() instanceof IllegalArgumentException) throw ApiException.badRequest(param, e.getCause().getMessage());
      throw new RuntimeException(String.valueOf(e.getCause().getMessage()), e.getCause());
    }
  }

  /** Queues an embedding request for the model (it runs alone in its turn) and answers it. */
  private void embed(HttpExchange ex, EmbeddingRequest r) {
    send(ex, 200, Responses.embeddings(runAlone("input", () -> model.embed(r)), r.base64()));
  }

  private void authorize(HttpExchange ex) {
    if (options.apiKey() == null) return;
    String h = ex.getRequestHeaders().getFirst("Authorization");
    if (h == null || !h.equals("Bearer " + options.apiKey()))
      throw new ApiException(401, "authentication_error", null, "API key error: "
          + (h == null ? "send the header 'Authorization: Bearer <api_key>'" : "the API key is not the server's"));
  }

  private static JsonNode readJson(HttpExchange ex) {
    byte[] body;
    try (InputStream in = ex.getRequestBody()) {
      body = in.readNBytes(MAX_BODY_BYTES + 1);
    } catch (IOException e) {
      throw new ClientGone(e);
    }
    if (body.length > MAX_BODY_BYTES)
      throw new ApiException(413, "invalid_request_error", null, "the request body is over " + (MAX_BODY_BYTES >> 20) + " MiB");
    try {
      return Responses.JSON.readTree(body);
    } catch (IOException e) {
      String m = e.getMessage() == null ? "" : e.getMessage().lines().findFirst().orElse("");
      throw ApiException.badRequest(null, "the request body is not valid JSON: " + m);
    }
  }

  private static ApiException notAllowed(String method, String path) {
    return new ApiException(405, "invalid_request_error", null, method + " is not allowed on " + path);
  }

  private static void send(HttpExchange ex, int status, ObjectNode json) {
    try {
      byte[] bytes = Responses.JSON.writeValueAsBytes(json);
      ex.getResponseHeaders().set("Content-Type", "application/json");
      ex.sendResponseHeaders(status, bytes.length);
      ex.getResponseBody().write(bytes);
    } catch (IOException e) {
      throw new ClientGone(e);
    }
  }

  private static void sendHtml(HttpExchange ex, byte[] page) {
    try {
      ex.getResponseHeaders().set("Content-Type", "text/html; charset=utf-8");
      ex.sendResponseHeaders(200, page.length);
      ex.getResponseBody().write(page);
    } catch (IOException e) {
      throw new ClientGone(e);
    }
  }

  /** Sends an error unless the response has started (a stream that failed midway just ends). */
  private static void trySend(HttpExchange ex, int status, ObjectNode json) {
    if (ex.getResponseCode() != -1) return;
    try {
      send(ex, status, json);
    } catch (ClientGone ignored) {
      // nobody to tell
    }
  }

  private void log(String line) {
    requests.print(line);
  }

  private static java.util.concurrent.ThreadFactory daemon(String name) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, name + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  /** The client closed the connection (a failed write or read): the request is dropped. */
  static final class ClientGone extends RuntimeException {
    ClientGone() {
      super("the client closed the connection");
    }

    ClientGone(IOException cause) {
      super(cause.getMessage(), cause);
    }
  }
}
