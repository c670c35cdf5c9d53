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
}
