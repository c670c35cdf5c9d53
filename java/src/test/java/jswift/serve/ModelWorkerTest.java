package jswift.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import jswift.infer.ChatCompletion;
import jswift.model.CausalLM;
import jswift.tensor.Device;
import jswift.testing.Fixtures;
import jswift.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Requests that wait together for the model are generated together, each with its own settings and the same
 * answers as alone; a request for another adapter waits for its own batch; the batch size caps a batch.
 */
class ModelWorkerTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** A job that records the order its tokens arrive in (shared log) and its result; job "gate" blocks the worker. */
  private static class Recording implements ModelWorker.Job {
    final String tag;
    final ChatRequest request;
    final List<String> order;
    final CountDownLatch gate;
    final CompletableFuture<ChatCompletion.Result> result = new CompletableFuture<>();

    Recording(String tag, String body, List<String> order, CountDownLatch gate) throws Exception {
      this.tag = tag;
      this.request = ChatRequest.chat(JSON.readTree(body), 5);
      this.order = order;
      this.gate = gate;
    }

    @Override
    public ChatRequest request() {
      return request;
    }

    @Override
    public ChatCompletion.Listener started(ServedModel.Prepared prepared) {
      if (gate != null) {
        try {
          gate.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      return new ChatCompletion.Listener() {
        @Override
        public void onText(int choice, String delta) {}

        @Override
        public void onToken(int choice, int tokenId) {
          order.add(tag);
        }
      };
    }

    @Override
    public void finished(ServedModel.Prepared prepared, ChatCompletion.Result r) {
      result.complete(r);
    }

    @Override
    public void failed(RuntimeException e) {
      result.completeExceptionally(e);
    }

    List<String> texts() throws Exception {
      List<String> out = new ArrayList<>();
      for (ChatCompletion.Choice c : result.get(60, TimeUnit.SECONDS).choices()) out.add(c.text());
      return out;
    }
  }

  private static String body(String model, String user, int maxTokens, String extra) {
    return "{\"model\": \"" + model + "\", \"messages\": [{\"role\": \"user\", \"content\": \"" + user + "\"}], "
        + "\"max_tokens\": " + maxTokens + (extra.isEmpty() ? "" : ", " + extra) + "}";
  }

  /** The span of a tag in the token order: [first index, last index]. */
  private static int[] span(List<String> order, String tag) {
    return new int[] {order.indexOf(tag), order.lastIndexOf(tag)};
  }

  @Test
  void waitingRequestsShareABatchAndGetTheirOwnAnswers(@TempDir Path dir) throws Exception {
    Path modelDir = Fixtures.tinyChatModel(dir.resolve("m"));
    try (CausalLM lm = CausalLM.load(modelDir, Device.CPU); Tokenizer tok = Tokenizer.load(modelDir)) {
      ServedModel served = OpenAiServerTest.servedWithAdapter(lm, tok, modelDir, "base");
      String a = body("base", "hello world", 6, ""), b = body("base", "how are you", 4, "\"n\": 2, \"temperature\": 1.3, \"seed\": 3");
      String c = body("mine", "hello", 5, ""), d = body("base", "are you", 5, "");
      // Alone, one batch each.
      List<List<String>> alone = new ArrayList<>();
      try (ModelWorker w = new ModelWorker(served, 1, 64)) {
        for (String q : List.of(a, b, c, d)) {
          Recording r = new Recording("x", q, Collections.synchronizedList(new ArrayList<>()), null);
          w.submit(r);
          alone.add(r.texts());
        }
      }
      // Together: a gate job holds the model thread while the others queue up behind it.
      List<String> order = Collections.synchronizedList(new ArrayList<>());
      CountDownLatch gate = new CountDownLatch(1);
      try (ModelWorker w = new ModelWorker(served, 3, 64)) {
        Recording g = new Recording("g", body("base", "hello", 2, ""), order, gate);
        w.submit(g);
        Thread.sleep(200);  // the worker took g and waits at its gate
        Recording ra = new Recording("a", a, order, null), rb = new Recording("b", b, order, null),
            rc = new Recording("c", c, order, null), rd = new Recording("d", d, order, null);
        for (Recording r : List.of(ra, rb, rc, rd)) w.submit(r);
        gate.countDown();
        assertEquals(alone.get(0), ra.texts());
        assertEquals(alone.get(1), rb.texts(), "sampled answers with a seed are the same in a batch");
        assertEquals(alone.get(2), rc.texts());
        assertEquals(alone.get(3), rd.texts());
        g.texts();
        // a (1 answer) and b (2 answers) fill a batch of 3: their tokens interleave; c asks for the adapter and d
        // does not fit, so both come after; c is older than d, so its batch runs first.
        int[] sa = span(order, "a"), sb = span(order, "b"), sc = span(order, "c"), sd = span(order, "d");
        assertTrue(sa[0] < sb[1] && sb[0] < sa[1], "a and b decoded in the same steps: " + order);
        assertTrue(sc[0] > Math.max(sa[1], sb[1]) && sd[0] > sc[1], "c, then d, each in a later batch: " + order);
      }
    }
  }

  @Test
  void closingStopsTheRunningBatchBeforeTheModelIsFreed(@TempDir Path dir) throws Exception {
    Path modelDir = Fixtures.tinyChatModel(dir.resolve("m"));
    try (CausalLM lm = CausalLM.load(modelDir, Device.CPU); Tokenizer tok = Tokenizer.load(modelDir)) {
      ServedModel served = OpenAiServerTest.servedWithAdapter(lm, tok, modelDir, "base");
      List<String> order = Collections.synchronizedList(new ArrayList<>());
      CountDownLatch generating = new CountDownLatch(1);
      Recording running = new Recording("r", body("base", "hello", 110, ""), order, null) {
        @Override
        public ChatCompletion.Listener started(ServedModel.Prepared prepared) {
          ChatCompletion.Listener inner = super.started(prepared);
          return new ChatCompletion.Listener() {
            @Override
            public void onText(int choice, String delta) {}

            @Override
            public void onToken(int choice, int tokenId) {
              inner.onToken(choice, tokenId);
              generating.countDown();
              try {
                Thread.sleep(5);  // slow enough that close() lands mid-answer
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            }
          };
        }
      };
      Recording queued = new Recording("q", body("base", "hello", 5, ""), order, null);
      ModelWorker w = new ModelWorker(served, 1, 64);
      w.submit(running);
      w.submit(queued);
      assertTrue(generating.await(30, TimeUnit.SECONDS));
      w.close();  // returns once the model thread is done with the model
      int tokens = order.size();
      Thread.sleep(50);
      assertEquals(tokens, order.size(), "no token after close returned");
      assertTrue(tokens < 110, "the answer stopped early: " + tokens + " tokens");
      for (Recording r : List.of(running, queued)) {
        Exception e = org.junit.jupiter.api.Assertions.assertThrows(java.util.concurrent.ExecutionException.class,
            () -> r.result.get(5, TimeUnit.SECONDS));
        assertTrue(e.getCause() instanceof ApiException a && a.status() == 503, String.valueOf(e.getCause()));
      }
    }
  }
}
