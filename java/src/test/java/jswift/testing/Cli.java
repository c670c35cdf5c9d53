package jswift.testing;

import java.io.PrintWriter;
import java.io.StringWriter;
import jswift.cli.Main;
import picocli.CommandLine;

/** Runs the {@code jswift} command line in-process, as the tests of its sub-commands do. */
public final class Cli {
  private Cli() {}

  /** The exit code, a newline, then everything the command printed (stdout, then stderr). */
  public static String run(String... args) {
    StringWriter out = new StringWriter(), err = new StringWriter();
    CommandLine cli = Main.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    int code = cli.execute(args);
    return code + "\n" + out + err;
  }

  /** The one entry of a folder (a training output's only vN-... run folder); fails if there is none. */
  public static java.nio.file.Path onlyChild(java.nio.file.Path dir) throws java.io.IOException {
    try (java.util.stream.Stream<java.nio.file.Path> s = java.nio.file.Files.list(dir)) {
      return s.findFirst().orElseThrow(() -> new AssertionError("nothing in " + dir));
    }
  }
}
