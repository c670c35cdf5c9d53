package jswift.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code jswift} command line, with ms-swift's sub-commands and argument names where ms-swift has them
 * ({@code --model}, {@code --adapters}, {@code --max_new_tokens}, ...), so an ms-swift command line works with
 * few changes. Unknown options are an error, as in ms-swift.
 */
@Command(name = "jswift", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
    subcommands = {SftCommand.class, PtCommand.class, RlhfCommand.class, InferCommand.class, DeployCommand.class, AppCommand.class, WebUiCommand.class, SampleCommand.class, ExportCommand.class, MergeLoraCommand.class, EvalCommand.class,
        InitModelCommand.class},
    description = "Fine-tuning infrastructure for LLMs on the JVM (the ms-swift command line).")
public final class Main implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    System.exit(run(args));
  }

  /** Runs a command line and returns its exit code (for embedding). */
  public static int run(String... args) {
    return commandLine().execute(args);
  }

  /** The configured command line (streams can be redirected before execute, as the tests do). */
  public static CommandLine commandLine() {
    CommandLine cli = new CommandLine(new Main());
    cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
      // Expected failures (bad input, missing files) get one clear line; anything else keeps its stack trace.
      if (e instanceof IllegalArgumentException || e instanceof IllegalStateException || e instanceof java.io.IOException
          || e instanceof jswift.template.jinja.TemplateException) {
        cmd.getErr().println("error: " + e.getMessage());
        return 2;
      }
      throw e;
    });
    return cli;
  }

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  /** The version from the jar manifest (the build's version), or "dev". */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Main.class.getPackage().getImplementationVersion();
      return new String[] {"jswift " + (v == null ? "dev" : v)};
    }
  }
}
