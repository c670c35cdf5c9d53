package jswift.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import jswift.model.ModelConfig;
import jswift.model.RandomInit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code jswift init-model} (a developer tool, hidden from the command list): writes randomly initialised weights
 * for the {@code config.json} in a folder, as transformers initialises a model it creates from a config, so that
 * {@code jswift pt --train_type full} can pre-train it from scratch. This is how models/jswift-tiny-chat began.
 */
@Command(name = "init-model", hidden = true, mixinStandardHelpOptions = true,
    description = "Write randomly initialised weights (transformers' init) for the config.json in a folder.")
public final class InitModelCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Option(names = "--model", required = true, description = "folder with config.json (and the tokenizer files)")
  Path model;

  @Option(names = "--seed", description = "default 42")
  long seed = 42;

  @Override
  public Integer call() throws Exception {
    if (RandomInit.hasWeights(model))
      throw new IllegalArgumentException(model + " already holds weights; init-model only fills a folder without them");
    ModelConfig cfg = ModelConfig.load(model);
    long params = RandomInit.write(model, seed);
    long bytes = 0;
    try (var s = Files.list(model)) {
      for (Path p : (Iterable<Path>) s::iterator) if (p.toString().endsWith(".safetensors")) bytes += Files.size(p);
    }
    spec.commandLine().getOut().printf("init-model: %s %s, %,d parameters (%.1f MiB), seed %d%n", cfg.modelType(),
        cfg.torchDtype(), params, bytes / 1048576.0, seed);
    return 0;
  }
}
