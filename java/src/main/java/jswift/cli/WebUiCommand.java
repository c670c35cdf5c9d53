package jswift.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import jswift.webui.WebUiServer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code jswift web-ui}: ms-swift's {@code swift web-ui}, training from the browser: a form that starts
 * {@code jswift sft}, {@code pt} or {@code rlhf} with the usual flags, the run's console and loss curve as it trains,
 * and a stop button. Each run is a child JVM; one trains at a time. It listens on 127.0.0.1 unless told otherwise:
 * the page starts processes and writes files, which is not for a whole network by default (ms-swift's default host
 * is 0.0.0.0).
 */
@Command(name = "web-ui", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Start, watch and stop fine-tuning runs (sft, pt, rlhf) from the browser.")
public final class WebUiCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Option(names = "--server_name", description = "the address to listen on (default 127.0.0.1; 0.0.0.0 for every "
      + "interface: anyone who can reach it can start runs)")
  String serverName = "127.0.0.1";

  @Option(names = "--server_port", description = "the port (default 7860)")
  int serverPort = 7860;

  @Option(names = "--lang", description = "the page's language: en (zh is not translated yet)")
  String lang = "en";

  @Option(names = "--share", arity = "1", description = "not supported: no public tunnel (Gradio's share links)")
  boolean share;

  @Option(names = "--log_dir", description = "where each run's console is written (default output/web-ui)")
  Path logDir = Path.of("output", "web-ui");

  @Override
  public Integer call() throws Exception {
    if (share) throw new IllegalArgumentException("--share true is not supported: jswift opens no public tunnel");
    if (!lang.equals("en") && !lang.equals("zh"))
      throw new IllegalArgumentException("--lang must be en or zh, got " + lang);
    ObjectNode defaults = new ObjectMapper().createObjectNode();
    defaults.put("model", QuickStart.defaultModel().toString());
    defaults.put("dataset", "swift/self-cognition 'jswift/quickstart-sft#64'");
    java.io.PrintWriter out = spec.commandLine().getOut();
    CountDownLatch stop = new CountDownLatch(1), stopped = new CountDownLatch(1);
    try (WebUiServer server = new WebUiServer(serverName, serverPort, logDir, defaults, "jswift web-ui")) {
      // Ctrl-C: the server closes (stopping the run it trains) before the JVM exits
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        stop.countDown();
        try {
          stopped.await(10, java.util.concurrent.TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }, "jswift-web-ui-stop"));
      out.printf("jswift web-ui: http://%s:%d/ (run consoles in %s%s); Ctrl-C stops it and the run it trains%n",
          serverName.equals("0.0.0.0") ? "localhost" : serverName, server.port(), logDir.toAbsolutePath(),
          lang.equals("zh") ? "; the page is in English" : "");
      out.flush();
      stop.await();
    } finally {
      stopped.countDown();
    }
    return 0;
  }
}
