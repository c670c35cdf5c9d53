package jswift.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.BindException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import jswift.model.CausalLM;
import jswift.serve.OpenAiServer;
import jswift.serve.ServedModel;
import jswift.tensor.Device;
import jswift.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code jswift deploy}: an OpenAI-compatible HTTP server over a model, with ms-swift's deploy arguments (infer's,
 * plus host, port, api_key, served_model_name, owned_by, verbose, log_interval, max_logprobs, result_path).
 * {@code --adapters name=DIR} serves each named adapter under its name (multi-LoRA: a request's {@code model}
 * picks it); an unnamed adapter is applied under the base model's name. If the port is taken, the next free one
 * is used, as ms-swift does. Runs until interrupted (Ctrl-C).
 */
@Command(name = "deploy", mixinStandardHelpOptions = true,
    description = "Serve a model (and LoRA adapters) over an OpenAI-compatible HTTP API.")
public class DeployCommand implements Callable<Integer> {
  /** How many ports after --port are tried when it is taken. */
  static final int PORT_TRIES = 100;

  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Mixin GenerationOptions gen = new GenerationOptions();

  @Option(names = "--host", description = "address to listen on (default 0.0.0.0: every interface)")
  String host = "0.0.0.0";

  @Option(names = "--port", description = "default ${DEFAULT-VALUE}; the next free port if taken; 0 = any free port")
  int port = 8000;

  @Option(names = "--api_key", description = "require 'Authorization: Bearer <api_key>' on the /v1 routes")
  String apiKey;

  @Option(names = "--served_model_name", description = "the base model's name in the API (default: the model folder's name)")
  String servedModelName;

  @Option(names = "--owned_by", description = "owned_by of /v1/models (default swift)")
  String ownedBy = "swift";

  @Option(names = "--verbose", arity = "1", description = "log every request (default true)")
  boolean verbose = true;

  @Option(names = "--log_interval", description = "seconds between throughput logs (default 20; 0 = never)")
  int logInterval = 20;

  @Option(names = "--max_logprobs", description = "the most top_logprobs a request may ask for (default 20)")
  int maxLogprobs = 20;

  @Option(names = "--max_batch_size", description = "the most answers generated together: requests that wait for "
      + "the model together share its decode steps (default 8; 1 = one request at a time)")
  int maxBatchSize = 8;

  @Option(names = "--max_length", description = "longest prompt + answer in tokens (default: the model's "
      + "max_position_embeddings)")
  Integer maxLength;

  @Option(names = "--result_path", description = "append every finished request and its answer to this jsonl")
  Path resultPath;

  private final CountDownLatch stop = new CountDownLatch(1), stopped = new CountDownLatch(1);

