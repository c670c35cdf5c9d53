package jswift.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;
import jswift.infer.ChatCompletion;

/**
 * What the server reports about finished requests: one line each when verbose, the generation throughput every
 * log interval (only when something was generated), and, with a result path, each request and its answer
 * appended as a JSON line ({@code {"id", "request", "response"}}) and flushed, so a crash loses no finished one.
 */
final class RequestLog implements AutoCloseable {
  private final PrintWriter log;
  private final BufferedWriter results;
  private long requests, tokens, sinceNanos = System.nanoTime();

  RequestLog(Path resultPath, PrintWriter log) throws IOException {
    this.log = log;
    if (resultPath == null) {
      results = null;
    } else {
      if (resultPath.toAbsolutePath().getParent() != null) Files.createDirectories(resultPath.toAbsolutePath().getParent());
      results = Files.newBufferedWriter(resultPath, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
          StandardOpenOption.APPEND);
    }
  }

  synchronized void finished(String id, boolean chat, JsonNode request, ObjectNode response, ChatCompletion.Result result,
      double seconds, boolean verbose) {
    requests++;
    tokens += result.completionTokens();
    if (verbose) {
      print(String.format(Locale.ROOT, "%s %s: %d prompt + %d completion tokens in %.2f s (%.1f tokens/s), %s", id,
          chat ? "chat" : "completion", result.promptTokens(), result.completionTokens(), seconds,
          result.completionTokens() / Math.max(seconds, 1e-9), result.choices().get(0).finishReason().wireName()));
    }
    if (results != null) {
      ObjectNode line = Responses.JSON.createObjectNode().put("id", id);
      line.set("request", request);
      line.set("response", response);
      try {
        results.write(Responses.JSON.writeValueAsString(line));
        results.newLine();
        results.flush();
      } catch (IOException e) {
        throw new UncheckedIOException("could not append to the result path: " + e.getMessage(), e);
      }
    }
  }

  /** Logs the requests and tokens since the last call, if there were any. */
  synchronized void logThroughput(int waiting) {
    double seconds = (System.nanoTime() - sinceNanos) / 1e9;
    if (requests > 0)
      print(String.format(Locale.ROOT, "last %.0f s: %d requests, %d tokens generated (%.1f tokens/s), %d waiting",
          seconds, requests, tokens, tokens / seconds, waiting));
    requests = 0;
    tokens = 0;
    sinceNanos = System.nanoTime();
  }

  /** One line of the server's log. */
  void print(String line) {
    synchronized (log) {
      log.println("jswift deploy: " + line);
      log.flush();
    }
  }

  @Override
  public synchronized void close() {
    if (results == null) return;
    try {
      results.close();
    } catch (IOException ignored) {
      // every line was flushed when written
    }
  }
}
