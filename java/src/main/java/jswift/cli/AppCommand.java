package jswift.cli;

import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jswift app}: ms-swift's {@code swift app}, a chat page in the browser over a model. It is {@code jswift
 * deploy} (the same flags, the same OpenAI-compatible API) with a page at {@code /} that lists the served models
 * and streams answers, on Gradio's port 7860 by default.
 */
@Command(name = "app", mixinStandardHelpOptions = true,
    description = "Chat with a model (and LoRA adapters) in the browser: jswift deploy plus a chat page at /.")
public final class AppCommand extends DeployCommand {
  @Option(names = "--studio_title", description = "the page's title (default: jswift and the model's name)")
  String studioTitle;

  public AppCommand() {
    port = 7860;
  }

  @Override
  String chatPageTitle(Map<String, String> names) {
    return studioTitle != null ? studioTitle : "jswift: " + names.keySet().iterator().next();
  }
}