  @Override
  public Integer call() throws IOException {
    PrintWriter out = spec.commandLine().getOut();
    if (port < 0 || port > 65535) throw new IllegalArgumentException("--port must be in [0, 65535], got " + port);
    if (maxLogprobs < 0) throw new IllegalArgumentException("--max_logprobs must be >= 0, got " + maxLogprobs);
    if (maxBatchSize < 1) throw new IllegalArgumentException("--max_batch_size must be >= 1, got " + maxBatchSize);
    if (logInterval < 0) throw new IllegalArgumentException("--log_interval must be >= 0 seconds, got " + logInterval);
    if (maxLength != null && maxLength < 2) throw new IllegalArgumentException("--max_length must be >= 2, got " + maxLength);
    Map<String, String> names = names();  // checked before the (long) model load
    Device dev = Device.select(gen.device);
    boolean serving = false;
    try (CausalLM lm = gen.load(dev); Tokenizer tok = Tokenizer.load(gen.model())) {
      gen.loadAdapters(lm);
      ServedModel served = new ServedModel(lm, tok, gen.encoder(lm, tok), gen.generation(tok), gen.systemPrompt(),
          names, maxLength != null ? maxLength : lm.config().maxPositionEmbeddings());
      // a sequence classifier (sft --task_type seq_cls, rlhf --rlhf_type rm) answers with its prediction
      List<GenerationOptions.Adapter> adapters = gen.adapterList();
      jswift.infer.SequenceClassifier classifier = jswift.infer.SequenceClassifier.detect(lm, gen.model(),
          adapters.isEmpty() ? null : adapters.get(0).dir(), gen.encoder(lm, tok));
      if (classifier != null && adapters.size() > 1) {
        classifier.close();
        throw new IllegalArgumentException("--adapters: " + adapters.get(0).dir() + " is a sequence classifier; serve "
            + "it alone (one adapter)");
      }
      if (classifier != null) {
        served.serveClassifier(classifier);
        if (!adapters.isEmpty()) lm.setActiveAdapter(adapters.get(0).name());
      }
      OpenAiServer.Options base = new OpenAiServer.Options(host, port, apiKey, ownedBy, maxLogprobs,
          maxBatchSize, verbose, logInterval, resultPath, chatPageTitle(names));
      try (jswift.infer.SequenceClassifier head = classifier; OpenAiServer server = bind(served, base, out)) {
        serving = true;
        String shown = host.equals("0.0.0.0") ? "127.0.0.1" : host;
        out.println("jswift deploy: serving " + served.names() + " (" + gen.model() + " on " + dev + ", template "
            + gen.templateName(lm) + ", max length " + served.maxModelLength() + (classifier == null ? ""
            : ", a sequence classifier: " + classifier.problemType().hfName() + ", " + classifier.labels() + " labels")
            + ") at http://" + shown + ":"
            + server.port() + "/v1" + (apiKey != null ? " (API key required)" : "") + "; Ctrl-C stops");
        if (base.chatPageTitle() != null)
          out.println("jswift app: open http://" + shown + ":" + server.port() + "/ in a browser to chat");
        out.println("  try: curl http://" + shown + ":" + server.port() + "/v1/chat/completions -H 'Content-Type: "
            + "application/json' -d '{\"model\": \"" + served.names().get(0) + "\", \"messages\": [{\"role\": \"user\", "
            + "\"content\": \"Who are you?\"}]}'");
        out.flush();
        // Ctrl-C: let this thread stop the server and free the model before the JVM exits.
        Thread hook = new Thread(() -> {
          stop.countDown();
          try {
            stopped.await(10, java.util.concurrent.TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }, "jswift-deploy-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
          stop.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        } finally {
          try {
            Runtime.getRuntime().removeShutdownHook(hook);
          } catch (IllegalStateException shuttingDown) {
            // the JVM is exiting: the hook is running
          }
        }
      }
    } finally {
      if (serving) {
        out.println("jswift deploy: stopped");
        out.flush();
      }
      stopped.countDown();
    }
    return 0;
  }

  /** The title of the chat page served at / ({@code jswift app}); null: the API only. */
  String chatPageTitle(Map<String, String> names) {
    return null;
  }

  /** Served name -> loaded adapter: the base name first (with the unnamed adapter, if one), then the named ones. */
  Map<String, String> names() throws IOException {
    String baseName = servedModelName != null ? servedModelName : gen.model().toAbsolutePath().normalize().getFileName().toString();
    Map<String, String> names = new LinkedHashMap<>();
    String unnamed = null;
    List<GenerationOptions.Adapter> adapters = gen.adapterList();
    for (GenerationOptions.Adapter a : adapters) {
      if (a.named()) continue;
      if (unnamed != null)
        throw new IllegalArgumentException("--adapters: only one adapter can be served without a name (it applies to "
            + baseName + "); name the others, e.g. --adapters " + a.dir() + " other=DIR");
      unnamed = a.name();
    }
    names.put(baseName, unnamed);
    for (GenerationOptions.Adapter a : adapters) {
      if (!a.named()) continue;
      if (names.containsKey(a.name()))
        throw new IllegalArgumentException("--adapters: the name '" + a.name() + "' is used twice (or is the base model's)");
      names.put(a.name(), a.name());
    }
    return names;
  }

  /** Binds --port, or the first free one of the next PORT_TRIES (ms-swift moves to a free port too). */
  private OpenAiServer bind(ServedModel served, OpenAiServer.Options o, PrintWriter out) throws IOException {
    for (int p = o.port(); ; p++) {
      try {
        return OpenAiServer.start(served, o.withPort(p), out);
      } catch (BindException e) {
        if (o.port() == 0 || p >= o.port() + PORT_TRIES - 1 || p == 65535)
          throw new IOException("cannot listen on " + o.host() + ":" + (o.port() == 0 ? "any port" : o.port() + "-" + p)
              + ": " + e.getMessage() + " (choose another --port or --host)", e);
        out.println("jswift deploy: port " + p + " is taken, trying " + (p + 1));
      }
    }
  }
}
