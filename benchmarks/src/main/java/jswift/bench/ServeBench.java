package jswift.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import jswift.infer.GenerationConfig;
import jswift.model.CausalLM;
import jswift.serve.OpenAiServer;
import jswift.serve.ServedModel;
import jswift.tensor.Device;
import jswift.template.TemplateOptions;
import jswift.template.Templates;
import jswift.tokenizer.Tokenizer;

/**
 * Throughput of {@code jswift deploy} under concurrent clients: C clients each send R chat requests (greedy,
 * max_tokens T, each its own question) over HTTP to an in-process server, first with {@code max_batch_size 1}
 * (one request at a time: the peer, ms-swift's default for its pt engine), then with {@code max_batch_size C}
 * (requests that wait together share decode steps). Prints generated tokens/s, mean request latency and the
 * ratio, and whether both runs gave the same answers.
 * {@code java -cp ... jswift.bench.ServeBench MODEL_DIR [clients 8] [requests 4] [max_tokens 64]}; the model
 * folder needs a tokenizer; CPU.
 */
public final class ServeBench {
  private ServeBench() {}

  private static final String[] TOPICS = {"the sea", "whales", "a ship", "the wind", "the moon", "a city", "the law",
      "the winter", "a letter", "the harbor", "a storm", "the river", "old friends", "the war", "a garden", "the stars"};

  record Run(double seconds, long tokens, double meanLatency, List<String> answers) {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    int clients = args.length > 1 ? Integer.parseInt(args[1]) : 8;
    int perClient = args.length > 2 ? Integer.parseInt(args[2]) : 4;
    int maxTokens = args.length > 3 ? Integer.parseInt(args[3]) : 64;
    try (CausalLM lm = CausalLM.load(dir, Device.CPU); Tokenizer tok = Tokenizer.load(dir)) {
      ServedModel served = new ServedModel(lm, tok,
          Templates.create(lm.config().architecture().template(), tok, TemplateOptions.DEFAULT),
          GenerationConfig.greedy(maxTokens, tok.eosTokenIds()), null,
          Collections.singletonMap("bench", null), lm.config().maxPositionEmbeddings());
      run(served, 1, clients, 1, maxTokens);  // warm-up
      Run one = run(served, 1, clients, perClient, maxTokens);
      Run batched = run(served, clients, clients, perClient, maxTokens);
      int same = 0;
      for (int i = 0; i < one.answers().size(); i++) same += one.answers().get(i).equals(batched.answers().get(i)) ? 1 : 0;
      System.out.printf(Locale.ROOT, "{\"model\": \"%s\", \"clients\": %d, \"requests\": %d, \"max_tokens\": %d, "
          + "\"one_at_a_time\": {\"tokens_per_s\": %.1f, \"mean_latency_s\": %.3f, \"tokens\": %d}, "
          + "\"batched\": {\"tokens_per_s\": %.1f, \"mean_latency_s\": %.3f, \"tokens\": %d}, "
          + "\"speedup\": %.2f, \"same_answers\": \"%d/%d\"}%n", dir.getFileName(), clients, clients * perClient, maxTokens,
          one.tokens() / one.seconds(), one.meanLatency(), one.tokens(), batched.tokens() / batched.seconds(),
          batched.meanLatency(), batched.tokens(), (batched.tokens() / batched.seconds()) / (one.tokens() / one.seconds()),
          same, one.answers().size());
    }
  }

  private static Run run(ServedModel served, int batch, int clients, int perClient, int maxTokens) throws Exception {
    ObjectMapper json = new ObjectMapper();
    HttpClient http = HttpClient.newHttpClient();
    try (OpenAiServer server = OpenAiServer.start(served, new OpenAiServer.Options("127.0.0.1", 0, null, "swift", 0,
        batch, false, 0, null, null), new PrintWriter(new StringWriter()))) {
      URI uri = URI.create("http://127.0.0.1:" + server.port() + "/v1/chat/completions");
      ExecutorService pool = Executors.newFixedThreadPool(clients);
      try {
        long t0 = System.nanoTime();
        List<Future<double[]>> futures = new ArrayList<>();
        String[] answers = new String[clients * perClient];
        for (int c = 0; c < clients; c++) {
          int client = c;
          futures.add(pool.submit(() -> {
            double latency = 0, tokens = 0;
            for (int r = 0; r < perClient; r++) {
              int k = client * perClient + r;
              String question = "Tell me about " + TOPICS[k % TOPICS.length] + (k >= TOPICS.length ? " again." : ".");
              String body = "{\"messages\": [{\"role\": \"user\", \"content\": \"" + question + "\"}], \"max_tokens\": "
                  + maxTokens + ", \"temperature\": 0}";
              long s = System.nanoTime();
              HttpResponse<String> resp = http.send(HttpRequest.newBuilder(uri).POST(HttpRequest.BodyPublishers.ofString(body))
                  .header("Content-Type", "application/json").build(), HttpResponse.BodyHandlers.ofString());
              latency += (System.nanoTime() - s) / 1e9;
              if (resp.statusCode() != 200) throw new IllegalStateException(resp.statusCode() + ": " + resp.body());
              JsonNode j = json.readTree(resp.body());
              tokens += j.get("usage").get("completion_tokens").asInt();
              answers[k] = j.get("choices").get(0).get("message").get("content").asText();
            }
            return new double[] {latency, tokens};
          }));
        }
        double latency = 0;
        long tokens = 0;
        for (Future<double[]> f : futures) {
          double[] v = f.get();
          latency += v[0];
          tokens += (long) v[1];
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        return new Run(seconds, tokens, latency / (clients * perClient), Arrays.asList(answers));
      } finally {
        pool.shutdownNow();
      }
    }
  }
}
