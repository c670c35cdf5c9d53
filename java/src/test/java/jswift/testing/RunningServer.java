package jswift.testing;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jswift.cli.Main;
import picocli.CommandLine;

/** A `jswift deploy` (or `app`) running on a thread of the test: its output, exit code and the port it serves at. */
public final class RunningServer implements AutoCloseable {
  public final StringWriter out = new StringWriter();
  public final AtomicInteger code = new AtomicInteger(-1);
  private final Thread thread;

  public RunningServer(String... args) {
    CommandLine cli = Main.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(out, true));
    thread = new Thread(() -> code.set(cli.execute(args)), "deploy-under-test");
    thread.start();
  }

  /** The port it printed it serves at (waits for the line). */
  public int port() throws InterruptedException {
    Pattern p = Pattern.compile("at http://127\\.0\\.0\\.1:(\\d+)/v1");
    for (int i = 0; i < 600; i++) {
      Matcher m = p.matcher(out.toString());
      if (m.find()) return Integer.parseInt(m.group(1));
      if (!thread.isAlive()) break;
      Thread.sleep(50);
    }
    throw new AssertionError("jswift deploy did not start:\n" + out);
  }

  @Override
  public void close() throws InterruptedException {
    thread.interrupt();
    thread.join(30_000);
  }
}
