package jswift.webui;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import jswift.cli.Main;
import picocli.CommandLine;

/**
 * The web UI's runs: checks a command line as {@code jswift} would parse it, then starts it as a child JVM with this
 * JVM's class path and settings. One run trains at a time (a training run uses every core; a second would halve
 * both): starting another while one runs is refused.
 */
final class RunManager implements AutoCloseable {
  /** The sub-commands the UI may start. */
  static final Set<String> COMMANDS = Set.of("sft", "pt", "rlhf");

  private final Path logDir;
  private final List<String> javaCommand;
  private final Map<Integer, TrainingRun> runs = new TreeMap<>();
  private int nextId = 1;

  /** Runs log into {@code logDir}; {@code javaCommand} starts a JVM ready for a main class and its arguments. */
  RunManager(Path logDir, List<String> javaCommand) {
    this.logDir = logDir;
    this.javaCommand = List.copyOf(javaCommand);
  }

  /** The command that starts a JVM like this one: its java, memory and jswift settings, and class path. */
  static List<String> thisJvm() {
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
    cmd.add("-Xss4m");
    for (String p : List.of("org.bytedeco.javacpp.cachedir", "jswift.home")) {
      String v = System.getProperty(p);
      if (v != null) cmd.add("-D" + p + "=" + v);
    }
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    return cmd;
  }

  /**
   * Starts {@code jswift command args...}.
   *
   * @throws IllegalArgumentException for a command the UI does not run or arguments jswift would reject (its
   *     message), or while another run trains
   */
  synchronized TrainingRun start(String command, List<String> args) throws IOException {
    if (!COMMANDS.contains(command))
      throw new IllegalArgumentException("command must be one of " + new java.util.TreeSet<>(COMMANDS) + ", got " + command);
    for (TrainingRun r : runs.values())
      if (r.status() == TrainingRun.Status.RUNNING)
        throw new IllegalStateException("run " + r.id + " is still training: stop it first (one run at a time)");
    List<String> line = new ArrayList<>(List.of(command));
    line.addAll(args);
    try {
      new CommandLine(new Main()).parseArgs(line.toArray(new String[0]));  // jswift's own checks of the flags
    } catch (CommandLine.ParameterException e) {
      throw new IllegalArgumentException(e.getMessage(), e);
    }
    Files.createDirectories(logDir);
    int id = nextId++;
    Path log = logDir.resolve("run-" + id + ".log");
    List<String> cmd = new ArrayList<>(javaCommand);
    cmd.add(Main.class.getName());
    cmd.addAll(line);
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    TrainingRun run = new TrainingRun(id, command, args, log, p);
    runs.put(id, run);
    return run;
  }

  synchronized List<TrainingRun> runs() {
    return new ArrayList<>(runs.values());
  }

  synchronized TrainingRun get(int id) {
    return runs.get(id);
  }

  /** Stops every run still training (the UI is shutting down). */
  @Override
  public synchronized void close() {
    for (TrainingRun r : runs.values()) if (r.status() == TrainingRun.Status.RUNNING) r.stop();
  }
}
