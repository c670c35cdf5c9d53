package jswift.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import jswift.infer.ChatCompletion;
import jswift.template.AgentTemplate;

/**
 * A streamed answer as server-sent events: the 200 and {@code text/event-stream} header, then one {@code data:}
 * chunk per new piece of text (with the log-probabilities of the tokens since the last chunk, when asked), a last
 * chunk per answer with its finish reason, a usage chunk if asked, and {@code data: [DONE]}. When the client goes
 * away, writing stops and {@link #cancelled} tells the generator to stop these answers.
 */
final class EventStream implements ChatCompletion.Listener {
  private final HttpExchange exchange;
  private final Responses shape;
  private final TokenLogprobs logprobs;
  private final int[] sentEntries;
  private final boolean[] started;
  private OutputStream out;
  private volatile boolean gone;

  EventStream(HttpExchange exchange, Responses shape, TokenLogprobs logprobs, int answers) {
    this.exchange = exchange;
    this.shape = shape;
    this.logprobs = logprobs;
    this.sentEntries = new int[answers];
    this.started = new boolean[answers];
  }

  /** Sends the 200 and the event-stream header. */
  void begin() {
    exchange.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
    exchange.getResponseHeaders().set("Cache-Control", "no-cache");
    try {
      exchange.sendResponseHeaders(200, 0);
      out = exchange.getResponseBody();
    } catch (IOException e) {
      gone = true;
    }
  }

  @Override
  public void onText(int choice, String delta) {
    event(shape.chunk(choice, delta, newEntries(choice), null, !started[choice]));
    started[choice] = true;
  }

  @Override
  public void onLogits(int choice, float[] logits) {
    if (logprobs != null) logprobs.onLogits(choice, logits);
  }

  @Override
  public void onToken(int choice, int tokenId) {
    if (logprobs != null) logprobs.onToken(choice, tokenId);
  }

  @Override
  public boolean cancelled() {
    return gone;
  }

  /** Whether the client went away before the end. */
  boolean clientGone() {
    return gone;
  }

  /**
   * The last chunk of each answer (an answer that calls tools ends with a chunk of its tool_calls, see {@link
   * Responses#complete}; its text streamed as it came), the usage (if asked) and [DONE].
   */
  void end(ChatCompletion.Result result, boolean includeUsage, List<AgentTemplate.Reply> replies) {
    for (int i = 0; i < started.length; i++) {
      AgentTemplate.Reply reply = replies == null ? null : replies.get(i);
      if (reply != null && !reply.calls().isEmpty()) {
        List<TokenLogprobs.Entry> rest = newEntries(i);
        if (rest != null && !rest.isEmpty()) event(shape.chunk(i, "", rest, null, !started[i]));
        event(shape.toolCallChunk(i, reply.calls()));
      } else {
        event(shape.chunk(i, "", newEntries(i), result.choices().get(i).finishReason(), !started[i]));
      }
    }
    if (includeUsage) event(shape.usageChunk(result));
    write("data: [DONE]\n\n");
  }

  /** The 200 is sent: says what failed in the stream itself, then ends it. */
  void fail(String message) {
    event(Responses.error("server_error", null, message, 500));
  }

  /** The log-probability entries of an answer not yet sent in a chunk (null when none were asked for). */
  private List<TokenLogprobs.Entry> newEntries(int choice) {
    if (logprobs == null) return null;
    List<TokenLogprobs.Entry> all = logprobs.entries(choice);
    List<TokenLogprobs.Entry> fresh = new ArrayList<>(all.subList(sentEntries[choice], all.size()));
    sentEntries[choice] = all.size();
    return fresh;
  }

  private void event(ObjectNode chunk) {
    try {
      write("data: " + Responses.JSON.writeValueAsString(chunk) + "\n\n");
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException(e);
    }
  }

  private void write(String s) {
    if (gone) return;
    try {
      out.write(s.getBytes(StandardCharsets.UTF_8));
      out.flush();
    } catch (IOException e) {
      gone = true;  // the client closed the connection: stop writing, and let the generator stop
    }
  }
}
